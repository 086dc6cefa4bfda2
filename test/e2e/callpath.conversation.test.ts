import { afterAll, afterEach, beforeAll, describe, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { callTool, type FakeAnthropic, type Reply, type ScriptRequest, sayText, type Step, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import {
  actionForm,
  find,
  type OutFrame,
  parametersOf,
  parseTwiml,
  RelayClient,
  signedPost,
  statusForm,
  verbs,
  voiceForm
} from "../support/twilioClient.ts"
import { eventually } from "../support/wait.ts"

/**
 * A call, end to end: the real server (signed webhooks, the relay socket, the call fiber, SQLite), the real
 * @anthropic-ai/sdk against the loopback fake (which validates every request like the API does and records
 * aborted ones), and a client playing Twilio's side over a real WebSocket.
 */

const CALLER = "+33611223344"
const GARAGE_NUMBER = "+33478000002"
const HANDOFF = "Je vous mets en relation avec un membre de l'équipe, ne quittez pas."
const GOODBYE = "Merci de votre appel, au revoir."
const TECHNICAL_ISSUE = "Excusez-moi, je rencontre un petit souci technique. Pouvez-vous répéter, s'il vous plaît ?"
const TOO_MANY_STEPS = "Excusez-moi, je n'arrive pas à finaliser cela. Voulez-vous que je vous passe un membre de l'équipe ?"

let fake: FakeAnthropic
let app: TestApp
/**
 * The fake's script for the current test; `n` counts this test's call-path requests from 0. Post-call summaries
 * of earlier calls also reach the fake, at any time: they get a valid summary and are left out of the count.
 */
let current: (request: ScriptRequest, n: number) => Reply | Promise<Reply> = () => sayText("D'accord.")
let base = 0
const callRequests = () => fake.requests.filter((r) => !isSummaryRequest(r.body))
const script = (fn: typeof current) => {
  base = callRequests().length
  current = fn
}
/** This test's call-path request `n` (0-based). */
const nth = (n: number) => callRequests()[base + n]!
/**
 * This test's call-path request `n` as the model reads it: the system prompt as one text, and the
 * prompt-cache marks left out of the messages (the test "prompt cache" checks them on the raw body).
 */
const requestBody = (n: number) => {
  const body = nth(n).body
  const uncached = (value: any): any =>
    Array.isArray(value)
      ? value.map(uncached)
      : value !== null && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).filter(([key]) => key !== "cache_control").map(([key, v]) => [key, uncached(v)]))
      : value
  return {
    ...body,
    system: Array.isArray(body.system) ? body.system.map((block: any) => block.text).join("\n") : body.system,
    messages: uncached(body.messages)
  }
}
const SUMMARY = {
  summary: "Un client a appelé le salon.",
  intent: "renseignement",
  sentiment: "neutre",
  outcome: "abandoned",
  callbackNeeded: false,
  unansweredQuestions: []
}

beforeAll(async () => {
  fake = await startFakeAnthropic({
    script: (request) =>
      isSummaryRequest(request.body)
        ? summaryCall(SUMMARY)
        : current(request, fake.requests.slice(0, request.index).filter((r) => !isSummaryRequest(r.body)).length - base)
  })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url, MAX_TOOL_ROUNDS: "2" })
  const res = await fetch(app.baseUrl + "/api/v1/admin/tenants", {
    method: "POST",
    headers: { authorization: "Bearer admin-secret-token", "content-type": "application/json" },
    body: JSON.stringify({ name: "Garage du Centre", phoneNumbers: [GARAGE_NUMBER], greeting: "Garage du Centre, bonjour !" })
  })
  expect(res.status).toBe(201)
})
afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

const sockets: Array<RelayClient> = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((ws) => ws.close()))
})

const post = (path: string, form: Record<string, string>) => signedPost(app.baseUrl, PUBLIC_URL, path, form, AUTH_TOKEN)

