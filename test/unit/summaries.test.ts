import { SqlClient } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { type RunOptions, runWith } from "../support/effect.ts"
import { ConfigProvider, Context, Deferred, Effect, Layer, Schedule, Stream, TestClock } from "effect"
import { Claude, ClaudeError, type ClaudeEvent, type ClaudeRequest } from "../../src/llm/Claude.ts"
import { Summaries, SUMMARY_TOOL } from "../../src/llm/Summaries.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { testDatabase } from "../support/db.ts"
import { callRow, insertTenant } from "../support/rows.ts"

/**
 * The summary worker against a real SQLite database (real migrations) and a scripted Claude: what it asks,
 * what it stores, once per call, retries with a capped count, calls that need no model, resumption at start.
 */

// ---------------------------------------------------------------------------------------------------
// Harness

/** A reply in prose instead of the forced tool call (what a model that ignored tool_choice would send). */
class Prose {
  constructor(readonly text: string) {}
}
/** The tool input Claude sends, or prose. */
type Answer = (request: ClaudeRequest) => Effect.Effect<unknown, ClaudeError>

interface ScriptedClaude {
  readonly requests: Array<ClaudeRequest>
  answer: Answer
}

const scriptedClaude = (answer: Answer, configured = true) => {
  const state: ScriptedClaude = { requests: [], answer }
  const layer = Layer.succeed(
    Claude,
    Claude.make({
      configured,
      complete: () => Effect.die("unimplemented: summaries force a tool call through stream"),
      stream: (request: ClaudeRequest) =>
        Stream.unwrap(Effect.suspend(() => {
          state.requests.push(request)
          return Effect.map(state.answer(request), (reply) =>
            Stream.fromIterable<ClaudeEvent>(
              reply instanceof Prose
                ? [{ _tag: "TextDelta", text: reply.text }, { _tag: "Stop", stopReason: "end_turn" }]
                : [{ _tag: "ToolUse", id: "toolu_1", name: SUMMARY_TOOL, input: reply }, { _tag: "Stop", stopReason: "tool_use" }]
            ))
        }))
    } as unknown as Claude)
  )
  return { state, layer }
}

/** Database, repository and metrics live for the whole test; Summaries can be started (and stopped) inside. */
const base = Layer.mergeAll(CallsRepo.Default, Metrics.Test).pipe(Layer.provideMerge(testDatabase()))

const config = (env: Record<string, string>) => Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

/** Builds the Summaries service in the current scope (its worker and start-up scan run in it). */
const startSummaries = (claude: Layer.Layer<Claude>, env: Record<string, string> = {}) =>
  Effect.map(
    Layer.build(Summaries.Default.pipe(Layer.provide(claude), Layer.provide(config({ SUMMARY_RETRY_LIMIT: "3", SUMMARY_SETTLE_MS: "0", ...env })))),
    (context) => Context.get(context, Summaries)
  )

const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | CallsRepo | Metrics>, options?: RunOptions): Promise<A> =>
  runWith(effect, base, options)

const TENANT = "tenant-1"

const seedTenant = insertTenant(TENANT, { name: "Salon", config: {} })

interface Message {
  readonly role: "user" | "assistant" | "tool_use" | "tool_result"
  readonly content: string
  readonly toolName?: string
  readonly interrupted?: boolean
}

/** A call row (ended unless told otherwise) with its transcript. */
const seedCall = (id: string, messages: ReadonlyArray<Message>, options: { readonly ended?: boolean; readonly outcome?: string | null } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ended = options.ended ?? true
    yield* sql`INSERT INTO calls ${
      sql.insert(callRow({
        id,
        tenant_id: TENANT,
        created_at: "2026-11-20T10:00:00.000Z",
        twilio_call_sid: `CA${id}`,
        duration: null,
        ended_at: ended ? "2026-11-20T10:03:00.000Z" : null,
        end_reason: ended ? "caller_hangup" : null,
        outcome: options.outcome === undefined ? (ended ? "abandoned" : null) : options.outcome
      }))
    }`
    yield* Effect.forEach(messages, (m, seq) =>
      sql`INSERT INTO call_messages ${
        sql.insert({
          call_id: id,
          seq,
          role: m.role,
          content: m.content,
          tool_name: m.toolName ?? null,
          tool_use_id: m.toolName ? `toolu_${seq}` : null,
          interrupted: m.interrupted ? 1 : 0,
          turn: 1,
          created_at: "2026-11-20T10:01:00.000Z"
        })
      }`, { discard: true })
  })

