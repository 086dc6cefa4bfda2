import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient, SqlError, Statement } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { Context, Effect, Layer, Scope } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { setImmediate } from "node:timers"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { runMigrations } from "./Database.ts"

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

/** How the driver runs a statement (see makeConnection). */
const statementKind = (sql: string): "read" | "write" | "begin" | "end" | "alone" => {
  const head = /^\s*(\w+)(\s+TO\b)?/i.exec(sql)
  switch (head?.[1]?.toUpperCase()) {
    case "SELECT":
      return "read"
    case "BEGIN":
      return "begin"
    case "COMMIT":
    case "END":
      return "end"
    case "ROLLBACK":
      return head[2] === undefined ? "end" : "write" // ROLLBACK TO a savepoint stays in the transaction
    case "PRAGMA": // most pragmas are no-ops inside a transaction (foreign_keys among them)
    case "VACUUM":
    case "ATTACH":
    case "DETACH":
      return "alone"
    default:
      return "write"
  }
}

/**
 * One connection, with group commit. A write outside an explicit transaction joins the transaction of its
 * turn of the event loop, committed once that turn's other statements have run; each write completes only
 * after that commit, so nothing is reported written before it is. A busy turn's writes of every call (call
 * rows, leases, statuses) cost one commit — one append to the WAL — instead of one each. A write that fails
 * alone (a constraint) leaves the others of its group untouched; if SQLite rolls the whole group back, each of
 * its writes fails. An explicit transaction (`sql.withTransaction`) first commits the open group.
 */
const makeConnection = (filename: string) =>
  Effect.gen(function*() {
    let group: { readonly writes: Array<(failure: SqlError.SqlError | undefined) => void> } | undefined
    let inExplicitTransaction = false
    const settle = (writes: ReadonlyArray<(failure: SqlError.SqlError | undefined) => void>, failure?: SqlError.SqlError) => {
      for (const done of writes) done(failure)
    }
    const commitGroup = () => {
      const committing = group
      if (committing === undefined) return
      group = undefined
      try {
        db.exec("COMMIT")
        settle(committing.writes)
      } catch (cause) {
        if (db.isTransaction) db.exec("ROLLBACK")
        settle(committing.writes, new SqlError.SqlError({ cause, message: "Failed to commit" }))
      }
    }
    const db = yield* Effect.acquireRelease(
      Effect.sync(() => new DatabaseSync(filename)),
      (db) => Effect.sync(() => {
        commitGroup()
        db.close()
      })
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
    const failed = (cause: unknown) => new SqlError.SqlError({ cause, message: "Failed to execute statement" })
    const run = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.withFiberRuntime<Array<any>, SqlError.SqlError>((fiber) => {
        const kind = statementKind(sql)
        if (kind === "begin" || kind === "alone") commitGroup()
        // Inside an explicit transaction, statements are the transaction's own (it holds the connection).
        const grouped = kind === "write" && !inExplicitTransaction
        if (grouped && group === undefined) {
          db.exec("BEGIN")
          group = { writes: [] }
          setImmediate(commitGroup)
        }
        const joined = group
        let rows: Array<any>
        try {
          const statement = prepare(sql)
          statement.setReadBigInts(Context.get(fiber.currentContext, SqlClient.SafeIntegers))
          rows = statement.all(...params.map(bindable))
        } catch (cause) {
          // SQLite rolled the whole group back (not only this statement): its writes did not happen either.
          if (grouped && joined !== undefined && !db.isTransaction) {
            group = undefined
            settle(joined.writes, failed(cause))
          }
          return Effect.fail(failed(cause))
        }
        if (kind === "begin") inExplicitTransaction = true
        if (kind === "end") inExplicitTransaction = false
        if (!grouped || joined === undefined) return Effect.succeed(rows)
        return Effect.async<Array<any>, SqlError.SqlError>((resume) => {
          joined.writes.push((failure) => resume(failure === undefined ? Effect.succeed(rows) : Effect.fail(failure)))
        })
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
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    // A transaction holds the only connection until its scope closes.
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))
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
  const prepare = Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("PRAGMA foreign_keys = ON")
      yield* sql.unsafe("PRAGMA busy_timeout = 5000")
      // With WAL, NORMAL syncs at checkpoints instead of every commit: a crash of the process loses
      // nothing, a power cut may lose the last writes; without it every call event costs an fsync.
      yield* sql.unsafe("PRAGMA synchronous = NORMAL")
      yield* runMigrations
    }).pipe(Effect.orDie)
  )
  return prepare.pipe(Layer.provideMerge(client))
}
