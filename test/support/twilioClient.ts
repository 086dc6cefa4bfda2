/**
 * Plays Twilio's side against our server, with real `X-Twilio-Signature`s computed by the `twilio` package:
 * signed form webhooks (voice, status, `<Connect action>`), a TwiML parser for the answers, and a
 * ConversationRelay WebSocket client that sends frames shaped exactly like the recorded calls in
 * ../shared/fixtures/conversationrelay.
 *
 * Our server checks signatures against PUBLIC_URL + path, so every helper takes the address it really talks
 * to (`http://127.0.0.1:PORT`, `ws://127.0.0.1:PORT/…`) separately from the public URL Twilio would have used
 * (`https://coccinelle.test`, `wss://coccinelle.test/…`).
 *
 * ```ts
 * const res = await signedPost(base, "https://coccinelle.test", "/webhooks/twilio/voice",
 *   voiceForm({ callSid: "CA01", from: "+33612345678", to: "+33939035760" }), AUTH_TOKEN)
 * const relay = find(parseTwiml(res.text), "ConversationRelay")!
 * const ws = await RelayClient.connect(`ws://127.0.0.1:${port}/webhooks/twilio/conversation`,
 *   { authToken: AUTH_TOKEN, publicUrl: "https://coccinelle.test" })
 * ws.setup({ callSid: "CA01", from: "+33612345678", to: "+33939035760", customParameters: relayParams })
 * ws.prompt("Bonjour, je voudrais un rendez-vous")
 * const { text } = await ws.textUntilLast()
 * ```
 */
import twilio from "twilio"
import { runtime } from "./runtime.ts"

// ---------------------------------------------------------------------------------------------------
// Signatures

/** `X-Twilio-Signature` for a request to `url` with form `params` (empty for the WebSocket handshake). */
export const twilioSignature = (authToken: string, url: string, params: Record<string, string> = {}): string =>
  twilio.getExpectedTwilioSignature(authToken, url, params)

/**
 * The URL Twilio signs for a WebSocket handshake: the `<ConversationRelay url>` as written in TwiML — `wss://`,
 * public host, path (and query). `publicUrl` may be a full `wss://…` URL (used as is) or an origin like
 * `https://coccinelle.test` (its host is combined with the path and query of `wsUrl`).
 */
export const relaySignatureUrl = (publicUrl: string, wsUrl: string): string => {
  if (publicUrl.startsWith("wss://") && new URL(publicUrl).pathname !== "/") return publicUrl
  const pub = new URL(publicUrl)
  const local = new URL(wsUrl)
  const prefix = pub.pathname.replace(/\/$/, "")
  return `wss://${pub.host}${prefix}${local.pathname}${local.search}`
}

// ---------------------------------------------------------------------------------------------------
// Signed form webhooks

export interface SignedPostOptions {
  /** `undefined` (default): a correct signature; a string: send that instead; `null`: send no header at all. */
  readonly signature?: string | null
  readonly headers?: Readonly<Record<string, string>>
  readonly method?: "POST"
}

export interface WebhookResponse {
  readonly status: number
  readonly text: string
  readonly contentType: string | null
  readonly headers: Headers
}

/**
 * POST `form` as `application/x-www-form-urlencoded` to `baseUrl + path`, signed as Twilio signs it: over
 * `publicUrl + path` (query included) and the form parameters.
 */
export const signedPost = async (
  baseUrl: string,
  publicUrl: string,
  path: string,
  form: Readonly<Record<string, string>>,
  authToken: string,
  options: SignedPostOptions = {}
): Promise<WebhookResponse> => {
  const signedUrl = publicUrl.replace(/\/$/, "") + path
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    "user-agent": "TwilioProxy/1.1",
    "i-twilio-idempotency-token": crypto.randomUUID(),
    accept: "*/*",
    ...options.headers
  }
  if (options.signature === undefined) headers["x-twilio-signature"] = twilioSignature(authToken, signedUrl, { ...form })
  else if (options.signature !== null) headers["x-twilio-signature"] = options.signature
  const res = await fetch(baseUrl.replace(/\/$/, "") + path, {
    method: "POST",
    headers,
    body: new URLSearchParams(form as Record<string, string>).toString()
  })
  return { status: res.status, text: await res.text(), contentType: res.headers.get("content-type"), headers: res.headers }
}

// ---------------------------------------------------------------------------------------------------
// Realistic forms (same fields, same order of magnitude, as the recorded webhooks)

