import { afterAll, beforeAll, expect } from "../support/test.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { type FakeAnthropic, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { freshFixture } from "../support/callHarness.ts"
import { describeWithFixtures, fixtureNames, fixturesAvailable, type InboundFrameJson, testWithFixtures } from "../support/fixtures.ts"
import { actionForm, find, type OutFrame, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"
import { eventually } from "../support/wait.ts"

/**
 * Replays the recorded ConversationRelay calls (../shared/fixtures/conversationrelay, real Twilio traffic) through
 * the real server over a real WebSocket: each recording's inbound frames, in order, on a call created by a signed
 * voice webhook (its callSid rewritten to ours). The recorded timing is not reproduced (88 s of silence would be
 * 88 s here); instead, after each final prompt the replay waits for our reply, as Twilio's next frames would only
 * come after it. Skipped, with a note, when the recordings are absent.
 */

const REPLY = "Je vous écoute."
const DEMO_GREETING = "Bonjour, Salon Lumière, je suis l'assistante du salon. Que puis-je faire pour vous ?"
const SUMMARY = {
  summary: "Un appel de test.",
  intent: "test",
  sentiment: "neutre",
  outcome: "abandoned",
  callbackNeeded: false,
  unansweredQuestions: []
}

let fake: FakeAnthropic
let app: TestApp

beforeAll(async () => {
  if (!fixturesAvailable()) return
  fake = await startFakeAnthropic({
    script: ({ body }) => (isSummaryRequest(body) ? summaryCall(SUMMARY) : sayText("Je vous ", "écoute."))
  })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
})
afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})


/** The recording's inbound frames, session by session (a recording may hold a second session on the same call). */
const sessionsOf = (name: string): Array<Array<InboundFrameJson>> => {
  const sessions = new Map<number, Array<InboundFrameJson>>()
  for (const event of freshFixture(name)) {
    if (event.dir !== "in") continue
    const key = event.session ?? 1
    sessions.set(key, [...(sessions.get(key) ?? []), event.frame])
  }
  return [...sessions.values()]
}

interface Expectation {
  /** How our side ends the session, if it does (DTMF 9 → hangup, DTMF 0 → transfer). */
  readonly endFrame?: "hangup" | "transfer"
  readonly endReason: string
  /** Twilio error frames in the recording, recorded as relay_error events. */
  readonly relayErrors?: number
  /**
   * A later session on a call whose first session is over is refused: we never answer the connect action
   * with a new <Connect>, so such a socket can only be a replay, and it must not reopen the call.
   */
  readonly laterSessionsRefused?: boolean
}
const EXPECTED: Record<string, Expectation> = {
  "greeting-dtmf": { endFrame: "hangup", endReason: "agent_hangup" },
  "preempt-marked": { endFrame: "transfer", endReason: "transfer" },
  "malformed-frames": { endReason: "caller_hangup", relayErrors: 10 },
  "end-then-reconnect": { endReason: "caller_hangup", laterSessionsRefused: true }
}

let sidCounter = 0

