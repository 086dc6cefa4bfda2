import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { type FakeAnthropic, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { actionForm, find, findAll, parametersOf, parseTwiml, RelayClient, RelayHandshakeError, signedPost, voiceForm } from "../support/twilioClient.ts"
import { waitUntil } from "../support/wait.ts"
import { sleep } from "../support/runtime.ts"
import { queryDatabase, testDatabaseUrl } from "../support/db.ts"

/**
 * Graceful shutdown through the real server (`app.stop()` disposes the runtime: the server's release drains,
 * then stops): while draining, new calls are refused politely and /health says 503; a call that ends during the
 * drain lets the server stop early and keeps its own end reason; a call still live at the drain limit is ended
 * and its row finalised with the reason `shutdown`.
 */

const CALLER = "+33611223344"

let dir = ""
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "coccinelle-shutdown-"))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Resolves with `"done"` if `promise` settles within `ms`, else `"timeout"` (the promise keeps running). */
const within = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => "done" as const), sleep(ms).then(() => "timeout" as const)])

let sidCounter = 0
const newSid = () => `CA${String(Date.now()).padStart(20, "0")}${String(++sidCounter).padStart(12, "0")}`

const SLOW_REPLY_MS = 5000

/**
 * A live call. `midTurn`: the caller has heard the reply's first words and Claude is slow for the rest;
 * otherwise the reply is complete and the line is quiet.
 */