/** Twilio's side of an incoming call: the signed voice webhook, then the signed relay socket and its setup. */
const startCall = async (callSid: string, to = BUSINESS_NUMBER) => {
  const res = await post("/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to }))
  expect(res.status).toBe(200)
  const params = parametersOf(find(parseTwiml(res.text), "ConversationRelay")!)
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  sockets.push(ws)
  ws.setup({ callSid, from: CALLER, to, customParameters: params })
  return { ws, callId: params.callId! }
}


const messagesOf = (callId: string) =>
  app.query((sql) => sql<{ role: string; content: string; interrupted: number; turn: number }>`
    SELECT role, content, interrupted, turn FROM call_messages WHERE call_id = ${callId} ORDER BY seq`)
const eventsOf = (callId: string) =>
  app.query((sql) => sql<{ type: string; data: string }>`SELECT type, data FROM call_events WHERE call_id = ${callId} ORDER BY id`)
const callRow = async (callId: string) =>
  (await app.query((sql) => sql<{ ended_at: string | null; end_reason: string | null; outcome: string | null; status: string }>`
    SELECT ended_at, end_reason, outcome, status FROM calls WHERE id = ${callId}`))[0]!

const texts = (frames: ReadonlyArray<OutFrame>) => frames.filter((f) => f.type === "text").map((f) => String(f.token)).join("")

/** A Tuesday at least three days ahead in Paris (the demo salon opens 09:00–12:00 and 14:00–19:00). */
const nextTuesday = (): string => {
  for (let days = 3; days < 11; days++) {
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit", weekday: "short" })
      .formatToParts(new Date(Date.now() + days * 86_400_000))
    const get = (type: string) => parts.find((p) => p.type === type)!.value
    if (get("weekday") === "Tue") return `${get("year")}-${get("month")}-${get("day")}`
  }
  throw new Error("no Tuesday ahead")
}
const appointmentsOf = (callId: string) => app.query((sql) => sql<{ starts_at: string }>`SELECT starts_at FROM appointments WHERE call_id = ${callId}`)

describe("a conversation", () => {
  test("prompt cache: the tenant's stable instructions and the conversation so far are marked, today's date is not", async () => {
    script(() => sayText("Bonjour."))
    const { ws } = await startCall("CA_CACHE")
    ws.prompt("Bonjour")
    await ws.textUntilLast()
    ws.prompt("Vous êtes ouverts samedi ?")
    await ws.textUntilLast()
    const body = nth(1).body
    // The same prompt on every request of the call, byte for byte, or the cached conversation is lost.
    expect(JSON.stringify(body.system)).toBe(JSON.stringify(nth(0).body.system))
    expect(body.system[0].cache_control).toEqual({ type: "ephemeral" })
    expect(body.system[0].text).toContain("Vouvoyez")
    expect(body.system[1].cache_control).toBeUndefined()
    expect(body.system[1].text).toContain("Nous sommes le")
    const last = body.messages.at(-1)
    expect(last.content.at(-1)).toMatchObject({ type: "text", text: "Vous êtes ouverts samedi ?", cache_control: { type: "ephemeral" } })
    // Only the newest message is marked: earlier marks would waste the API's four breakpoints.
    expect(JSON.stringify(body.messages.slice(0, -1))).not.toContain("cache_control")
    await ws.close()
  })

  test("the reply streams as several text frames (last:false); its last words close it with last:true", async () => {
    script(() => sayText("Nous ouvrons ", "à 9 h ", "du mardi ", "au samedi."))
    const { callId, ws } = await startCall("CA_STREAM")
    ws.prompt("Vous ouvrez à quelle heure ?")
    const reply = await ws.textUntilLast()
    expect(reply.frames.map((f) => [f.token, f.last])).toEqual([
      ["Nous ouvrons ", false],
      ["à ", false],
      ["9 heures du mardi ", false],
      ["au ", false],
      // The last word waits for the end of the stream (it could still grow), then closes the reply.
      ["samedi.", true]
    ])
    const body = requestBody(0)
    expect(body.stream).toBe(true)
    expect(body.system).toContain("Vouvoyez")
    expect(body.tools.map((t: { name: string }) => t.name).sort()).toEqual(["book_appointment", "check_availability", "search_knowledge", "take_message", "transfer_to_human"])
    expect(body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "Vous ouvrez à quelle heure ?" }] }])
    const stored = await eventually(() => messagesOf(callId), (rows) => rows.length === 2, "the exchange stored")
    expect(stored.map((m) => [m.role, m.content])).toEqual([
      ["user", "Vous ouvrez à quelle heure ?"],
      ["assistant", "Nous ouvrons à 9 heures du mardi au samedi."]
    ])
  })

  test("several tool calls in one assistant message: each gets its tool_result in the next request, then the model goes on", async () => {
    script((_, n) =>
      n === 0
        ? [
          ...sayText("Je regarde. "),
          ...callTool("search_knowledge", { query: "parking" }, { id: "toolu_parking" }),
          ...callTool("search_knowledge", { query: "paiement carte" }, { id: "toolu_pay" })
        ]
        : sayText("Un parking gratuit rue Vauban, ", "et la carte est acceptée.")
    )
    const { callId, ws } = await startCall("CA_TOOLS")
    ws.prompt("Il y a un parking ? Et je peux payer par carte ?")
    const reply = await ws.textUntilLast()
    expect(reply.text).toBe("Je regarde. Un parking gratuit rue Vauban, et la carte est acceptée.")
    // The fake refuses (400) a request whose tool_use blocks are not all answered; none was refused.
    expect(callRequests().slice(base).map((r) => r.rejected)).toEqual([undefined, undefined])
    const second = requestBody(1).messages
    expect(second.map((m: { role: string }) => m.role)).toEqual(["user", "assistant", "user"])
    expect(second[1].content.map((b: { type: string; id?: string }) => b.id ?? b.type)).toEqual(["text", "toolu_parking", "toolu_pay"])
    const results = second[2].content.map((b: { tool_use_id: string; content: string }) => [b.tool_use_id, JSON.parse(b.content)])
    expect(results.map(([id]: [string]) => id)).toEqual(["toolu_parking", "toolu_pay"])
    expect(JSON.stringify(results[0][1])).toContain("rue Vauban") // the demo tenant's own knowledge
    expect(JSON.stringify(results[1][1])).toContain("carte bancaire")
    const events = await eventually(() => eventsOf(callId), (rows) => rows.filter((e) => e.type === "tool_result").length === 2, "tool events")
    expect(events.filter((e) => e.type === "tool_call").map((e) => JSON.parse(e.data).input)).toEqual([{ query: "parking" }, { query: "paiement carte" }])
  })

  test("the cap on tool rounds per turn ends with a spoken sentence", async () => {
    script(() => callTool("search_knowledge", { query: "horaires" }))
    const { ws } = await startCall("CA_TOOL_CAP")
    ws.prompt("Et encore ?")
    const reply = await ws.textUntilLast()
    expect(reply.text).toBe(TOO_MANY_STEPS)
    expect(callRequests().length - base).toBe(3) // MAX_TOOL_ROUNDS=2: two rounds of tools, then a third answer
  })

  test("Claude overloaded (529) on the first try: retried, the caller hears one reply", async () => {
    script((_, n) => (n === 0 ? [{ error: 529 }] : sayText("Bonjour, ", "je vous écoute.")))
    const { ws } = await startCall("CA_OVERLOADED")
    ws.prompt("Allô ?")
    expect((await ws.textUntilLast()).text).toBe("Bonjour, je vous écoute.")
    expect(callRequests().slice(base).map((r) => r.status)).toEqual([529, 200])
  })

  test("Claude failing for good: the caller hears an apology, and the call goes on", async () => {
    script((_, n) => (n === 0 ? [{ error: 400, message: "bad request" }] : sayText("Je vous écoute.")))
    const { ws } = await startCall("CA_FAILING")
    ws.prompt("Allô ?")
    expect((await ws.textUntilLast()).text).toBe(TECHNICAL_ISSUE)
    ws.prompt("Allô ?")
    expect((await ws.textUntilLast()).text).toBe("Je vous écoute.")
  })
})

