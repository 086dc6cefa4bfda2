import { Database } from "../support/sqliteFile.ts"
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Summaries } from "../../src/llm/Summaries.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { type FakeAnthropic, type Reply, type ScriptRequest, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, statusForm, voiceForm } from "../support/twilioClient.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * Post-call summaries through the real server: written after the call ends with what Claude answered, exactly
 * once per call whatever order the socket close and the status callback arrive in, retried when Claude fails,
 * resumed at the next start, and never on the call's path.
 */

const CALLER = "+33611223344"

const summaryOf = (n: number) => ({
  summary: `Appel numéro ${n} : le client voulait connaître les tarifs d'une coupe ; l'assistante les a donnés.`,
  intent: "tarifs",
  sentiment: "neutre",
  outcome: "information_given",
  callbackNeeded: n % 2 === 0,
  unansweredQuestions: n % 2 === 0 ? [`Question sans réponse ${n}`] : []
})

/** The call number written in the transcript ("question 7"), so each summary request is tied to its call. */
const callNumberOf = (request: ScriptRequest): number => {
  const match = /question (\d+)/.exec(JSON.stringify(request.body.messages))
  return match ? Number(match[1]) : -1
}

type SummaryBehaviour = (request: ScriptRequest) => Reply | Promise<Reply>

/** A fake whose conversation replies are instant and whose summary replies follow `behaviour`. */
const startFake = (behaviour: () => SummaryBehaviour) =>
  startFakeAnthropic({
    script: (request) => (isSummaryRequest(request.body) ? behaviour()(request) : sayText("Une coupe femme ", "coûte 42 euros."))
  })

const okSummary: SummaryBehaviour = (request) => summaryCall(summaryOf(callNumberOf(request)))

const summaryRequestsFor = (fake: FakeAnthropic, n: number) =>
  fake.requests.filter((r) => isSummaryRequest(r.body) && callNumberOf({ body: r.body, index: r.index, headers: r.headers }) === n)

interface SummaryRow {
  readonly call_id: string
  readonly summary: string
  readonly intent: string
  readonly sentiment: string
  readonly outcome: string
  readonly callback_needed: number
  readonly unanswered: string
}

const summaryRows = (app: TestApp, sid: string) =>
  app.query((sql) =>
    sql<SummaryRow>`SELECT s.* FROM call_summaries s JOIN calls c ON c.id = s.call_id WHERE c.twilio_call_sid = ${sid}`)

const callRow = async (app: TestApp, sid: string) =>
  (await app.query((sql) =>
    sql<{ id: string; ended_at: string | null; end_reason: string | null; status: string }>`
      SELECT id, ended_at, end_reason, status FROM calls WHERE twilio_call_sid = ${sid}`))[0]

const endEvents = (app: TestApp, sid: string) =>
  app.query((sql) =>
    sql<{ n: number }>`SELECT COUNT(*) AS n FROM call_events e JOIN calls c ON c.id = e.call_id
      WHERE c.twilio_call_sid = ${sid} AND e.type = 'end'`).then((rows) => rows[0]!.n)

