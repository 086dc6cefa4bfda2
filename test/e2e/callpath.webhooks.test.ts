import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { readFileSync } from "node:fs"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { type FakeAnthropic, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import {
  actionForm,
  find,
  parametersOf,
  parseTwiml,
  RelayClient,
  RelayHandshakeError,
  signedPost,
  statusForm,
  twilioSignature,
  verbs,
  voiceForm
} from "../support/twilioClient.ts"

/**
 * Twilio's webhooks against the real server: the TwiML of an incoming call attribute by attribute, routing by
 * the called (or forwarding) number, signatures on every webhook and on the relay handshake, status callbacks,
 * and the `<Connect action>` / dial-result answers.
 */

const DEMO = JSON.parse(readFileSync(new URL("../../src/tenants/demo-tenant.json", import.meta.url), "utf8")) as { greeting: string }
const CALLER = "+33611223344"
const GARAGE_NUMBER = "+33478000001"
const NOBODY_NUMBER = "+33100000000"
const TEST_ACCOUNT = "AC00000000000000000000000000000000"

let fake: FakeAnthropic
let app: TestApp
let garageId: string

beforeAll(async () => {
  fake = await startFakeAnthropic({ script: () => sayText("Bonjour.") })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
  // A second business, created through the admin API, with no transfer number.
  const res = await fetch(app.baseUrl + "/api/v1/admin/tenants", {
    method: "POST",
    headers: { authorization: "Bearer admin-secret-token", "content-type": "application/json" },
    body: JSON.stringify({
      name: "Garage du Centre",
      phoneNumbers: [GARAGE_NUMBER],
      greeting: "Garage du Centre, bonjour !",
      voice: { ttsProvider: "Google", voice: "fr-FR-Neural2-A" }
    })
  })
  expect(res.status).toBe(201)
  garageId = ((await res.json()) as { id: string }).id
})
afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

const post = (path: string, form: Record<string, string>, options?: Parameters<typeof signedPost>[5]) =>
  signedPost(app.baseUrl, PUBLIC_URL, path, form, AUTH_TOKEN, options)

interface CallRow {
  id: string
  tenant_id: string
  from_number: string
  to_number: string
  forwarded_from: string | null
  direction: string
  status: string
  duration: number | null
  ended_at: string | null
  end_reason: string | null
  outcome: string | null
}
const callRows = (callSid: string) =>
  app.query((sql) => sql<CallRow>`SELECT * FROM calls WHERE twilio_call_sid = ${callSid}`)
const demoTenantId = async () =>
  (await app.query((sql) =>
    sql<{ tenant_id: string }>`SELECT tenant_id FROM tenant_numbers WHERE phone_number = ${BUSINESS_NUMBER}`))[0]!.tenant_id

describe("incoming call", () => {
  test("TwiML: <Connect action> around <ConversationRelay>, attribute by attribute, and a calls row", async () => {
    const res = await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_TWIML", from: CALLER, to: BUSINESS_NUMBER }))
    expect(res.status).toBe(200)
    expect(res.contentType).toStartWith("text/xml")
    const twiml = parseTwiml(res.text)
    expect(verbs(twiml)).toEqual(["Connect"])
    const connect = find(twiml, "Connect")!
    expect(connect.attributes).toEqual({ action: "https://coccinelle.test/webhooks/twilio/connect-action", method: "POST" })
    expect(connect.children.map((c) => c.name)).toEqual(["ConversationRelay"])
    const relay = find(twiml, "ConversationRelay")!
    const a = relay.attributes
    expect(a.url).toBe("wss://coccinelle.test/webhooks/twilio/conversation")
    expect(a.language).toBe("fr-FR")
    expect(a.welcomeGreeting).toBe(DEMO.greeting)
    expect(a.ttsProvider).toBe("Amazon")
    expect(a.voice).toBe("Lea-Neural")
    expect(a.transcriptionProvider).toBe("Deepgram")
    expect(a.speechModel).toBe("nova-2-general")
    expect(a.dtmfDetection).toBe("true")
    expect(["any", "speech", "dtmf"]).toContain(a.interruptible!)
    // Explicit, and a string enum (twilio-node types it as a boolean; "true"/"false" would be invalid).
    expect(["none", "dtmf", "speech", "any"]).toContain(a.reportInputDuringAgentSpeech!)
    const [row] = await callRows("CA_TWIML")
    expect(row).toMatchObject({
      tenant_id: await demoTenantId(),
      from_number: CALLER,
      to_number: BUSINESS_NUMBER,
      forwarded_from: null,
      direction: "inbound",
      status: "ringing",
      ended_at: null
    })
    expect(parametersOf(relay)).toEqual({ callId: row!.id })
  })

  test("Twilio retrying the webhook for the same call gets the same call back", async () => {
    const first = await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_RETRY", from: CALLER, to: BUSINESS_NUMBER }))
    const second = await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_RETRY", from: CALLER, to: BUSINESS_NUMBER }))
    const ids = [first, second].map((r) => parametersOf(find(parseTwiml(r.text), "ConversationRelay")!).callId)
    expect(ids[0]).toBe(ids[1]!)
    expect(await callRows("CA_RETRY")).toHaveLength(1)
  })

  test("a forwarded line: To is unknown, ForwardedFrom is a tenant's number → that tenant answers", async () => {
    const res = await post(
      "/webhooks/twilio/voice",
      voiceForm({ callSid: "CA_FORWARDED", from: CALLER, to: NOBODY_NUMBER, forwardedFrom: GARAGE_NUMBER })
    )
    const relay = find(parseTwiml(res.text), "ConversationRelay")!
    expect(relay.attributes.welcomeGreeting).toBe("Garage du Centre, bonjour !")
    expect(relay.attributes.ttsProvider).toBe("Google")
    expect(relay.attributes.voice).toBe("fr-FR-Neural2-A")
    expect(await callRows("CA_FORWARDED")).toMatchObject([{ tenant_id: garageId, to_number: NOBODY_NUMBER, forwarded_from: GARAGE_NUMBER }])
  })

  test("an unknown number gets a short French message and a hang-up — never another tenant — and no call row", async () => {
    for (const [callSid, extra] of [["CA_UNKNOWN_1", {}], ["CA_UNKNOWN_2", { forwardedFrom: "+33100000001" }]] as const) {
      const res = await post("/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: NOBODY_NUMBER, ...extra }))
      expect(res.status).toBe(200)
      const twiml = parseTwiml(res.text)
      expect(verbs(twiml)).toEqual(["Say", "Hangup"])
      const say = find(twiml, "Say")!
      expect(say.attributes.language).toBe("fr-FR")
      expect(say.text).toMatch(/numéro/)
      expect(res.text).not.toContain("ConversationRelay")
      expect(res.text).not.toContain(DEMO.greeting)
      expect(await callRows(callSid)).toEqual([])
    }
  })

  test("a webhook that fails inside (its table gone) answers 500 in JSON without internals, logs it, and the next one is served", async () => {
    await app.query((sql) => sql`ALTER TABLE call_owners RENAME TO call_owners_away`)
    let res: Awaited<ReturnType<typeof post>>
    try {
      res = await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_BROKEN_DB", from: CALLER, to: BUSINESS_NUMBER }))
    } finally {
      await app.query((sql) => sql`ALTER TABLE call_owners_away RENAME TO call_owners`)
    }
    expect(res.status).toBe(500)
    expect(JSON.parse(res.text)).toEqual({ success: false, error: { code: "internal", message: "internal error" } })
    expect(res.text).not.toContain("call_owners")
    const failure = app.logLines.map((line) => JSON.parse(line)).find((record) => record.message === "webhook failed")
    expect(failure).toMatchObject({ level: "error", annotations: { route: "voice" } })
    // Twilio retries the same call: now answered with the relay.
    const retried = await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_BROKEN_DB", from: CALLER, to: BUSINESS_NUMBER }))
    expect(retried.status).toBe(200)
    expect(find(parseTwiml(retried.text), "ConversationRelay")).toBeDefined()
  })
})

describe("signatures", () => {
  const form = () => voiceForm({ callSid: "CA_FORGED", from: CALLER, to: BUSINESS_NUMBER })

  test("voice webhook: a wrong, missing, or tampered signature is refused with 403 and no call row", async () => {
    const wrong = await post("/webhooks/twilio/voice", form(), { signature: twilioSignature("another_token", PUBLIC_URL + "/webhooks/twilio/voice", form()) })
    expect(wrong.status).toBe(403)
    expect((await post("/webhooks/twilio/voice", form(), { signature: null })).status).toBe(403)
    expect((await post("/webhooks/twilio/voice", form(), { signature: "" })).status).toBe(403)
    // Signed for the address the server listens on rather than the public URL Twilio calls.
    const local = await post("/webhooks/twilio/voice", form(), { signature: twilioSignature(AUTH_TOKEN, app.baseUrl + "/webhooks/twilio/voice", form()) })
    expect(local.status).toBe(403)
    // A valid signature over other parameters (To changed after signing).
    const tampered = await post("/webhooks/twilio/voice", { ...form(), To: GARAGE_NUMBER }, {
      signature: twilioSignature(AUTH_TOKEN, PUBLIC_URL + "/webhooks/twilio/voice", form())
    })
    expect(tampered.status).toBe(403)
    expect(await callRows("CA_FORGED")).toEqual([])
    // …while the genuine request goes through.
    expect((await post("/webhooks/twilio/voice", form())).status).toBe(200)
  })

  test("status, connect-action and dial-result refuse bad or missing signatures, with no side effect", async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_SIGNED_ONLY", from: CALLER, to: BUSINESS_NUMBER }))
    const status = statusForm({ callSid: "CA_SIGNED_ONLY", status: "completed", duration: 30, sequence: 5 })
    for (const signature of ["bm90IGEgc2lnbmF0dXJl", null]) {
      expect((await post("/webhooks/twilio/status", status, { signature })).status).toBe(403)
      expect((await post("/webhooks/twilio/connect-action", actionForm({ callSid: "CA_SIGNED_ONLY", sessionStatus: "ended", handoffData: "{\"reason\":\"transfer\"}" }), { signature })).status).toBe(403)
      expect((await post("/webhooks/twilio/dial-result", { CallSid: "CA_SIGNED_ONLY", DialCallStatus: "no-answer" }, { signature })).status).toBe(403)
    }
    expect(await callRows("CA_SIGNED_ONLY")).toMatchObject([{ status: "ringing", duration: null, ended_at: null }])
    const events = await app.query((sql) =>
      sql`SELECT e.type FROM call_events e JOIN calls c ON c.id = e.call_id WHERE c.twilio_call_sid = 'CA_SIGNED_ONLY'`)
    expect(events).toEqual([])
  })

  test("relay handshake: 403 for a wrong signature, a missing one, or one over the ws:// URL; 101 for the wss:// one", async () => {
    const refused = async (options: Parameters<typeof RelayClient.connect>[1]) => {
      const error = await RelayClient.connect(app.wsUrl, options).then(
        (client) => {
          client.close()
          return new Error("the handshake was accepted")
        },
        (e: unknown) => e
      )
      expect(error).toBeInstanceOf(RelayHandshakeError)
      expect((error as RelayHandshakeError).status).toBe(403)
    }
    await refused({ authToken: "another_token", publicUrl: PUBLIC_URL })
    await refused({ signature: null })
    await refused({ signature: twilioSignature(AUTH_TOKEN, "ws://coccinelle.test/webhooks/twilio/conversation", {}) })
    await refused({ signature: twilioSignature(AUTH_TOKEN, "https://coccinelle.test/webhooks/twilio/conversation", {}) })
    const ok = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    ok.close()
    await ok.closed
  })
})

describe("without TWILIO_AUTH_TOKEN", () => {
  test("the server says loudly at start that it runs unsigned, and then accepts unsigned webhooks", async () => {
    const unsigned = await startApp({ TWILIO_AUTH_TOKEN: "", ANTHROPIC_BASE_URL: fake.url })
    try {
      const warning = unsigned.logLines.map((line) => JSON.parse(line)).find((r) => /WITHOUT signature checks/.test(r.message))
      expect(warning).toBeDefined()
      expect(warning.level).toMatch(/warn/i)
      const res = await signedPost(unsigned.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_UNSIGNED", from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN, { signature: null })
      expect(res.status).toBe(200)
    } finally {
      await unsigned.stop()
    }
  })
})

describe("status callbacks", () => {
  const status = (callSid: string, s: Parameters<typeof statusForm>[0]["status"], sequence: number, duration?: number) =>
    post("/webhooks/twilio/status", statusForm({ callSid, status: s, sequence, ...(duration !== undefined ? { duration } : {}) }))

  test("update status and duration, in SequenceNumber order, idempotently", async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_STATUS", from: CALLER, to: BUSINESS_NUMBER }))
    expect((await status("CA_STATUS", "in-progress", 1)).status).toBe(200)
    expect(await callRows("CA_STATUS")).toMatchObject([{ status: "in-progress", duration: null }])
    expect((await status("CA_STATUS", "completed", 3, 42)).status).toBe(200)
    const [done] = await callRows("CA_STATUS")
    expect(done).toMatchObject({ status: "completed", duration: 42 })
    // The same callback again: nothing changes.
    expect((await status("CA_STATUS", "completed", 3, 42)).status).toBe(200)
    // An older one arriving late: nothing changes either.
    expect((await status("CA_STATUS", "in-progress", 2)).status).toBe(200)
    expect((await status("CA_STATUS", "ringing", 0)).status).toBe(200)
    expect(await callRows("CA_STATUS")).toEqual([done!])
  })

  test("a call that ended before reaching the relay (hung up during the greeting) is finalised by its status", async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_GREETING_HANGUP", from: CALLER, to: BUSINESS_NUMBER }))
    await status("CA_GREETING_HANGUP", "completed", 1, 4)
    const [row] = await callRows("CA_GREETING_HANGUP")
    expect(row).toMatchObject({ status: "completed", duration: 4, end_reason: "caller_hangup" })
    expect(row!.ended_at).not.toBeNull()
    await status("CA_GREETING_HANGUP", "completed", 1, 4)
    expect(await callRows("CA_GREETING_HANGUP")).toEqual([row!])
  })

  test("an unknown CallSid: 200, and no row appears", async () => {
    const res = await status("CA_NEVER_SEEN", "completed", 3, 12)
    expect(res.status).toBe(200)
    expect(await callRows("CA_NEVER_SEEN")).toEqual([])
  })
})