/** A reply that says a few words, then takes its time. */
const slowReply = (...chunks: Array<string>): Array<Step> => [
  ...chunks.flatMap((chunk): Array<Step> => [{ text: chunk }, { delayMs: 30 }]),
  { delayMs: 10_000 },
  { text: "JAMAIS ENTENDU." }
]

describe("barge-in", () => {
  test("interrupt: the Claude request is aborted, nothing more is sent, the stored reply is cut to what was heard", async () => {
    script((_, n) => (n === 0 ? slowReply("Nous sommes ouverts ", "du mardi ", "au samedi, ") : sayText("Le samedi ", "de 9 h à 17 h.")))
    const { callId, ws } = await startCall("CA_BARGE_IN")
    ws.prompt("Vous êtes ouverts quand ?")
    await ws.waitFor((f) => f.type === "text" && f.token === "au samedi, ")
    ws.interrupt("Nous sommes ouverts du mardi", 1200)
    const cutAt = ws.frames.length
    const aborted = await fake.waitForAbort(nth(0).index, 3_000)
    expect(aborted.completed).toBe(false)
    const stored = await eventually(() => messagesOf(callId), (rows) => rows.some((m) => m.interrupted === 1), "the cut reply stored")
    expect(stored.map((m) => [m.role, m.content, m.interrupted])).toEqual([
      ["user", "Vous êtes ouverts quand ?", 0],
      ["assistant", "Nous sommes ouverts du mardi", 1]
    ])

    ws.prompt("Et le samedi ?")
    await ws.waitFor((f) => f.type === "text" && f.last === true, 3_000, { since: cutAt })
    // Everything after the barge-in belongs to the next reply.
    expect(texts(ws.frames.slice(cutAt))).toBe("Le samedi de 9 heures à 17 heures.")
    // The model is told what the caller heard, not what it had written.
    expect(requestBody(1).messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Vous êtes ouverts quand ?" }] },
      { role: "assistant", content: [{ type: "text", text: "Nous sommes ouverts du mardi" }] },
      { role: "user", content: [{ type: "text", text: "Et le samedi ?" }] }
    ])
  })

  test("a new final prompt during a turn cancels the running one before the new turn is answered", async () => {
    script(async (_, n) => {
      if (n === 0) return slowReply("Alors, ")
      // The first request must already be gone when the second is answered.
      const first = await fake.waitForSettled(nth(0).index, 2_000)
      return sayText(first.aborted ? "Samedi, très bien." : "LE PREMIER TOUR TOURNE ENCORE")
    })
    const { ws } = await startCall("CA_NEW_PROMPT")
    ws.prompt("Vous êtes ouverts quand ?")
    await ws.waitFor((f) => f.type === "text" && f.token === "Alors, ")
    ws.prompt("Plutôt samedi, en fait")
    const reply = await ws.waitFor((f) => f.type === "text" && f.last === true)
    expect(texts(ws.frames.slice(0, ws.frames.indexOf(reply) + 1))).toBe("Alors, Samedi, très bien.")
    expect(nth(0).aborted).toBe(true)
    expect(requestBody(1).messages.at(-1)).toEqual({ role: "user", content: [{ type: "text", text: "Plutôt samedi, en fait" }] })
  })

  const bookingLater = (time: string): Reply => [
    { text: "Je vous réserve ça. " },
    { delayMs: 1_500 }, // room for the barge-in to arrive first, even on a loaded CI box
    ...callTool("book_appointment", { date: nextTuesday(), time, client_name: "Marie Dupont", service_type: "coupe-femme" })
  ]

  test("a booking asked for by a cancelled turn is never made", async () => {
    script((_, n) => (n === 0 ? bookingLater("15:00") : sayText("Très bien, je n'ai rien réservé.")))
    const { callId, ws } = await startCall("CA_BOOK_CANCELLED")
    ws.prompt("Réservez-moi mardi à 15 h")
    await ws.waitFor((f) => f.type === "text")
    ws.interrupt("Je vous réserve", 500)
    await fake.waitForAbort(nth(0).index, 3_000)
    ws.prompt("Non, attendez")
    expect((await ws.textUntilLast()).text).toContain("Très bien, je n'ai rien réservé.")
    expect(await appointmentsOf(callId)).toEqual([])
    expect((await eventsOf(callId)).filter((e) => e.type === "tool_call")).toEqual([])
  })

  test("control: the same turn, not interrupted, does book", async () => {
    script((_, n) => (n === 0 ? bookingLater("16:00") : sayText("C'est réservé.")))
    const { callId, ws } = await startCall("CA_BOOK_DONE")
    ws.prompt("Réservez-moi mardi à 16 h")
    expect((await ws.textUntilLast()).text).toBe("Je vous réserve ça. C'est réservé.")
    expect(await appointmentsOf(callId)).toHaveLength(1)
  })

  test("a transfer asked for by a cancelled turn never ends the session", async () => {
    script((_, n) =>
      n === 0
        ? [{ text: "Je vous passe " }, { delayMs: 1_500 }, ...callTool("transfer_to_human", { reason: "le client le demande" })]
        : sayText("Je reste avec vous.")
    )
    const { ws } = await startCall("CA_TRANSFER_CANCELLED")
    ws.prompt("Je veux parler à quelqu'un")
    await ws.waitFor((f) => f.type === "text")
    ws.interrupt("Je vous passe", 300)
    await fake.waitForAbort(nth(0).index, 3_000)
    ws.prompt("Non, finalement, c'est bon")
    expect((await ws.textUntilLast()).text).toBe("Je vous passe Je reste avec vous.")
    // The session is still ours: the next prompt is answered too, and no end frame ever came.
    ws.prompt("Merci")
    expect((await ws.textUntilLast()).text).toBe("Je reste avec vous.")
    expect(ws.frames.filter((f) => f.type === "end")).toEqual([])
    expect(nth(0).aborted).toBe(true)
  })
})