const CONVERSATION: ReadonlyArray<Message> = [
  { role: "user", content: "Bonjour, vous êtes ouverts samedi ?" },
  { role: "assistant", content: "Je regarde." },
  { role: "tool_use", content: JSON.stringify({ query: "horaires samedi" }), toolName: "search_knowledge" },
  { role: "tool_result", content: JSON.stringify({ found: true, passages: ["Samedi de 9 h à 17 h."] }), toolName: "search_knowledge" },
  { role: "assistant", content: "Oui, le samedi de 9 heures à 17 heures, et", interrupted: true },
  { role: "user", content: "Merci, et vous faites les colorations ?" }
]

const SUMMARY = {
  summary: "Le client demandait les horaires du samedi ; l'assistante les a donnés.",
  intent: "horaires",
  sentiment: "positif",
  outcome: "information_given",
  callbackNeeded: false,
  unansweredQuestions: ["Le salon fait-il les colorations ?"]
} as const

const rowsOf = (callId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ summary: string; intent: string; sentiment: string; outcome: string; callback_needed: number; unanswered: string }>`
      SELECT summary, intent, sentiment, outcome, callback_needed, unanswered FROM call_summaries WHERE call_id = ${callId}`)

const callOutcome = (callId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ outcome: string | null }>`SELECT outcome FROM calls WHERE id = ${callId}`).pipe(
    Effect.map((rows) => rows[0]?.outcome ?? null)
  )

const counter = (name: string) =>
  Effect.flatMap(Metrics, (metrics) => metrics.render()).pipe(
    Effect.map((text) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1] ?? "NaN"))
  )

/** With TestClock: advance time until `done`, at most `steps` seconds. */
const advanceUntil = (done: Effect.Effect<boolean, unknown, SqlClient.SqlClient | CallsRepo | Metrics>, steps = 300) =>
  Effect.gen(function*() {
    for (let i = 0; i < steps; i++) {
      if (yield* done) return true
      yield* TestClock.adjust("1 second")
    }
    return yield* done
  })

// ---------------------------------------------------------------------------------------------------

