import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Service } from "../tenants/TenantConfig.ts"
import { type BusyInterval, localDateAt, localTimeAt } from "./slots.ts"
import { type Appointment, SlotTaken } from "./types.ts"

/**
 * The appointments table: the only SQL-aware part of scheduling. Rows are decoded with Schema at this edge
 * (a malformed row is a defect, never a silent cast); SqlError is a defect too, except the constraint
 * violations `insert` translates into `SlotTaken`. The SQL stays portable (SQLite today, Postgres next).
 */

const DAY = 86_400_000
/** Services last at most 480 minutes (TenantConfig), so an appointment overlapping a window starts < 1 day before it. */
const MAX_APPOINTMENT_MS = DAY

export const isoOf = (ms: number): string => DateTime.formatIso(DateTime.unsafeMake(ms))
export const msOf = (iso: string): number => DateTime.toEpochMillis(DateTime.unsafeMake(iso))

export const AppointmentRow = Schema.Struct({
  id: Schema.String,
  tenant_id: Schema.String,
  call_id: Schema.NullOr(Schema.String),
  service_type: Schema.String,
  service_name: Schema.String,
  client_name: Schema.String,
  client_phone: Schema.String,
  starts_at: Schema.String,
  ends_at: Schema.String,
  time_zone: Schema.String,
  status: Schema.Literal("booked", "cancelled"),
  idempotency_key: Schema.NullOr(Schema.String),
  created_at: Schema.String,
  cancelled_at: Schema.NullOr(Schema.String)
})
export type AppointmentRow = typeof AppointmentRow.Type

const BusyRow = Schema.Struct({ id: Schema.String, starts_at: Schema.String, ends_at: Schema.String })
const decodeRows = Schema.decodeUnknown(Schema.Array(AppointmentRow))

export const toAppointment = (row: AppointmentRow): Appointment => {
  const startMs = msOf(row.starts_at)
  return {
    id: row.id,
    tenantId: row.tenant_id,
    callId: row.call_id,
    serviceType: row.service_type,
    serviceName: row.service_name,
    clientName: row.client_name,
    clientPhone: row.client_phone,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    timeZone: row.time_zone,
    date: localDateAt(row.time_zone, startMs),
    time: localTimeAt(row.time_zone, startMs),
    status: row.status,
    createdAt: row.created_at,
    cancelledAt: row.cancelled_at
  }
}

/** The appointment to move was no longer booked when the move's transaction ran (moved or cancelled meanwhile). */
export class ReplacedGone extends Data.TaggedError("ReplacedGone")<{
  readonly appointmentId: string
}> {}

/** SQLite's extended result codes, as node:sqlite (our client on Bun and Deno) reports them in `errcode`. */
const SQLITE_CONSTRAINT_TRIGGER = 1811
const SQLITE_CONSTRAINT_UNIQUE = 2067

/**
 * Which booking guard refused a row, from the driver's error code and constraint name, never its message.
 * Postgres names the constraint (SQLSTATE 23P01 exclusion / 23505 unique). SQLite reports only the kind:
 * RAISE() in the overlap triggers is SQLITE_CONSTRAINT_TRIGGER, and the unique indexes an appointment
 * insert can hit are the booking guards (the start and the idempotency key; ids are random UUIDs).
 */
export const constraintOf = (error: SqlError): "slot" | "idempotency" | null => {
  const cause = error.cause as { code?: unknown; errcode?: unknown; constraint?: unknown } | undefined
  // SQLite: RAISE() in the overlap triggers, or either unique guard (a repeat is then found by its key).
  if (cause?.errcode === SQLITE_CONSTRAINT_TRIGGER || cause?.errcode === SQLITE_CONSTRAINT_UNIQUE) return "slot"
  switch (cause?.code) {
    case "23P01":
      return cause.constraint === "appointments_no_overlap" ? "slot" : null
    case "23505":
      return cause.constraint === "appointments_booked_start"
        ? "slot"
        : cause.constraint === "appointments_idempotency"
        ? "idempotency"
        : null
    default:
      return null
  }
}

/**
 * Postgres may abort one of two transactions inserting rows that conflict with each other (each waits on
 * the other's exclusion check: deadlock_detected 40P01). Run again, the loser sees the winner's committed
 * row and gets its plain refusal; 40001 (serialization_failure) is retried the same way. The booking lock
 * below makes this a safety net: bookings of one tenant no longer race inside the database.
 */
/** The first key of the bookings' advisory locks (the second is the tenant's hash); apart from the boot lock's. */
const BOOKING_LOCK_SPACE = 8_231

