import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CONNECT_GRACE, INSTANCE_GONE_AFTER, isoAfter, LEASE, MOVE_GRACE } from "./decisions.ts"
import { answersByKey, makeBatchedStatement } from "../storage/batches.ts"
import { CallRow, CallsRepo } from "../storage/CallsRepo.ts"

/**
 * Which instance serves each live call (`call_owners`): the one holding its relay socket, under a lease it
 * renews. A second socket for a call held by a live lease is refused on every instance; a call being moved
 * (`moving = 1`) may be taken by any instance. SQL errors are defects here.
 */

const OwnerRow = Schema.Struct({
  instance_id: Schema.NullOr(Schema.String),
  lease_until: Schema.String,
  moving: Schema.Number,
  resumes: Schema.Number,
  dropped_at: Schema.NullOr(Schema.String)
})
export type OwnerRow = typeof OwnerRow.Type

/** A call looked up by its SID; `held` when it was taken (see `findAndClaim`). */
export interface FoundCall {
  readonly call: CallRow
  readonly held: boolean
  /** No session had the call before (nothing to resume). */
  readonly firstSession: boolean
}

const now = Clock.currentTimeMillis

export class CallOwners extends Effect.Service<CallOwners>()("app/CallOwners", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const calls = yield* CallsRepo
    const ownerOf = SqlSchema.findOne({
      Request: Schema.String,
      Result: OwnerRow,
      execute: (callId) => sql`SELECT instance_id, lease_until, moving, resumes, dropped_at FROM call_owners WHERE call_id = ${callId}`
    })

    // Every call is claimed, released and checked: no span of their own (see CallsRepo).

    /** A claim's rule: the row is taken unless another live lease holds it (a call being moved may be taken). */
    const takenUnlessHeld = (nowIso: string) =>
      sql`ON CONFLICT (call_id) DO UPDATE SET instance_id = excluded.instance_id, lease_until = excluded.lease_until, moving = 0
        WHERE call_owners.moving = 1 OR call_owners.instance_id IS NULL OR call_owners.lease_until <= ${nowIso}`

    /**
     * Takes the call for `instanceId` unless another live lease holds it. `firstSession`: the call was never
     * handed over (every resume, move or dial goes through `handOver`), so no earlier session wrote its transcript.
     */
    const claim = Effect.fnUntraced(function*(callId: string, instanceId: string) {
      const at = yield* now
      const nowIso = new Date(at).toISOString()
      const rows = yield* sql<{ resumes: number }>`INSERT INTO call_owners (call_id, instance_id, lease_until)
        VALUES (${callId}, ${instanceId}, ${isoAfter(at, LEASE)}) ${takenUnlessHeld(nowIso)} RETURNING resumes`
      return { held: rows.length > 0, firstSession: rows.length > 0 && Number(rows[0]!.resumes) === 0 }
    }, Effect.orDie)

    const ClaimedCallRow = Schema.Struct({ ...CallRow.fields, claimed_resumes: Schema.NullOr(Schema.Number) })
    const decodeClaimed = Schema.decodeUnknown(ClaimedCallRow)
    /**
     * Postgres: the lookup and the claim are one statement, batched across setups (src/storage/batches.ts; 200 calls
     * connecting together cost a few statements, not 200). A setup claims only the call its SID names, and only when
     * the call id it carries is that call's; two setups for one SID never share a statement (the second finds the
     * call held). The lease's check uses the statement's own time.
     */
    const claimBySidOnPostgres = yield* sql.onDialectOrElse({
      pg: () =>
        Effect.map(
          makeBatchedStatement({
            key: (setup: { readonly sid: string; readonly call_id: string; readonly instance_id: string }) => setup.sid,
            execute: (setups) =>
              Effect.gen(function*() {
                const at = yield* now
                const rows = yield* Effect.orDie(sql<Record<string, unknown>>`WITH v AS (SELECT * FROM jsonb_to_recordset(${
                  JSON.stringify(setups)
                }::jsonb) AS v(sid text, call_id text, instance_id text)),
                  found AS (SELECT calls.* FROM calls JOIN v ON calls.twilio_call_sid = v.sid),
                  claimed AS (INSERT INTO call_owners (call_id, instance_id, lease_until)
                    SELECT found.id, v.instance_id, ${isoAfter(at, LEASE)}::timestamptz FROM found JOIN v ON v.sid = found.twilio_call_sid
                    WHERE found.id = v.call_id AND found.ended_at IS NULL
                    ${takenUnlessHeld(new Date(at).toISOString())} RETURNING call_id, resumes)
                  SELECT found.*, claimed.resumes AS claimed_resumes FROM found LEFT JOIN claimed ON claimed.call_id = found.id`)
                return answersByKey(setups, (setup) => setup.sid, rows, (row) => row["twilio_call_sid"] as string)
              })
          }),
          (statement) => statement.run
        ),
      orElse: () => Effect.succeed(undefined)
    })

    /**
     * The call with this SID, taken for `instanceId` when it is `callId` (undefined: only found) and still open:
     * one statement on Postgres, batched with other setups' (above), the lookup then the claim on SQLite.
     */
    const findAndClaim = Effect.fnUntraced(function*(callSid: string, callId: string | undefined, instanceId: string) {
      const notHeld = { held: false, firstSession: false }
      if (callId === undefined) return Option.map(yield* calls.findBySid(callSid), (call) => ({ call, ...notHeld }))
      if (claimBySidOnPostgres) {
        const row = yield* claimBySidOnPostgres({ sid: callSid, call_id: callId, instance_id: instanceId })
        if (row === undefined) return Option.none()
        const { claimed_resumes, ...call } = yield* decodeClaimed(row)
        return Option.some({ call, held: claimed_resumes !== null, firstSession: claimed_resumes === 0 })
      }
      const found = yield* calls.findBySid(callSid)
      if (Option.isNone(found)) return Option.none()
      const call = found.value
      if (call.id !== callId || call.ended_at !== null) return Option.some({ call, ...notHeld })
      return Option.some({ call, ...(yield* claim(call.id, instanceId)) })
    }, Effect.orDie)

    /** Renews every lease this instance holds (its calls are still live). */
    const renew = Effect.fn("CallOwners.renew")(function*(instanceId: string) {
      const at = yield* now
      yield* sql`UPDATE call_owners SET lease_until = ${isoAfter(at, LEASE)} WHERE instance_id = ${instanceId} AND moving = 0`
    }, Effect.orDie)

    /** The call is over on this instance: the lease ends now. */
    const release = Effect.fnUntraced(function*(callId: string, instanceId: string) {
      const nowIso = new Date(yield* now).toISOString()
      yield* sql`UPDATE call_owners SET instance_id = NULL, lease_until = ${nowIso}
        WHERE call_id = ${callId} AND instance_id = ${instanceId}`
    }, Effect.orDie)

    /**
     * The call leaves its relay session to be resumed on a new one (any instance): `from` is the instance that
     * let it go (only if it still holds it), or undefined when Twilio's connect action says the session is
     * over, which releases it whatever the lease says. `dropped`: our socket dropped (the loop guard's clock).
     */
    const handOver = Effect.fn("CallOwners.handOver")(function*(
      callId: string,
      options: { readonly from?: string; readonly dropped?: boolean }
    ) {
      const at = yield* now
      const graceUntil = isoAfter(at, MOVE_GRACE)
      const droppedAt = options.dropped ? new Date(at).toISOString() : null
      // A handover is a resume, even of a call with no owner row yet: its next session reads the transcript.
      const upsert = sql`INSERT INTO call_owners (call_id, instance_id, lease_until, moving, resumes, dropped_at)
        VALUES (${callId}, NULL, ${graceUntil}, 1, 1, ${droppedAt})
        ON CONFLICT (call_id) DO UPDATE SET instance_id = NULL, lease_until = excluded.lease_until, moving = 1,
          resumes = call_owners.resumes + (1 - call_owners.moving),
          dropped_at = COALESCE(excluded.dropped_at, call_owners.dropped_at)`
      // From the session: only while this instance still holds it (a late finaliser must not undo a new claim).
      yield* options.from === undefined
        ? upsert
        : sql`${upsert} WHERE call_owners.instance_id = ${options.from} OR call_owners.instance_id IS NULL`
    }, Effect.orDie)

    const owner = Effect.fn("CallOwners.owner")((callId: string) => ownerOf(callId), Effect.orDie)

    /** Whether an instance holds the call's socket under a live lease (not a call between two sessions). */
    const isHeld = Effect.fnUntraced(function*(callId: string) {
      const row = yield* ownerOf(callId)
      const at = yield* now
      return Option.isSome(row) && row.value.instance_id !== null && row.value.moving === 0 &&
        Date.parse(row.value.lease_until) > at
    }, Effect.orDie)

    const orphans = SqlSchema.findAll({
      Request: Schema.Struct({ now: Schema.String, answeredBefore: Schema.String, goneBefore: Schema.String }),
      Result: CallRow,
      execute: ({ answeredBefore, goneBefore, now }) =>
        sql`SELECT c.* FROM calls c LEFT JOIN call_owners o ON o.call_id = c.id
          WHERE c.ended_at IS NULL AND (
            (o.call_id IS NULL AND c.created_at < ${answeredBefore})
            OR o.lease_until <= ${now}
            OR (o.instance_id IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM instances i WHERE i.id = o.instance_id AND i.heartbeat_at > ${goneBefore})))`
    })

    /**
     * Open calls nobody serves any more: their owner's lease expired, or their owner instance is gone (stopped, or
     * silent for INSTANCE_GONE_AFTER). Another instance's live calls are never in it.
     */
    const abandoned = Effect.fn("CallOwners.abandoned")(function*() {
      const at = yield* now
      return yield* orphans({
        now: new Date(at).toISOString(),
        answeredBefore: new Date(at - Duration.toMillis(CONNECT_GRACE)).toISOString(),
        goneBefore: new Date(at - Duration.toMillis(INSTANCE_GONE_AFTER)).toISOString()
      })
    }, Effect.orDie)

    return { claim, findAndClaim, renew, release, handOver, owner, isHeld, abandoned } as const
  })
}) {}
