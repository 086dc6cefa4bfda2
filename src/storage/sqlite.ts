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
import { setImmediate } from "node:timers"
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

/**
 * How a statement takes part in write groups (below), from its first keyword. Anything not known to only read is
 * taken for a write: a read taken for a write only waits for a commit it did not need.
 */
type StatementKind = "read" | "write" | "control"
const kindOf = (sql: string): StatementKind => {
  const keyword = /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase()
  switch (keyword) {
    case "SELECT":
    case "VALUES":
    case "EXPLAIN":
      return "read"
    case "BEGIN":
    case "SAVEPOINT":
    case "RELEASE":
    case "COMMIT":
    case "END":
    case "ROLLBACK":
    case "PRAGMA":
    case "VACUUM":
    case "ATTACH":
    case "DETACH":
      return "control"
    default:
      return "write"
  }
}

interface Prepared {
  readonly statement: StatementSync
  readonly kind: StatementKind
}

/** Told once its write group is committed (nothing) or could not be (why). */
type GroupWaiter = (failure: SqlError.SqlError | undefined) => void

const makeConnection = (filename: string) =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.sync(() => new DatabaseSync(filename)),
      // What the last group wrote is committed before the file is closed.
      (db) => Effect.sync(() => {
        endGroup()
        db.close()
      })
    )
    db.exec("PRAGMA journal_mode = WAL;")

    /**
     * Write groups: a write outside a transaction opens one, the writes of the same turn of the event loop join it,
     * and one COMMIT at the loop's next turn ends it. Each write's fiber resumes only once its group is committed,
     * so a write is as durable as before when its caller goes on; a statement that fails fails alone (SQLite undoes
     * that statement, not its group). A commit costs more than most statements (its pages written to the log again,
     * its locks): one per statement cost ~0.25 ms of CPU per call with 200 calls at once. Reads run at once, inside
     * the open group if there is one, as they would on this one connection anyway.
     */
    let group: Array<GroupWaiter> | undefined
    const endGroup = () => {
      const waiters = group
      if (waiters === undefined) return
      group = undefined
      let failure: SqlError.SqlError | undefined
      try {
        db.exec("COMMIT")
      } catch (cause) {
        failure = new SqlError.SqlError({ cause, message: "Failed to commit" })
        // A failed COMMIT (a deferred constraint, a full disk) may leave the transaction open: nothing of it stays.
        try {
          if (db.isTransaction) db.exec("ROLLBACK")
        } catch {
          // The connection's next statement reports what is wrong with it.
        }
      }
      for (const waiter of waiters) waiter(failure)
    }
    /** A failed statement that took the open group's transaction with it (a full disk): its writes are lost. */
    const groupLost = (cause: unknown) => {
      const waiters = group
      if (waiters === undefined || db.isTransaction) return
      group = undefined
      const failure = new SqlError.SqlError({ cause, message: "Failed to commit: the transaction was rolled back" })
      for (const waiter of waiters) waiter(failure)
    }

    const statements = new Map<string, Prepared>()
    const prepare = (sql: string): Prepared => {
      const cached = statements.get(sql)
      if (cached !== undefined) return cached
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!)
      const prepared = { statement: db.prepare(sql), kind: kindOf(sql) }
      statements.set(sql, prepared)
      return prepared
    }
    const run = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.withFiberRuntime<Array<any>, SqlError.SqlError>((fiber) => {
        let grouped = false
        try {
          const { kind, statement } = prepare(sql)
          // A transaction of our own (BEGIN), a pragma: the group before it is committed first.
          if (kind === "control" && group !== undefined) endGroup()
          else if (kind === "write" && (group !== undefined || !db.isTransaction)) {
            if (group === undefined) {
              db.exec("BEGIN")
              group = []
              setImmediate(endGroup)
            }
            grouped = true
          }
          statement.setReadBigInts(Context.get(fiber.currentContext, SqlClient.SafeIntegers))
          const rows = statement.all(...params.map(bindable))
          const waiters = group
          if (!grouped || waiters === undefined) return Effect.succeed(rows)
          return Effect.async<Array<any>, SqlError.SqlError>((resume) => {
            waiters.push((failure) => resume(failure === undefined ? Effect.succeed(rows) : Effect.fail(failure)))
          })
        } catch (cause) {
          groupLost(cause)
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