describe("Summaries", () => {
  test("stores the fields Claude returned, once, however many times the call is queued", async () => {
    const gate = Effect.runSync(Deferred.make<void>())
    const claude = scriptedClaude(() => Effect.as(Deferred.await(gate), SUMMARY))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* seedCall("c1", CONVERSATION)
      // The socket close and the status callback both queue the call while its summary is being written…
      yield* Effect.all([summaries.enqueue("c1"), summaries.enqueue("c1"), summaries.enqueue("c1")], { concurrency: "unbounded" })
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      yield* summaries.idle
      // …and once more after it was written.
      yield* summaries.enqueue("c1")
      yield* summaries.idle
      const rows = yield* rowsOf("c1")
      expect(rows.length).toBe(1)
      expect(rows[0]).toMatchObject({
        summary: SUMMARY.summary,
        intent: "horaires",
        sentiment: "positif",
        outcome: "information_given",
        callback_needed: 0
      })
      expect(JSON.parse(rows[0]!.unanswered)).toEqual(SUMMARY.unansweredQuestions)
      expect(claude.state.requests.length).toBe(1)
      expect(yield* counter("coccinelle_summaries_written_total")).toBe(1)
    })))
  })

  test("nothing is claimed or asked until the call has settled; what Twilio said meanwhile is what the summary reads", async () => {
    const claude = scriptedClaude(() => Effect.succeed(SUMMARY))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer, { SUMMARY_SETTLE_MS: "5000" })
      const sql = yield* SqlClient.SqlClient
      yield* seedCall("c9", CONVERSATION)
      yield* summaries.enqueue("c9")
      yield* TestClock.adjust("4 seconds")
      const claims = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM summary_claims`
      expect(Number(claims[0]!.n)).toBe(0)
      expect(claude.state.requests.length).toBe(0)
      // The connect action lands during the settle time: the call was transferred after all.
      yield* sql`UPDATE calls SET outcome = 'transferred' WHERE id = 'c9'`
      expect(yield* advanceUntil(Effect.map(rowsOf("c9"), (rows) => rows.length === 1))).toBe(true)
      expect(claude.state.requests.length).toBe(1)
      expect(JSON.stringify(claude.state.requests[0]!.messages)).toContain("issue enregistrée : transferred")
    })), { testClock: true })
  })

  test("two instances on one database both queue a call: it is claimed in the database, Claude is asked once, the summary written once", async () => {
    const gate = Effect.runSync(Deferred.make<void>())
    const claude = scriptedClaude(() => Effect.as(Deferred.await(gate), SUMMARY))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      // Two Summaries services: two processes' workers, each with its own claim identity.
      const first = yield* startSummaries(claude.layer)
      const second = yield* startSummaries(claude.layer)
      yield* seedCall("c2", CONVERSATION)
      yield* first.enqueue("c2")
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.repeat(sql<{ n: number }>`SELECT COUNT(*) AS n FROM summary_claims WHERE call_id = 'c2'`, { until: (rows) => Number(rows[0]!.n) === 1, schedule: Schedule.spaced("5 millis") })
      )
      yield* second.enqueue("c2")
      yield* second.idle
      yield* Deferred.succeed(gate, undefined)
      yield* first.idle
      expect((yield* rowsOf("c2")).length).toBe(1)
      expect(claude.state.requests.length).toBe(1)
      // The claim ends with the work: nothing is left held.
      const claims = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT COUNT(*) AS n FROM summary_claims`)
      expect(Number(claims[0]!.n)).toBe(0)
    })))
  })

  test("forces a summary tool call whose schema comes from the summary Schema, about the whole transcript", async () => {
    const claude = scriptedClaude(() => Effect.succeed(SUMMARY))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer, { ANTHROPIC_SUMMARY_MODEL: "claude-summary-test" })
      yield* seedCall("c1", CONVERSATION)
      yield* summaries.enqueue("c1")
      yield* summaries.idle
      const request = claude.state.requests[0]!
      expect(request.model).toBe("claude-summary-test")
      expect(request.toolChoice).toEqual({ type: "tool", name: SUMMARY_TOOL })
      expect(request.tools?.map((tool) => tool.name)).toEqual([SUMMARY_TOOL])
      const schema = request.tools![0]!.input_schema as { required: Array<string>; properties: Record<string, { enum?: Array<string> }> }
      expect(schema.required).toEqual(["summary", "intent", "sentiment", "outcome", "callbackNeeded", "unansweredQuestions"])
      expect(schema.properties.outcome!.enum).toContain("message_taken")
      expect(JSON.stringify(request.tools)).not.toContain("$schema")
      const text = JSON.stringify(request.messages)
      expect(text).toContain("Client : Bonjour, vous êtes ouverts samedi ?")
      expect(text).toContain("Assistante : Oui, le samedi de 9 heures à 17 heures, et [interrompue]")
      expect(text).toContain("outil search_knowledge")
      expect(text).toContain("Samedi de 9 h à 17 h.")
      expect(text).toContain("colorations")
    })))
  })

  test("an unusable answer (prose instead of the tool, a value outside the list) is retried after a backoff, then stored", async () => {
    const answers: Array<unknown> = [new Prose(JSON.stringify(SUMMARY)), { ...SUMMARY, sentiment: "joyeux" }, SUMMARY]
    const claude = scriptedClaude(() => Effect.succeed(answers.length > 0 ? answers.shift() : SUMMARY))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* seedCall("c1", CONVERSATION)
      yield* summaries.enqueue("c1")
      // Without time passing, only the first attempt runs (once the database, maybe a socket away, answered).
      while (claude.state.requests.length === 0) yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      expect(claude.state.requests.length).toBe(1)
      expect((yield* rowsOf("c1")).length).toBe(0)
      expect(yield* advanceUntil(Effect.map(rowsOf("c1"), (rows) => rows.length > 0))).toBe(true)
      expect(claude.state.requests.length).toBe(3)
      expect((yield* rowsOf("c1"))[0]!.sentiment).toBe("positif")
      expect(yield* counter('coccinelle_retries_total{operation="summary"}')).toBe(2)
    })), { testClock: true })
  })

  test("gives up after SUMMARY_RETRY_LIMIT attempts: nothing stored, the failure counted", async () => {
    const claude = scriptedClaude(() => Effect.fail(new ClaudeError({ status: 529, transient: true, message: "Overloaded" })))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer, { SUMMARY_RETRY_LIMIT: "3" })
      yield* seedCall("c1", CONVERSATION)
      yield* summaries.enqueue("c1")
      const failed = Effect.map(counter("coccinelle_summaries_failed_total"), (n) => n === 1)
      expect(yield* advanceUntil(failed, 600)).toBe(true)
      // Nothing more happens later.
      yield* TestClock.adjust("1 hour")
      expect(claude.state.requests.length).toBe(3)
      expect((yield* rowsOf("c1")).length).toBe(0)
      expect(yield* counter('coccinelle_errors_total{kind="summary"}')).toBe(1)
    })), { testClock: true })
  })

  test("a call with nothing said needs no model: abandoned, or transferred when it was", async () => {
    const claude = scriptedClaude(() => Effect.die("Claude must not be asked"))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* seedCall("silent", [])
      yield* seedCall("handed", [], { outcome: "transferred" })
      yield* summaries.enqueue("silent")
      yield* summaries.enqueue("handed")
      yield* summaries.idle
      expect((yield* rowsOf("silent"))[0]).toMatchObject({ outcome: "abandoned", callback_needed: 0 })
      expect((yield* rowsOf("handed"))[0]).toMatchObject({ outcome: "transferred" })
      expect(claude.state.requests.length).toBe(0)
    })))
  })

  test("a message taken refines an abandoned call's outcome, never a booking", async () => {
    const claude = scriptedClaude(() => Effect.succeed({ ...SUMMARY, outcome: "message_taken", callbackNeeded: true }))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* seedCall("abandoned", CONVERSATION, { outcome: "abandoned" })
      yield* seedCall("booked", CONVERSATION, { outcome: "booked" })
      yield* summaries.enqueue("abandoned")
      yield* summaries.enqueue("booked")
      yield* summaries.idle
      expect(yield* callOutcome("abandoned")).toBe("message_taken")
      expect(yield* callOutcome("booked")).toBe("booked")
      expect((yield* rowsOf("booked"))[0]).toMatchObject({ outcome: "message_taken", callback_needed: 1 })
    })))
  })

  test("without an API key nothing is asked or stored (the call is picked up at a later start)", async () => {
    const claude = scriptedClaude(() => Effect.die("Claude must not be asked"), false)
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* seedCall("c1", CONVERSATION)
      yield* summaries.enqueue("c1")
      yield* summaries.idle
      expect((yield* rowsOf("c1")).length).toBe(0)
      expect(claude.state.requests.length).toBe(0)
    })))
  })

  test("at start, calls that ended without a summary are summarised; live calls and summarised ones are not", async () => {
    const first = scriptedClaude(() => Effect.fail(new ClaudeError({ status: 500, transient: true, message: "boom" })))
    const second = scriptedClaude((request) =>
      Effect.succeed({ ...SUMMARY, summary: JSON.stringify(request.messages).includes("colorations") ? "Appel A." : "Appel B." }))
    await run(Effect.gen(function*() {
      yield* seedTenant
      yield* seedCall("done", CONVERSATION)
      yield* seedCall("live", CONVERSATION, { ended: false })
      // A process that stops while the summary is failing.
      yield* Effect.scoped(Effect.gen(function*() {
        const summaries = yield* startSummaries(first.layer, { SUMMARY_RETRY_LIMIT: "1" })
        yield* summaries.idle
      }))
      expect(first.state.requests.length).toBe(1)
      expect((yield* rowsOf("done")).length).toBe(0)
      yield* seedCall("summarised", [{ role: "user", content: "Allô ?" }])
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`INSERT INTO call_summaries (call_id, summary, created_at) VALUES ('summarised', 'Déjà fait.', '2026-11-20T10:05:00.000Z')`)
      // The next start.
      yield* Effect.scoped(Effect.gen(function*() {
        const summaries = yield* startSummaries(second.layer)
        yield* summaries.idle
      }))
      expect((yield* rowsOf("done"))[0]?.summary).toBe("Appel A.")
      expect((yield* rowsOf("live")).length).toBe(0)
      expect((yield* rowsOf("summarised"))[0]?.summary).toBe("Déjà fait.")
      expect(second.state.requests.length).toBe(1)
    }))
  })

  test("an unknown call id is ignored: nothing stored, nothing retried, no failure counted", async () => {
    const claude = scriptedClaude(() => Effect.die("Claude must not be asked"))
    await run(Effect.scoped(Effect.gen(function*() {
      yield* seedTenant
      const summaries = yield* startSummaries(claude.layer)
      yield* summaries.enqueue("nope")
      yield* summaries.idle
      expect(claude.state.requests.length).toBe(0)
      const all = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT COUNT(*) AS n FROM call_summaries`)
      expect(all[0]!.n).toBe(0)
      expect(yield* counter('coccinelle_retries_total{operation="summary"}')).toBe(0)
      expect(yield* counter("coccinelle_summaries_failed_total")).toBe(0)
    })))
  })
})