export const TEST_ACCOUNT_SID = "AC00000000000000000000000000000000"

const countryOf = (number: string): string =>
  number.startsWith("+33") ? "FR" : number.startsWith("+32") ? "BE" : number.startsWith("+41") ? "CH" : number.startsWith("+1") ? "US" : ""

/** `Sun, 30 Aug 2026 08:33:12 +0000`, as in `Timestamp`. */
export const rfc2822 = (date: Date = new Date()): string => date.toUTCString().replace("GMT", "+0000")

const geo = (from: string, to: string): Record<string, string> => ({
  Called: to,
  Caller: from,
  CalledCity: "",
  CalledCountry: countryOf(to),
  CalledState: "",
  CalledZip: "",
  CallerCity: "",
  CallerCountry: countryOf(from),
  CallerState: "",
  CallerZip: "",
  FromCity: "",
  FromCountry: countryOf(from),
  FromState: "",
  FromZip: "",
  ToCity: "",
  ToCountry: countryOf(to),
  ToState: "",
  ToZip: ""
})

export interface CallParams {
  readonly callSid: string
  readonly from: string
  readonly to: string
  readonly accountSid?: string
  readonly direction?: string
  /** Extra or overriding fields. */
  readonly extra?: Readonly<Record<string, string>>
}

/** The incoming-call voice webhook (`POST /webhooks/twilio/voice`). */
export const voiceForm = (p: CallParams & { readonly forwardedFrom?: string; readonly callerName?: string }): Record<string, string> => ({
  ...geo(p.from, p.to),
  AccountSid: p.accountSid ?? TEST_ACCOUNT_SID,
  ApiVersion: "2010-04-01",
  CallSid: p.callSid,
  CallStatus: "ringing",
  CallToken: "%7B%22parentCallInfoToken%22%3A%22fake%22%7D",
  Direction: p.direction ?? "inbound",
  From: p.from,
  StirVerstat: "TN-Validation-Passed-C",
  To: p.to,
  ...(p.forwardedFrom !== undefined ? { ForwardedFrom: p.forwardedFrom } : {}),
  ...(p.callerName !== undefined ? { CallerName: p.callerName } : {}),
  ...p.extra
})

export type CallStatus = "queued" | "initiated" | "ringing" | "in-progress" | "completed" | "busy" | "failed" | "no-answer" | "canceled"

/** A status callback (`POST /webhooks/twilio/status`). `duration` (seconds) adds `CallDuration` and `Duration` (minutes, rounded up). */
export const statusForm = (
  p: Omit<CallParams, "from" | "to"> & {
    readonly from?: string
    readonly to?: string
    readonly status: CallStatus
    readonly duration?: number
    readonly sequence: number
    readonly timestamp?: Date
  }
): Record<string, string> => {
  const from = p.from ?? "+33612345678"
  const to = p.to ?? "+33939035760"
  return {
    ...geo(from, to),
    AccountSid: p.accountSid ?? TEST_ACCOUNT_SID,
    ApiVersion: "2010-04-01",
    CallbackSource: "call-progress-events",
    CallSid: p.callSid,
    CallStatus: p.status,
    Direction: p.direction ?? "inbound",
    From: from,
    SequenceNumber: String(p.sequence),
    Timestamp: rfc2822(p.timestamp),
    To: to,
    ...(p.duration !== undefined
      ? { CallDuration: String(p.duration), Duration: String(Math.max(1, Math.ceil(p.duration / 60))) }
      : {}),
    ...p.extra
  }
}

export type SessionStatus = "ended" | "completed" | "failed"

/**
 * The `<Connect action>` callback when a ConversationRelay session ends. Defaults follow the recordings:
 * `CallStatus` is `completed` for `SessionStatus=completed`, else `in-progress`; `failed` carries
 * `ErrorCode=64105`, `ErrorMessage=Websocket ended`; `HandoffData` only when given.
 */
