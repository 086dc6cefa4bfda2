import { SqlClient } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { runWith } from "../support/effect.ts"
import { Effect, Layer, Option } from "effect"
import { CallsQuery, decodeCallCursor, encodeCallCursor } from "../../src/storage/CallsQuery.ts"
import { testDatabase } from "../support/db.ts"
import { callRow, insertTenant } from "../support/rows.ts"

/**
 * The owner's read side over a real SQLite database with the real migrations: every query scoped to one
 * tenant, keyset pages, summary excerpts, one call in full, statistics and their edges.
 */

const run = <A, E>(effect: Effect.Effect<A, E, CallsQuery | SqlClient.SqlClient>): Promise<A> =>
  runWith(effect, CallsQuery.Default.pipe(Layer.provideMerge(testDatabase())))

const sql = SqlClient.SqlClient

const seedTenants = Effect.forEach(["t1", "t2"], (id) => insertTenant(id, { config: {} }), { discard: true })

interface Seed {
  readonly id: string
  readonly tenant?: string
  readonly createdAt: string
  readonly status?: string
  readonly duration?: number | null
  readonly endReason?: string | null
  readonly outcome?: string | null
}

const call = (seed: Seed) =>
  Effect.flatMap(sql, (s) =>
    s`INSERT INTO calls ${
      s.insert(callRow({
        id: seed.id,
        tenant_id: seed.tenant ?? "t1",
        created_at: seed.createdAt,
        twilio_call_sid: `CA${seed.id}`,
        status: seed.status ?? "completed",
        duration: seed.duration === undefined ? 60 : seed.duration,
        ended_at: seed.endReason ? seed.createdAt : null,
        end_reason: seed.endReason ?? null,
        outcome: seed.outcome ?? null
      }))
    }`)

const event = (callId: string, type: string, data: unknown) =>
  Effect.flatMap(sql, (s) => s`INSERT INTO call_events ${s.insert({ call_id: callId, type, data: JSON.stringify(data), created_at: "2026-11-20T10:00:00.000Z" })}`)

const summary = (callId: string, text: string) =>
  Effect.flatMap(sql, (s) =>
    s`INSERT INTO call_summaries ${
      s.insert({ call_id: callId, summary: text, intent: "i", sentiment: "neutre", outcome: "abandoned", callback_needed: 1, unanswered: '["Q ?"]', created_at: "2026-11-20T10:05:00.000Z" })
    }`)

const at = (minute: number) => new Date(Date.UTC(2026, 10, 20, 10, minute)).toISOString()

describe("cursor", () => {
  test("round-trips, and anything else is refused", () => {
    const cursor = encodeCallCursor({ created_at: "2026-11-20T10:00:00.000Z", id: "abc" })
    expect(decodeCallCursor(cursor)).toEqual(Option.some({ createdAt: "2026-11-20T10:00:00.000Z", id: "abc" }))
    for (const bad of ["", "%%%", Buffer.from("[1]").toString("base64url"), Buffer.from('["a"]').toString("base64url"), Buffer.from('{"createdAt":"x"}').toString("base64url")]) {
      expect(Option.isNone(decodeCallCursor(bad))).toBe(true)
    }
  })
})