/** From /metrics: calls ended (all outcomes) and calls active. */
const callsEnded = async (app: TestApp) => {
  const text = await (await fetch(app.baseUrl + "/metrics")).text()
  const total = [...text.matchAll(/^coccinelle_calls_total\{outcome="[a-z_]+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  const active = Number(/^coccinelle_active_calls (\d+)$/m.exec(text)?.[1])
  return { total, active }
}

let sidCounter = 0
const newSid = () => `CA${String(Date.now()).padStart(16, "0")}${String(++sidCounter).padStart(16, "0")}`

/** Answers the call and asks question `n`; returns the open socket (the caller has not hung up yet). */
const startCall = async (app: TestApp, callSid: string, n: number): Promise<RelayClient> => {
  const res = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const relay = find(parseTwiml(res.text), "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: CALLER, to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })
  ws.prompt(`Bonjour, j'ai une question ${n} : combien coûte une coupe ?`)
  expect((await ws.textUntilLast()).text).toContain("42 euros")
  return ws
}

const completedStatus = (app: TestApp, callSid: string, sequence = 3) =>
  signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid, from: CALLER, to: BUSINESS_NUMBER, status: "completed", duration: 37, sequence }), AUTH_TOKEN)

const expectOneSummary = async (app: TestApp, fake: FakeAnthropic, sid: string, n: number) => {
  const rows = await waitUntil(async () => {
    const found = await summaryRows(app, sid)
    return found.length > 0 ? found : undefined
  }, `the summary of call ${n}`)
  expect(rows.length).toBe(1)
  const expected = summaryOf(n)
  expect(rows[0]).toMatchObject({
    summary: expected.summary,
    intent: expected.intent,
    sentiment: expected.sentiment,
    outcome: expected.outcome,
    callback_needed: expected.callbackNeeded ? 1 : 0
  })
  expect(JSON.parse(rows[0]!.unanswered)).toEqual(expected.unansweredQuestions)
  return rows[0]!
}

// ---------------------------------------------------------------------------------------------------

describe("post-call summaries", () => {
  let behaviour: SummaryBehaviour = okSummary
  let fake: FakeAnthropic
  let app: TestApp

  beforeAll(async () => {
    fake = await startFake(() => behaviour)
    app = await startApp({ ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_FALLBACK_MODEL: "claude-sonnet-5-5" })
  })
  afterAll(async () => {
    await app?.stop()
    await fake?.stop()
  })

  test("the caller hangs up: one summary row with the fields Claude returned, from one request with the transcript", async () => {
    behaviour = okSummary
    const sid = newSid()
    const ws = await startCall(app, sid, 1)
    await ws.close()
    await expectOneSummary(app, fake, sid, 1)
    const requests = summaryRequestsFor(fake, 1)
    expect(requests.length).toBe(1)
    const asked = JSON.stringify(requests[0]!.body.messages)
    expect(asked).toContain("combien coûte une coupe")
    expect(asked).toContain("42 euros")
    // Through the real SDK: one forced tool, its schema generated from the summary Schema.
    expect(requests[0]!.body.tool_choice).toEqual({ type: "tool", name: "record_call_summary" })
    expect(requests[0]!.body.tools.map((tool: { name: string }) => tool.name)).toEqual(["record_call_summary"])
    expect(requests[0]!.body.tools[0].input_schema.required).toContain("callbackNeeded")
    // The owner sees it.
    const row = await callRow(app, sid)
    expect(row?.end_reason).toBe("caller_hangup")
  })

  test("status callback and socket close racing, several times: every call is finalised and summarised exactly once", async () => {
    behaviour = okSummary
    const endedBefore = await callsEnded(app)
    const calls: Array<{ sid: string; n: number }> = []
    for (let i = 0; i < 6; i++) {
      const n = 10 + i
      const sid = newSid()
      const ws = await startCall(app, sid, n)
      calls.push({ sid, n })
      // Three orders: both at once, the status callback first, the close first.
      if (i % 3 === 0) {
        const [, status] = await Promise.all([ws.close(), completedStatus(app, sid)])
        expect(status.status).toBe(200)
      } else if (i % 3 === 1) {
        const status = completedStatus(app, sid)
        await Promise.all([status, ws.close()])
        expect((await status).status).toBe(200)
      } else {
        await ws.close()
        await waitUntil(async () => (await callRow(app, sid))?.ended_at, "the call to be finalised")
        expect((await completedStatus(app, sid)).status).toBe(200)
      }
      // Twilio retries a callback it thinks was lost.
      expect((await completedStatus(app, sid, 3)).status).toBe(200)
    }
    for (const { sid, n } of calls) await expectOneSummary(app, fake, sid, n)
    // Nothing is queued or running any more: a second summary would have been written by now.
    await app.run(Effect.flatMap(Summaries, (summaries) => summaries.idle))
    // Each call was counted as ended once, and none is left counted as active.
    expect(await callsEnded(app)).toEqual({ total: endedBefore.total + calls.length, active: 0 })
    for (const { sid, n } of calls) {
      expect((await summaryRows(app, sid)).length).toBe(1)
      expect({ n, requests: summaryRequestsFor(fake, n).length }).toEqual({ n, requests: 1 })
      expect({ n, ends: await endEvents(app, sid) }).toEqual({ n, ends: 1 })
      const row = await callRow(app, sid)
      expect(row?.status).toBe("completed")
      expect(row?.end_reason).toBe("caller_hangup")
    }
  })

  test("a call that ended before the relay connected is summarised once from the status callback, without Claude", async () => {
    behaviour = okSummary
    const sid = newSid()
    const before = fake.requests.length
    const res = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: sid, from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
    expect(res.status).toBe(200)
    const [first, second] = await Promise.all([completedStatus(app, sid, 2), completedStatus(app, sid, 3)])
    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    const rows = await waitUntil(async () => {
      const found = await summaryRows(app, sid)
      return found.length > 0 ? found : undefined
    }, "the summary of an unanswered call")
    expect(rows.length).toBe(1)
    expect(rows[0]!.outcome).toBe("abandoned")
    expect(fake.requests.length).toBe(before)
    expect((await callRow(app, sid))?.end_reason).toBe("caller_hangup")
  })

  test("Claude answering 500 and 529 first: the summary is retried and written once", async () => {
    const failures = [500, 529, 500, 529]
    let asked = 0
    behaviour = (request) => {
      const status = failures[asked++]
      return status !== undefined ? [{ error: status }] : okSummary(request)
    }
    const sid = newSid()
    const ws = await startCall(app, sid, 30)
    await ws.close()
    await expectOneSummary(app, fake, sid, 30)
    const requests = summaryRequestsFor(fake, 30)
    expect(requests.map((r) => r.status)).toEqual([500, 529, 500, 529, 200])
    const metrics = await (await fetch(app.baseUrl + "/metrics")).text()
    // Claude's own retries gave up after three attempts; the summary worker then tried again.
    expect(Number(/^coccinelle_retries_total\{operation="summary"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
    expect(Number(/^coccinelle_summaries_written_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
    behaviour = okSummary
  }, 15_000)

  test("a summary that does not fit its Schema is retried, not stored", async () => {
    let asked = 0
    behaviour = (request) => (asked++ === 0 ? summaryCall({ ...summaryOf(callNumberOf(request)), sentiment: "joyeux" }) : okSummary(request))
    const sid = newSid()
    const ws = await startCall(app, sid, 31)
    await ws.close()
    await expectOneSummary(app, fake, sid, 31)
    expect(summaryRequestsFor(fake, 31).length).toBe(2)
    behaviour = okSummary
  }, 15_000)

  test("the summary never delays the call: the row is finalised before Claude is even asked, and other calls go on", async () => {
    const sid = newSid()
    let endedWhenAsked: string | null | undefined
    let release: (() => void) | undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    behaviour = async (request) => {
      endedWhenAsked = (await callRow(app, sid))?.ended_at
      await released
      return okSummary(request)
    }
    const ws = await startCall(app, sid, 40)
    const closedAt = Date.now()
    await ws.close()
    await waitUntil(() => endedWhenAsked !== undefined, "the summary request")
    expect(typeof endedWhenAsked).toBe("string")
    const row = await callRow(app, sid)
    expect(row?.ended_at).toBe(endedWhenAsked!)
    expect(Date.now() - closedAt).toBeLessThan(2000)
    // Claude has not answered the summary yet: nothing is stored, and a new call is answered at once.
    expect((await summaryRows(app, sid)).length).toBe(0)
    const other = newSid()
    const started = Date.now()
    const ws2 = await startCall(app, other, 41)
    expect(Date.now() - started).toBeLessThan(2000)
    behaviour = okSummary
    release!()
    await expectOneSummary(app, fake, sid, 40)
    await ws2.close()
    await expectOneSummary(app, fake, other, 41)
  }, 15_000)
})

// ---------------------------------------------------------------------------------------------------

describe("summaries missing after a restart", () => {
  let dir = ""
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "coccinelle-summaries-"))
  })
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  test("a call that ended without a summary gets one at the next start", async () => {
    const databaseUrl = join(dir, "restart.db")
    const sid = newSid()

    // First run: Claude answers the call but is overloaded for the summary, which gives up.
    const broken = await startFake(() => () => [{ error: 529 }])
    const first = await startApp({ ANTHROPIC_BASE_URL: broken.url, DATABASE_URL: databaseUrl, SUMMARY_RETRY_LIMIT: "1" })
    try {
      const ws = await startCall(first, sid, 50)
      await ws.close()
      await waitUntil(() => first.logLines.some((line) => line.includes("call summary failed")), "the summary to give up")
      expect(summaryRequestsFor(broken, 50).length).toBeGreaterThan(0)
    } finally {
      await first.stop()
      await broken.stop()
    }
    const db = new Database(databaseUrl, { readonly: true })
    try {
      const rows = db.query("SELECT c.ended_at, s.call_id AS summarised FROM calls c LEFT JOIN call_summaries s ON s.call_id = c.id WHERE c.twilio_call_sid = ?").all(sid) as Array<{ ended_at: string | null; summarised: string | null }>
      expect(rows.length).toBe(1)
      expect(rows[0]!.ended_at).not.toBeNull()
      expect(rows[0]!.summarised).toBeNull()
    } finally {
      db.close()
    }

    // Second run, Claude is back: the missing summary is written without any new call.
    const working = await startFake(() => okSummary)
    const second = await startApp({ ANTHROPIC_BASE_URL: working.url, DATABASE_URL: databaseUrl })
    try {
      await expectOneSummary(second, working, sid, 50)
      expect(summaryRequestsFor(working, 50).length).toBe(1)
      expect(second.logLines.some((line) => line.includes("queued missing call summaries"))).toBe(true)
    } finally {
      await second.stop()
      await working.stop()
    }
  }, 20_000)
})
