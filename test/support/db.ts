/**
 * The one database helper of the tests: a fresh database with the real migrations, on the backend of this
 * test run. SQLite (`:memory:`, or the given file) by default; a new database on the throwaway Postgres
 * cluster when the run is the Postgres run (`TEST_POSTGRES_URL`, set by .ci/run, is the cluster's
 * superuser URL). Each fresh Postgres database is copied from a template migrated once per process.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { databaseLayer } from "../../src/storage/Database.ts"
import type { DatabaseBackend } from "../../src/storage/DatabaseBackend.ts"
import { postgresLayer } from "../../src/storage/postgres.ts"

/** The cluster of the Postgres run, or undefined on the SQLite run. */
export const testPostgresUrl: string | undefined = process.env.TEST_POSTGRES_URL || undefined
export const backend: "postgres" | "sqlite" = testPostgresUrl === undefined ? "sqlite" : "postgres"

export const databaseUrlOn = (clusterUrl: string, database: string) => {
  const url = new URL(clusterUrl)
  url.pathname = `/${database}`
  return url.href
}

/** One admin connection per cluster: a test file may start its own cluster after another file's was stopped. */
const admins = new Map<string, ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown>>()
let template: Promise<string> | undefined
let counter = 0

/** Runs a statement on the cluster's `postgres` database (CREATE/DROP DATABASE cannot run in a transaction). */
export const adminQuery = (clusterUrl: string, statement: string) => {
  let admin = admins.get(clusterUrl)
  if (admin === undefined) admins.set(clusterUrl, admin = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(clusterUrl), maxConnections: 2 })))
  return admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))
}

/** A new, empty database on the cluster (no migrations), e.g. for tests of concurrent boots. */
export const emptyPostgresDatabase = async (clusterUrl: string, prefix = "empty"): Promise<string> => {
  const name = `${prefix}_${process.pid}_${++counter}`
  await adminQuery(clusterUrl, `CREATE DATABASE ${name}`)
  return databaseUrlOn(clusterUrl, name)
}

const migratedTemplate = (clusterUrl: string) =>
  template ??= (async () => {
    const name = `template_${process.pid}`
    await adminQuery(clusterUrl, `CREATE DATABASE ${name}`)
    const runtime = ManagedRuntime.make(postgresLayer(databaseUrlOn(clusterUrl, name)))
    await runtime.runPromise(Effect.void)
    await runtime.dispose()
    return name
  })()

const shared = new Map<string, Promise<string>>()

/**
 * A `DATABASE_URL` for a fresh database: `:memory:` (or `sqliteFile`) on SQLite, a new migrated database
 * on Postgres. Calls with the same `sqliteFile` share one Postgres database, as they share the file.
 */
export const testDatabaseUrl = (sqliteFile?: string): Promise<string> => {
  const clusterUrl = testPostgresUrl
  if (clusterUrl === undefined) return Promise.resolve(sqliteFile ?? ":memory:")
  const create = async () => {
    const from = await migratedTemplate(clusterUrl)
    const name = `test_${process.pid}_${++counter}`
    await adminQuery(clusterUrl, `CREATE DATABASE ${name} TEMPLATE ${from}`)
    return databaseUrlOn(clusterUrl, name)
  }
  if (sqliteFile === undefined) return create()
  let url = shared.get(sqliteFile)
  if (url === undefined) shared.set(sqliteFile, url = create())
  return url
}

/** A layer giving `SqlClient` on a fresh migrated database of this run's backend (see `testDatabaseUrl`). */
export const testDatabase = (sqliteFile?: string): Layer.Layer<SqlClient.SqlClient | DatabaseBackend> =>
  Layer.unwrapEffect(Effect.map(Effect.promise(() => testDatabaseUrl(sqliteFile)), databaseLayer))

/**
 * Runs `f` on the database at `url` (either backend), e.g. to read what a stopped server left behind, and
 * closes the connection again.
 */
export const queryDatabase = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.orDie, Effect.provide(databaseLayer(url))))