describe("end of the relay session: <Connect action> and the dial result", () => {
  beforeAll(async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_ACTION", from: CALLER, to: BUSINESS_NUMBER }))
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_ACTION_GARAGE", from: CALLER, to: GARAGE_NUMBER }))
  })
  const action = (callSid: string, p: Omit<Parameters<typeof actionForm>[0], "callSid">) =>
    post("/webhooks/twilio/connect-action", actionForm({ callSid, accountSid: TEST_ACCOUNT, ...p }))

  test("SessionStatus=ended with a transfer handoff → <Dial> to the tenant's transfer number, with a timeout and an action", async () => {
    const res = await action("CA_ACTION", { sessionStatus: "ended", handoffData: JSON.stringify({ reason: "transfer", callId: "x" }) })
    expect(res.status).toBe(200)
    const twiml = parseTwiml(res.text)
    expect(verbs(twiml)).toEqual(["Dial"])
    const dial = find(twiml, "Dial")!
    expect(Number(dial.attributes.timeout)).toBeGreaterThanOrEqual(10)
    expect(Number(dial.attributes.timeout)).toBeLessThanOrEqual(60)
    expect(dial.attributes.action).toBe("https://coccinelle.test/webhooks/twilio/dial-result")
    expect(dial.children.map((c) => [c.name, c.text])).toEqual([["Number", "+33612345678"]])
  })

  const dialResult = (callSid: string, dialCallStatus: string, callStatus: string) =>
    post("/webhooks/twilio/dial-result", { CallSid: callSid, DialCallStatus: dialCallStatus, CallStatus: callStatus, AccountSid: TEST_ACCOUNT })

  test("the dial result: answered → <Hangup/> and the call ends transferred; nobody answered, caller gone → <Hangup/>, abandoned", async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_DIAL_ANSWERED", from: CALLER, to: BUSINESS_NUMBER }))
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_DIAL_GONE", from: CALLER, to: BUSINESS_NUMBER }))
    expect(verbs(parseTwiml((await dialResult("CA_DIAL_ANSWERED", "completed", "in-progress")).text))).toEqual(["Hangup"])
    expect((await callRows("CA_DIAL_ANSWERED"))[0]).toMatchObject({ end_reason: "transfer", outcome: "transferred" })
    expect(verbs(parseTwiml((await dialResult("CA_DIAL_GONE", "no-answer", "completed")).text))).toEqual(["Hangup"])
    expect((await callRows("CA_DIAL_GONE"))[0]).toMatchObject({ end_reason: "transfer", outcome: "abandoned" })
  })

  test("a booking made before a transfer nobody answered stays the call's outcome", async () => {
    for (const [callSid, callStatus, hour] of [["CA_DIAL_BOOKED_GONE", "completed", "08"], ["CA_DIAL_BOOKED_THERE", "in-progress", "10"]] as const) {
      await post("/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS_NUMBER }))
      const call = (await callRows(callSid))[0]!
      await app.query((sql) => sql`INSERT INTO appointments (id, tenant_id, call_id, service_type, service_name, client_name,
          client_phone, starts_at, ends_at, time_zone, status, idempotency_key, created_at, cancelled_at)
        VALUES (${`apt-${callSid}`}, ${call.tenant_id}, ${call.id}, 'coupe-femme', 'Coupe femme', 'Marie Dupont', ${CALLER},
          ${`2026-12-08T${hour}:00:00.000Z`}, ${`2026-12-08T${hour}:45:00.000Z`}, 'Europe/Paris', 'booked', NULL, '2026-12-01T09:00:00.000Z', NULL)`)
      await app.query((sql) => sql`UPDATE calls SET outcome = 'transferred' WHERE id = ${call.id}`)
      await dialResult(callSid, "no-answer", callStatus)
      expect((await callRows(callSid))[0]!.outcome).toBe("booked")
    }
  })

  test("nobody answered, the caller still there → a new <Connect> offering to take a message; a second failed dial → a French apology and <Hangup/>", async () => {
    for (const status of ["no-answer", "busy", "failed", "canceled"]) {
      const callSid = `CA_DIAL_${status}`
      await post("/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS_NUMBER }))
      const resumed = parseTwiml((await dialResult(callSid, status, "in-progress")).text)
      expect(verbs(resumed)).toEqual(["Connect"])
      const relay = find(resumed, "ConversationRelay")!
      expect(relay.attributes.welcomeGreeting).toBe("Personne n'a pu répondre pour le moment. Je peux prendre un message : quel est votre nom ?")
      expect(parametersOf(relay).callId).toBe((await callRows(callSid))[0]!.id)
      expect((await callRows(callSid))[0]!.ended_at).toBeNull()
      // Never in a loop: the message was offered once.
      const again = parseTwiml((await dialResult(callSid, status, "in-progress")).text)
      expect(verbs(again)).toEqual(["Say", "Hangup"])
      expect(find(again, "Say")!.attributes.language).toBe("fr-FR")
      expect(find(again, "Say")!.text).toMatch(/personne n'est disponible/)
      expect((await callRows(callSid))[0]).toMatchObject({ end_reason: "transfer", outcome: "abandoned" })
    }
  })

  test("after a transfer nobody answered, a dropped socket is resumed, and a second drop never dials the business again", async () => {
    await post("/webhooks/twilio/voice", voiceForm({ callSid: "CA_DIAL_DROP", from: CALLER, to: BUSINESS_NUMBER }))
    expect(verbs(parseTwiml((await dialResult("CA_DIAL_DROP", "no-answer", "in-progress")).text))).toEqual(["Connect"])
    expect(verbs(parseTwiml((await action("CA_DIAL_DROP", { sessionStatus: "failed" })).text))).toEqual(["Connect"])
    const again = parseTwiml((await action("CA_DIAL_DROP", { sessionStatus: "failed" })).text)
    expect(verbs(again)).toEqual(["Say", "Hangup"])
    expect((await callRows("CA_DIAL_DROP"))[0]).toMatchObject({ end_reason: "socket_failed", outcome: "abandoned" })
  })

  test("SessionStatus=completed (the caller hung up) → <Hangup/>; an ended session without a transfer → <Hangup/>", async () => {
    expect(verbs(parseTwiml((await action("CA_ACTION", { sessionStatus: "completed" })).text))).toEqual(["Hangup"])
    const goodbye = await action("CA_ACTION", { sessionStatus: "ended", handoffData: JSON.stringify({ reason: "hangup" }) })
    expect(verbs(parseTwiml(goodbye.text))).toEqual(["Hangup"])
  })

  test("a transfer handoff for a tenant with no transfer number never dials anyone", async () => {
    const res = await action("CA_ACTION_GARAGE", { sessionStatus: "ended", handoffData: JSON.stringify({ reason: "transfer" }) })
    expect(res.text).not.toContain("<Dial")
  })

  test("our socket dropped (SessionStatus=failed, 64105) while the caller is still there: resumed on a new session; dropped again soon after: an apology and the transfer", async () => {
    const res = await action("CA_ACTION", { sessionStatus: "failed" })
    const resumed = parseTwiml(res.text)
    expect(verbs(resumed)).toEqual(["Connect"])
    const relay = find(resumed, "ConversationRelay")!
    expect(relay.attributes.welcomeGreeting).toBe("Je vous écoute.")
    expect(typeof parametersOf(relay).callId).toBe("string")
    // It can never loop: the second drop within a short time is handed over.
    const again = parseTwiml((await action("CA_ACTION", { sessionStatus: "failed" })).text)
    expect(verbs(again)).toEqual(["Say", "Dial"])
    expect(find(again, "Number")!.text).toBe("+33612345678")
  })

  test("an unknown CallSid → <Hangup/>", async () => {
    expect(verbs(parseTwiml((await action("CA_NOT_OURS", { sessionStatus: "ended", handoffData: "{\"reason\":\"transfer\"}" })).text))).toEqual(["Hangup"])
  })
})
