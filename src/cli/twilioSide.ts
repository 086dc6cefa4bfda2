import { XMLParser } from "fast-xml-parser"
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js"

/**
 * Twilio's side of a call, for the simulator: the forms Twilio posts (voice webhook, `<Connect action>`,
 * `<Dial action>`, status callback) signed as Twilio signs them, and what our TwiML answers tell Twilio to do next.
 * Shapes follow the recorded calls (../shared/fixtures/conversationrelay) and conversationrelay.md §4–5.
 */

export interface CallIdentity {
  readonly callSid: string
  readonly accountSid: string
  readonly from: string
  readonly to: string
}

/** Where the server really is (`http://127.0.0.1:8080`) and the public origin it signs against (PUBLIC_URL). */
export interface ServerAddress {
  readonly baseUrl: string
  readonly publicUrl: string
  readonly authToken: string | null
}

export const newCallSid = (): string => "CA" + crypto.randomUUID().replace(/-/g, "")

const common = (call: CallIdentity) => ({
  AccountSid: call.accountSid,
  ApiVersion: "2010-04-01",
  CallSid: call.callSid,
  Called: call.to,
  Caller: call.from,
  Direction: "inbound",
  From: call.from,
  To: call.to
})

export const voiceForm = (call: CallIdentity): Record<string, string> => ({ ...common(call), CallStatus: "ringing" })

/** The `<Connect action>` callback: `ended` (we sent `end`), `completed` (caller hung up), `failed` (socket dropped). */
export const connectActionForm = (
  call: CallIdentity,
  session: {
    readonly status: "ended" | "completed" | "failed"
    readonly sessionId: string
    readonly durationSeconds: number
    readonly handoffData?: string | undefined
  }
): Record<string, string> => ({
  ...common(call),
  CallStatus: session.status === "completed" ? "completed" : "in-progress",
  SessionId: session.sessionId,
  SessionStatus: session.status,
  SessionDuration: String(session.durationSeconds),
  ...(session.handoffData !== undefined ? { HandoffData: session.handoffData } : {}),
  ...(session.status === "failed" ? { ErrorCode: "64105", ErrorMessage: "Websocket ended" } : {})
})

/** The `<Dial action>` callback once the business's phone stopped ringing: `completed` if someone answered. */
export const dialResultForm = (call: CallIdentity, dialCallStatus: "completed" | "no-answer"): Record<string, string> => ({
  ...common(call),
  CallStatus: "in-progress",
  DialCallStatus: dialCallStatus,
  ...(dialCallStatus === "completed" ? { DialCallDuration: "30" } : {})
})

export const statusForm = (call: CallIdentity, durationSeconds: number, sequence: number): Record<string, string> => ({
  ...common(call),
  CallbackSource: "call-progress-events",
  CallStatus: "completed",
  CallDuration: String(durationSeconds),
  Duration: String(Math.max(1, Math.ceil(durationSeconds / 60))),
  SequenceNumber: String(sequence),
  Timestamp: new Date().toUTCString().replace("GMT", "+0000")
})

/** `X-Twilio-Signature` over a URL and form parameters (none for the WebSocket handshake). */
export const signature = (authToken: string, url: string, params: Record<string, string> = {}): string =>
  getExpectedTwilioSignature(authToken, url, params)

/** Posts a form to `path` on the server, signed over the public URL + path, as Twilio does. */
export const postSigned = async (server: ServerAddress, path: string, form: Record<string, string>) => {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", "user-agent": "TwilioProxy/1.1" }
  if (server.authToken !== null) headers["x-twilio-signature"] = signature(server.authToken, server.publicUrl + path, form)
  const response = await fetch(server.baseUrl + path, { method: "POST", headers, body: new URLSearchParams(form).toString() })
  return { status: response.status, text: await response.text() }
}

/** A public URL from TwiML, rewritten to the address the server really listens on (same path and query). */
export const onServer = (publicUrl: string, baseUrl: string, websocket = false): string => {
  const target = new URL(publicUrl)
  const base = new URL(baseUrl)
  const scheme = websocket ? (base.protocol === "https:" ? "wss:" : "ws:") : base.protocol
  return `${scheme}//${base.host}${target.pathname}${target.search}`
}

/** What a TwiML answer tells Twilio to do. */
export type TwimlAction =
  | {
    readonly _tag: "Relay"
    readonly connectAction: string
    readonly relayUrl: string
    readonly greeting: string
    readonly parameters: Readonly<Record<string, string>>
  }
  | { readonly _tag: "Dial"; readonly number: string; readonly action: string; readonly say: ReadonlyArray<string> }
  | { readonly _tag: "Hangup"; readonly say: ReadonlyArray<string> }

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseAttributeValue: false,
  parseTagValue: false,
  htmlEntities: true,
  isArray: (name) => name === "Parameter" || name === "Say"
})

type Node = Record<string, unknown>
const child = (node: unknown, name: string): Node | undefined => {
  const value = typeof node === "object" && node !== null ? (node as Node)[name] : undefined
  return typeof value === "object" && value !== null ? (value as Node) : value === "" ? {} : undefined
}
const attribute = (node: Node | undefined, name: string): string => (typeof node?.[name] === "string" ? (node[name] as string) : "")
const textOf = (value: unknown): string =>
  typeof value === "string" ? value : typeof value === "object" && value !== null ? String((value as Node)["#text"] ?? "") : ""

/** Reads our TwiML answers: `<Connect><ConversationRelay>`, `<Dial><Number>`, `<Say>` then `<Hangup/>`. */
export const readTwiml = (xml: string): TwimlAction => {
  const response = child(parser.parse(xml) as unknown, "Response")
  if (response === undefined) throw new Error(`not TwiML: ${xml.slice(0, 200)}`)
  const says = (Array.isArray(response["Say"]) ? response["Say"] : []).map(textOf)
  const connect = child(response, "Connect")
  const relay = child(connect, "ConversationRelay")
  if (connect && relay) {
    const parameters = Array.isArray(relay["Parameter"]) ? (relay["Parameter"] as Array<Node>) : []
    return {
      _tag: "Relay",
      connectAction: attribute(connect, "action"),
      relayUrl: attribute(relay, "url"),
      greeting: attribute(relay, "welcomeGreeting"),
      parameters: Object.fromEntries(parameters.map((p) => [attribute(p, "name"), attribute(p, "value")]))
    }
  }
  const dial = child(response, "Dial")
  if (dial) return { _tag: "Dial", number: textOf(dial["Number"]), action: attribute(dial, "action"), say: says }
  return { _tag: "Hangup", say: says }
}
