/**
 * `bun run call`: a phone call in the terminal. Plays Twilio against a running server exactly as Twilio
 * does — signed voice webhook, the relay URL and <Parameter>s from the TwiML, signed WebSocket handshake,
 * `setup`, a final `prompt` per line, `interrupt` on barge-in, `dtmf`, then the connect action and the
 * status callback — and prints the agent's words as they stream, the outcome and the summary.
 *
 * Typed lines are what the caller says; `/0` `/1` `/9` press keys; `/raccrocher` or Ctrl-D hangs up.
 * With standard input not a terminal, each line waits for the agent's reply to be heard; a line
 * `/interrompre …` barges in halfway through the reply instead.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import { processEnvironment, readConfig } from "../config.ts"
import { clean, note, paint, printOutcome, write } from "./output.ts"
import { DEFAULT_CHARS_PER_SECOND, Playback } from "./playback.ts"
import {
  type CallIdentity,
  connectActionForm,
  dialResultForm,
  newCallSid,
  onServer,
  postSigned,
  readTwiml,
  type ServerAddress,
  signature,
  statusForm,
  type TwimlAction,
  voiceForm
} from "./twilioSide.ts"

// The URLs configured on the number in Twilio's console (the public contract, not the server's code).
const VOICE_PATH = "/webhooks/twilio/voice"
const STATUS_PATH = "/webhooks/twilio/status"
const DEFAULT_CALLER = "+33612345678"
const DEMO_KEY_FILE = "demo-api-key.txt"
/** How long a script waits, after a reply was heard, for the server to end the session itself. */
const END_GRACE_MS = 1500

const USAGE = `bun run call [--url http://localhost:8080] [--to +339…] [--from +336…] [--api-key cocc_…]
             [--public-url https://…] [--rate 15] [--summary-timeout 20] [--transfert repond|sans-reponse]
  Tapez ce que dit l'appelant. /0 /1 /9 : touches du clavier. /raccrocher ou Ctrl-D : raccrocher.
  Entrée non interactive : une phrase par ligne ; "/interrompre …" coupe l'agent au milieu de sa réponse.
  --transfert : ce que fait l'équipe quand l'appel lui est passé (par défaut, elle répond).`

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    "public-url": { type: "string" },
    to: { type: "string" },
    from: { type: "string" },
    "api-key": { type: "string" },
    rate: { type: "string" },
    "summary-timeout": { type: "string" },
    transfert: { type: "string" },
    help: { type: "boolean", short: "h" }
  }
})

const interactive = process.stdin.isTTY === true
const fail = (text: string): never => {
  process.stderr.write(`appel simulé : ${text}\n`)
  process.exit(1)
}

if (args.help) {
  write(USAGE + "\n")
  process.exit(0)
}

const configured = Effect.runSync(Effect.either(readConfig).pipe(Effect.withConfigProvider(processEnvironment())))
if (Either.isLeft(configured)) fail(configured.left.report)
const config = Either.getOrThrow(configured)

const baseUrl = (args.url ?? `http://127.0.0.1:${config.port === 0 ? 8080 : config.port}`).replace(/\/+$/, "")
const server: ServerAddress = {
  baseUrl,
  // A deployed server signs against its own public URL, which is the URL we were given.
  publicUrl: (args["public-url"] ?? (args.url ? baseUrl : config.publicUrl)).replace(/\/+$/, ""),
  authToken: Option.getOrNull(Option.map(config.twilioAuthToken, Redacted.value))
}
const rate = Number(args.rate ?? DEFAULT_CHARS_PER_SECOND)
if (!(rate > 0)) fail(`--rate : un nombre de caractères par seconde (reçu ${args.rate})`)
if (args.transfert !== undefined && args.transfert !== "repond" && args.transfert !== "sans-reponse") {
  fail(`--transfert : repond ou sans-reponse (reçu ${args.transfert})`)
}
const dialCallStatus = args.transfert === "sans-reponse" ? "no-answer" as const : "completed" as const
const summaryTimeoutMs = Number(args["summary-timeout"] ?? 20) * 1000
const demoNumber = Option.flatMap(config.demoTenant, (demo) => Option.fromNullable(demo.phoneNumbers[0]))
const call: CallIdentity = {
  callSid: newCallSid(),
  accountSid: Option.getOrElse(config.twilioAccountSid, () => "AC" + "0".repeat(32)),
  from: args.from ?? DEFAULT_CALLER,
  to: args.to ?? Option.getOrElse(Option.orElse(config.twilioPhoneNumber, () => demoNumber), () => "+33939035760")
}