export const actionForm = (
  p: Omit<CallParams, "from" | "to"> & {
    readonly from?: string
    readonly to?: string
    readonly sessionStatus: SessionStatus
    readonly sessionId?: string
    readonly handoffData?: string
    readonly sessionDuration?: number
    readonly callStatus?: CallStatus
    readonly errorCode?: string
    readonly errorMessage?: string
  }
): Record<string, string> => {
  const from = p.from ?? "+33612345678"
  const to = p.to ?? "+33939035760"
  const failed = p.sessionStatus === "failed"
  return {
    ...geo(from, to),
    AccountSid: p.accountSid ?? TEST_ACCOUNT_SID,
    ApiVersion: "2010-04-01",
    CallSid: p.callSid,
    CallStatus: p.callStatus ?? (p.sessionStatus === "completed" ? "completed" : "in-progress"),
    Direction: p.direction ?? "inbound",
    From: from,
    SessionDuration: String(p.sessionDuration ?? 9),
    SessionId: p.sessionId ?? "VX00000000000000000000000000000001",
    SessionStatus: p.sessionStatus,
    To: to,
    ...(p.handoffData !== undefined ? { HandoffData: p.handoffData } : {}),
    ...(failed || p.errorCode !== undefined ? { ErrorCode: p.errorCode ?? "64105" } : {}),
    ...(failed || p.errorMessage !== undefined ? { ErrorMessage: p.errorMessage ?? "Websocket ended" } : {}),
    ...p.extra
  }
}

// ---------------------------------------------------------------------------------------------------
// TwiML / XML parsing

export interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: ReadonlyArray<XmlElement>
  /** The element's own text content (entities decoded, CDATA included, child elements' text excluded). */
  readonly text: string
}

const decodeEntities = (s: string, at: number): string =>
  s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ent: string) => {
    if (ent[0] === "#") {
      const code = ent[1] === "x" || ent[1] === "X" ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10)
      return String.fromCodePoint(code)
    }
    const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'" }
    const v = named[ent]
    if (v === undefined) throw new Error(`XML: unknown entity ${whole} near offset ${at}`)
    return v
  })

/** A small, strict XML parser: elements, attributes, text, CDATA, comments, prolog; enough for TwiML. */
export const parseXml = (xml: string): XmlElement => {
  let i = 0
  const fail = (msg: string): never => {
    throw new Error(`XML: ${msg} at offset ${i}: ${JSON.stringify(xml.slice(Math.max(0, i - 20), i + 40))}`)
  }
  const skipMisc = () => {
    for (;;) {
      while (i < xml.length && /\s/.test(xml[i]!)) i++
      if (xml.startsWith("<?", i)) {
        const end = xml.indexOf("?>", i)
        if (end === -1) fail("unterminated processing instruction")
        i = end + 2
      } else if (xml.startsWith("<!--", i)) {
        const end = xml.indexOf("-->", i)
        if (end === -1) fail("unterminated comment")
        i = end + 3
      } else if (xml.startsWith("<!DOCTYPE", i)) {
        const end = xml.indexOf(">", i)
        if (end === -1) fail("unterminated DOCTYPE")
        i = end + 1
      } else return
    }
  }
  const nameRe = /[A-Za-z_:][-A-Za-z0-9_:.]*/y
  const readName = (): string => {
    nameRe.lastIndex = i
    const m = nameRe.exec(xml)
    if (m === null) return fail("expected a name")
    i += m[0].length
    return m[0]
  }
  const parseElement = (): XmlElement => {
    if (xml[i] !== "<") fail("expected '<'")
    i++
    const name = readName()
    const attributes: Record<string, string> = {}
    for (;;) {
      const before = i
      while (i < xml.length && /\s/.test(xml[i]!)) i++
      if (xml.startsWith("/>", i)) {
        i += 2
        return { name, attributes, children: [], text: "" }
      }
      if (xml[i] === ">") {
        i++
        break
      }
      if (i === before) fail("expected whitespace before attribute")
      const attr = readName()
      while (/\s/.test(xml[i] ?? "")) i++
      if (xml[i] !== "=") fail(`expected '=' after attribute ${attr}`)
      i++
      while (/\s/.test(xml[i] ?? "")) i++
      const quote = xml[i]
      if (quote !== "\"" && quote !== "'") return fail("expected a quoted attribute value")
      const end = xml.indexOf(quote, i + 1)
      if (end === -1) fail("unterminated attribute value")
      const raw = xml.slice(i + 1, end)
      if (raw.includes("<")) fail("'<' in attribute value")
      if (attr in attributes) fail(`duplicate attribute ${attr}`)
      attributes[attr] = decodeEntities(raw, i)
      i = end + 1
    }
    const children: Array<XmlElement> = []
    let text = ""
    for (;;) {
      if (i >= xml.length) fail(`unclosed <${name}>`)
      if (xml.startsWith("</", i)) {
        i += 2
        const closing = readName()
        if (closing !== name) fail(`</${closing}> does not close <${name}>`)
        while (/\s/.test(xml[i] ?? "")) i++
        if (xml[i] !== ">") fail("expected '>'")
        i++
        return { name, attributes, children, text }
      }
      if (xml.startsWith("<!--", i)) {
        const end = xml.indexOf("-->", i)
        if (end === -1) fail("unterminated comment")
        i = end + 3
      } else if (xml.startsWith("<![CDATA[", i)) {
        const end = xml.indexOf("]]>", i)
        if (end === -1) fail("unterminated CDATA")
        text += xml.slice(i + 9, end)
        i = end + 3
      } else if (xml[i] === "<") {
        children.push(parseElement())
      } else {
        const end = xml.indexOf("<", i)
        const raw = xml.slice(i, end === -1 ? xml.length : end)
        text += decodeEntities(raw, i)
        i = end === -1 ? xml.length : end
      }
    }
  }
  skipMisc()
  const root = parseElement()
  skipMisc()
  if (i < xml.length) fail("content after the root element")
  return root
}