describe("transfer and DTMF", () => {
  /** Twilio reports TTS playback; the server waits for it before ending the session. */
  const spoken = (ws: RelayClient) => {
    ws.info("agentSpeaking", "on")
    ws.info("agentSpeaking", "off")
  }

  test("transfer_to_human: handoff sentence, end with handoffData, then the action URL dials the business", async () => {
    script(() => [...sayText("Bien sûr. "), ...callTool("transfer_to_human", { reason: "question sur une facture" })])
    const { callId, ws } = await startCall("CA_TRANSFER")
    ws.prompt("Je voudrais parler à quelqu'un pour ma facture")
    expect((await ws.textUntilLast()).text).toBe("Bien sûr. ")
    expect((await ws.textUntilLast()).text).toBe(HANDOFF)
    spoken(ws)
    const end = await ws.waitForType("end")
    const handoffData = String(end.handoffData)
    expect(JSON.parse(handoffData)).toMatchObject({ reason: "transfer", callId })
    // Twilio ends the session (close 1000), then calls the <Connect action> with the handoff data.
    await ws.close()
    const action = await post("/webhooks/twilio/connect-action", actionForm({ callSid: "CA_TRANSFER", sessionStatus: "ended", handoffData }))
    const twiml = parseTwiml(action.text)
    expect(verbs(twiml)).toEqual(["Dial"])
    expect(find(twiml, "Number")!.text).toBe("+33612345678")
    expect(find(twiml, "Dial")!.attributes.action).toBe("https://coccinelle.test/webhooks/twilio/dial-result")
    expect(Number(find(twiml, "Dial")!.attributes.timeout)).toBeGreaterThan(0)
    // The call stays open while the business's phone rings; it ends when the dial does.
    expect((await callRow(callId)).ended_at).toBeNull()
    const answered = await post("/webhooks/twilio/dial-result", { CallSid: "CA_TRANSFER", DialCallStatus: "completed", CallStatus: "in-progress" })
    expect(verbs(parseTwiml(answered.text))).toEqual(["Hangup"])
    const row = await eventually(() => callRow(callId), (r) => r.ended_at !== null, "the call finalised")
    expect(row).toMatchObject({ end_reason: "transfer", outcome: "transferred" })
    const types = (await eventsOf(callId)).map((e) => e.type)
    expect(types).toContain("transfer")
    expect(types).toContain("session_end")
    expect(types).toContain("transfer_result")
  })

  test("a tenant with no transfer number: the tool result says so and the agent goes on (no end frame)", async () => {
    script((_, n) => (n === 0 ? callTool("transfer_to_human", { reason: "le client le demande" }) : sayText("Personne n'est disponible, ", "je peux prendre un message.")))
    const { ws } = await startCall("CA_NO_TRANSFER", GARAGE_NUMBER)
    ws.prompt("Je veux parler à un mécanicien")
    expect((await ws.textUntilLast()).text).toBe("Personne n'est disponible, je peux prendre un message.")
    const result = requestBody(1).messages.at(-1).content[0]
    expect(result.type).toBe("tool_result")
    expect(JSON.parse(result.content)).toMatchObject({ transferred: false })
    expect(JSON.parse(result.content).message).toMatch(/Aucun numéro de transfert/)
    // and pressing 0 there offers to take a message, without ending the session
    ws.dtmf("0")
    expect((await ws.textUntilLast()).text).toMatch(/noter un message/)
    ws.prompt("Oui")
    await ws.textUntilLast()
    expect(ws.frames.filter((f) => f.type === "end")).toEqual([])
  })

  test("DTMF 0: the handoff sentence, then end with reason transfer", async () => {
    const { callId, ws } = await startCall("CA_DTMF_0")
    ws.dtmf("0")
    expect((await ws.textUntilLast()).text).toBe(HANDOFF)
    spoken(ws)
    const end = await ws.waitForType("end")
    expect(JSON.parse(String(end.handoffData))).toEqual({ reason: "transfer", callId })
    await ws.close() // as Twilio does before it calls the action URL
    const action = await post("/webhooks/twilio/connect-action", actionForm({ callSid: "CA_DTMF_0", sessionStatus: "ended", handoffData: String(end.handoffData) }))
    expect(verbs(parseTwiml(action.text))).toEqual(["Dial"])
  })

  test("DTMF 1: the last assistant message is spoken again", async () => {
    script(() => sayText("Nous ouvrons ", "à 9 h."))
    const { ws } = await startCall("CA_DTMF_1")
    ws.prompt("Horaires ?")
    await ws.textUntilLast()
    ws.dtmf("1")
    const again = await ws.textUntilLast()
    expect(again.frames).toEqual([{ type: "text", token: "Nous ouvrons à 9 heures.", last: true }])
    expect(callRequests().length - base).toBe(1) // repeated from the transcript, not asked again
  })

  test("DTMF 9: goodbye, then end with reason hangup; the action answers <Hangup/>; the call ends as an agent hang-up", async () => {
    const { callId, ws } = await startCall("CA_DTMF_9")
    ws.dtmf("9")
    expect((await ws.textUntilLast()).text).toBe(GOODBYE)
    spoken(ws)
    const end = await ws.waitForType("end")
    expect(JSON.parse(String(end.handoffData))).toMatchObject({ reason: "hangup" })
    await ws.close()
    const action = await post("/webhooks/twilio/connect-action", actionForm({ callSid: "CA_DTMF_9", sessionStatus: "ended", handoffData: String(end.handoffData) }))
    expect(verbs(parseTwiml(action.text))).toEqual(["Hangup"])
    const row = await eventually(() => callRow(callId), (r) => r.ended_at !== null, "the call finalised")
    expect(row.end_reason).toBe("agent_hangup")
  })

  test("DTMF 9 with the greeting's barge-in in the same instant (as recorded on a real call): the goodbye still comes, then end", async () => {
    const { ws } = await startCall("CA_DTMF_9_BARGE")
    // Twilio stops the greeting as the key is pressed: the interrupt lands right behind the key, before any reply.
    ws.dtmf("9")
    ws.interrupt("Bonjour", 15)
    expect((await ws.textUntilLast()).text).toBe(GOODBYE)
    spoken(ws)
    const end = await ws.waitForType("end")
    expect(JSON.parse(String(end.handoffData))).toMatchObject({ reason: "hangup" })
  })
})