const isTransientConflict = (error: unknown): boolean => {
  const code = (error as { _tag?: string; cause?: { code?: unknown } })?.cause?.code
  return code === "40P01" || code === "40001"
}

export interface NewAppointment {
  readonly id: string
  readonly tenantId: string
  readonly callId: string | null
  readonly service: Service
  readonly clientName: string
  readonly clientPhone: string
  readonly startsAt: string
  readonly endsAt: string
  readonly timeZone: string
  readonly idempotencyKey: string | null
  readonly createdAt: string
}

/** Filters of the owner's listing, already validated (ISO instants; `after` is the keyset (startsAt, id)). */
const ListFilter = Schema.Struct({
  tenantId: Schema.String,
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Literal("booked", "cancelled")),
  after: Schema.optional(Schema.Tuple(Schema.String, Schema.String)),
  limit: Schema.Int
})
export type ListFilter = typeof ListFilter.Type

export const makeAppointmentsRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const busyRows = SqlSchema.findAll({
    Request: Schema.Struct({ tenantId: Schema.String, from: Schema.String, to: Schema.String, windowStart: Schema.String }),
    Result: BusyRow,
    execute: (r) =>
      sql`
        SELECT id, starts_at, ends_at FROM appointments
        WHERE tenant_id = ${r.tenantId} AND status = 'booked'
          AND starts_at >= ${r.windowStart} AND starts_at < ${r.to}
          AND ends_at > ${r.from}
        ORDER BY starts_at`
  })

  /**
   * Booked intervals of a tenant overlapping [fromMs, toMs), leaving out `except` (the appointment being
   * moved: its own time is free for its move).
   */
  const busyBetween = (tenantId: string, fromMs: number, toMs: number, except: string | null) =>
    busyRows({ tenantId, from: isoOf(fromMs), to: isoOf(toMs), windowStart: isoOf(fromMs - MAX_APPOINTMENT_MS) }).pipe(
      Effect.map((rows): Array<BusyInterval> =>
        rows.filter((r) => r.id !== except).map((r) => ({ startMs: msOf(r.starts_at), endMs: msOf(r.ends_at) }))
      ),
      Effect.orDie
    )

  const byIdempotencyKey = SqlSchema.findOne({
    Request: Schema.String,
    Result: AppointmentRow,
    execute: (key) => sql`SELECT * FROM appointments WHERE idempotency_key = ${key} AND status = 'booked'`
  })
  const findByIdempotencyKey = (key: string) => Effect.orDie(byIdempotencyKey(key))

  const inCall = SqlSchema.findOne({
    Request: Schema.Struct({ tenantId: Schema.String, callId: Schema.String, appointmentId: Schema.String }),
    Result: AppointmentRow,
    execute: (r) =>
      sql`
        SELECT * FROM appointments
        WHERE id = ${r.appointmentId} AND tenant_id = ${r.tenantId} AND call_id = ${r.callId}`
  })
  /** An appointment of this tenant booked by this call, whatever its status now. */
  const findInCall = (tenantId: string, callId: string, appointmentId: string) =>
    Effect.orDie(inCall({ tenantId, callId, appointmentId }))

  const bookedRowsInCall = SqlSchema.findAll({
    Request: Schema.Struct({ tenantId: Schema.String, callId: Schema.String }),
    Result: AppointmentRow,
    execute: (r) =>
      sql`
        SELECT * FROM appointments
        WHERE call_id = ${r.callId} AND tenant_id = ${r.tenantId} AND status = 'booked'
        ORDER BY starts_at, id`
  })
  /** What this call still has booked, in time order. */
  const bookedInCall = (tenantId: string, callId: string) =>
    bookedRowsInCall({ tenantId, callId }).pipe(Effect.map((rows) => rows.map(toAppointment)), Effect.orDie)

  /**
   * Postgres: one tenant's bookings are written one at a time (a transaction-scoped advisory lock keyed on the
   * tenant), so racing inserts queue instead of deadlocking on the exclusion check and waiting out the server's
   * deadlock_timeout. The constraint still decides; the lock only orders. SQLite serialises writers already.
   */
  const bookingLock = (tenantId: string) =>
    sql.onDialectOrElse({
      pg: () => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(${BOOKING_LOCK_SPACE}, hashtext(${tenantId}))`),
      orElse: () => Effect.void
    })

  /**
   * Inserts the appointment; with `replacing`, first cancels that appointment of the same call, in the same
   * transaction (so the new time may overlap the old one, and a refused new slot leaves the old one booked).
   *
   * The database is the guard against double booking: the overlap trigger and the unique start index refuse
   * the row at the INSERT itself, atomically, whatever another connection or process committed after our
   * availability check; their refusal becomes `SlotTaken`. Each transaction writes first and reads nothing
   * before, so SQLite never has a stale snapshot to refuse (no SQLITE_BUSY_SNAPSHOT under WAL): a
   * concurrent writer is waited for (busy_timeout), then the trigger judges the row against what it committed.
   * A booked row with the same idempotency key (a concurrent repeat) is refused by the trigger too, as
   * `SlotTaken`; the caller then finds the repeat by its key.
   */
  const insert = (row: NewAppointment, replacing: string | null) =>
    Effect.gen(function*() {
      yield* bookingLock(row.tenantId)
      const replaced = replacing === null ? [] : yield* sql`
        UPDATE appointments SET status = 'cancelled', cancelled_at = ${row.createdAt}
        WHERE id = ${replacing} AND tenant_id = ${row.tenantId} AND call_id = ${row.callId} AND status = 'booked'
        RETURNING *`.pipe(Effect.flatMap(decodeRows), Effect.orDie)
      if (replacing !== null && replaced.length === 0) {
        return yield* new ReplacedGone({ appointmentId: replacing })
      }
      // The voice webhook writes the call row before it answers Twilio, so it exists whenever a tool runs:
      // a missing one is a defect (foreign key), not something to paper over with a null.
      const inserted = yield* sql`
        INSERT INTO appointments (id, tenant_id, call_id, service_type, service_name, client_name, client_phone,
          starts_at, ends_at, time_zone, status, idempotency_key, created_at, cancelled_at)
        VALUES (${row.id}, ${row.tenantId}, ${row.callId},
          ${row.service.type}, ${row.service.name}, ${row.clientName}, ${row.clientPhone},
          ${row.startsAt}, ${row.endsAt}, ${row.timeZone}, 'booked', ${row.idempotencyKey}, ${row.createdAt}, NULL)
        RETURNING *`.pipe(Effect.flatMap((rows) => Effect.orDie(decodeRows(rows))))
      return { row: inserted[0]!, replaced: Option.fromNullable(replaced[0]) }
    }).pipe(
      sql.withTransaction,
      Effect.retry({ times: 10, while: isTransientConflict }), // each round commits one of the racers
      Effect.catchTag("SqlError", (error) =>
        constraintOf(error) === null
          ? Effect.die(error)
          : Effect.fail(new SlotTaken({ tenantId: row.tenantId, startsAt: row.startsAt })))
    )

  const listRows = SqlSchema.findAll({
    Request: ListFilter,
    Result: AppointmentRow,
    execute: (filter) => {
      const clauses = [sql`tenant_id = ${filter.tenantId}`]
      if (filter.from !== undefined) clauses.push(sql`starts_at >= ${filter.from}`)
      if (filter.to !== undefined) clauses.push(sql`starts_at < ${filter.to}`)
      if (filter.status !== undefined) clauses.push(sql`status = ${filter.status}`)
      if (filter.after !== undefined) {
        const [startsAt, id] = filter.after
        clauses.push(sql`(starts_at > ${startsAt} OR (starts_at = ${startsAt} AND id > ${id}))`)
      }
      return sql`
        SELECT * FROM appointments WHERE ${sql.and(clauses)}
        ORDER BY starts_at, id
        LIMIT ${filter.limit}`
    }
  })
  /** A tenant's appointments in (starts_at, id) order, at most `limit`. */
  const list = (filter: ListFilter) => Effect.orDie(listRows(filter))

  const byId = SqlSchema.findOne({
    Request: Schema.Struct({ tenantId: Schema.String, appointmentId: Schema.String }),
    Result: AppointmentRow,
    execute: (r) => sql`SELECT * FROM appointments WHERE id = ${r.appointmentId} AND tenant_id = ${r.tenantId}`
  })

  /** Cancels a booked appointment of the tenant (a cancelled one stays as it is); none when it does not exist. */
  const cancel = (tenantId: string, appointmentId: string, nowIso: string) =>
    Effect.gen(function*() {
      yield* sql`
        UPDATE appointments SET status = 'cancelled', cancelled_at = ${nowIso}
        WHERE id = ${appointmentId} AND tenant_id = ${tenantId} AND status = 'booked'`
      return yield* byId({ tenantId, appointmentId })
    }).pipe(sql.withTransaction, Effect.orDie)

  return { busyBetween, findByIdempotencyKey, findInCall, bookedInCall, insert, list, cancel } as const
})

export type AppointmentsRepo = Effect.Effect.Success<typeof makeAppointmentsRepo>
