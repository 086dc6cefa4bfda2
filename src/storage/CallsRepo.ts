import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import { CONNECT_GRACE, isoAfter } from "../cluster/decisions.ts"
import { deferredTurn } from "../eventLoop.ts"
import { makePostgresCallWrites } from "./postgresCallWrites.ts"

/** Calls, their messages and events. SQL errors are defects here: no caller can act on them. */

/** A `calls` row, checked at the storage edge: a malformed row is a defect, not a silent cast. */
export const CallRow = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  twilio_call_sid: Schema.String,
  from_number: Schema.String,
  to_number: Schema.String,
  forwarded_from: Schema.NullOr(Schema.String),
  direction: Schema.String,
  status: Schema.String,
  status_sequence: Schema.Number,
  duration: Schema.NullOr(Schema.Number),
  started_at: Schema.String,
  ended_at: Schema.NullOr(Schema.String),
  end_reason: Schema.NullOr(Schema.String),
  outcome: Schema.NullOr(Schema.String),
  created_at: Schema.String
})
export type CallRow = typeof CallRow.Type
const decodeCallRow = Schema.decodeUnknown(CallRow)

export const MessageRole = Schema.Literal("user", "assistant", "tool_use", "tool_result")
export type MessageRole = typeof MessageRole.Type

export const MessageRow = Schema.Struct({
  seq: Schema.Number,
  role: MessageRole,
  content: Schema.String,
  tool_name: Schema.NullOr(Schema.String),
  tool_use_id: Schema.NullOr(Schema.String),
  interrupted: Schema.Number,
  turn: Schema.Number,
  created_at: Schema.String
})
export type MessageRow = typeof MessageRow.Type

export interface NewMessage {
  readonly seq: number
  readonly role: MessageRole
  readonly content: string
  readonly toolName?: string
  readonly toolUseId?: string
  readonly turn: number
}

export const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/**
 * A write a live call queues on the journal: plain data, so queueing costs an allocation, and the writer
 * stores each kind of a whole batch in one statement. `owner` is told when its write could not be stored.
 */
export type JournalWrite =
  | { readonly _tag: "Messages"; readonly callId: string; readonly at: number; readonly rows: ReadonlyArray<NewMessage>; readonly owner: JournalOwner }
  | { readonly _tag: "Event"; readonly callId: string; readonly at: number; readonly type: string; readonly data: string; readonly owner: JournalOwner }
  | { readonly _tag: "Outcome"; readonly callId: string; readonly outcome: string; readonly owner: JournalOwner }
  | {
    readonly _tag: "Interrupted"
    readonly callId: string
    readonly updates: ReadonlyArray<{ readonly seq: number; readonly content: string }>
    readonly owner: JournalOwner
  }

/** Who queued a write: one per call, shared by its writes. */
export interface JournalOwner {
  readonly failed: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
}

/** A queued write; a marker completed once every write queued before it is committed; the writer's end. */
type JournalItem =
  | JournalWrite
  | { readonly _tag: "Flushed"; readonly marker: Deferred.Deferred<void> }
  | { readonly _tag: "Stop" }

/** The most writes one journal transaction takes (what piled up while the previous one ran). */
const JOURNAL_BATCH = 1024
/** Rows per multi-row insert: far below SQLite's and Postgres's bound-parameter limits (8 columns each). */
const ROWS_PER_INSERT = 500

const iso = (ms: number) => new Date(ms).toISOString()

/** A `call_messages` row to insert. */
const messageRow = (callId: string, row: NewMessage, createdAt: string) => ({
  call_id: callId,
  seq: row.seq,
  role: row.role,
  content: row.content,
  tool_name: row.toolName ?? null,
  tool_use_id: row.toolUseId ?? null,
  turn: row.turn,
  created_at: createdAt
})