/** The tenant key for the outcome and summary: --api-key, COCCINELLE_API_KEY, or the local demo key file. */
const apiKey = async (): Promise<string | null> => {
  if (args["api-key"]) return args["api-key"]
  const fromEnv = Effect.runSync(
    Effect.orDie(Config.option(Config.string("COCCINELLE_API_KEY"))).pipe(Effect.withConfigProvider(processEnvironment()))
  )
  if (Option.isSome(fromEnv)) return fromEnv.value
  if (args.url || config.databaseUrl === ":memory:" || /^postgres/.test(config.databaseUrl)) return null
  const dir = config.databaseUrl.replace(/^sqlite:(\/\/)?/, "").replace(/[^/]*$/, "") || "./"
  // No key file (the server has not seeded a demo tenant): no outcome to fetch.
  return readFile(dir + DEMO_KEY_FILE, "utf8").then((text) => text.trim(), () => null)
}

// ---- The frames the server sends us.
const Frame = Schema.parseJson(Schema.Struct({
  type: Schema.String,
  token: Schema.optional(Schema.String),
  last: Schema.optional(Schema.Boolean),
  handoffData: Schema.optional(Schema.String),
  digits: Schema.optional(Schema.String)
}))
const decodeFrame = Schema.decodeUnknownOption(Frame)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const describeNext = (action: TwimlAction): string => {
  const said = action._tag === "Relay" ? "" : action.say.map((s) => `dit « ${clean(s)} », `).join("")
  switch (action._tag) {
    case "Dial":
      return `Twilio ${said}compose le ${clean(action.number)} : l'appel passe à l'équipe.`
    case "Hangup":
      return `Twilio ${said}raccroche.`
    case "Relay":
      return "Twilio rouvre une session ConversationRelay."
  }
}

