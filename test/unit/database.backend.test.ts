import { SqlClient } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { Context, Deferred, Effect, Layer, Schedule, Stream } from "effect"
import { DatabaseBackend } from "../../src/storage/DatabaseBackend.ts"
import { demoKeyFile } from "../../src/tenants/DemoTenant.ts"
import { isPostgresUrl, parseTimestamptz } from "../../src/storage/postgres.ts"
import { backend, testDatabase } from "../support/db.ts"
import { runScoped } from "../support/effect.ts"


describe("backend chooser and row shapes", () => {
  test("postgres:// and postgresql:// select Postgres; paths, sqlite: URLs and :memory: stay SQLite", () => {
    expect(["postgres://u@h/db", "postgresql://u:p@h:5432/db?sslmode=require"].map(isPostgresUrl)).toEqual([true, true])
    expect(["./data/coccinelle.db", "sqlite:./x.db", ":memory:", "/data/postgres.db"].map(isPostgresUrl))
      .toEqual([false, false, false, false])
  })

  test("the demo key file: beside a SQLite file, nowhere for a Postgres URL or :memory:, DEMO_API_KEY_FILE first", () => {
    expect(demoKeyFile("./data/coccinelle.db", "")).toBe("data/demo-api-key.txt")
    expect(demoKeyFile("sqlite:///data/app.db", "")).toBe("/data/demo-api-key.txt")
    expect(demoKeyFile("postgres://u:p@db.internal:5432/coccinelle", "")).toBeNull()
    expect(demoKeyFile(":memory:", "")).toBeNull()
    expect(demoKeyFile("postgresql://u@h/db", "/run/secrets/demo-key")).toBe("/run/secrets/demo-key")
  })

  test("Postgres instants come back as the ISO strings SQLite stores, whatever the session's zone", () => {
    expect(parseTimestamptz("2026-11-25 09:30:00+00")).toBe("2026-11-25T09:30:00.000Z")
    expect(parseTimestamptz("2026-11-25 10:30:00.123+01")).toBe("2026-11-25T09:30:00.123Z")
    expect(parseTimestamptz("2026-11-25 15:00:00+05:30")).toBe("2026-11-25T09:30:00.000Z")
  })

  test(`on ${backend}: counts and sums are numbers, instants ISO strings, JSON the stored text`, async () => {
    const row = await runScoped(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const now = "2026-11-25T09:30:00.000Z"
      yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
        VALUES ('t', 'T', ${JSON.stringify({ a: 1 })}, ${now}, ${now})`
      const [row] = yield* sql<Record<string, unknown>>`SELECT count(*) AS n, sum(1) AS s, max(created_at) AS at FROM tenants`
      const [stored] = yield* sql<{ config: unknown }>`SELECT config FROM tenants`
      return { ...row!, config: stored!.config }
    }).pipe(Effect.provide(testDatabase())))
    expect(row).toMatchObject({ n: 1, s: 1, at: "2026-11-25T09:30:00.000Z" })
    // text on both (jsonb's own spacing on Postgres): the repositories decode it with Schema.parseJson
    expect(typeof row.config).toBe("string")
    expect(JSON.parse(row.config as string)).toEqual({ a: 1 })
  })
})

describe("notifications between instances (DatabaseBackend)", () => {
  test(`on ${backend}: what one instance notifies, a listener hears`, async () => {
    const shared = `/tmp/backend-notify-${crypto.randomUUID()}.db` // names the shared Postgres database; unused on SQLite
    const heard = await runScoped(Effect.gen(function*() {
      // On Postgres two pools on one database, as two instances; on SQLite one process is the only instance.
      const sender = yield* Layer.build(backend === "postgres" ? testDatabase(shared) : testDatabase())
      const listener = backend === "postgres" ? yield* Layer.build(testDatabase(shared)) : sender
      const received = yield* Deferred.make<string>()
      yield* Context.get(listener, DatabaseBackend).listen("call_ended").pipe(
        Stream.take(1),
        Stream.runForEach((payload) => Deferred.succeed(received, payload)),
        Effect.forkScoped
      )
      // LISTEN is set up asynchronously: notify until it is heard.
      const notify = Context.get(sender, DatabaseBackend).notify("call_ended", "CA123")
      return yield* Effect.race(Deferred.await(received), Effect.repeat(notify, Schedule.spaced("20 millis")).pipe(Effect.zipRight(Effect.never)))
        .pipe(Effect.timeout("5 seconds"))
    }))
    expect(heard).toBe("CA123")
  })
})
