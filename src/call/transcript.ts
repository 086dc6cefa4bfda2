import * as Effect from "effect/Effect"
import type { Metrics } from "../observability/Metrics.ts"
import type { CallsRepo, JournalOwner, JournalWrite, NewMessage } from "../storage/CallsRepo.ts"
import type { Line } from "./history.ts"

/**
 * A call's transcript in memory and its write journal: every write of a call (lines, events, the outcome)
 * goes through the journal as plain data, in order and off the latency path, to the repository's one journal
 * writer, which stores what all live calls queued meanwhile with one statement per kind. Closing the journal makes
 * every write the call queued durable.
 */

/** Frame-driven events stored per kind and call; past it they are only counted (a burst cannot bloat a call). */
export const FRAME_EVENTS_STORED = 20

export interface Journal {
  readonly event: (type: string, data?: Record<string, unknown>) => Effect.Effect<void>
  /** The same, from synchronous code (the hot path). */
  readonly eventNow: (type: string, data?: Record<string, unknown>) => void
  /** An event caused by a carrier frame: the first FRAME_EVENTS_STORED of a kind, then only counted. */
  readonly frameEvent: (type: string, data: Record<string, unknown>) => Effect.Effect<void>
  /** How many of a kind were seen so far (stored or not). */
  readonly seen: (type: string) => number
  readonly messages: (rows: ReadonlyArray<NewMessage>) => Effect.Effect<void>
  /** The call's outcome so far, stored as it happens. */
  readonly outcome: (outcome: string) => Effect.Effect<void>
  /** Lines cut to what the caller heard before barging in. */
  readonly interrupted: (updates: ReadonlyArray<{ readonly seq: number; readonly content: string }>) => Effect.Effect<void>
  /** Stores the counts of what was not stored, waits for every queued write, stops. */
  readonly close: Effect.Effect<void>
}

export const makeJournal: (calls: CallsRepo, metrics: Metrics, callId: string) => Effect.Effect<Journal> = Effect.fnUntraced(
  function*(calls: CallsRepo, metrics: Metrics, callId: string) {
    const clock = yield* Effect.clock
    // A failed write is logged with the call's annotations (its SID), though the journal's fiber writes it.
    const annotations = Object.fromEntries(yield* Effect.logAnnotations)
    const owner: JournalOwner = {
      failed: (cause) =>
        Effect.zipRight(metrics.error("database"), Effect.logError("journal write failed", cause)).pipe(Effect.annotateLogs(annotations))
    }
    /** The ticket of this call's latest write: closing waits for it, not for the writer's next turn. */
    let lastTicket = 0
    const write = (item: JournalWrite) => {
      lastTicket = calls.journalWrite(item)
    }
    const eventNow = (type: string, data: Record<string, unknown> = {}) =>
      write({ _tag: "Event", callId, at: clock.unsafeCurrentTimeMillis(), type, data: JSON.stringify(data), owner })
    const event = (type: string, data: Record<string, unknown> = {}) => Effect.sync(() => eventNow(type, data))
    const counts = new Map<string, number>()
    const frameEvent = (type: string, data: Record<string, unknown>) =>
      Effect.suspend(() => {
        const seen = (counts.get(type) ?? 0) + 1
        counts.set(type, seen)
        return seen <= FRAME_EVENTS_STORED ? event(type, data) : Effect.void
      })
    const storeCounts = Effect.suspend(() => {
      const notStored = Object.fromEntries(
        [...counts].filter(([, n]) => n > FRAME_EVENTS_STORED).map(([type, n]) => [type, n - FRAME_EVENTS_STORED])
      )
      return Object.keys(notStored).length > 0 ? event("frame_events_not_stored", notStored) : Effect.void
    })
    return {
      event,
      eventNow,
      frameEvent,
      seen: (type) => counts.get(type) ?? 0,
      messages: (rows) =>
        Effect.sync(() => {
          if (rows.length > 0) write({ _tag: "Messages", callId, at: clock.unsafeCurrentTimeMillis(), rows, owner })
        }),
      outcome: (outcome) => Effect.sync(() => write({ _tag: "Outcome", callId, outcome, owner })),
      interrupted: (updates) => Effect.sync(() => write({ _tag: "Interrupted", callId, updates, owner })),
      close: Effect.zipRight(storeCounts, Effect.suspend(() => calls.journalSettled(lastTicket)))
    }
  }
)

export interface Transcript {
  /** Every line so far, in order (the history sent to Claude is rebuilt from it). */
  readonly lines: Array<Line>
  /** The current turn's number. */
  turn: number
  /** Text lines of the latest reply, so a barge-in can cut them to what was heard. */
  lastReply: Array<Line>
  /** Appends lines (numbered here) and journals their insert; returns them. */
  readonly add: (lines: ReadonlyArray<Omit<Line, "seq" | "interrupted">>) => Effect.Effect<Array<Line>>
}

/** The stored transcript of a call: a resumed call goes on from it; a call in its first session has none to read. */
export const loadTranscript = (calls: CallsRepo, callId: string, journal: Journal, firstSession: boolean): Effect.Effect<Transcript> =>
  Effect.map(firstSession ? Effect.succeed([]) : calls.messages(callId), (stored) => {
    const lines: Array<Line> = stored.map((row) => ({
      seq: row.seq,
      role: row.role,
      content: row.content,
      toolName: row.tool_name ?? undefined,
      toolUseId: row.tool_use_id ?? undefined,
      turn: row.turn,
      interrupted: row.interrupted === 1
    }))
    let nextSeq = lines.reduce((max, line) => Math.max(max, line.seq), -1) + 1
    const transcript: Transcript = {
      lines,
      turn: lines.reduce((max, line) => Math.max(max, line.turn), 0),
      lastReply: [],
      add: (newLines) =>
        Effect.suspend(() => {
          const added = newLines.map((line): Line => ({ ...line, seq: nextSeq++, interrupted: false }))
          lines.push(...added)
          // Copies: a barge-in later cuts the lines, the queued insert keeps what was said.
          const rows: Array<NewMessage> = added.map(({ interrupted: _, ...row }) => row)
          return Effect.as(journal.messages(rows), added)
        })
    }
    return transcript
  })
