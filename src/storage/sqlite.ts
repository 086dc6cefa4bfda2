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
import type { SQLInputValue } from "node:sqlite"
import { runMigrations } from "./Database.ts"

/**
 * The SQLite driver layer, the same on Bun and Deno: both implement `node:sqlite` (`@effect/sql-sqlite-node` needs a
 * native build, `bun:sqlite` exists on Bun only). Modelled on `@effect/sql-sqlite-bun`'s client: one connection, one
 * writer at a time. The connection lives on a thread of its own (`sqliteThread.ts`): a statement is a message there
 * and back (~8 µs of this thread's time), not the statement's whole run on the thread that speaks to callers.
 */

/** bun:sqlite bound booleans and `undefined`; node:sqlite refuses them, so they are mapped here. */
const bindable = (value: unknown): SQLInputValue =>
  value === undefined ? null : typeof value === "boolean" ? (value ? 1 : 0) : value as SQLInputValue

/** SQLite's error as the thread reports it: its message, and the codes callers read (`errcode`, `code`). */
interface ThreadError {
  readonly message: string
  readonly code?: unknown
  readonly errcode?: number
  readonly errstr?: string
}
interface Reply {
  readonly id: number
  readonly rows?: Array<any>
  readonly error?: ThreadError
}

/** The error object SqlError carries as its cause: what node:sqlite threw, rebuilt on this side. */
const sqliteError = (error: ThreadError) => Object.assign(new Error(error.message), error)

/**
 * The thread and its database, open; closed with the scope (SQLite then copies its log into the file). If the
 * thread stops (it never should), every statement waiting and every one after fails: the health check reports it.
 */
const openThread = (filename: string) =>
  Effect.gen(function*() {
    const pending = new Map<number, (reply: Reply) => void>()
    let stopped: string | undefined
    let lastId = 0
    const worker = yield* Effect.try({
      try: () => new Worker(new URL("./sqliteThread.ts", import.meta.url).href, { type: "module" }),
      catch: (cause) => new SqlError.SqlError({ cause, message: "Failed to start the SQLite thread" })
    })
    worker.onmessage = (event: MessageEvent) => {
      const reply = event.data as Reply
      const resume = pending.get(reply.id)
      pending.delete(reply.id)
      resume?.(reply)
    }
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault()
      stopped = `the SQLite thread stopped: ${event.message}`
      for (const [id, resume] of pending) resume({ id, error: { message: stopped } })
      pending.clear()
    }
    /** Sends one request; its reply comes in the order requests were sent. An interrupted wait drops the reply. */
    const request = (message: Record<string, unknown>) =>
      Effect.async<Reply>((resume) => {
        if (stopped !== undefined) return resume(Effect.succeed({ id: 0, error: { message: stopped } }))
        const id = ++lastId
        pending.set(id, (reply) => resume(Effect.succeed(reply)))
        worker.postMessage({ ...message, id })
        return Effect.sync(() => pending.delete(id))
      })
    /** A reply's rows, or SQLite's error as the SqlError callers expect. */
    const rowsOf = (reply: Reply, message: string): Effect.Effect<Array<any>, SqlError.SqlError> =>
      reply.error !== undefined ? Effect.fail(new SqlError.SqlError({ cause: sqliteError(reply.error), message })) : Effect.succeed(reply.rows ?? [])
    const close = Effect.flatMap(request({ kind: "close" }), (reply) =>
      reply.error !== undefined ? Effect.logWarning("SQLite did not close cleanly").pipe(Effect.annotateLogs("reason", reply.error.message)) : Effect.void).pipe(
        Effect.ensuring(Effect.sync(() => worker.terminate()))
      )
    yield* Effect.addFinalizer(() => close)
    yield* Effect.flatMap(request({ kind: "open", filename }), (reply) => rowsOf(reply, `Failed to open ${filename}`))
    return { request, rowsOf }
  })

const makeConnection = (filename: string) =>
  Effect.gen(function*() {
    const thread = yield* openThread(filename)
    const run = (sql: string, params: ReadonlyArray<unknown>) =>
      Effect.withFiberRuntime<Array<any>, SqlError.SqlError>((fiber) =>
        Effect.flatMap(
          thread.request({ kind: "run", sql, params: params.map(bindable), safeIntegers: Context.get(fiber.currentContext, SqlClient.SafeIntegers) }),
          (reply) => thread.rowsOf(reply, "Failed to execute statement")
        ))
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

// A database that cannot be opened is a defect at boot, as it was when node:sqlite threw on this thread.
const clientLayer = (filename: string): Layer.Layer<SqlClient.SqlClient> =>
  Layer.scoped(SqlClient.SqlClient, makeClient(filename)).pipe(Layer.provide(Reactivity.layer), Layer.orDie)

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
    }).pipe(Effect.orDie)
  )
  return prepare.pipe(Layer.provideMerge(client))
}
