import { describe, expect, test } from "../support/test.ts"
import { SqlClient } from "@effect/sql"
import { Deferred, Effect, Fiber, Layer, Scope } from "effect"
import { makeJournal } from "../../src/call/transcript.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { runWith } from "../support/effect.ts"
import { backend, testDatabase } from "../support/db.ts"

/**
 * The write journal every live call shares: what calls queue lands in order, and closing a call's journal
 * returns only once its writes are stored (what the call's end and its summary rely on).
 */

const base = Layer.mergeAll(CallsRepo.Default, Metrics.Test).pipe(Layer.provideMerge(testDatabase()))

const createCall = (sid: string) =>
  Effect.flatMap(CallsRepo, (calls) =>
    calls.createInbound({ tenantId: "tenant-1", callSid: sid, from: "+33611111111", to: "+33939035760", forwardedFrom: null, direction: "inbound", status: "in-progress", answeredBy: "instance-1" }))

const seedTenant = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
      VALUES ('tenant-1', 'Salon', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`)

const eventsOf = (callId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ type: string }>`SELECT type FROM call_events WHERE call_id = ${callId} ORDER BY id`, (rows) => rows.map((row) => row.type)))

describe("the calls' shared write journal", () => {
  test("closing a call's journal returns once its writes are stored, in the order made, whatever other calls queued", async () => {
    const stored = await runWith(
      Effect.gen(function*() {
        yield* seedTenant
        const calls = yield* CallsRepo
        const metrics = yield* Metrics
        const first = yield* createCall("CA_JOURNAL_1")
        const second = yield* createCall("CA_JOURNAL_2")
        const scope = yield* Scope.make()
        const a = yield* Scope.extend(makeJournal(calls, metrics, first.id), scope)
        const b = yield* Scope.extend(makeJournal(calls, metrics, second.id), scope)
        for (let i = 0; i < 50; i++) {
          a.eventNow(`a${i}`)
          yield* b.event(`b${i}`)
        }
        yield* a.close
        // No polling: once close returns, the whole call's journal is in the database.
        const afterClose = yield* eventsOf(first.id)
        yield* b.close
        return { first: afterClose, second: yield* eventsOf(second.id) }
      }),
      base
    )
    expect(stored.first).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`))
    expect(stored.second).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`))
  })

  test("a write that fails is counted as a database error; the call's other writes, batched with it, are still stored", async () => {
    const result = await runWith(
      Effect.gen(function*() {
        yield* seedTenant
        const calls = yield* CallsRepo
        const metrics = yield* Metrics
        const call = yield* createCall("CA_JOURNAL_3")
        const journal = yield* Scope.extend(makeJournal(calls, metrics, call.id), yield* Scope.make())
        const line = { role: "user" as const, content: "Bonjour", turn: 1 }
        yield* journal.event("before")
        yield* journal.messages([{ ...line, seq: 0 }])
        yield* journal.messages([{ ...line, seq: 0 }]) // (call_id, seq) is unique: this one cannot be stored
        yield* journal.event("after")
        yield* journal.close
        const sql = yield* SqlClient.SqlClient
        const messages = yield* sql<{ seq: number }>`SELECT seq FROM call_messages WHERE call_id = ${call.id}`
        return { events: yield* eventsOf(call.id), messages: messages.length, metrics: yield* metrics.render() }
      }),
      base
    )
    expect(result.events).toEqual(["before", "after"])
    expect(result.messages).toBe(1)
    expect(result.metrics).toMatch(/coccinelle_errors_total\{[^}]*kind="database"[^}]*\} 1/)
  })

  test(`on ${backend}: a call whose writes are all stored closes at once, even while the writer waits on another call's`, async () => {
    const result = await runWith(
      Effect.gen(function*() {
        yield* seedTenant
        const calls = yield* CallsRepo
        const metrics = yield* Metrics
        const sql = yield* SqlClient.SqlClient
        const done = yield* createCall("CA_JOURNAL_4")
        const busy = yield* createCall("CA_JOURNAL_5")
        const scope = yield* Scope.make()
        const finished = yield* Scope.extend(makeJournal(calls, metrics, done.id), scope)
        const waiting = yield* Scope.extend(makeJournal(calls, metrics, busy.id), scope)
        yield* finished.event("stored")
        yield* finished.close
        // Another transaction holds the database (on SQLite, its only connection): the writer's next batch waits.
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(sql.withTransaction(Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(release))))
        yield* Deferred.await(inside)
        yield* waiting.event("queued behind the held transaction")
        const closedAtOnce = yield* finished.close.pipe(Effect.timeout("2 seconds"), Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* waiting.close
        return { closedAtOnce, busy: yield* eventsOf(busy.id) }
      }),
      base
    )
    expect(result.closedAtOnce).toBe(true)
    expect(result.busy).toEqual(["queued behind the held transaction"])
  })
})