const main = async () => {
  note(`appel ${call.callSid} de ${call.from} vers ${call.to} sur ${server.baseUrl}`)
  const answered = await postSigned(server, VOICE_PATH, voiceForm(call)).catch((error: unknown) =>
    fail(`le serveur ${server.baseUrl} ne répond pas (${String(error)}). Lancez-le avec « bun start », ou passez --url.`)
  )
  if (answered.status === 403) {
    fail("signature refusée (403) : utilisez le même TWILIO_AUTH_TOKEN que le serveur, et --public-url s'il a un PUBLIC_URL.")
  }
  if (answered.status !== 200) fail(`webhook voice : HTTP ${answered.status} ${clean(answered.text.slice(0, 200))}`)
  const twiml = readTwiml(answered.text)
  const startedAt = Date.now()
  let statusSequence = 0
  const finishCall = async () => {
    const duration = Math.round((Date.now() - startedAt) / 1000)
    await postSigned(server, STATUS_PATH, statusForm(call, duration, ++statusSequence))
  }
  if (twiml._tag !== "Relay") {
    note(describeNext(twiml))
    await finishCall()
    return
  }
  const callId = twiml.parameters["callId"] ?? null

  // ---- The relay socket, opened and signed as Twilio does (over the URL written in the TwiML).
  const socket = new WebSocket(onServer(twiml.relayUrl, server.baseUrl, true), {
    headers: server.authToken === null ? {} : { "x-twilio-signature": signature(server.authToken, twiml.relayUrl) }
  } as unknown as Array<string>)
  const refused = () => fail("la connexion ConversationRelay a été refusée (signature ? PUBLIC_URL ?)")
  socket.addEventListener("close", refused, { once: true })
  await new Promise<void>((resolve) => socket.addEventListener("open", () => resolve(), { once: true }))
  socket.removeEventListener("close", refused)
  const sessionId = "VX" + crypto.randomUUID().replace(/-/g, "")

  let reply = new Playback(rate)
  let promptAt = Date.now()
  let endFrame: { readonly handoffData?: string | undefined } | null = null
  let closed = false
  let hungUp = false
  const listeners = new Set<() => void>()
  // Once the session is over, lines still to come (a script's, or the user's) have no call to go to.
  let stopReading = () => {}
  const changed = () => {
    listeners.forEach((listener) => listener())
    if (sessionOver()) stopReading()
  }
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (done()) {
          listeners.delete(check)
          resolve()
        }
      }
      listeners.add(check)
      check()
    })
  const sessionOver = () => endFrame !== null || closed
  let replyComplete = true
  const send = (frame: unknown) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame))
  }

  // Speaker events, as Twilio sends them: the server waits for "off" before ending a session on a goodbye.
  let agentSpeaking = false
  const speakerEvent = () => {
    if (reply.speaking !== agentSpeaking) {
      agentSpeaking = !agentSpeaking
      send({ type: "info", name: "agentSpeaking", value: agentSpeaking ? "on" : "off" })
    }
    if (agentSpeaking) setTimeout(speakerEvent, Math.max(20, reply.remainingMs))
  }

  socket.addEventListener("message", (event) => {
    const frame = decodeFrame(typeof event.data === "string" ? event.data : "")
    if (Option.isNone(frame)) return
    const { type, token, last, handoffData, digits } = frame.value
    if (type === "text") {
      if (token) {
        if (!reply.started) write(`${paint("36", "Agent")} ${paint("90", `[${Date.now() - promptAt} ms]`)} : `)
        write(clean(token))
        reply.add(token)
        speakerEvent()
      }
      if (last) {
        reply.finish()
        replyComplete = true
        if (reply.started) write("\n")
      }
    } else if (type === "end") {
      endFrame = { handoffData }
      note(`fin de session demandée par le serveur${handoffData ? ` (handoffData ${clean(handoffData)})` : ""}`)
      // Twilio closes the socket at once, then requests the connect action.
      socket.close(1000, "Closing websocket session")
    } else if (type === "sendDigits") {
      note(`le serveur compose ${clean(digits ?? "")}`)
    } else {
      note(`trame ${clean(type)}`)
    }
    changed()
  })
  socket.addEventListener("close", () => {
    closed = true
    changed()
  })

  socket.send(JSON.stringify({
    type: "setup",
    sessionId,
    callSid: call.callSid,
    parentCallSid: "",
    from: call.from,
    to: call.to,
    forwardedFrom: "",
    callerName: "",
    direction: "inbound",
    callType: "PSTN",
    callStatus: "RINGING",
    accountSid: call.accountSid,
    customParameters: twiml.parameters
  }))
  // Twilio speaks the welcome greeting itself, from the TwiML.
  write(`${paint("36", "Agent")} : ${clean(twiml.greeting)}\n`)
  reply.add(twiml.greeting)
  reply.finish()
  speakerEvent()

  const startReply = () => {
    reply = new Playback(rate)
    replyComplete = false
    promptAt = Date.now()
    speakerEvent()
  }
  const say = (text: string) => {
    if (reply.speaking) {
      const heard = reply.heard()
      if (!replyComplete && reply.started) write("\n")
      note(`vous coupez l'agent après « ${clean(heard.utterance)} » (${heard.durationMs} ms)`)
      // Twilio stops the speech and drops what was not played yet.
      send({ type: "interrupt", utteranceUntilInterrupt: heard.utterance, durationUntilInterruptMs: heard.durationMs })
    }
    if (!interactive) write(`${paint("33", "Vous")} : ${text}\n`)
    startReply()
    send({ type: "prompt", voicePrompt: text, lang: "fr-FR", last: true })
  }
  const press = (digit: string) => {
    startReply()
    send({ type: "dtmf", digit })
  }
  /**
   * Until the reply is heard in full (or the session is over): a script waits for this between lines. A
   * server ending the session (goodbye, transfer) does so just after the speech: that gets a moment too.
   */
  const heardInFull = async (endGraceMs = 0) => {
    await until(() => replyComplete || sessionOver())
    while (!sessionOver() && reply.speaking) await sleep(Math.max(10, reply.remainingMs))
    if (endGraceMs > 0) await Promise.race([until(sessionOver), sleep(endGraceMs)])
  }
  let afterKey = false
  /** Halfway through the reply being spoken: where a scripted `/interrompre` barges in. */
  const halfwayThrough = async () => {
    await until(() => reply.started || replyComplete || sessionOver())
    while (!sessionOver() && reply.speaking && reply.heard().durationMs < reply.totalMs / 2) await sleep(20)
  }

  const lines = createInterface({ input: process.stdin, terminal: false })
  stopReading = () => lines.close()
  // Ctrl-C hangs up like Ctrl-D: Twilio still gets its connect action and status callback.
  process.once("SIGINT", () => lines.close())
  if (interactive) note("parlez (une ligne = une phrase) ; /0 /1 /9 touches ; /raccrocher ou Ctrl-D")
  for await (const line of lines) {
    if (sessionOver()) break
    const text = line.trim()
    if (text === "") continue
    if (text === "/raccrocher") break
    const barge = /^\/interrompre\s+(.+)$/.exec(text)
    const key = /^\/([0-9*#])$/.exec(text)
    if (!interactive) {
      if (barge) await halfwayThrough()
      else await heardInFull(afterKey ? END_GRACE_MS : 0)
      if (sessionOver()) break
    }
    if (key) {
      note(`touche ${key[1]}`)
      press(key[1]!)
      afterKey = true
    } else {
      afterKey = false
      say(barge ? barge[1]! : text)
    }
  }
  if (!interactive && !sessionOver()) await heardInFull(END_GRACE_MS)
  lines.close()

  // ---- The end, as Twilio reports it: connect action, then the status callback.
  if (!sessionOver()) {
    hungUp = true
    note("vous raccrochez")
    socket.close(1000, "Closing websocket session")
  }
  await Promise.race([until(() => closed), sleep(3000)])
  const status = hungUp ? "completed" : endFrame !== null ? "ended" : "failed"
  const action = await postSigned(
    server,
    new URL(twiml.connectAction).pathname,
    connectActionForm(call, {
      status,
      sessionId,
      durationSeconds: Math.round((Date.now() - startedAt) / 1000),
      handoffData: (endFrame as { readonly handoffData?: string | undefined } | null)?.handoffData
    })
  )
  if (!hungUp) note(action.status === 200 ? describeNext(readTwiml(action.text)) : `connect action : HTTP ${action.status}`)
  // A transfer: the business answers (or not), then Twilio posts the <Dial action> and does what it says.
  const next = !hungUp && action.status === 200 ? readTwiml(action.text) : null
  if (next?._tag === "Dial" && next.action !== "") {
    note(dialCallStatus === "completed" ? "l'équipe répond, puis raccroche" : "personne ne répond")
    const dialed = await postSigned(server, new URL(next.action).pathname, dialResultForm(call, dialCallStatus))
    const afterDial = dialed.status === 200 ? readTwiml(dialed.text) : null
    note(
      afterDial === null
        ? `dial action : HTTP ${dialed.status}`
        : afterDial._tag === "Relay"
        ? `Twilio rouvre une session ConversationRelay qui dit « ${clean(afterDial.greeting)} » (le simulateur s'arrête là).`
        : describeNext(afterDial)
    )
  }
  await finishCall()
  note("appel terminé")
  if (callId !== null) await printOutcome({ baseUrl: server.baseUrl, callId, apiKey: await apiKey(), timeoutMs: summaryTimeoutMs })
}

await main()
process.exit(0)