/** Parse a TwiML document; the root must be `<Response>`. */
export const parseTwiml = (xml: string): XmlElement => {
  const root = parseXml(xml)
  if (root.name !== "Response") throw new Error(`TwiML: root element is <${root.name}>, expected <Response>`)
  return root
}

/** All descendants (depth-first, document order) named `name`. */
export const findAll = (node: XmlElement, name: string): Array<XmlElement> => {
  const out: Array<XmlElement> = []
  const walk = (n: XmlElement) => {
    for (const c of n.children) {
      if (c.name === name) out.push(c)
      walk(c)
    }
  }
  walk(node)
  return out
}

/** The first descendant named `name`, if any. */
export const find = (node: XmlElement, name: string): XmlElement | undefined => findAll(node, name)[0]

/** `<Parameter name value>` children of a node (e.g. `<ConversationRelay>`) as a record. */
export const parametersOf = (node: XmlElement): Record<string, string> =>
  Object.fromEntries(node.children.filter((c) => c.name === "Parameter").map((c) => [c.attributes.name ?? "", c.attributes.value ?? ""]))

/** The names of the direct children, in order — e.g. `["Say", "Hangup"]`. */
export const verbs = (node: XmlElement): Array<string> => node.children.map((c) => c.name)

// ---------------------------------------------------------------------------------------------------
// ConversationRelay WebSocket client

/** A frame our server sent (decoded JSON). `text`, `end`, `play`, `sendDigits`, `language`, … */
export type OutFrame = { readonly type: string; readonly [key: string]: unknown }

export interface TextFrame {
  readonly type: "text"
  readonly token: string
  readonly last?: boolean
  readonly lang?: string
  readonly interruptible?: boolean
  readonly preemptible?: boolean
}

export interface RelayConnectOptions {
  /** Sign the handshake with this token over the public `wss://` URL and empty params. */
  readonly authToken?: string
  /** Public origin (`https://coccinelle.test`) or full `wss://` URL the signature covers; see relaySignatureUrl. */
  readonly publicUrl?: string
  /** Override: a string is sent as the signature header; `null` sends none. */
  readonly signature?: string | null
  readonly headers?: Readonly<Record<string, string>>
  /** How long to wait for the handshake (default 3000 ms). */
  readonly timeoutMs?: number
}

export class RelayHandshakeError extends Error {
  constructor(
    message: string,
    /** The HTTP status the server answered instead of 101, when Bun reports it (e.g. 403). */
    readonly status: number | undefined,
    readonly code: number | undefined
  ) {
    super(message)
    this.name = "RelayHandshakeError"
  }
}

export interface SetupParams {
  readonly callSid: string
  readonly from: string
  readonly to: string
  readonly customParameters?: Readonly<Record<string, string>>
  readonly sessionId?: string
  readonly accountSid?: string
  readonly parentCallSid?: string
  readonly forwardedFrom?: string
  readonly callerName?: string
  readonly direction?: string
  readonly callType?: string
  readonly callStatus?: string
}

export interface CloseInfo {
  readonly code: number
  readonly reason: string
  readonly wasClean: boolean
}

let sessionCounter = 0

