import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import type { Connection } from "@effect/sql/SqlConnection"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { runMigrations } from "./Database.ts"
import { checkpointOffThread } from "./sqliteCheckpoints.ts"

/**
 * The SQLite driver layer, the same on Bun and Deno: both implement `node:sqlite`, so one client
 * serves both runtimes (`@effect/sql-sqlite-node` needs a native build, `bun:sqlite` exists on Bun only).
 * Modelled on `@effect/sql-sqlite-bun`'s client: one connection, one writer at a time.
 */

// Prepared statements are reused across calls (bun:sqlite's `db.query` cached them the same way).
const STATEMENT_CACHE_SIZE = 256

/** bun:sqlite bound booleans and `undefined`; node:sqlite refuses them, so they are mapped here. */
const bindable = (value: unknown): SQLInputValue =>
  value === undefined ? null : typeof value === "boolean" ? (value ? 1 : 0) : value as SQLInputValue

const makeConnection = (filename: string) =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.sync(() => new DatabaseSync(filename)),
      (db) => Effect.sync(() => db.close())
    )
    db.exec("PRAGMA journal_mode = WAL;")
    const statements = new Map<string, StatementSync>()
    const prepare = (sql: string): StatementSync => {
      const cached = statements.get(sql)
      if (cached !== undefined) return cached
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!)
      const statement = db.prepare(sql)
      statements.set(sql, statement)
      return statement
    }
    const run = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.withFiberRuntime<Array<any>, SqlError.SqlError>((fiber) => {
        try {
          const statement = prepare(sql)
          statement.setReadBigInts(Context.get(fiber.currentContext, SqlClient.SafeIntegers))
          return Effect.succeed(statement.all(...params.map(bindable)))
        } catch (cause) {
          return Effect.fail(new SqlError.SqlError({ cause, message: "Failed to execute statement" }))
        }
      })
    const connection: Connection = {
      execute: (sql, params, transformRows) => transformRows ? Effect.map(run(sql, params), transformRows) : run(sql, params),
      executeRaw: (sql, params) => run(sql, params),
      executeValues: (sql, params) => Effect.map(run(sql, params), (rows) => rows.map((row) => Object.values(row))),
      executeUnprepared: (sql, params, transformRows) => connection.execute(sql, params, transformRows),
      executeStream: () => Effect.dieMessage("executeStream not implemented")
    }
    return connection
  })

const makeClient = (filename: string) =>
  Effect.gen(function*() {
    const connection = yield* makeConnection(filename)
    const semaphore = yield* Effect.makeSemaphore(1)
    // A transaction holds the only connection until its scope closes; `transactionOpen` says so.
    let transactionOpen = false
    const connectionNow = Effect.succeed(connection)
    const connectionAfterTransaction = semaphore.withPermits(1)(connectionNow)
    // A statement waits only while a transaction holds the connection: taking and giving back the permit
    // otherwise costs ~30 run-loop steps per statement, for nothing.
    const acquirer = Effect.suspend(() => transactionOpen ? connectionAfterTransaction : connectionNow)
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => {
            transactionOpen = true
            return Scope.addFinalizer(scope, Effect.zipRight(Effect.sync(() => (transactionOpen = false)), semaphore.release(1)))
          })
        ),
        connection
      )
    )
    return yield* SqlClient.make({
      acquirer,
      compiler: Statement.makeCompilerSqlite(),
      transactionAcquirer,
      spanAttributes: [["db.system.name", "sqlite"]]
    })
  })

const clientLayer = (filename: string): Layer.Layer<SqlClient.SqlClient> =>
  Layer.scoped(SqlClient.SqlClient, makeClient(filename)).pipe(Layer.provide(Reactivity.layer))

/** A migrated SQLite database at `filename` (or `:memory:`), as the `SqlClient` every repository asks for. */
export const sqliteLayer = (filename: string) => {
  const client = Layer.unwrapEffect(
    Effect.sync(() => {
      if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true })
      return clientLayer(filename)
    })
  )
  const prepare = Layer.scopedDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("PRAGMA foreign_keys = ON")
      yield* sql.unsafe("PRAGMA busy_timeout = 5000")
      // With WAL, NORMAL syncs at checkpoints instead of every commit: a crash of the process loses
      // nothing, a power cut may lose the last writes; without it every call event costs an fsync.
      yield* sql.unsafe("PRAGMA synchronous = NORMAL")
      yield* runMigrations
      // A file's log is copied back by another thread, not by the one that speaks to callers.
      if (filename !== ":memory:") yield* Effect.forkScoped(checkpointOffThread(filename))
    }).pipe(Effect.orDie)
  )
  return prepare.pipe(Layer.provideMerge(client))
}