export class CallsRepo extends Effect.Service<CallsRepo>()("app/CallsRepo", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const callBySid = SqlSchema.findOne({
      Request: Schema.String,
      Result: CallRow,
      execute: (callSid) => sql`SELECT * FROM calls WHERE twilio_call_sid = ${callSid}`
    })
    const callById = SqlSchema.findOne({
      Request: Schema.String,
      Result: CallRow,
      execute: (id) => sql`SELECT * FROM calls WHERE id = ${id}`
    })
    const messagesOf = SqlSchema.findAll({
      Request: Schema.String,
      Result: MessageRow,
      execute: (callId) => sql`SELECT seq, role, content, tool_name, tool_use_id, interrupted, turn, created_at
        FROM call_messages WHERE call_id = ${callId} ORDER BY seq`
    })
    const openCalls = SqlSchema.findAll({
      Request: Schema.Void,
      Result: CallRow,
      execute: () => sql`SELECT * FROM calls WHERE ended_at IS NULL`
    })

    // On Postgres, the three writes every call makes are batched across calls (one round trip for many).
    const postgresWrites = yield* sql.onDialectOrElse({
      pg: () => makePostgresCallWrites(sql),
      orElse: () => Effect.succeed(undefined)
    })

    // The queries every call runs have no span of their own (a span and its stack capture cost more than the
    // query): the webhook's request span, or the session's log annotations, place them.

    /**
     * A call answered by `answeredBy`: until its first socket lands (on any instance) the call is that instance's,
     * for CONNECT_GRACE at most — recovery elsewhere leaves it alone meanwhile. Twilio may retry the voice webhook:
     * the call SID makes creation idempotent.
     */
    const createInbound = Effect.fnUntraced(function*(input: {
      readonly tenantId: string
      readonly callSid: string
      readonly from: string
      readonly to: string
      readonly forwardedFrom: string | null
      readonly direction: string
      readonly status: string
      readonly answeredBy: string
    }) {
      const at = yield* Clock.currentTimeMillis
      const now = iso(at)
      const row = {
        id: crypto.randomUUID(),
        tenant_id: input.tenantId,
        twilio_call_sid: input.callSid,
        from_number: input.from,
        to_number: input.to,
        forwarded_from: input.forwardedFrom,
        direction: input.direction,
        status: input.status,
        started_at: now,
        created_at: now
      }
      const ownedUntil = isoAfter(at, CONNECT_GRACE)
      // The row comes back from the insert itself; only a retried webhook (the SID exists) reads it again. On
      // Postgres the call and its owner are one statement, batched with other calls' (postgresCallWrites.ts). A call
      // left without its owner row (a crash between SQLite's two writes) is only recovered after CONNECT_GRACE from
      // its creation. A transaction around the two cost ~100 µs more CPU per call (measured), more than the commit
      // it saved.
      const inserted: unknown = postgresWrites
        ? yield* postgresWrites.create({ ...row, answered_by: input.answeredBy, owned_until: ownedUntil })
        : yield* Effect.flatMap(sql`INSERT INTO calls ${sql.insert(row)} ON CONFLICT (twilio_call_sid) DO NOTHING RETURNING *`, (rows) =>
          rows.length === 0 ? Effect.succeed(undefined) : Effect.as(
            sql`INSERT INTO call_owners (call_id, instance_id, lease_until, moving)
              VALUES (${row.id}, ${input.answeredBy}, ${ownedUntil}, 1) ON CONFLICT (call_id) DO NOTHING`,
            rows[0]
          ))
      if (inserted !== undefined) return yield* decodeCallRow(inserted)
      return Option.getOrThrow(yield* callBySid(input.callSid))
    }, Effect.orDie)

    const findBySid = (callSid: string) => Effect.orDie(callBySid(callSid))

    const findById = Effect.fn("CallsRepo.findById")((id: string) => callById(id), Effect.orDie)

    const messages = Effect.fn("CallsRepo.messages")((callId: string) => messagesOf(callId), Effect.orDie)

    const appendMessages = Effect.fnUntraced(function*(callId: string, rows: ReadonlyArray<NewMessage>) {
      if (rows.length === 0) return
      const now = yield* nowIso
      yield* sql`INSERT INTO call_messages ${sql.insert(rows.map((row) => messageRow(callId, row, now)))}`
    }, Effect.orDie)

    const appendEvent = Effect.fnUntraced(function*(callId: string, type: string, data: Record<string, unknown> = {}) {
      const now = yield* nowIso
      yield* sql`INSERT INTO call_events ${
        sql.insert({ call_id: callId, type, data: JSON.stringify(data), created_at: now })
      }`
    }, Effect.orDie)

    /** The outcome so far of a live call, stored as it happens: a crash then loses nothing of it. */
    const recordOutcome = Effect.fn("CallsRepo.recordOutcome")(function*(callId: string, outcome: string) {
      yield* sql`UPDATE calls SET outcome = ${outcome} WHERE id = ${callId} AND ended_at IS NULL`
    }, Effect.orDie)

    /**
     * What the call achieved apart from a transfer, from its record: a booking still booked, else a message
     * left, else nothing. Used when a transfer nobody answered stops being the call's outcome.
     */
    const outcomeWithoutTransfer = Effect.fn("CallsRepo.outcomeWithoutTransfer")(function*(callId: string) {
      const [row] = yield* sql<{ booked: number; messages: number }>`SELECT
        (SELECT COUNT(*) FROM appointments WHERE call_id = ${callId} AND status = 'booked') AS booked,
        (SELECT COUNT(*) FROM caller_messages WHERE call_id = ${callId}) AS messages`
      return Number(row?.booked ?? 0) > 0 ? "booked" as const : Number(row?.messages ?? 0) > 0 ? "message_taken" as const : "abandoned" as const
    }, Effect.orDie)

    /**
     * Finalises once: only the first caller (hang-up, transfer, shutdown…) wins; returns whether it did. The end,
     * its `end` event and the end of the call's lease (a finished call has no owner) are one atomic write, one
     * statement: on Postgres a writable CTE (batched across calls, postgresCallWrites.ts), on SQLite (which has
     * none) the update alone, whose trigger (sql/sqlite/0007_call_end_trigger.sql) does the rest.
     */
    const finalize = Effect.fnUntraced(function*(
      callId: string,
      input: { readonly endReason: string; readonly outcome: string }
    ) {
      const now = yield* nowIso
      if (postgresWrites) return yield* postgresWrites.finalize({ id: callId, end_reason: input.endReason, outcome: input.outcome, at: now })
      const ended = yield* sql`UPDATE calls SET ended_at = ${now}, end_reason = ${input.endReason}, outcome = ${input.outcome}
        WHERE id = ${callId} AND ended_at IS NULL RETURNING id`
      return ended.length > 0
    }, Effect.orDie)

    /**
     * Corrects how a finalised call ended when a later webhook tells more (our socket dropped, then the
     * caller was put through): the reason changes; the outcome only if nothing better was recorded.
     */
    const reviseEnd = Effect.fn("CallsRepo.reviseEnd")(function*(
      callId: string,
      input: { readonly endReason: string; readonly outcome: string }
    ) {
      yield* sql`UPDATE calls SET end_reason = ${input.endReason},
        outcome = CASE WHEN outcome IS NULL OR outcome = 'abandoned' THEN ${input.outcome} ELSE outcome END
        WHERE id = ${callId} AND ended_at IS NOT NULL`
    }, Effect.orDie)

    /**
     * Status callbacks may arrive out of order or twice: a callback is applied only when its
     * SequenceNumber is higher than the last applied one. Unknown SIDs change nothing.
     */
    const applyStatus = Effect.fnUntraced(function*(input: {
      readonly callSid: string
      readonly status: string
      readonly duration: number | null
      readonly sequence: number
    }) {
      if (postgresWrites) {
        return Option.fromNullable(
          yield* postgresWrites.applyStatus({ sid: input.callSid, status: input.status, duration: input.duration, seq: input.sequence })
        )
      }
      const rows = yield* sql<{ id: string; ended_at: string | null; outcome: string | null }>`UPDATE calls
        SET status = ${input.status},
            duration = COALESCE(${input.duration}, duration),
            status_sequence = ${input.sequence}
        WHERE twilio_call_sid = ${input.callSid} AND status_sequence < ${input.sequence}
        RETURNING id, ended_at, outcome`
      return Option.fromNullable(rows[0])
    }, Effect.orDie)

    /** Calls of a process that stopped without finalising them (crash, kill). */
    const unfinished = Effect.fn("CallsRepo.unfinished")(function*() {
      return yield* openCalls(undefined)
    }, Effect.orDie)

    /** Runs writes as one transaction: one commit, not one each. */
    const inTransaction = <A, E>(effect: Effect.Effect<A, E>) =>
      sql.withTransaction(effect).pipe(Effect.catchTag("SqlError", (error) => Effect.die(error)))

    /**
     * How a journal batch is committed. SQLite: one transaction, one commit for the whole batch; a failed
     * statement fails only itself there. Postgres: each statement commits on its own (a failed statement would
     * abort a whole transaction, and savepoints cost round trips), so a failure costs only that statement.
     */
    const journalCommit = (batch: Effect.Effect<void>): Effect.Effect<void> =>
      sql.onDialectOrElse({ pg: () => batch, orElse: () => inTransaction(batch) })

    // The rows of a batch's writes of one kind, in the order queued.
    const messageRows = (writes: ReadonlyArray<Extract<JournalWrite, { _tag: "Messages" }>>) =>
      writes.flatMap((write) => {
        const createdAt = iso(write.at)
        return write.rows.map((row) => messageRow(write.callId, row, createdAt))
      })
    const eventRows = (writes: ReadonlyArray<Extract<JournalWrite, { _tag: "Event" }>>) =>
      writes.map((write) => ({ call_id: write.callId, type: write.type, data: write.data, created_at: iso(write.at) }))
    const insertMessages = (writes: ReadonlyArray<Extract<JournalWrite, { _tag: "Messages" }>>) => {
      const rows = messageRows(writes)
      return rows.length === 0 ? Effect.void : Effect.asVoid(sql`INSERT INTO call_messages ${sql.insert(rows)}`)
    }
    const insertEvents = (writes: ReadonlyArray<Extract<JournalWrite, { _tag: "Event" }>>) =>
      writes.length === 0 ? Effect.void : Effect.asVoid(sql`INSERT INTO call_events ${sql.insert(eventRows(writes))}`)
    const update = (write: Extract<JournalWrite, { _tag: "Outcome" | "Interrupted" }>) =>
      write._tag === "Outcome"
        ? Effect.asVoid(sql`UPDATE calls SET outcome = ${write.outcome} WHERE id = ${write.callId} AND ended_at IS NULL`)
        : Effect.forEach(write.updates, (change) =>
          sql`UPDATE call_messages SET content = ${change.content}, interrupted = 1
              WHERE call_id = ${write.callId} AND seq = ${change.seq}`, { discard: true })

    /** One write on its own; a failure is its owner's to count and log. */
    const alone = (write: JournalWrite, effect: Effect.Effect<void, unknown>) =>
      Effect.orDie(effect).pipe(Effect.catchAllCause((cause) => write.owner.failed(cause)))
    /**
     * Writes of one kind stored together, a few hundred rows per statement. A statement that fails (one bad
     * row fails all of it) is replayed one write at a time, so only the bad write is lost.
     */
    const together = <W extends JournalWrite>(
      writes: ReadonlyArray<W>,
      rowsOf: (write: W) => number,
      insert: (writes: ReadonlyArray<W>) => Effect.Effect<void, unknown>
    ) => {
      const chunks: Array<Array<W>> = []
      let rows = ROWS_PER_INSERT
      for (const write of writes) {
        if (rows + rowsOf(write) > ROWS_PER_INSERT) {
          chunks.push([])
          rows = 0
        }
        chunks[chunks.length - 1]!.push(write)
        rows += rowsOf(write)
      }
      return Effect.forEach(chunks, (chunk) =>
        Effect.orDie(insert(chunk)).pipe(
          Effect.catchAllCause(() => Effect.forEach(chunk, (write) => alone(write, insert([write])), { discard: true }))
        ), { discard: true })
    }

    /**
     * The journal of every live call, written by one fiber: whatever all calls queued while a transaction ran
     * goes in the next one, each kind in one statement (200 live calls cost a few statements per turn, not
     * 800). Lines and events keep the order they were queued in; updates run after the inserts they may touch.
     */
    const journal = yield* Queue.unbounded<JournalItem>()
    let writerStopped = false
    /** Writes queued so far, and how many of them the writer is done with (committed, or failed and told). */
    let writesQueued = 0
    let writesSettled = 0
    const writeBatch = (items: ReadonlyArray<JournalItem>) => {
      const messages: Array<Extract<JournalWrite, { _tag: "Messages" }>> = []
      const events: Array<Extract<JournalWrite, { _tag: "Event" }>> = []
      const updates: Array<Extract<JournalWrite, { _tag: "Outcome" | "Interrupted" }>> = []
      for (const item of items) {
        if (item._tag === "Messages") messages.push(item)
        else if (item._tag === "Event") events.push(item)
        else if (item._tag === "Outcome" || item._tag === "Interrupted") updates.push(item)
      }
      const count = messages.length + events.length + updates.length
      return Effect.ensuring(
        count === 0 ? Effect.void : journalCommit(
          Effect.zipRight(
            Effect.zipRight(
              together(messages, (write) => write.rows.length, insertMessages),
              together(events, () => 1, insertEvents)
            ),
            Effect.forEach(updates, (write) => alone(write, update(write)), { discard: true })
          )
        ).pipe(
          Effect.withSpan("CallsRepo.journalBatch", { attributes: { writes: count } }),
          Effect.catchAllCause((cause) => Effect.logError("journal batch failed", cause))
        ),
        Effect.forEach(items, (item) => (item._tag === "Flushed" ? Deferred.succeed(item.marker, undefined) : Effect.void), {
          discard: true
        })
      )
    }
    // Never interrupted (an interrupted take can lose what it took, an interrupted batch is rolled back): "Stop" ends it.
    const journalWriter = yield* Effect.gen(function*() {
      while (true) {
        const first = yield* Queue.take(journal)
        // Woken by a first write, the batch waits its turn of the event loop: the writes queued meanwhile (other
        // calls' frames of the same turn) go into the same batch.
        if (first._tag !== "Stop") yield* deferredTurn
        const items = [first, ...Chunk.toReadonlyArray(yield* Queue.takeUpTo(journal, JOURNAL_BATCH - 1))]
        const stopAt = items.findIndex((item) => item._tag === "Stop")
        const batch = stopAt === -1 ? items : items.slice(0, stopAt)
        yield* writeBatch(batch)
        // Items leave the queue in the order they were queued: every write up to this count is settled.
        writesSettled += batch.reduce((n, item) => (item._tag === "Flushed" ? n : n + 1), 0)
        if (stopAt !== -1) {
          // A flush asked for after this point sees the flag; one queued before it is released here.
          writerStopped = true
          const late = [...items.slice(stopAt), ...Chunk.toReadonlyArray(yield* Queue.takeAll(journal))]
          yield* Effect.forEach(late, (item) => (item._tag === "Flushed" ? Deferred.succeed(item.marker, undefined) : Effect.void), {
            discard: true
          })
          return
        }
      }
    }).pipe(Effect.uninterruptible, Effect.forkScoped)
    // At shutdown (live calls are drained before), what is queued is written, then the writer stops.
    yield* Effect.addFinalizer(() => Effect.zipRight(Queue.offer(journal, { _tag: "Stop" }), Fiber.join(journalWriter)))
    /**
     * Queues a write (synchronously: the hot path calls it from plain code). Returns its ticket: once the writer has
     * settled that many writes, this one is committed (or failed and told to its owner).
     */
    const journalWrite = (write: JournalWrite): number => {
      Queue.unsafeOffer(journal, write)
      return ++writesQueued
    }
    /** Waits until every write queued so far is committed (or failed and told to its owner). */
    const journalFlushed = Effect.flatMap(Deferred.make<void>(), (marker) =>
      Effect.zipRight(
        Queue.offer(journal, { _tag: "Flushed", marker }),
        // Once the writer has stopped (shutdown), nothing is left to wait for.
        Effect.suspend(() => (writerStopped ? Effect.void : Deferred.await(marker)))
      ))
    /**
     * Waits until the write with this ticket is settled: at once when it already is (a call hanging up long after
     * its last write does not wait for the writer's next turn).
     */
    const journalSettled = (ticket: number) => Effect.suspend(() => (ticket <= writesSettled ? Effect.void : journalFlushed))

    return {
      journalWrite,
      journalSettled,
      createInbound,
      findBySid,
      findById,
      messages,
      appendMessages,
      appendEvent,
      recordOutcome,
      outcomeWithoutTransfer,
      finalize,
      reviseEnd,
      applyStatus,
      unfinished
    } as const
  })
}) {}
