import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { answersByKey, makeBatchedStatement } from "./batches.ts"

/**
 * The three writes every call makes on Postgres — its creation (voice webhook), its end, its final status — each
 * batched across calls (see batches.ts): the rows of a batch travel as one JSON parameter, unpacked by
 * `jsonb_to_recordset`, and each writable CTE does for all of them what it did for one. Same rows, same checks,
 * same answers as one statement per call; SQLite keeps its single statements (no round trips to save there).
 */

/** A `calls` row to insert, and the owner row that holds it for the instance that answered. */
export interface NewCall {
  readonly id: string
  readonly tenant_id: string
  readonly twilio_call_sid: string
  readonly from_number: string
  readonly to_number: string
  readonly forwarded_from: string | null
  readonly direction: string
  readonly status: string
  readonly started_at: string
  readonly created_at: string
  readonly answered_by: string
  readonly owned_until: string
}

export interface CallEnding {
  readonly id: string
  readonly end_reason: string
  readonly outcome: string
  readonly at: string
}

export interface StatusUpdate {
  readonly sid: string
  readonly status: string
  readonly duration: number | null
  readonly seq: number
}

export interface StatusApplied {
  readonly id: string
  readonly ended_at: string | null
  readonly outcome: string | null
}

/** The rows' JSON, as one parameter (one placeholder whatever the batch's size). */
const asJson = (rows: ReadonlyArray<object>) => JSON.stringify(rows)

export const makePostgresCallWrites = (sql: SqlClient.SqlClient): Effect.Effect<{
  /** The inserted row (unchecked), or undefined when the SID existed (a retried webhook). */
  readonly create: (call: NewCall) => Effect.Effect<Record<string, unknown> | undefined>
  /** Whether this ending finalised the call (false: it had ended already). */
  readonly finalize: (ending: CallEnding) => Effect.Effect<boolean>
  /** The call, when the update was newer than the last applied one. */
  readonly applyStatus: (update: StatusUpdate) => Effect.Effect<StatusApplied | undefined>
}, never, Scope.Scope> =>
  Effect.gen(function*() {
    const create = yield* makeBatchedStatement({
      key: (call: NewCall) => call.twilio_call_sid,
      execute: (calls) =>
        Effect.map(
          Effect.orDie(sql<Record<string, unknown>>`WITH v AS (SELECT * FROM jsonb_to_recordset(${asJson(calls)}::jsonb) AS v(
              id text, tenant_id text, twilio_call_sid text, from_number text, to_number text, forwarded_from text,
              direction text, status text, started_at timestamptz, created_at timestamptz, answered_by text, owned_until timestamptz)),
            created AS (INSERT INTO calls (id, tenant_id, twilio_call_sid, from_number, to_number, forwarded_from, direction,
                status, started_at, created_at)
              SELECT id, tenant_id, twilio_call_sid, from_number, to_number, forwarded_from, direction, status, started_at, created_at
              FROM v ON CONFLICT (twilio_call_sid) DO NOTHING RETURNING *),
            owned AS (INSERT INTO call_owners (call_id, instance_id, lease_until, moving)
              SELECT created.id, v.answered_by, v.owned_until, 1 FROM created JOIN v ON v.id = created.id
              ON CONFLICT (call_id) DO NOTHING)
            SELECT * FROM created`),
          (rows) => answersByKey(calls, (call) => call.id, rows, (row) => row["id"] as string)
        )
    })
    const finalize = yield* makeBatchedStatement({
      key: (ending: CallEnding) => ending.id,
      execute: (endings) => {
        const rows = endings.map((ending) => ({ ...ending, data: { reason: ending.end_reason, outcome: ending.outcome } }))
        return Effect.map(
          Effect.orDie(sql<{ id: string }>`WITH v AS (SELECT * FROM jsonb_to_recordset(${asJson(rows)}::jsonb) AS v(
              id text, end_reason text, outcome text, at timestamptz, data jsonb)),
            ended AS (UPDATE calls SET ended_at = v.at, end_reason = v.end_reason, outcome = v.outcome
              FROM v WHERE calls.id = v.id AND calls.ended_at IS NULL RETURNING calls.id),
            logged AS (INSERT INTO call_events (call_id, type, data, created_at)
              SELECT v.id, 'end', v.data, v.at FROM v JOIN ended ON ended.id = v.id),
            released AS (UPDATE call_owners SET instance_id = NULL, lease_until = v.at
              FROM v JOIN ended ON ended.id = v.id WHERE call_owners.call_id = v.id)
            SELECT id FROM ended`),
          (ended) => answersByKey(endings, (ending) => ending.id, ended, (row) => row.id).map((row) => row !== undefined)
        )
      }
    })
    const applyStatus = yield* makeBatchedStatement({
      key: (update: StatusUpdate) => update.sid,
      execute: (updates) =>
        Effect.map(
          Effect.orDie(sql<StatusApplied & { sid: string }>`WITH v AS (SELECT * FROM jsonb_to_recordset(${asJson(updates)}::jsonb) AS v(
              sid text, status text, duration integer, seq integer))
            UPDATE calls SET status = v.status, duration = COALESCE(v.duration, calls.duration), status_sequence = v.seq
            FROM v WHERE calls.twilio_call_sid = v.sid AND calls.status_sequence < v.seq
            RETURNING calls.twilio_call_sid AS sid, calls.id, calls.ended_at, calls.outcome`),
          (rows) =>
            answersByKey(updates, (update) => update.sid, rows, (row) => row.sid).map((row) =>
              row === undefined ? undefined : { id: row.id, ended_at: row.ended_at, outcome: row.outcome }
            )
        )
    })
    return { create: create.run, finalize: finalize.run, applyStatus: applyStatus.run }
  })