describe("CallsQuery.list", () => {
  test("newest first, ties broken by id, pages that chain exactly; never another tenant's calls", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      const ids: Array<{ id: string; createdAt: string }> = []
      for (let i = 0; i < 10; i++) {
        const id = `c${String(i).padStart(2, "0")}-${(i * 7919) % 97}`
        const createdAt = at(Math.floor(i / 4)) // four calls per minute
        ids.push({ id, createdAt })
        yield* call({ id, createdAt })
        yield* call({ id: `other-${i}`, tenant: "t2", createdAt })
      }
      const expected = [...ids].sort((a, b) => (a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt))).map((x) => x.id)
      const query = yield* CallsQuery
      const seen: Array<string> = []
      let cursor: { createdAt: string; id: string } | undefined
      const sizes: Array<number> = []
      for (let pages = 0; pages < 10; pages++) {
        const page = yield* query.list("t1", { limit: 3, cursor })
        sizes.push(page.calls.length)
        seen.push(...page.calls.map((c) => c.id))
        if (page.nextCursor === null) break
        cursor = Option.getOrThrow(decodeCallCursor(page.nextCursor))
      }
      expect(seen).toEqual(expected)
      expect(sizes).toEqual([3, 3, 3, 1])
    }))
  })

  test("a last page that is exactly full has no nextCursor", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      for (let i = 0; i < 4; i++) yield* call({ id: `c${i}`, createdAt: at(i) })
      const query = yield* CallsQuery
      const all = yield* query.list("t1", { limit: 4 })
      expect(all.calls.length).toBe(4)
      expect(all.nextCursor).toBeNull()
      const first = yield* query.list("t1", { limit: 2 })
      const second = yield* query.list("t1", { limit: 2, cursor: Option.getOrThrow(decodeCallCursor(first.nextCursor!)) })
      expect(second.calls.map((c) => c.id)).toEqual(["c1", "c0"])
      expect(second.nextCursor).toBeNull()
    }))
  })

  test("filters: status, outcome, from inclusive, to exclusive", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      yield* call({ id: "a", createdAt: at(0), outcome: "booked" })
      yield* call({ id: "b", createdAt: at(1), status: "busy", outcome: "abandoned" })
      yield* call({ id: "c", createdAt: at(2), outcome: "booked" })
      const query = yield* CallsQuery
      const ids = (filters: Parameters<typeof query.list>[1]) => Effect.map(query.list("t1", filters), (page) => page.calls.map((c) => c.id))
      expect(yield* ids({ limit: 10, status: "busy" })).toEqual(["b"])
      expect(yield* ids({ limit: 10, outcome: "booked" })).toEqual(["c", "a"])
      expect(yield* ids({ limit: 10, from: at(1) })).toEqual(["c", "b"])
      expect(yield* ids({ limit: 10, to: at(1) })).toEqual(["a"])
      expect(yield* ids({ limit: 10, from: at(1), to: at(2) })).toEqual(["b"])
      expect(yield* ids({ limit: 10, outcome: "booked", from: at(1) })).toEqual(["c"])
    }))
  })

  test("the summary excerpt: whole up to 160 characters, cut with an ellipsis beyond", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      yield* call({ id: "exact", createdAt: at(0) })
      yield* call({ id: "long", createdAt: at(1) })
      yield* call({ id: "none", createdAt: at(2) })
      yield* summary("exact", "é".repeat(160))
      yield* summary("long", "a".repeat(161))
      const page = yield* Effect.flatMap(CallsQuery, (q) => q.list("t1", { limit: 10 }))
      const excerpt = (id: string) => page.calls.find((c) => c.id === id)!.summary_excerpt
      expect(excerpt("exact")).toBe("é".repeat(160))
      expect(excerpt("long")).toBe("a".repeat(159) + "…")
      expect(excerpt("none")).toBeNull()
    }))
  })
})

describe("CallsQuery.detail", () => {
  test("the transcript, each tool call with its own result, events and summary; another tenant's call is none", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      yield* call({ id: "c1", createdAt: at(0), endReason: "caller_hangup", outcome: "booked" })
      const s = yield* sql
      const message = (seq: number, role: string, content: string, extra: { tool?: string; id?: string; interrupted?: boolean; turn?: number } = {}) =>
        s`INSERT INTO call_messages ${
          s.insert({
            call_id: "c1",
            seq,
            role,
            content,
            tool_name: extra.tool ?? null,
            tool_use_id: extra.id ?? null,
            interrupted: extra.interrupted ? 1 : 0,
            turn: extra.turn ?? 1,
            created_at: at(seq)
          })
        }`
      // Written out of order on purpose: the transcript follows seq.
      yield* message(3, "tool_result", JSON.stringify({ status: "available", times: ["10:00"] }), { tool: "check_availability", id: "tu_2" })
      yield* message(0, "user", "Un rendez-vous mardi ?")
      yield* message(1, "tool_use", JSON.stringify({ query: "mardi" }), { tool: "search_knowledge", id: "tu_1" })
      yield* message(2, "tool_use", JSON.stringify({ date: "2026-12-01", service_type: "coupe" }), { tool: "check_availability", id: "tu_2" })
      yield* message(4, "tool_result", "pas du JSON", { tool: "search_knowledge", id: "tu_1" })
      yield* message(5, "assistant", "Mardi à dix heures", { interrupted: true })
      yield* message(6, "user", "Parfait.", { turn: 2 })
      yield* message(7, "tool_use", JSON.stringify({ reason: "x" }), { tool: "transfer_to_human", id: "tu_3", turn: 2 })
      yield* event("c1", "setup", { resumed: false })
      yield* event("c1", "end", { reason: "caller_hangup" })
      yield* summary("c1", "Rendez-vous mardi.")

      const query = yield* CallsQuery
      expect(Option.isNone(yield* query.detail("t2", "c1"))).toBe(true)
      expect(Option.isNone(yield* query.detail("t1", "missing"))).toBe(true)
      const detail = Option.getOrThrow(yield* query.detail("t1", "c1"))
      expect(detail).toMatchObject({ id: "c1", twilio_call_sid: "CAc1", end_reason: "caller_hangup", outcome: "booked" })
      expect(detail.transcript.map((line) => [line.seq, line.role, line.text, line.interrupted, line.turn])).toEqual([
        [0, "caller", "Un rendez-vous mardi ?", false, 1],
        [5, "agent", "Mardi à dix heures", true, 1],
        [6, "caller", "Parfait.", false, 2]
      ])
      expect(detail.toolCalls.map((tool) => [tool.name, tool.input, tool.result])).toEqual([
        ["search_knowledge", { query: "mardi" }, "pas du JSON"],
        ["check_availability", { date: "2026-12-01", service_type: "coupe" }, { status: "available", times: ["10:00"] }],
        ["transfer_to_human", { reason: "x" }, null]
      ])
      expect(detail.events.map((e) => [e.type, e.data])).toEqual([["setup", { resumed: false }], ["end", { reason: "caller_hangup" }]])
      expect(detail.summary).toMatchObject({ summary: "Rendez-vous mardi.", callbackNeeded: true, unansweredQuestions: ["Q ?"] })
    }))
  })
})