const replay = async (name: string) => {
  const expected = EXPECTED[name] ?? { endReason: "caller_hangup" }
  const callSid = `CA_REPLAY_${String(++sidCounter).padStart(4, "0")}`
  const sessions = sessionsOf(name)
  const from = String(sessions[0]![0]!.from ?? "+15550100001")
  const answer = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from, to: BUSINESS_NUMBER }), AUTH_TOKEN)
  expect(answer.status).toBe(200)
  const params = parametersOf(find(parseTwiml(answer.text), "ConversationRelay")!)
  const callId = params.callId!
  const replies: Array<string> = []
  const repeats: Array<string> = []
  let endFrame: OutFrame | undefined

  for (const [s, frames] of sessions.entries()) {
    const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    if (s > 0 && expected.laterSessionsRefused) {
      const setup = frames.find((frame) => frame.type === "setup")!
      ws.send({ ...setup, callSid, to: BUSINESS_NUMBER, customParameters: params })
      expect((await ws.closed).code).toBe(1008)
      expect(ws.frames).toEqual([])
      continue
    }
    try {
      for (const frame of frames) {
        if (frame.type === "setup") {
          ws.send({ ...frame, callSid, to: BUSINESS_NUMBER, customParameters: params })
          continue
        }
        const before = ws.frames.length
        ws.send(frame)
        const ended = ws.frames.some((f) => f.type === "end")
        // A final prompt gets a reply, key 1 a repeat: wait for it, as Twilio's next frames come after it.
        const answered = (frame.type === "prompt" && frame.last === true) || (frame.type === "dtmf" && frame.digit === "1")
        if (answered && !ended) {
          const last = await ws.waitFor((f) => (f.type === "text" && f.last === true) || f.type === "end", 5_000, { since: before })
          const said = ws.frames.slice(before, ws.frames.indexOf(last) + 1).map((f) => String(f.token ?? "")).join("")
          if (last.type === "text") (frame.type === "prompt" ? replies : repeats).push(said)
        }
      }
      endFrame = ws.frames.find((f) => f.type === "end") ?? endFrame
      if (expected.endFrame !== undefined && s === 0) {
        // Our side ends this session: the handoff sentence, then `end` once Twilio reports it spoken.
        const end = await ws.waitForType("end", 8_000)
        expect(JSON.parse(String(end.handoffData))).toMatchObject({ reason: expected.endFrame, callId })
        endFrame = end
      } else {
        // The call survived every recorded frame: a last prompt still gets an answer.
        const before = ws.frames.length
        ws.prompt("Vous êtes toujours là ?")
        await ws.waitFor((f) => f.type === "text" && f.last === true, 5_000, { since: before })
        expect(ws.frames.slice(before).map((f) => String(f.token)).join("")).toBe(REPLY)
      }
      expect(ws.invalid).toEqual([]) // everything we sent was a JSON frame
    } finally {
      await ws.close()
    }
  }

  if (expected.endFrame === "transfer") {
    // A transfer keeps the call open until the business's phone answers: Twilio's connect action, then its dial result.
    const post = (path: string, form: Record<string, string>) => signedPost(app.baseUrl, PUBLIC_URL, path, form, AUTH_TOKEN)
    const action = actionForm({ callSid, from, to: BUSINESS_NUMBER, sessionStatus: "ended", handoffData: String(endFrame!.handoffData) })
    expect((await post("/webhooks/twilio/connect-action", action)).text).toContain("<Dial")
    await post("/webhooks/twilio/dial-result", { ...action, DialCallStatus: "completed" })
  }
  // Finalised exactly once, with the reason the recording implies.
  const row = await eventually(
    () => app.query((sql) => sql<{ ended_at: string | null; end_reason: string | null }>`SELECT ended_at, end_reason FROM calls WHERE id = ${callId}`),
    (rows) => rows[0]?.ended_at != null,
    `${name}: the call finalised`,
    8_000
  )
  expect(row[0]!.end_reason).toBe(expected.endReason)
  const events = await eventually(
    () => app.query((sql) => sql<{ type: string; data: string }>`SELECT type, data FROM call_events WHERE call_id = ${callId} ORDER BY id`),
    (rows) => rows.filter((e) => e.type === "end").length === 1,
    `${name}: one end event`,
    8_000
  )
  // Every frame Twilio really sends decoded: nothing was recorded as malformed, no turn failed.
  expect(events.filter((e) => e.type === "malformed_frame")).toEqual([])
  expect(events.filter((e) => e.type === "error")).toEqual([])
  expect(events.filter((e) => e.type === "relay_error")).toHaveLength(expected.relayErrors ?? 0)
  expect(events.filter((e) => e.type === "setup")).toHaveLength(expected.laterSessionsRefused ? 1 : sessions.length)
  return { callId, replies, repeats, events, endFrame }
}

describeWithFixtures("replaying recorded ConversationRelay calls through the server", () => {
  const names = fixturesAvailable() ? fixtureNames() : ["(recordings absent)"]
  for (const name of names) {
    testWithFixtures(`${name}.jsonl: every frame handled, the call survives and is finalised`, async () => {
      const { replies } = await replay(name)
      const finalPrompts = sessionsOf(name).flat().filter((f) => f.type === "prompt" && f.last === true).length
      if (EXPECTED[name]?.endFrame === undefined) expect(replies).toEqual(Array(finalPrompts).fill(REPLY))
    }, 30_000)
  }

  testWithFixtures("interrupt.jsonl: the barge-in is stored with what was heard, key 1 repeats the greeting, partials start no turn", async () => {
    const { events, replies, repeats } = await replay("interrupt")
    const interrupt = events.find((e) => e.type === "interrupt")!
    expect(JSON.parse(interrupt.data)).toMatchObject({ heard: "Sentence 2 of", durationMs: 684 })
    // DTMF 1 before anything was said repeats the greeting; the final prompt after the barge-in gets one reply.
    expect(events.filter((e) => e.type === "dtmf").map((e) => JSON.parse(e.data).digit)).toEqual(["1"])
    expect(repeats).toEqual([DEMO_GREETING])
    expect(replies).toEqual([REPLY])
    // Partial transcripts (11 of them) start no turn: one prompt event for the recorded final transcript, one for our probe.
    expect(events.filter((e) => e.type === "prompt")).toHaveLength(2)
  }, 30_000)
})
