/**
 * Two durability gaps of the shared database:
 * - the journal writer commits every live call's queued writes in one transaction; one bad write must not
 *   cost the other calls theirs (a failed statement aborts a whole Postgres transaction) — on both backends;
 * - the dedicated LISTEN connection (call ended elsewhere, tenant/knowledge changed) must come back after it
 *   is killed, and notifications sent afterwards must still arrive.
 *
 * The Postgres cases run on the cluster of the Postgres run (TEST_POSTGRES_URL) or a throwaway one started
 * here; without Postgres binaries they are skipped with a note (a failure under CI).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted, Schedule, Schema, Stream } from "effect"
import { makeJournal } from "../../src/call/transcript.ts"
import { CountListenerReconnects } from "../../src/cluster/listener.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { databaseLayer } from "../../src/storage/Database.ts"
import { DatabaseBackend } from "../../src/storage/DatabaseBackend.ts"
import { adminQuery, emptyPostgresDatabase, testPostgresUrl } from "../support/db.ts"
import { runScoped } from "../support/effect.ts"
import { salonConfig } from "../support/salon.ts"
import { insertTenant } from "../support/rows.ts"
import { TenantConfig } from "../../src/tenants/TenantConfig.ts"
import { Tenants } from "../../src/tenants/Tenants.ts"
import { Knowledge } from "../../src/knowledge/Knowledge.ts"
import { Embeddings } from "../../src/knowledge/Embeddings.ts"
import { type Cluster, postgresBinDir, startCluster } from "../support/postgres.ts"

const available = testPostgresUrl !== undefined || postgresBinDir() !== undefined
if (!available) {
  const note = "Postgres resilience tests SKIPPED: no Postgres server binaries and no TEST_POSTGRES_URL"
  if (process.env.CI === "true") throw new Error(`${note} — required under CI=true`)
  console.warn(`\n  NOTE: ${note}\n`)
}

let cluster: Cluster | undefined
let clusterUrl = ""
beforeAll(async () => {
  if (!available) return
  if (testPostgresUrl !== undefined) clusterUrl = testPostgresUrl
  else clusterUrl = (cluster = await startCluster()).url
})
afterAll(() => cluster?.stop())

const SALON_NAME = salonConfig().name
const encodeConfig = Schema.encodeSync(Schema.parseJson(TenantConfig))
const databaseName = (url: string) => new URL(url).pathname.slice(1)

const createCall = (sid: string) =>
  Effect.flatMap(CallsRepo, (calls) =>
    calls.createInbound({ tenantId: "tenant-1", callSid: sid, from: "+33611111111", to: "+33939035760", forwardedFrom: null, direction: "inbound", status: "in-progress", answeredBy: "instance-1" }))

/** Two calls queue into one batch: A's writes around a write of B that breaks a unique constraint. */
const batchWithOneBadWrite = (url: string) =>
  runScoped(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
        VALUES ('tenant-1', 'Salon', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`
      const calls = yield* CallsRepo
      const metrics = yield* Metrics
      const first = yield* createCall("CA_ISOLATED_A")
      const second = yield* createCall("CA_ISOLATED_B")
      const a = yield* makeJournal(calls, metrics, first.id)
      const b = yield* makeJournal(calls, metrics, second.id)
      const line = { role: "user" as const, content: "Bonjour", turn: 1 }
      // Queued synchronously: the writer wakes on the first and takes the rest together, B's bad write among A's.
      a.eventNow("a_before")
      yield* a.messages([{ ...line, seq: 0 }])
      yield* b.messages([{ ...line, seq: 0 }, { ...line, seq: 0 }]) // (call_id, seq) is unique
      a.eventNow("a_after")
      b.eventNow("b_after")
      yield* a.close
      yield* b.close
      const events = yield* sql<{ call_id: string; type: string }>`SELECT call_id, type FROM call_events ORDER BY id`
      const messages = yield* sql<{ call_id: string }>`SELECT call_id FROM call_messages ORDER BY id`
      return {
        first: events.filter((row) => row.call_id === first.id).map((row) => row.type),
        second: events.filter((row) => row.call_id === second.id).map((row) => row.type),
        firstMessages: messages.filter((row) => row.call_id === first.id).length,
        secondMessages: messages.filter((row) => row.call_id === second.id).length,
        metrics: yield* metrics.render()
      }
    }).pipe(Effect.provide(Layer.mergeAll(CallsRepo.Default, Metrics.Test).pipe(Layer.provideMerge(databaseLayer(url)))))
  )

const expectOnlyTheBadWriteLost = (result: Awaited<ReturnType<typeof batchWithOneBadWrite>>) => {
  expect(result.first).toEqual(["a_before", "a_after"])
  expect(result.firstMessages).toBe(1)
  expect(result.second).toEqual(["b_after"])
  expect(result.secondMessages).toBe(0)
  expect(result.metrics).toMatch(/coccinelle_errors_total\{[^}]*kind="database"[^}]*\} 1/)
}

describe("one bad journal write in a batch of several calls", () => {
  test("on SQLite: only that write is lost", async () => {
    expectOnlyTheBadWriteLost(await batchWithOneBadWrite(":memory:"))
  })

  test.skipIf(!available)("on Postgres: only that write is lost, the other call's writes around it are stored", async () => {
    expectOnlyTheBadWriteLost(await batchWithOneBadWrite(await emptyPostgresDatabase(clusterUrl, "journal")))
  })
})

describe.skipIf(!available)("the LISTEN connection on Postgres", () => {
  test("killed with pg_terminate_backend, it comes back: a notification sent afterwards is delivered, the comeback is signalled and counted", async () => {
    const url = await emptyPostgresDatabase(clusterUrl, "listener")
    const result = await runScoped(Effect.gen(function*() {
      const backend = yield* DatabaseBackend
      const heard = yield* Deferred.make<void>()
      const heardAfter = yield* Deferred.make<void>()
      const reconnected = yield* Deferred.make<void>()
      yield* Effect.forkScoped(Stream.runForEach(backend.reconnected, () => Deferred.succeed(reconnected, undefined)))
      yield* backend.listen("call_ended").pipe(
        Stream.runForEach((payload) => Deferred.succeed(payload === "after" ? heardAfter : heard, undefined)),
        Effect.forkScoped
      )
      // LISTEN is set up asynchronously: notify until heard.
      const notifyUntil = (payload: string, done: Deferred.Deferred<void>) =>
        Effect.raceFirst(
          Deferred.await(done),
          Effect.repeat(backend.notify("call_ended", payload), Schedule.spaced("50 millis")).pipe(Effect.zipRight(Effect.never))
        ).pipe(Effect.timeout("20 seconds"))
      yield* notifyUntil("before", heard)
      const killed = yield* Effect.promise(() =>
        adminQuery(
          clusterUrl,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = '${databaseName(url)}'`
        )
      )
      yield* notifyUntil("after", heardAfter)
      yield* Deferred.await(reconnected).pipe(Effect.timeout("5 seconds"))
      // Counted for /metrics by another subscriber: wait until it is.
      const metrics = yield* Metrics
      yield* metrics.render().pipe(
        Effect.repeat({ until: (text) => /coccinelle_listener_reconnects_total 1/.test(text), schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("5 seconds")
      )
      return { killed: killed.length, counted: yield* metrics.render() }
    }).pipe(Effect.provide(CountListenerReconnects.pipe(Layer.provideMerge(Metrics.Test), Layer.provideMerge(databaseLayer(url))))))
    expect(result.killed).toBeGreaterThan(0)
    expect(result.counted).toMatch(/coccinelle_listener_reconnects_total 1/)
  }, 60_000)

  test("a tenant change missed while the listener was down is seen once it is back (the cache is dropped)", async () => {
    const url = await emptyPostgresDatabase(clusterUrl, "tenants")
    const names = await runScoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tenants = yield* Tenants
      const nameOf = (id: string) => Effect.map(tenants.byId(id), (tenant) => Option.getOrThrow(tenant).config.name)
      // Stored directly, not through `create`: no notification at all, so only the comeback can empty the cache.
      const id = "tenant-missed"
      yield* insertTenant(id, { name: SALON_NAME, config: JSON.parse(encodeConfig(salonConfig())) })
      const cached = yield* nameOf(id)
      // Changed behind the instance's back, as by another instance whose notification fell into the outage.
      yield* sql`UPDATE tenants SET config = jsonb_set(config, '{name}', '"Salon Renommé"') WHERE id = ${id}`
      const stale = yield* nameOf(id)
      // The listener connects in the background: kill it once it is there (a kill before would find nothing).
      yield* Effect.promise(() =>
        adminQuery(
          clusterUrl,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = '${databaseName(url)}'`
        )
      ).pipe(
        Effect.repeat({ until: (killed) => killed.length > 0, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("10 seconds")
      )
      yield* nameOf(id).pipe(
        Effect.repeat({ until: (name) => name === "Salon Renommé", schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("20 seconds")
      )
      return { cached, stale, fresh: yield* nameOf(id) }
    }).pipe(Effect.provide(Tenants.Default.pipe(
      Layer.provideMerge(Knowledge.DefaultWithoutDependencies.pipe(Layer.provide(Embeddings.Disabled))),
      Layer.provideMerge(databaseLayer(url))
    ))))
    expect(names).toEqual({ cached: SALON_NAME, stale: SALON_NAME, fresh: "Salon Renommé" })
  }, 60_000)
})

/**
 * An interrupted statement (a caller hanging up mid-query, a lost race) must not reach the statement that takes its
 * connection next. @effect/sql-pg cancels with `pg_cancel_backend(pid)` sent through the pool; if the interrupted
 * statement finishes first, its connection is already another statement's when the cancel lands
 * (patches/README.md). Advisory locks, held by a controller of its own, decide when each statement finishes.
 */
describe.skipIf(!available)("an interrupted Postgres statement", () => {
  test("never cancels the statement that next takes its connection", async () => {
    const url = await emptyPostgresDatabase(clusterUrl, "cancel")
    const poolOf = (maxConnections: number) =>
      Effect.map(Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections })), Context.get(PgClient.PgClient))
    const outcome = await runScoped(Effect.gen(function*() {
      // One connection: its session holds the locks, and it watches the others.
      const controller = yield* poolOf(1)
      // Two connections: A's, and a blocker's that keeps the cancel (sent through this pool) waiting its turn.
      const pool = yield* poolOf(2)
      const waitingOn = (lock: number) =>
        controller<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE ${`%pg_advisory_xact_lock(${lock})%`}`.pipe(
          Effect.repeat({ until: ([row]) => row!.n > 0, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("10 seconds")
        )
      yield* controller`SELECT pg_advisory_lock(1), pg_advisory_lock(2), pg_advisory_lock(3)`
      const blocker = yield* Effect.fork(pool.unsafe("SELECT pg_advisory_xact_lock(1)"))
      const a = yield* Effect.fork(pool.unsafe("SELECT pg_advisory_xact_lock(2)"))
      yield* waitingOn(1)
      yield* waitingOn(2)
      // B waits for a connection: it gets A's as soon as A is done.
      const b = yield* Effect.fork(pool.unsafe<{ answer: string }>("SELECT pg_advisory_xact_lock(3), 'b' AS answer"))
      yield* Effect.yieldNow()
      const interrupting = yield* Effect.fork(Fiber.interrupt(a))
      yield* Effect.yieldNow()
      // A's statement finishes on its own; B now runs on A's connection.
      yield* controller`SELECT pg_advisory_unlock(2)`
      yield* waitingOn(3)
      // The blocker lets go of the other connection: a cancel waiting for one would run now.
      yield* controller`SELECT pg_advisory_unlock(1)`
      yield* Fiber.join(blocker)
      yield* Fiber.join(interrupting)
      yield* controller`SELECT pg_advisory_unlock(3)`
      // B's answer, or what Postgres said instead ("canceling statement due to user request").
      const answer = yield* Fiber.join(b).pipe(
        Effect.map(([row]) => row?.answer),
        Effect.catchAll((error) => Effect.succeed(`failed: ${(error.cause as Error | undefined)?.message ?? error.message}`))
      )
      return { a: yield* Fiber.await(a), b: answer }
    }))
    expect(Exit.isInterrupted(outcome.a)).toBe(true)
    expect(outcome.b).toBe("b")
  }, 30_000)
})