export class RelayClient {
  /** Every frame received, JSON-decoded, in arrival order. */
  readonly frames: Array<OutFrame> = []
  /** Every message received, raw. */
  readonly raw: Array<string> = []
  /** Messages that were not a JSON object with a string `type` (our server should never send one). */
  readonly invalid: Array<string> = []
  /** Every frame this client sent, in order. */
  readonly sent: Array<unknown> = []
  /** Resolves when the socket closes, with the close code and reason. */
  readonly closed: Promise<CloseInfo>
  private readonly listeners = new Set<() => void>()
  private textCursor = 0
  private closeInfo: CloseInfo | undefined

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.closeInfo = { code: e.code, reason: e.reason, wasClean: e.wasClean }
        resolve(this.closeInfo)
        this.notify()
      })
    })
    socket.addEventListener("message", (e) => {
      const data = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)
      this.raw.push(data)
      try {
        const parsed: unknown = JSON.parse(data)
        if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) && typeof (parsed as { type?: unknown }).type === "string") {
          this.frames.push(parsed as OutFrame)
        } else this.invalid.push(data)
      } catch {
        this.invalid.push(data)
      }
      this.notify()
    })
  }

  /**
   * Open the ConversationRelay socket as Twilio does, with `X-Twilio-Signature` over the public `wss://` URL.
   * Rejects with a `RelayHandshakeError` (carrying `status`, e.g. 403) when the server refuses the upgrade.
   */
  static connect(wsUrl: string, options: RelayConnectOptions = {}): Promise<RelayClient> {
    const headers: Record<string, string> = {
      "user-agent": "Jetty/11.0.24",
      "cache-control": "no-cache",
      pragma: "no-cache",
      ...options.headers
    }
    if (options.signature !== undefined) {
      if (options.signature !== null) headers["x-twilio-signature"] = options.signature
    } else if (options.authToken !== undefined) {
      const url = relaySignatureUrl(options.publicUrl ?? wsUrl, wsUrl)
      headers["x-twilio-signature"] = twilioSignature(options.authToken, url, {})
    }
    // Bun's WebSocket takes `{ headers }` as its second argument; the DOM typings only know protocols.
    const socket = new WebSocket(wsUrl, { headers } as unknown as string[])
    const client = new RelayClient(socket)
    return new Promise((resolve, reject) => {
      let errorMessage: string | undefined
      const timer = setTimeout(() => {
        socket.close()
        reject(new RelayHandshakeError(`RelayClient: no handshake after ${options.timeoutMs ?? 3000} ms (${wsUrl})`, undefined, undefined))
      }, options.timeoutMs ?? 3000)
      const onOpen = () => {
        clearTimeout(timer)
        socket.removeEventListener("error", onError)
        resolve(client)
      }
      const onError = (e: Event) => {
        errorMessage = (e as ErrorEvent).message || errorMessage
      }
      socket.addEventListener("open", onOpen, { once: true })
      socket.addEventListener("error", onError)
      client.closed.then((info) => {
        clearTimeout(timer)
        // Bun reports a refused upgrade as "… Expected 101 status code: 403". (No-op if already open.)
        const status = errorMessage?.match(/status code:?\s*(\d{3})/)?.[1]
        reject(
          new RelayHandshakeError(
            `RelayClient: handshake to ${wsUrl} failed${errorMessage ? `: ${errorMessage}` : ""} (close ${info.code})`,
            status !== undefined ? Number(status) : undefined,
            info.code
          )
        )
      })
    })
  }

  private notify() {
    for (const l of [...this.listeners]) l()
  }

  /** Send a frame object as JSON. */
  send(frame: unknown): void {
    this.sent.push(frame)
    this.socket.send(JSON.stringify(frame))
  }

  /** Send a raw string (e.g. malformed JSON). */
  sendRaw(data: string): void {
    this.sent.push(data)
    this.socket.send(data)
  }

  /** The `setup` frame Twilio sends first, shaped like the recordings. Returns the frame sent. */
  setup(p: SetupParams): Record<string, unknown> {
    const frame = {
      type: "setup",
      sessionId: p.sessionId ?? `VX${String(++sessionCounter).padStart(32, "0")}`,
      callSid: p.callSid,
      parentCallSid: p.parentCallSid ?? "",
      from: p.from,
      to: p.to,
      forwardedFrom: p.forwardedFrom ?? "",
      callerName: p.callerName ?? "",
      direction: p.direction ?? "inbound",
      callType: p.callType ?? "PSTN",
      callStatus: p.callStatus ?? "RINGING",
      accountSid: p.accountSid ?? TEST_ACCOUNT_SID,
      customParameters: { ...p.customParameters }
    }
    this.send(frame)
    return frame
  }

  /** A transcript. `last` defaults to true (the final transcript of the utterance). */
  prompt(voicePrompt: string, options: { readonly last?: boolean; readonly lang?: string } = {}): void {
    this.send({ type: "prompt", voicePrompt, lang: options.lang ?? "fr-FR", last: options.last ?? true })
  }

  /**
   * Speak as Deepgram `flux` with `partialPrompts` does: cumulative partials (`last:false`), word by word,
   * then the final transcript (`last:true`).
   */
  speak(voicePrompt: string, options: { readonly lang?: string } = {}): void {
    const words = voicePrompt.split(/\s+/).filter((w) => w !== "")
    for (let n = 1; n < words.length; n++) this.prompt(words.slice(0, n).join(" "), { last: false, ...options })
    this.prompt(voicePrompt, { last: true, ...options })
  }

  /** The caller talked over the agent; `utteranceUntilInterrupt` is what they had heard. */
  interrupt(utteranceUntilInterrupt: string, durationUntilInterruptMs: number): void {
    this.send({ type: "interrupt", utteranceUntilInterrupt, durationUntilInterruptMs })
  }

  dtmf(digit: string): void {
    this.send({ type: "dtmf", digit })
  }

  /** `info` event (`agentSpeaking`/`clientSpeaking` on/off, `tokensPlayed`). */
  info(name: string, value: string): void {
    this.send({ type: "info", name, value })
  }

  /** An `error` frame as Twilio sends it, e.g. `Invalid message received, code: 64107, …`. */
  error(description: string): void {
    this.send({ type: "error", description })
  }

  /**
   * The first frame (searching from index `since`, default 0, then waiting for new ones) matching `predicate`.
   * Rejects on timeout, or when the socket closes first, listing the frames seen.
   */
  waitFor<F extends OutFrame = OutFrame>(
    predicate: (frame: OutFrame) => boolean,
    timeoutMs = 3000,
    options: { readonly since?: number } = {}
  ): Promise<F> {
    return new Promise((resolve, reject) => {
      let scanned = options.since ?? 0
      const check = () => {
        for (; scanned < this.frames.length; scanned++) {
          const f = this.frames[scanned]!
          if (predicate(f)) {
            done()
            resolve(f as F)
            return
          }
        }
        if (this.closeInfo !== undefined) {
          done()
          reject(new Error(`RelayClient: socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) before a matching frame; ${this.describe()}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`RelayClient: no matching frame after ${timeoutMs} ms; ${this.describe()}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
      check()
    })
  }

  /** Wait for a frame of the given `type`. */
  waitForType<F extends OutFrame = OutFrame>(type: string, timeoutMs = 3000, options: { readonly since?: number } = {}): Promise<F> {
    return this.waitFor<F>((f) => f.type === type, timeoutMs, options)
  }

  /**
   * Collect `text` frames until one with `last: true`, continuing from where the previous call stopped, so
   * successive turns read successive replies. Returns the tokens and their concatenation (untrimmed).
   */
  async textUntilLast(timeoutMs = 5000): Promise<{ tokens: Array<string>; text: string; frames: Array<TextFrame> }> {
    const start = this.textCursor
    const last = await this.waitFor((f) => f.type === "text" && f.last === true, timeoutMs, { since: start })
    const end = this.frames.indexOf(last)
    const frames = this.frames.slice(start, end + 1).filter((f): f is OutFrame & TextFrame => f.type === "text")
    this.textCursor = end + 1
    const tokens = frames.map((f) => f.token)
    return { tokens, text: tokens.join(""), frames }
  }

  /** Text frames received so far (all turns). */
  texts(): Array<TextFrame> {
    return this.frames.filter((f): f is OutFrame & TextFrame => f.type === "text")
  }

  /** Close from Twilio's side (1000 "Closing websocket session" by default, as Twilio does on hang-up). */
  close(code = 1000, reason = "Closing websocket session"): Promise<CloseInfo> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      // Deno's client, like a browser's, sends only 1000 or 3000–4999 (Bun's sends any): 1011 goes as 4011 there.
      this.socket.close(runtime === "deno" && code !== 1000 && (code < 3000 || code > 4999) ? 4000 + (code % 1000) : code, reason)
    }
    return this.closed
  }

  /** A short summary of what was received, for error messages. */
  describe(): string {
    const frames = this.frames.map((f) => JSON.stringify(f)).slice(-20)
    return `${this.frames.length} frame(s) received${this.frames.length > 20 ? " (last 20)" : ""}: [${frames.join(", ")}]${this.invalid.length ? `; invalid: ${JSON.stringify(this.invalid)}` : ""}`
  }
}