describe("CallsQuery.stats", () => {
  test("a tenant without calls: zeros, numbers, no percentiles", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      yield* call({ id: "x", tenant: "t2", createdAt: at(0), endReason: "caller_hangup" })
      const stats = yield* Effect.flatMap(CallsQuery, (q) => q.stats("t1", {}))
      expect(stats).toEqual({
        totalCalls: 0,
        completedCalls: 0,
        averageDuration: 0,
        successRate: 0,
        resolutionRate: 0,
        transfers: 0,
        bookingsMade: 0,
        messagesTaken: 0,
        endedByCaller: 0,
        endedByAgent: 0,
        turnLatencyMs: { p50: null, p95: null, samples: 0 }
      })
    }))
  })

  test("rates, averages, who ended, bookings and nearest-rank latency percentiles, within one tenant and period", async () => {
    await run(Effect.gen(function*() {
      yield* seedTenants
      yield* call({ id: "a", createdAt: at(0), duration: 10, endReason: "caller_hangup", outcome: "information_given" })
      yield* call({ id: "b", createdAt: at(1), duration: 21, endReason: "agent_hangup", outcome: "booked" })
      yield* call({ id: "c", createdAt: at(2), status: "no-answer", duration: null, endReason: "caller_hangup", outcome: "abandoned" })
      yield* call({ id: "o", tenant: "t2", createdAt: at(1), duration: 999, endReason: "transfer", outcome: "transferred" })
      for (let ms = 1; ms <= 20; ms++) yield* event("a", "turn_latency", { turn: ms, ms: ms * 10 })
      yield* event("b", "turn_latency", { turn: 1 }) // no measure: ignored
      yield* event("o", "turn_latency", { turn: 1, ms: 100_000 })
      const s = yield* sql
      const appointment = (id: string, tenant: string, callId: string | null, startsAt: string) =>
        s`INSERT INTO appointments ${
          s.insert({
            id,
            tenant_id: tenant,
            call_id: callId,
            service_type: "coupe",
            service_name: "Coupe",
            client_name: "Marie",
            client_phone: "+33612345678",
            starts_at: startsAt,
            ends_at: startsAt.replace("T09", "T10"),
            time_zone: "Europe/Paris",
            status: "booked",
            created_at: at(0)
          })
        }`
      yield* appointment("ap1", "t1", "b", "2026-12-01T09:00:00.000Z")
      yield* appointment("ap2", "t1", null, "2026-12-02T09:00:00.000Z") // booked by the owner, not by a call
      yield* appointment("ap3", "t2", "o", "2026-12-03T09:00:00.000Z")
      const query = yield* CallsQuery
      const all = yield* query.stats("t1", {})
      expect(all).toMatchObject({
        totalCalls: 3,
        completedCalls: 2,
        averageDuration: 16, // (10 + 21) / 2 = 15.5, rounded
        successRate: 66.7,
        resolutionRate: 66.7,
        transfers: 0,
        bookingsMade: 1,
        endedByCaller: 2,
        endedByAgent: 1
      })
      // 10, 20, … 200 ms: p50 is the 10th value, p95 the 19th.
      expect(all.turnLatencyMs).toEqual({ p50: 100, p95: 190, samples: 20 })
      const window = yield* query.stats("t1", { from: at(1), to: at(2) })
      expect(window).toMatchObject({ totalCalls: 1, completedCalls: 1, averageDuration: 21, successRate: 100, bookingsMade: 1, endedByAgent: 1, endedByCaller: 0 })
      expect(window.turnLatencyMs).toEqual({ p50: null, p95: null, samples: 0 })
      expect((yield* query.stats("t2", {})).turnLatencyMs).toEqual({ p50: 100_000, p95: 100_000, samples: 1 })
    }))
  })
})
