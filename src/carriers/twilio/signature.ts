import { timingSafeEqual } from "node:crypto"
// The signature helpers alone: the package's root module loads its whole REST client (~3 MB of heap).
import { validateRequest } from "twilio/lib/webhooks/webhooks.js"

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
  validateRequest(input.authToken, input.signature, input.url, input.params)

/**
 * ConversationRelay signs the wss:// URL exactly as written in our TwiML, with no parameters: the same
 * signature for every call, so the one found valid is remembered (for that token and URL).
 */
export const validHandshakeSignature = (input: {
  readonly authToken: string
  readonly signature: string | null
  readonly wssUrl: string
}): boolean => {
  if (input.signature === null || input.signature.length === 0) return false
  const key = input.authToken + "\n" + input.wssUrl
  const known = knownHandshakeSignatures.get(key)
  if (known !== undefined && sameSecret(known, input.signature)) return true
  const valid = validateRequest(input.authToken, input.signature, input.wssUrl, {})
  if (valid) knownHandshakeSignatures.set(key, input.signature)
  return valid
}
const knownHandshakeSignatures = new Map<string, string>()
const sameSecret = (a: string, b: string) => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
