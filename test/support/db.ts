/**
 * The one database helper of the tests: a fresh database with the real migrations, on the backend of this
 * test run. SQLite (`:memory:`, or the given file) by default; a new database on the throwaway Postgres
 * cluster when the run is the Postgres run (`TEST_POSTGRES_URL`, set by .ci/run, is the cluster's
 * superuser URL). Each fresh Postgres database is copied from a template migrated once per process.
 *
 * Deno runs every test file of a `deno test` in its own module instance inside one process: this module's
 * state starts afresh per file while `process.pid` stays the same. So database names carry a random id
 * of this module instance, and the process's template is found on the cluster by name, not in memory.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { databaseLayer } from "../../src/storage/Database.ts"
import type { DatabaseBackend } from "../../src/storage/DatabaseBackend.ts"
import { postgresLayer } from "../../src/storage/postgresLayer.ts"

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
/** Unique to this module instance (one per test file on Deno, one per process on Bun). */
const instance = `${process.pid}_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`

/** The pg error itself (message and SQLSTATE): SqlError's own message is only "Failed to execute statement". */
const describePgError = (statement: string, error: SqlError.SqlError) => {
  const cause = error.cause as { message?: unknown; code?: unknown } | undefined
  return new Error(`${statement}: ${String(cause?.message ?? error.message)} (SQLSTATE ${String(cause?.code)})`)
}

/** Runs a statement on the cluster's `postgres` database (CREATE/DROP DATABASE cannot run in a transaction). */
export const adminQuery = (clusterUrl: string, statement: string) => {
  let admin = admins.get(clusterUrl)
  if (admin === undefined) admins.set(clusterUrl, admin = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(clusterUrl), maxConnections: 2 })))
  return admin.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
      Effect.mapError((error) => describePgError(statement, error))
    )
  )
}

const databaseExists = async (clusterUrl: string, name: string) =>
  (await adminQuery(clusterUrl, `SELECT 1 FROM pg_database WHERE datname = '${name}'`)).length > 0

/** A new, empty database on the cluster (no migrations), e.g. for tests of concurrent boots. */
export const emptyPostgresDatabase = async (clusterUrl: string, prefix = "empty"): Promise<string> => {
  const name = `${prefix}_${instance}_${++counter}`
  await adminQuery(clusterUrl, `CREATE DATABASE ${name}`)
  return databaseUrlOn(clusterUrl, name)
}

/**
 * The process's migrated template, shared by its test files. It is migrated under a name of its own and
 * renamed when complete, so a template found by name is always whole (even if a file stopped mid-migration).
 */
const migratedTemplate = (clusterUrl: string) =>
  template ??= (async () => {
    const name = `template_${process.pid}`
    if (await databaseExists(clusterUrl, name)) return name
    const building = `migrating_${instance}`
    await adminQuery(clusterUrl, `CREATE DATABASE ${building}`)
    const runtime = ManagedRuntime.make(postgresLayer(databaseUrlOn(clusterUrl, building)))
    await runtime.runPromise(Effect.void)
    await runtime.dispose()
    try {
      await adminQuery(clusterUrl, `ALTER DATABASE ${building} RENAME TO ${name}`)
    } catch (error) {
      // Files run in parallel (`deno test --parallel`): another one published the template first.
      if (!(await databaseExists(clusterUrl, name))) throw error
      await adminQuery(clusterUrl, `DROP DATABASE ${building}`)
    }
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
    const name = `test_${instance}_${++counter}`
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