describe("hang-up", () => {
  const endEvents = async (callId: string) => (await eventsOf(callId)).filter((e) => e.type === "end")

  for (const order of ["close, then status callback", "status callback racing the close"] as const) {
    test(`mid-reply (${order}): the Claude request is aborted; the call is finalised exactly once as a caller hang-up`, async () => {
      script(() => slowReply("Nous sommes ", "ouverts "))
      const callSid = order === "close, then status callback" ? "CA_HANGUP_1" : "CA_HANGUP_2"
      const { callId, ws } = await startCall(callSid)
      ws.prompt("Vous êtes ouverts quand ?")
      await ws.waitFor((f) => f.type === "text" && f.token === "ouverts ")
      const completed = () => post("/webhooks/twilio/status", statusForm({ callSid, status: "completed", duration: 7, sequence: 3 }))
      if (order === "close, then status callback") {
        await ws.close()
        await fake.waitForAbort(nth(0).index, 3_000)
        await eventually(() => callRow(callId), (r) => r.ended_at !== null, "the call finalised")
        await completed()
      } else {
        const [status] = await Promise.all([completed(), ws.close()])
        expect(status.status).toBe(200)
        await fake.waitForAbort(nth(0).index, 3_000)
      }
      const row = await eventually(() => callRow(callId), (r) => r.ended_at !== null && r.status === "completed", "the call finalised")
      expect(row).toMatchObject({ end_reason: "caller_hangup", outcome: "abandoned" })
      expect(await eventually(() => endEvents(callId), (rows) => rows.length > 0, "the end event")).toHaveLength(1)
      // Later callbacks change nothing.
      await completed()
      await post("/webhooks/twilio/status", statusForm({ callSid, status: "completed", duration: 7, sequence: 4 }))
      expect((await callRow(callId)).ended_at).toBe(row.ended_at)
      expect(await endEvents(callId)).toHaveLength(1)
      // What was said before the hang-up is in the transcript.
      expect((await messagesOf(callId)).map((m) => m.content)).toEqual(["Vous êtes ouverts quand ?", "Nous sommes ouverts "])
    })
  }
})

