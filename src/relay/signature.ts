import twilio from "twilio"

/**
 * X-Twilio-Signature checks, delegated to the `twilio` package. The URL is always rebuilt from
 * PUBLIC_URL (never the Host header): behind Fly's proxy the server sees http:// and its own host.
 */

export const validWebhookSignature = (input: {
  readonly authToken: string
  readonly signature: string | null
  readonly url: string
  readonly params: Record<string, string>
}): boolean =>
  input.signature !== null &&
  input.signature.length > 0 &&
  twilio.validateRequest(input.authToken, input.signature, input.url, input.params)

/** ConversationRelay signs the wss:// URL exactly as written in our TwiML, with no parameters. */
export const validHandshakeSignature = (input: {
  readonly authToken: string
  readonly signature: string | null
  readonly wssUrl: string
}): boolean =>
  input.signature !== null &&
  input.signature.length > 0 &&
  twilio.validateRequest(input.authToken, input.signature, input.wssUrl, {})
