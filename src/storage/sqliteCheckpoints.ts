import * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

/**
 * SQLite's write-ahead log is copied back into the database file by checkpoints. By default the writer's own
 * connection runs one whenever the log reaches 1,000 pages: on our only JavaScript thread, ~10 ms during which no
 * live call's words go out (64 such pauses of 8 ms on average in 12,000 turns, Dec 2026). Here a worker thread with
 * its own connection copies the pages instead (`sqliteCheckpointWorker.ts`), every CHECKPOINT_EVERY.
 *
 * A checkpoint that runs beside the writer never lets the log start over: the writer only rewinds it once every page
 * is copied, and it keeps adding pages meanwhile (in a trial of steady writes the log passed 1 GB). So once the log holds
 * RESTART_AFTER_PAGES and the worker has copied all it saw, the writer's connection copies the few pages written
 * meanwhile, and its next write starts the log over.
 *
 * If the worker cannot start or stops answering, SQLite's own checkpoints come back, with a warning.
 */

const CHECKPOINT_EVERY = Duration.millis(200)
/** SQLite's own threshold: the log stays ~4 MB, as before. */
const RESTART_AFTER_PAGES = 1_000
const REPLY_TIMEOUT = Duration.seconds(10)

class CheckpointerFailed extends Data.TaggedError("CheckpointerFailed")<{ readonly message: string }> {}

const Reply = Schema.Union(
  Schema.TaggedStruct("Opened", {}),
  Schema.TaggedStruct("Checkpointed", { log: Schema.Number, checkpointed: Schema.Number }),
  Schema.TaggedStruct("Closed", {}),
  Schema.TaggedStruct("Failed", { message: Schema.String })
)
type Reply = typeof Reply.Type
const decodeReply = Schema.decodeUnknownEither(Reply)

/**
 * Sends one request and waits for the reply of the kind expected. Replies of another kind are skipped: one that an
 * interrupted request still had coming must not pass for the answer to the next.
 */
const ask = <Tag extends Exclude<Reply["_tag"], "Failed">>(worker: Worker, request: { readonly _tag: string; readonly filename?: string }, expected: Tag) =>
  Effect.async<Extract<Reply, { _tag: Tag }>, CheckpointerFailed>((resume) => {
    const stopListening = () => {
      worker.removeEventListener("message", onMessage)
      worker.removeEventListener("error", onError)
    }
    const onMessage = (event: MessageEvent) => {
      const reply = decodeReply(event.data)
      if (Either.isLeft(reply)) {
        stopListening()
        return resume(Effect.fail(new CheckpointerFailed({ message: "the checkpoint worker answered something unknown" })))
      }
      if (reply.right._tag === "Failed") {
        stopListening()
        return resume(Effect.fail(new CheckpointerFailed({ message: reply.right.message })))
      }
      if (reply.right._tag !== expected) return
      stopListening()
      resume(Effect.succeed(reply.right as Extract<Reply, { _tag: Tag }>))
    }
    const onError = (event: ErrorEvent) => {
      event.preventDefault()
      stopListening()
      resume(Effect.fail(new CheckpointerFailed({ message: event.message })))
    }
    worker.addEventListener("message", onMessage)
    worker.addEventListener("error", onError)
    worker.postMessage(request)
    return Effect.sync(stopListening)
  }).pipe(
    Effect.timeoutFail({ duration: REPLY_TIMEOUT, onTimeout: () => new CheckpointerFailed({ message: `no ${expected} reply in time` }) })
  )

/** The worker, its connection open; closed (then stopped) with the scope. */
const checkpointWorker = (filename: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => new Worker(new URL("./sqliteCheckpointWorker.ts", import.meta.url).href, { type: "module" }),
      catch: (cause) => new CheckpointerFailed({ message: String(cause).slice(0, 300) })
    }),
    (worker) => ask(worker, { _tag: "Close" }, "Closed").pipe(Effect.ignore, Effect.ensuring(Effect.sync(() => worker.terminate())))
  ).pipe(Effect.tap((worker) => ask(worker, { _tag: "Open", filename }, "Opened")))

const workerCheckpoint = (worker: Worker) => ask(worker, { _tag: "Checkpoint" }, "Checkpointed")
const copiedAll = (wal: { readonly log: number; readonly checkpointed: number }) => wal.checkpointed === wal.log

/**
 * One pass: the worker copies. When the log is long enough to start over, the worker copies once more what came
 * during its pass (a short one), then the writer copies what came during that (a page or two) and rewinds the log.
 */
const checkpointPass = (worker: Worker, sql: SqlClient.SqlClient) =>
  Effect.flatMap(workerCheckpoint(worker), (wal) =>
    wal.log >= RESTART_AFTER_PAGES && copiedAll(wal)
      ? Effect.flatMap(workerCheckpoint(worker), (again) =>
        copiedAll(again) ? Effect.asVoid(sql.unsafe("PRAGMA wal_checkpoint(PASSIVE)")) : Effect.void)
      : Effect.void)

/** Runs for as long as the database is open: fork it in the database's scope. */
export const checkpointOffThread = (filename: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const worker = yield* checkpointWorker(filename)
    yield* sql.unsafe("PRAGMA wal_autocheckpoint = 0")
    return yield* Effect.repeat(checkpointPass(worker, sql), Schedule.spaced(CHECKPOINT_EVERY))
  }).pipe(
    Effect.scoped,
    Effect.catchAll((error) =>
      Effect.zipRight(
        Effect.logWarning("SQLite checkpoints are back on the writer's thread").pipe(Effect.annotateLogs("reason", error.message)),
        onWriter(`PRAGMA wal_autocheckpoint = ${RESTART_AFTER_PAGES}`)
      )
    )
  )

/** A pragma on the writer's connection; a failure is logged, never thrown (the database works without it). */
const onWriter = (pragma: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(pragma)).pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) => Effect.logError("SQLite pragma failed", cause))
  )