describe("malformed and unexpected frames", () => {
  test("non-JSON, an unknown type, wrong field types: stored as malformed_frame events, and the call survives", async () => {
    script(() => sayText("Je vous écoute."))
    const { callId, ws } = await startCall("CA_MALFORMED")
    ws.sendRaw("this is not json")
    ws.send({ type: "connected", streamSid: "MZ00000000000000000000000000000000" })
    ws.send({ type: "prompt", voicePrompt: 42, last: true })
    ws.send({ type: "dtmf", digit: 5 })
    ws.prompt("Allô ?")
    expect((await ws.textUntilLast()).text).toBe("Je vous écoute.")
    const events = await eventually(() => eventsOf(callId), (rows) => rows.filter((e) => e.type === "malformed_frame").length === 4, "malformed_frame events")
    expect(events.filter((e) => e.type === "malformed_frame").map((e) => JSON.parse(e.data).type)).toEqual(["not-json", "connected", "prompt", "dtmf"])
    // Twilio's own error frames are recorded too.
    ws.error("Invalid message received, code: 64107, oops")
    ws.prompt("Vous m'entendez ?")
    expect((await ws.textUntilLast()).text).toBe("Je vous écoute.")
    // written off the reply's path: wait for it (the database may be a socket away)
    await eventually(() => eventsOf(callId), (rows) => rows.some((e) => e.type === "relay_error"), "the relay_error event")
  })

  test("a socket whose setup names a call we never answered: an apology, end, and no row", async () => {
    const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    sockets.push(ws)
    ws.setup({ callSid: "CA_NEVER_ANSWERED", from: CALLER, to: BUSINESS_NUMBER, customParameters: { callId: "made-up" } })
    expect((await ws.textUntilLast()).text).toMatch(/retrouver votre appel/)
    expect(JSON.parse(String((await ws.waitForType("end")).handoffData))).toEqual({ reason: "unknown_call" })
    expect(await app.query((sql) => sql`SELECT id FROM calls WHERE twilio_call_sid = 'CA_NEVER_ANSWERED'`)).toEqual([])
    // Then closed by us: a replayed handshake cannot hold a socket open until the idle timeout.
    expect((await ws.closed).code).toBe(1000)
  })

  test("a 200 KB prompt is read, cut to MAX_PROMPT_CHARS with an event saying so, and the call goes on", async () => {
    script(() => sayText("Pardon, pouvez-vous résumer ?"))
    const { callId, ws } = await startCall("CA_HUGE_PROMPT")
    ws.prompt("bla ".repeat(50_000))
    expect((await ws.textUntilLast()).text).toBe("Pardon, pouvez-vous résumer ?")
    expect((JSON.stringify(requestBody(0).messages)).length).toBeLessThan(10_000)
    const events = await eventually(() => eventsOf(callId), (rows) => rows.some((e) => e.type === "prompt_truncated"), "the prompt_truncated event")
    expect(JSON.parse(events.find((e) => e.type === "prompt_truncated")!.data)).toEqual({ length: 200_000, kept: 4_000 })
    ws.prompt("Vous êtes ouverts samedi ?")
    expect((await ws.textUntilLast()).text).toBe("Pardon, pouvez-vous résumer ?")
    expect((await callRow(callId)).ended_at).toBeNull()
  })

  test("a burst of 2,000 odd frames is counted, not stored frame by frame, and the call goes on", async () => {
    script(() => sayText("Je vous écoute."))
    const { callId, ws } = await startCall("CA_FRAME_BURST")
    for (let i = 0; i < 1_000; i++) ws.sendRaw(`not json ${i}`)
    for (let i = 0; i < 1_000; i++) ws.dtmf("5")
    ws.prompt("Allô ?")
    expect((await ws.textUntilLast()).text).toBe("Je vous écoute.")
    await ws.close()
    const events = await eventually(() => eventsOf(callId), (rows) => rows.some((e) => e.type === "end"), "the end event")
    expect(events.filter((e) => e.type === "malformed_frame")).toHaveLength(20)
    expect(events.filter((e) => e.type === "dtmf")).toHaveLength(20)
    expect(events.length).toBeLessThan(60)
    expect(JSON.parse(events.find((e) => e.type === "frame_events_not_stored")!.data)).toEqual({ malformed_frame: 980, dtmf: 980 })
  })
})