const liveCall = async (app: TestApp, callSid: string, midTurn: boolean) => {
  const res = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const relay = find(parseTwiml(res.text), "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: CALLER, to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })
  ws.prompt(midTurn ? "Quels sont vos tarifs ?" : "Bonjour !")
  if (midTurn) await ws.waitFor((f) => f.type === "text" && f.token === "Alors, ", 3000)
  else expect((await ws.textUntilLast()).text).toBe("Bonjour, que puis-je faire pour vous ?")
  return ws
}

const draining = async (app: TestApp) => {
  const res = await fetch(app.baseUrl + "/health")
  if (res.status !== 503) return undefined
  return (await res.json()) as { status: string; accepting: boolean; activeCalls: number }
}

const readCall = (databaseUrl: string, callSid: string) =>
  queryDatabase(databaseUrl, (sql) =>
    Effect.gen(function*() {
      const [call = null] = yield* sql<{ id: string; ended_at: string | null; end_reason: string | null }>`
        SELECT id, ended_at, end_reason FROM calls WHERE twilio_call_sid = ${callSid}`
      const ends = call === null
        ? []
        : (yield* sql<{ data: string }>`SELECT data FROM call_events WHERE call_id = ${call.id} AND type = 'end'`)
          .map((e) => JSON.parse(e.data))
      return { call, ends }
    }))

describe("graceful shutdown", () => {
  let fake: FakeAnthropic
  beforeAll(async () => {
    fake = await startFakeAnthropic({
      script: ({ body }) => {
        if (isSummaryRequest(body)) {
          return summaryCall({ summary: "Appel coupé.", intent: "tarifs", sentiment: "neutre", outcome: "abandoned", callbackNeeded: true, unansweredQuestions: [] })
        }
        return JSON.stringify(body.messages).includes("tarifs")
          ? [{ text: "Alors, " }, { delayMs: SLOW_REPLY_MS }, { text: "nos tarifs commencent à 25 euros." }]
          : sayText("Bonjour, ", "que puis-je faire pour vous ?")
      }
    })
  })
  afterAll(async () => {
    await fake?.stop()
  })

  test("while draining: /health 503, a new call hears « rappeler » and is hung up, a relay socket is still served; the server waits for the live call", async () => {
    const databaseUrl = await testDatabaseUrl(join(dir, "refuse.db"))
    const drainMs = 8000
    const app = await startApp({ ANTHROPIC_BASE_URL: fake.url, DATABASE_URL: databaseUrl, DRAIN_TIMEOUT_MS: String(drainMs) })
    const callSid = newSid()
    const refusedSid = newSid()
    const ws = await liveCall(app, callSid, false)
    const startedAt = Date.now()
    const stopping = app.stop()
    try {
      // Fly stops routing here; the live call is still counted.
      const health = await waitUntil(() => draining(app), "/health to answer 503", 5_000)
      expect(health).toMatchObject({ status: "unavailable", accepting: false, activeCalls: 1 })

      // A new call is answered in French and hung up, without a relay session.
      const voice = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: refusedSid, from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
      expect(voice.status).toBe(200)
      const twiml = parseTwiml(voice.text)
      expect(find(twiml, "ConversationRelay")).toBeUndefined()
      expect(find(twiml, "Connect")).toBeUndefined()
      expect(findAll(twiml, "Say").map((say) => say.text).join(" ")).toContain("rappeler")
      expect(twiml.children.map((verb) => verb.name)).toEqual(["Say", "Hangup"])

      // A relay socket opened now (a moving call's next session) is served, never refused outright…
      const late = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
      expect(late.socket.readyState).toBe(WebSocket.OPEN)
      await late.close()
      // …but an unsigned one still is.
      const unsigned = await RelayClient.connect(app.wsUrl, {}).then(() => new Error("accepted"), (error: unknown) => error)
      expect(unsigned).toBeInstanceOf(RelayHandshakeError)

      // The live call keeps the server up…
      expect(await within(stopping, 300)).toBe("timeout")
      expect(ws.socket.readyState).toBe(WebSocket.OPEN)
    } finally {
      // …until the caller hangs up; then it stops without waiting for the drain limit.
      await ws.close()
      await stopping
    }
    expect(Date.now() - startedAt).toBeLessThan(drainMs - 2000)
    const { call } = await readCall(databaseUrl, callSid)
    expect(call!.ended_at).not.toBeNull()
    expect((await readCall(databaseUrl, refusedSid)).call).toBeNull()
    await expect(fetch(app.baseUrl + "/health")).rejects.toThrow()
  }, 20_000)

  // The drain runs in a scope finaliser (uninterruptible): its wait must opt back in to interruption for the
  // limit to fire, and a cancelled Claude stream must abort at once, or the cut would wait for Claude.
  test("behind Fly's proxy (FLY_MACHINE_ID), a draining machine hands new calls and sockets to another machine with fly-replay", async () => {
    const databaseUrl = await testDatabaseUrl(join(dir, "fly.db"))
    const app = await startApp({ ANTHROPIC_BASE_URL: fake.url, DATABASE_URL: databaseUrl, DRAIN_TIMEOUT_MS: "8000", FLY_MACHINE_ID: "148e21ea7e9689" })
    const ws = await liveCall(app, newSid(), false)
    const stopping = app.stop()
    try {
      await waitUntil(() => draining(app), "/health to answer 503", 5_000)
      const voice = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: newSid(), from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
      expect(voice.headers.get("fly-replay")).toBe("elsewhere=true")
      const upgrade = await fetch(app.wsUrl.replace("ws://", "http://"), {
        headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }
      })
      expect(upgrade.headers.get("fly-replay")).toBe("elsewhere=true")
    } finally {
      await ws.close()
      await stopping
    }
  }, 20_000)

  test("calls still live at the drain limit are told, handed over together, and finalised with reason shutdown", async () => {
    const databaseUrl = await testDatabaseUrl(join(dir, "limit.db"))
    const drainMs = 1200
    const graceMs = 3000
    const speechMs = 10_000
    const app = await startApp({
      ANTHROPIC_BASE_URL: fake.url,
      DATABASE_URL: databaseUrl,
      DRAIN_TIMEOUT_MS: String(drainMs),
      SHUTDOWN_GRACE_MS: String(graceMs)
    })
    // Three calls in the middle of a reply: cut one after the other, each saying its sentence, they would
    // need three speech times; handed over together, one.
    const callSids = [newSid(), newSid(), newSid()]
    const sockets = await Promise.all(callSids.map((callSid) => liveCall(app, callSid, true)))
    const startedAt = Date.now()
    const stopping = app.stop()
    let stoppedInTime: "done" | "timeout" = "timeout"
    try {
      await waitUntil(() => draining(app), "/health to answer 503", 5_000)
      for (const [i, ws] of sockets.entries()) {
        // The caller is not left in silence: a sentence, then (once TTS had time to say it) a handoff…
        const ended = await ws.waitFor((frame) => frame.type === "end", drainMs + speechMs + 2_000)
        expect(JSON.parse(String(ended.handoffData)).reason).toBe("transfer")
        const said = ws.frames.filter((frame) => frame.type === "text").map((frame) => String(frame.token)).join("")
        expect(said).toContain("maintenance")
        // …and the connect action Twilio then posts still finds the server, which dials the business.
        const action = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/connect-action", actionForm({
          callSid: callSids[i]!,
          sessionStatus: "ended",
          handoffData: String(ended.handoffData),
          callStatus: "in-progress"
        }), AUTH_TOKEN)
        expect(find(parseTwiml(action.text), "Dial")).toBeDefined()
      }
      stoppedInTime = await within(stopping, drainMs + speechMs + graceMs + 2000)
      expect(stoppedInTime).toBe("done")
    } finally {
      // Never leave a server behind: if the drain did not end the calls, the callers do.
      if (stoppedInTime === "timeout") await Promise.all(sockets.map((ws) => ws.close()))
      await stopping
    }
    const elapsed = Date.now() - startedAt
    expect(elapsed).toBeGreaterThanOrEqual(drainMs - 100)
    expect(elapsed).toBeLessThan(drainMs + speechMs + graceMs + 2000)
    for (const [i, ws] of sockets.entries()) {
      expect(await within(ws.closed, 1000)).toBe("done")
      const { call, ends } = await readCall(databaseUrl, callSids[i]!)
      expect(call!.ended_at).not.toBeNull()
      expect(call!.end_reason).toBe("shutdown")
      expect(ends).toEqual([{ reason: "shutdown", outcome: "transferred" }])
    }
  }, 40_000)

  // Only calls cut at the drain limit are `shutdown`; a caller hanging up during the drain is still a hang-up.
  test("a call the caller ends during the drain keeps the reason caller_hangup", async () => {
    const databaseUrl = await testDatabaseUrl(join(dir, "early.db"))
    const app = await startApp({ ANTHROPIC_BASE_URL: fake.url, DATABASE_URL: databaseUrl, DRAIN_TIMEOUT_MS: "8000" })
    const callSid = newSid()
    const ws = await liveCall(app, callSid, false)
    const stopping = app.stop()
    try {
      await waitUntil(() => draining(app), "/health to answer 503", 5_000)
    } finally {
      await ws.close()
      await stopping
    }
    const { call, ends } = await readCall(databaseUrl, callSid)
    expect(call!.end_reason).toBe("caller_hangup")
    expect(ends.map((end) => end.reason)).toEqual(["caller_hangup"])
  }, 20_000)

  test("a caller who presses 0 during the drain is still put through: the connect action finds the server", async () => {
    const databaseUrl = await testDatabaseUrl(join(dir, "transfer.db"))
    const app = await startApp({ ANTHROPIC_BASE_URL: fake.url, DATABASE_URL: databaseUrl, DRAIN_TIMEOUT_MS: "8000", SHUTDOWN_GRACE_MS: "3000" })
    const callSid = newSid()
    const ws = await liveCall(app, callSid, false)
    const stopping = app.stop()
    try {
      await waitUntil(() => draining(app), "/health to answer 503", 5_000)
      ws.dtmf("0")
      await ws.waitFor((frame) => frame.type === "text" && frame.last === true && String(frame.token).includes("membre de l'équipe"), 3000)
      ws.info("agentSpeaking", "on")
      ws.info("agentSpeaking", "off")
      const ended = await ws.waitFor((frame) => frame.type === "end", 3000)
      // Twilio closes the socket, the drain finds no live call left… and posts the action ~0.7 s later.
      await ws.close()
      await sleep(700)
      const action = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/connect-action", actionForm({
        callSid,
        sessionStatus: "ended",
        handoffData: String(ended.handoffData),
        callStatus: "in-progress"
      }), AUTH_TOKEN)
      expect(find(parseTwiml(action.text), "Dial")).toBeDefined()
    } finally {
      await stopping
    }
    expect((await readCall(databaseUrl, callSid)).call!.end_reason).toBe("transfer")
  }, 20_000)
})
