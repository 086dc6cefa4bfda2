import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Data, DateTime, Effect, Either, Option, Schema } from "effect"
import type { Tenant } from "../tenants/Tenant.ts"
import type { Service, TenantConfig } from "../tenants/TenantConfig.ts"
import { dayLabel, frenchList, lowerFirst, relativeDayLabel, spokenTime, summariseTimes } from "./french.ts"
import { normalizePhone } from "./phone.ts"
import {
  addDays,
  type BusyInterval,
  dayStatus,
  freeSlots,
  localDateAt,
  localTimeAt,
  nextOpenDays,
  parseClockTime,
  parseLocalDate,
  type Slot,
  startOfLocalDay
} from "./slots.ts"
import type { BookAppointmentInput, CheckAvailabilityInput } from "./toolInputs.ts"

// ---------------------------------------------------------------------------------------------------------
// Results handed to the model (JSON-serialisable; `message` is French and tells the model what to do next)
// ---------------------------------------------------------------------------------------------------------

export interface ServiceInfo {
  readonly type: string
  readonly name: string
  readonly durationMinutes: number
}

/** A later day that still has free slots, with its first few start times. */
export interface DaySuggestion {
  readonly date: string
  readonly dayLabel: string
  readonly times: ReadonlyArray<string>
}

export type SchedulingErrorCode =
  | "invalid_date"
  | "past_date"
  | "beyond_horizon"
  | "unknown_service"
  | "invalid_time"
  | "invalid_name"
  | "invalid_phone"
  | "unknown_appointment"
  | "appointment_cancelled"

/** An appointment booked during this call, as the model can name it in `replaces_appointment_id`. */
export interface CallAppointment {
  readonly appointmentId: string
  readonly date: string
  readonly time: string
  readonly dayLabel: string
  readonly serviceName: string
  readonly clientName: string
}

/** Input the model must fix (or ask the caller about) before trying again. */
export interface SchedulingErrorResult {
  readonly status: "error"
  readonly error: SchedulingErrorCode
  readonly message: string
  /** Today in the tenant's zone, so the model can correct a date. */
  readonly today: string
  readonly lastBookableDate?: string
  readonly knownServices?: ReadonlyArray<ServiceInfo>
  /** With `unknown_appointment` and `appointment_cancelled`: what this call still has booked. */
  readonly appointmentsInCall?: ReadonlyArray<CallAppointment>
}

export type UnavailableReason = "closed_weekday" | "closed_exceptionally" | "no_slot"

export type CheckAvailabilityResult =
  | {
    readonly status: "available"
    readonly date: string
    readonly dayLabel: string
    readonly timeZone: string
    readonly service: ServiceInfo
    /** Free start times, local "HH:MM", in order. */
    readonly times: ReadonlyArray<string>
    readonly message: string
  }
  | {
    readonly status: "unavailable"
    readonly reason: UnavailableReason
    readonly date: string
    readonly dayLabel: string
    readonly timeZone: string
    readonly service: ServiceInfo
    readonly suggestions: ReadonlyArray<DaySuggestion>
    readonly message: string
  }
  | SchedulingErrorResult

export type BookingRefusalReason = "closed_weekday" | "closed_exceptionally" | "outside_hours" | "past_time" | "too_soon"

/** What the model reads of an appointment it booked or moved. */
export interface AppointmentFields {
  readonly appointmentId: string
  /** UTC instants, ISO-8601. */
  readonly startsAt: string
  readonly endsAt: string
  /** Local date and time in `timeZone`. */
  readonly date: string
  readonly time: string
  readonly dayLabel: string
  readonly timeZone: string
  readonly service: ServiceInfo
  readonly clientName: string
  readonly clientPhone: string
}

/** A local date and time in the tenant's zone. */
export interface LocalDateTime {
  readonly date: string
  readonly time: string
}

export type BookAppointmentResult =
  | AppointmentFields & {
    readonly status: "booked"
    /** True when this repeats a booking already made in this call (nothing new was booked). */
    readonly alreadyBooked: boolean
    /** The confirmation to read back to the caller. */
    readonly message: string
  }
  | AppointmentFields & {
    /**
     * The appointment named in `replaces_appointment_id` (booked earlier in this call) was cancelled and
     * this one booked, in one transaction.
     */
    readonly status: "rescheduled"
    /** Where the appointment was before the move (now cancelled). */
    readonly previous: LocalDateTime
    /** The confirmation to read back to the caller. */
    readonly message: string
  }
  | {
    readonly status: "slot_taken"
    readonly date: string
    readonly time: string
    readonly dayLabel: string
    readonly timeZone: string
    readonly service: ServiceInfo
    /** Free start times that day, nearest to the requested one first in time order. */
    readonly alternatives: ReadonlyArray<string>
    /** Next days with free slots, when the day has none left. */
    readonly suggestions: ReadonlyArray<DaySuggestion>
    /** When this was a move (`replaces_appointment_id`): the appointment still booked, unchanged. */
    readonly keptAppointment?: LocalDateTime
    readonly message: string
  }
  | {
    readonly status: "unavailable"
    readonly reason: BookingRefusalReason
    readonly date: string
    readonly time: string
    readonly dayLabel: string
    readonly timeZone: string
    readonly service: ServiceInfo
    readonly alternatives: ReadonlyArray<string>
    readonly suggestions: ReadonlyArray<DaySuggestion>
    /** When this was a move (`replaces_appointment_id`): the appointment still booked, unchanged. */
    readonly keptAppointment?: LocalDateTime
    readonly message: string
  }
  | SchedulingErrorResult

export interface CallContext {
  readonly callId: string | null
  readonly callerNumber: string | null
}

export type AppointmentStatus = "booked" | "cancelled"

/** An appointment as the owner's API shows it. */
export interface Appointment {
  readonly id: string
  readonly tenantId: string
  readonly callId: string | null
  readonly serviceType: string
  readonly serviceName: string
  readonly clientName: string
  readonly clientPhone: string
  /** UTC instants, ISO-8601. */
  readonly startsAt: string
  readonly endsAt: string
  readonly timeZone: string
  /** Local date and time of the start in `timeZone`. */
  readonly date: string
  readonly time: string
  readonly status: AppointmentStatus
  readonly createdAt: string
  readonly cancelledAt: string | null
}

export interface ListAppointmentsOptions {
  /** Lower bound on the start (inclusive): an ISO date "2026-11-25" or instant "2026-11-25T08:00:00Z". */
  readonly from?: string | undefined
  /** Upper bound on the start: an ISO instant (exclusive) or a date (the whole day included). */
  readonly to?: string | undefined
  readonly status?: AppointmentStatus | undefined
  /** Page size, default 50, at most 200. */
  readonly limit?: number | undefined
  /** `nextCursor` of the previous page. */
  readonly cursor?: string | undefined
  /** Zone in which date-only bounds are read (the tenant's); UTC when absent. */
  readonly timeZone?: string | undefined
}

export interface AppointmentPage {
  readonly appointments: ReadonlyArray<Appointment>
  readonly nextCursor: string | null
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

export class AppointmentNotFound extends Data.TaggedError("AppointmentNotFound")<{
  readonly tenantId: string
  readonly appointmentId: string
}> {
  override get message() {
    return `appointment ${this.appointmentId} not found`
  }
}

export class InvalidListQuery extends Data.TaggedError("InvalidListQuery")<{
  readonly field: "from" | "to" | "cursor" | "limit"
  readonly reason: string
}> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
}

/**
 * The slot was taken between the check and the insert: the database refused the row (overlap trigger or
 * unique start index), whatever connection or process booked it first.
 */
export class SlotTaken extends Data.TaggedError("SlotTaken")<{
  readonly tenantId: string
  readonly startsAt: string
}> {}

/** The appointment to move was no longer booked when the move's transaction ran (moved or cancelled meanwhile). */
class ReplacedGone extends Data.TaggedError("ReplacedGone")<{
  readonly appointmentId: string
}> {}

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const MINUTE = 60_000
const DAY = 86_400_000
/** Services last at most 480 minutes (TenantConfig), so an appointment overlapping a window starts < 1 day before it. */
const MAX_APPOINTMENT_MS = DAY
const SUGGESTED_DAYS = 3
const TIMES_PER_SUGGESTION = 3
const SUGGESTION_WINDOW_DAYS = 7
const ALTERNATIVES = 6
const LIST_DEFAULT_LIMIT = 50
const LIST_MAX_LIMIT = 200

const isoOf = (ms: number): string => DateTime.formatIso(DateTime.unsafeMake(ms))
const msOf = (iso: string): number => DateTime.toEpochMillis(DateTime.unsafeMake(iso))

const serviceInfo = (service: Service): ServiceInfo => ({
  type: service.type,
  name: service.name,
  durationMinutes: service.durationMinutes
})

const slugOf = (text: string): string =>
  text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")

/** The exact type first, then a forgiving match on the type or the name ("Coupe femme", "coupe_femme"). */
const findService = (config: TenantConfig, requested: string): Option.Option<Service> => {
  const exact = config.services.find((s) => s.type === requested)
  if (exact !== undefined) return Option.some(exact)
  const slug = slugOf(requested)
  return Option.fromNullable(
    config.services.find((s) => slugOf(s.type) === slug) ?? config.services.find((s) => slugOf(s.name) === slug)
  )
}

const servicesSentence = (config: TenantConfig): string =>
  frenchList(config.services.map((s) => `${s.name} (identifiant « ${s.type} », ${s.durationMinutes} min)`))

const suggestionsSentence = (suggestions: ReadonlyArray<DaySuggestion>, today: string, horizonDays: number) =>
  suggestions.length === 0
    ? `Aucun créneau libre n'a été trouvé dans les ${horizonDays} prochains jours : proposez au client de laisser un message ou de rappeler plus tard.`
    : `Prochains jours avec des créneaux libres : ${
      suggestions.map((s) => `${relativeDayLabel(s.date, today)} (${frenchList(s.times.map(spokenTime))})`).join(" ; ")
    }. Proposez l'un de ces jours au client.`

/** The free times nearest to the requested one, in time order. */
const nearestTimes = (slots: ReadonlyArray<Slot>, requestedMinutes: number): Array<string> =>
  slots
    .map((s) => ({ time: s.time, distance: Math.abs(Option.getOrElse(parseClockTime(s.time), () => 0) - requestedMinutes) }))
    .sort((a, b) => a.distance - b.distance || a.time.localeCompare(b.time))
    .slice(0, ALTERNATIVES)
    .map((s) => s.time)
    .sort()

interface AppointmentRow {
  readonly id: string
  readonly tenant_id: string
  readonly call_id: string | null
  readonly service_type: string
  readonly service_name: string
  readonly client_name: string
  readonly client_phone: string
  readonly starts_at: string
  readonly ends_at: string
  readonly time_zone: string
  readonly status: AppointmentStatus
  readonly idempotency_key: string | null
  readonly created_at: string
  readonly cancelled_at: string | null
}

const toAppointment = (row: AppointmentRow): Appointment => {
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

/** What bun:sqlite reports when the overlap trigger or the unique start index refuses a row. */
const constraintOf = (error: SqlError): "slot" | "idempotency" | null => {
  const text = String((error.cause as { message?: unknown } | undefined)?.message ?? error.cause ?? "")
  if (text.includes("slot_taken") || text.includes("appointments.tenant_id, appointments.starts_at")) return "slot"
  if (text.includes("appointments.idempotency_key")) return "idempotency"
  return null
}

const CursorJson = Schema.parseJson(Schema.Tuple(Schema.String, Schema.String))
const decodeCursorJson = Schema.decodeUnknownOption(CursorJson)
const safeAtob = Option.liftThrowable((text: string) => atob(text))

const encodeCursor = (row: { readonly starts_at: string; readonly id: string }): string =>
  btoa(JSON.stringify([row.starts_at, row.id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

const decodeCursor = (cursor: string) =>
  safeAtob(cursor.replace(/-/g, "+").replace(/_/g, "/")).pipe(
    Option.flatMap(decodeCursorJson),
    Option.filter(([startsAt]) => Option.isSome(DateTime.make(startsAt)))
  )

/** A date-only bound is read in `timeZone` (UTC by default); `endOfDay` moves it to the next midnight. */
const parseBound = (
  value: string,
  field: "from" | "to",
  timeZone: string | undefined
): Effect.Effect<string, InvalidListQuery> => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    if (Option.isNone(parseLocalDate(value))) {
      return Effect.fail(new InvalidListQuery({ field, reason: "not a calendar date" }))
    }
    const date = field === "to" ? addDays(value, 1) : value
    return Effect.succeed(isoOf(startOfLocalDay(date, timeZone ?? "UTC")))
  }
  return Option.match(DateTime.make(value), {
    onNone: () => Effect.fail(new InvalidListQuery({ field, reason: "expected an ISO date or date-time" })),
    onSome: (dt) => Effect.succeed(DateTime.formatIso(dt))
  })
}

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

export class Scheduling extends Effect.Service<Scheduling>()("app/Scheduling", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    // -- repository (SqlError is a defect here, except the constraint violations translated in `insert`) --

    /**
     * Booked intervals of a tenant overlapping [fromMs, toMs), leaving out `except` (the appointment being
     * moved: its own time is free for its move).
     */
    const busyBetween = (tenantId: string, fromMs: number, toMs: number, except: string | null) =>
      sql<{ id: string; starts_at: string; ends_at: string }>`
        SELECT id, starts_at, ends_at FROM appointments
        WHERE tenant_id = ${tenantId} AND status = 'booked'
          AND starts_at >= ${isoOf(fromMs - MAX_APPOINTMENT_MS)} AND starts_at < ${isoOf(toMs)}
          AND ends_at > ${isoOf(fromMs)}
        ORDER BY starts_at`.pipe(
        Effect.map((rows): Array<BusyInterval> =>
          rows.filter((r) => r.id !== except).map((r) => ({ startMs: msOf(r.starts_at), endMs: msOf(r.ends_at) }))
        ),
        Effect.orDie
      )

    const busyOnDays = (tenant: Tenant, firstDate: string, lastDate: string, except: string | null) =>
      busyBetween(
        tenant.id,
        startOfLocalDay(firstDate, tenant.config.timezone),
        startOfLocalDay(addDays(lastDate, 1), tenant.config.timezone),
        except
      )

    const findByIdempotencyKey = (key: string) =>
      sql<AppointmentRow>`
        SELECT * FROM appointments WHERE idempotency_key = ${key} AND status = 'booked'`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.orDie
      )

    /** An appointment of this tenant booked by this call, whatever its status now. */
    const findInCall = (tenantId: string, callId: string, appointmentId: string) =>
      sql<AppointmentRow>`
        SELECT * FROM appointments
        WHERE id = ${appointmentId} AND tenant_id = ${tenantId} AND call_id = ${callId}`.pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.orDie
      )

    /** What this call still has booked, in time order. */
    const bookedInCall = (tenantId: string, callId: string) =>
      sql<AppointmentRow>`
        SELECT * FROM appointments
        WHERE call_id = ${callId} AND tenant_id = ${tenantId} AND status = 'booked'
        ORDER BY starts_at, id`.pipe(Effect.map((rows) => rows.map(toAppointment)), Effect.orDie)

    interface NewAppointment {
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
        const replaced = replacing === null ? [] : yield* sql<AppointmentRow>`
          UPDATE appointments SET status = 'cancelled', cancelled_at = ${row.createdAt}
          WHERE id = ${replacing} AND tenant_id = ${row.tenantId} AND call_id = ${row.callId} AND status = 'booked'
          RETURNING *`
        if (replacing !== null && replaced.length === 0) {
          return yield* new ReplacedGone({ appointmentId: replacing })
        }
        // The voice webhook writes the call row before it answers Twilio, so it exists whenever a tool runs:
        // a missing one is a defect (foreign key), not something to paper over with a null.
        const inserted = yield* sql<AppointmentRow>`
          INSERT INTO appointments (id, tenant_id, call_id, service_type, service_name, client_name, client_phone,
            starts_at, ends_at, time_zone, status, idempotency_key, created_at, cancelled_at)
          VALUES (${row.id}, ${row.tenantId}, ${row.callId},
            ${row.service.type}, ${row.service.name}, ${row.clientName}, ${row.clientPhone},
            ${row.startsAt}, ${row.endsAt}, ${row.timeZone}, 'booked', ${row.idempotencyKey}, ${row.createdAt}, NULL)
          RETURNING *`
        return { row: inserted[0]!, replaced: Option.fromNullable(replaced[0]) }
      }).pipe(
        sql.withTransaction,
        Effect.catchTag("SqlError", (error) =>
          constraintOf(error) === null
            ? Effect.die(error)
            : Effect.fail(new SlotTaken({ tenantId: row.tenantId, startsAt: row.startsAt })))
      )

    // -- the shared validation of both tools --

    interface DayContext {
      readonly nowMs: number
      readonly today: string
      readonly lastBookableDate: string
      readonly service: Service
      readonly date: string
    }

    const errorResult = (
      today: string,
      error: SchedulingErrorCode,
      message: string,
      extra: Partial<Pick<SchedulingErrorResult, "lastBookableDate" | "knownServices" | "appointmentsInCall">> = {}
    ): SchedulingErrorResult => ({ status: "error", error, message, today, ...extra })

    /** Date and service checks common to both tools: either the day to work on, or the error for the model. */
    const validateDay = (tenant: Tenant, date: string, serviceType: string) =>
      Effect.map(Clock.currentTimeMillis, (nowMs): DayContext | SchedulingErrorResult => {
        const config = tenant.config
        const today = localDateAt(config.timezone, nowMs)
        const lastBookableDate = addDays(today, config.booking.horizonDays)
        const service = findService(config, serviceType)
        if (Option.isNone(service)) {
          return errorResult(
            today,
            "unknown_service",
            config.services.length === 0
              ? `Cet établissement ne prend pas de rendez-vous par téléphone pour le moment : proposez au client de laisser un message ou de parler à quelqu'un.`
              : `Le service « ${serviceType} » n'existe pas ici. Services proposés : ${
                servicesSentence(config)
              }. Demandez au client lequel il souhaite, puis réessayez avec l'identifiant exact.`,
            { knownServices: config.services.map(serviceInfo) }
          )
        }
        if (Option.isNone(parseLocalDate(date))) {
          return errorResult(
            today,
            "invalid_date",
            `« ${date} » n'est pas une date valide. Donnez la date au format AAAA-MM-JJ ; aujourd'hui nous sommes le ${
              dayLabel(today)
            } (${today}).`
          )
        }
        if (date < today) {
          return errorResult(
            today,
            "past_date",
            `Le ${dayLabel(date, today)} (${date}) est déjà passé : nous sommes le ${
              dayLabel(today)
            } (${today}). Vérifiez la date avec le client ; s'il a cité un jour de la semaine, il s'agit sans doute du prochain.`
          )
        }
        if (date > lastBookableDate) {
          return errorResult(
            today,
            "beyond_horizon",
            `Les rendez-vous se prennent au plus ${config.booking.horizonDays} jours à l'avance, soit jusqu'au ${
              dayLabel(lastBookableDate, today)
            } (${lastBookableDate}). Proposez au client une date plus proche.`,
            { lastBookableDate }
          )
        }
        return { nowMs, today, lastBookableDate, service: service.value, date }
      })

    const isError = (value: DayContext | SchedulingErrorResult): value is SchedulingErrorResult =>
      "status" in value && value.status === "error"

    /** Free slots of the day; `except` is an appointment being moved, whose time counts as free. */
    const daySlots = (tenant: Tenant, day: DayContext, except: string | null = null) =>
      Effect.map(busyOnDays(tenant, day.date, day.date, except), (busy) =>
        freeSlots({
          config: tenant.config,
          date: day.date,
          durationMinutes: day.service.durationMinutes,
          busy,
          nowMs: day.nowMs
        }))

    /** The next open days with free slots after `day`, reading the bookings a week at a time up to the horizon. */
    const suggestAfter = (tenant: Tenant, day: DayContext, except: string | null = null) =>
      Effect.gen(function*() {
        const found: Array<DaySuggestion> = []
        let after = day.date
        while (found.length < SUGGESTED_DAYS && after < day.lastBookableDate) {
          const windowEnd = addDays(after, SUGGESTION_WINDOW_DAYS) < day.lastBookableDate
            ? addDays(after, SUGGESTION_WINDOW_DAYS)
            : day.lastBookableDate
          const busy = yield* busyOnDays(tenant, addDays(after, 1), windowEnd, except)
          const days = nextOpenDays({
            config: tenant.config,
            after,
            until: windowEnd,
            durationMinutes: day.service.durationMinutes,
            busy,
            nowMs: day.nowMs,
            count: SUGGESTED_DAYS - found.length,
            slotsPerDay: TIMES_PER_SUGGESTION
          })
          for (const d of days) {
            found.push({ date: d.date, dayLabel: dayLabel(d.date, day.today), times: d.slots.map((s) => s.time) })
          }
          after = windowEnd
        }
        return found
      })

    // -- the tools --

    const checkAvailability = Effect.fn("Scheduling.checkAvailability")(
      function*(tenant: Tenant, input: CheckAvailabilityInput) {
        const day = yield* validateDay(tenant, input.date, input.service_type)
        if (isError(day)) return day as CheckAvailabilityResult
        const config = tenant.config
        const label = dayLabel(day.date, day.today)
        const service = serviceInfo(day.service)
        const serviceLabel = lowerFirst(day.service.name)
        const status = dayStatus(config, day.date)
        const slots = status === "open" ? yield* daySlots(tenant, day) : []
        yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, date: day.date, free: slots.length })
        if (slots.length > 0) {
          const times = slots.map((s) => s.time)
          return {
            status: "available",
            date: day.date,
            dayLabel: label,
            timeZone: config.timezone,
            service,
            times,
            message: `Créneaux libres pour ${serviceLabel} (${day.service.durationMinutes} min) le ${label} : ${
              summariseTimes(times, config.booking.slotStepMinutes)
            }. Proposez un ou deux de ces horaires au client plutôt que de tout énumérer, puis réservez celui qu'il choisit.`
          } satisfies CheckAvailabilityResult as CheckAvailabilityResult
        }
        const reason: UnavailableReason = status === "open" ? "no_slot" : status
        const suggestions = yield* suggestAfter(tenant, day)
        const why = reason === "closed_weekday"
          ? `L'établissement est fermé le ${label}.`
          : reason === "closed_exceptionally"
          ? `L'établissement est exceptionnellement fermé le ${label}.`
          : `Il n'y a plus de créneau libre pour ${serviceLabel} le ${label}.`
        return {
          status: "unavailable",
          reason,
          date: day.date,
          dayLabel: label,
          timeZone: config.timezone,
          service,
          suggestions,
          message: `${why} ${suggestionsSentence(suggestions, day.today, config.booking.horizonDays)}`
        } satisfies CheckAvailabilityResult as CheckAvailabilityResult
      }
    )

    const book = Effect.fn("Scheduling.book")(
      function*(tenant: Tenant, context: CallContext, input: BookAppointmentInput) {
        const config = tenant.config
        const day = yield* validateDay(tenant, input.date, input.service_type)
        if (isError(day)) return day as BookAppointmentResult
        const requestedMinutes = parseClockTime(input.time)
        if (Option.isNone(requestedMinutes)) {
          return errorResult(
            day.today,
            "invalid_time",
            `« ${input.time} » n'est pas une heure valide : donnez l'heure de début au format HH:MM sur 24 heures, par exemple 14:30.`
          ) as BookAppointmentResult
        }
        const clientName = input.client_name.trim().replace(/\s+/g, " ")
        if (clientName === "") {
          return errorResult(
            day.today,
            "invalid_name",
            "Le nom du client manque : demandez-lui son nom avant de réserver."
          ) as BookAppointmentResult
        }
        const givenPhone = input.client_phone?.trim() ?? ""
        const phone = givenPhone !== ""
          ? normalizePhone(givenPhone)
          : Option.flatMap(Option.fromNullable(context.callerNumber), normalizePhone)
        if (Option.isNone(phone)) {
          return errorResult(
            day.today,
            "invalid_phone",
            givenPhone !== ""
              ? `« ${givenPhone} » n'est pas un numéro de téléphone valide : demandez au client de le répéter chiffre par chiffre, puis réessayez.`
              : "Le numéro de l'appelant est masqué ou inutilisable : demandez au client un numéro où le joindre, puis réessayez en le donnant dans client_phone."
          ) as BookAppointmentResult
        }
        const clientPhone = phone.value
        const time = input.time
        const label = dayLabel(day.date, day.today)
        const service = serviceInfo(day.service)
        const serviceLabel = lowerFirst(day.service.name)

        /** What the model reads of an appointment, booked or moved. */
        const appointmentFields = (appointment: Appointment): AppointmentFields => ({
          appointmentId: appointment.id,
          startsAt: appointment.startsAt,
          endsAt: appointment.endsAt,
          date: appointment.date,
          time: appointment.time,
          dayLabel: dayLabel(appointment.date, day.today),
          timeZone: appointment.timeZone,
          service,
          clientName: appointment.clientName,
          clientPhone: appointment.clientPhone
        })

        const bookedResult = (row: AppointmentRow, alreadyBooked: boolean): BookAppointmentResult => {
          const appointment = toAppointment(row)
          return {
            status: "booked",
            ...appointmentFields(appointment),
            alreadyBooked,
            message: `Rendez-vous confirmé : ${lowerFirst(appointment.serviceName)} le ${
              dayLabel(appointment.date, day.today)
            } à ${spokenTime(appointment.time)}, au nom de ${appointment.clientName}.`
          }
        }

        // A repeated tool call in the same phone call is answered with the booking already made, before any
        // check (the slot now looks taken by it, and the lead time may have run out since).
        const idempotencyKey = context.callId === null
          ? null
          : [tenant.id, context.callId, day.date, time, day.service.type, clientPhone].join("|")
        const repeated = idempotencyKey === null
          ? Effect.succeed(Option.none<AppointmentRow>())
          : findByIdempotencyKey(idempotencyKey)

        /** The move cannot be made: what the model reads, with what this call still has booked. */
        const replacementError = (code: "unknown_appointment" | "appointment_cancelled", appointmentId: string) =>
          Effect.gen(function*() {
            const held = context.callId === null ? [] : yield* bookedInCall(tenant.id, context.callId)
            const appointmentsInCall = held.map((a): CallAppointment => ({
              appointmentId: a.id,
              date: a.date,
              time: a.time,
              dayLabel: dayLabel(a.date, day.today),
              serviceName: a.serviceName,
              clientName: a.clientName
            }))
            const why = code === "unknown_appointment"
              ? `« ${appointmentId} » n'est pas l'identifiant d'un rendez-vous pris pendant cet appel : rien n'a été modifié.`
              : `Le rendez-vous « ${appointmentId} » n'est plus réservé (il a déjà été déplacé ou annulé) : rien n'a été modifié.`
            const next = appointmentsInCall.length === 0
              ? "Aucun rendez-vous n'est réservé dans cet appel : pour en prendre un, rappelez book_appointment sans replaces_appointment_id."
              : `Rendez-vous réservés dans cet appel : ${
                appointmentsInCall.map((a) =>
                  `${lowerFirst(a.serviceName)} le ${a.dayLabel} à ${spokenTime(a.time)} au nom de ${a.clientName} (appointmentId « ${a.appointmentId} »)`
                ).join(" ; ")
              }. Pour déplacer l'un d'eux, réessayez avec son appointmentId dans replaces_appointment_id ; pour un rendez-vous supplémentaire, omettez ce champ.`
            return errorResult(day.today, code, `${why} ${next}`, { appointmentsInCall }) as BookAppointmentResult
          })

        // A move (`replaces_appointment_id`) only ever touches an appointment this call booked for this tenant,
        // and only while it is still booked; anything else is refused before a single write.
        let replacing = Option.none<AppointmentRow>()
        const replacesId = input.replaces_appointment_id?.trim()
        if (replacesId !== undefined && replacesId !== "") {
          const target = context.callId === null
            ? Option.none<AppointmentRow>()
            : yield* findInCall(tenant.id, context.callId, replacesId)
          if (Option.isNone(target)) return yield* replacementError("unknown_appointment", replacesId)
          if (target.value.status !== "booked") {
            // The same move asked again once made: the appointment it booked answers it.
            const repeat = yield* repeated
            if (Option.isSome(repeat)) return bookedResult(repeat.value, true)
            return yield* replacementError("appointment_cancelled", replacesId)
          }
          replacing = target
        }
        const repeat = yield* repeated
        // A repeat of a plain booking, or a move onto the time the appointment already has. (A move onto the time
        // of another appointment of this call goes on, and is refused below as a taken slot.)
        if (Option.isSome(repeat) && (Option.isNone(replacing) || replacing.value.id === repeat.value.id)) {
          return bookedResult(repeat.value, true)
        }

        // The appointment being moved: its own time counts as free for its move (9 h 00 → 9 h 15 overlaps
        // itself, not someone else), and a refused move says it is kept.
        const heldId = Option.isSome(replacing) ? replacing.value.id : null
        const kept = Option.map(replacing, (row): LocalDateTime => {
          const appointment = toAppointment(row)
          return { date: appointment.date, time: appointment.time }
        })
        const keptSentence = Option.match(kept, {
          onNone: () => "",
          onSome: (k) =>
            `Le rendez-vous déjà pris du ${dayLabel(k.date, day.today)} à ${spokenTime(k.time)} est conservé tel quel. `
        })
        const keptField = Option.match(kept, { onNone: () => ({}), onSome: (k) => ({ keptAppointment: k }) })

        const rescheduledResult = (row: AppointmentRow, previousRow: AppointmentRow): BookAppointmentResult => {
          const appointment = toAppointment(row)
          const previous = toAppointment(previousRow)
          return {
            status: "rescheduled",
            ...appointmentFields(appointment),
            previous: { date: previous.date, time: previous.time },
            message: `C'est noté : votre rendez-vous ${lowerFirst(appointment.serviceName)} est déplacé du ${
              dayLabel(previous.date, day.today)
            } à ${spokenTime(previous.time)} au ${dayLabel(appointment.date, day.today)} à ${
              spokenTime(appointment.time)
            }, au nom de ${appointment.clientName}.`
          }
        }

        const status = dayStatus(config, day.date)
        const slots = status === "open" ? yield* daySlots(tenant, day, heldId) : []
        const slot = slots.find((s) => s.time === time)

        const slotTaken = (freeNow: ReadonlyArray<Slot>) =>
          Effect.gen(function*() {
            const alternatives = nearestTimes(freeNow, requestedMinutes.value)
            const suggestions = alternatives.length === 0 ? yield* suggestAfter(tenant, day, heldId) : []
            return {
              status: "slot_taken",
              date: day.date,
              time,
              dayLabel: label,
              timeZone: config.timezone,
              service,
              alternatives,
              suggestions,
              ...keptField,
              message: `Le créneau de ${spokenTime(time)} le ${label} n'est plus libre. ${keptSentence}${
                alternatives.length > 0
                  ? `Créneaux encore libres ce jour-là pour ${serviceLabel} : ${
                    frenchList(alternatives.map(spokenTime))
                  }. Proposez-en un au client.`
                  : suggestionsSentence(suggestions, day.today, config.booking.horizonDays)
              }`
            } satisfies BookAppointmentResult as BookAppointmentResult
          })

        if (slot === undefined) {
          // Why is it not free? Closed, not a start time we offer, too soon, or booked by someone else.
          const offered = freeSlots({ config, date: day.date, durationMinutes: day.service.durationMinutes, busy: [], nowMs: -Infinity })
          const offeredNow = freeSlots({ config, date: day.date, durationMinutes: day.service.durationMinutes, busy: [], nowMs: day.nowMs })
          if (status === "open" && offeredNow.some((s) => s.time === time)) return yield* slotTaken(slots)
          const onGrid = offered.find((s) => s.time === time)
          const reason: BookingRefusalReason = status !== "open"
            ? status
            : onGrid === undefined
            ? "outside_hours"
            : onGrid.startMs <= day.nowMs
            ? "past_time"
            : "too_soon"
          const alternatives = nearestTimes(slots, requestedMinutes.value)
          const suggestions = alternatives.length === 0 ? yield* suggestAfter(tenant, day, heldId) : []
          const why = reason === "closed_weekday"
            ? `L'établissement est fermé le ${label}.`
            : reason === "closed_exceptionally"
            ? `L'établissement est exceptionnellement fermé le ${label}.`
            : reason === "past_time"
            ? `${spokenTime(time)} le ${label} est déjà passé.`
            : reason === "too_soon"
            ? `${spokenTime(time)} le ${label} est trop proche : les rendez-vous se prennent au moins ${config.booking.minLeadMinutes} minutes à l'avance.`
            : `${spokenTime(time)} n'est pas un horaire proposé pour ${serviceLabel} le ${label} (hors des heures d'ouverture ou entre deux créneaux).`
          return {
            status: "unavailable",
            reason,
            date: day.date,
            time,
            dayLabel: label,
            timeZone: config.timezone,
            service,
            alternatives,
            suggestions,
            ...keptField,
            message: `${why} ${keptSentence}${
              alternatives.length > 0
                ? `Horaires libres ce jour-là : ${frenchList(alternatives.map(spokenTime))}. Proposez-en un au client.`
                : suggestionsSentence(suggestions, day.today, config.booking.horizonDays)
            }`
          } satisfies BookAppointmentResult as BookAppointmentResult
        }

        const outcome = yield* insert({
          id: crypto.randomUUID(),
          tenantId: tenant.id,
          callId: context.callId,
          service: day.service,
          clientName,
          clientPhone,
          startsAt: isoOf(slot.startMs),
          endsAt: isoOf(slot.endMs),
          timeZone: config.timezone,
          idempotencyKey,
          createdAt: isoOf(day.nowMs)
        }, heldId).pipe(Effect.either)
        if (Either.isLeft(outcome)) {
          // Refused. The same request may have committed meanwhile — a concurrent repeat of a booking (the
          // trigger refused ours), or of a move (its old appointment was gone) — and then answers it. Otherwise
          // the slot really is taken (a refused move keeps its old appointment) or the old appointment is gone.
          const committed = Option.isNone(replacing) || outcome.left._tag === "ReplacedGone"
            ? yield* repeated
            : Option.none<AppointmentRow>()
          if (Option.isSome(committed)) {
            yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, outcome: "repeat" })
            return bookedResult(committed.value, true)
          }
          if (outcome.left._tag === "ReplacedGone") {
            yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, outcome: "replaced_gone" })
            return yield* replacementError("appointment_cancelled", outcome.left.appointmentId)
          }
          yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, outcome: "slot_taken" })
          return yield* slotTaken(yield* daySlots(tenant, day, heldId))
        }
        const { replaced, row } = outcome.right
        yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, outcome: Option.isSome(replaced) ? "rescheduled" : "booked" })
        return Option.isSome(replaced) ? rescheduledResult(row, replaced.value) : bookedResult(row, false)
      }
    )

    // -- the owner's side --

    const listAppointments = Effect.fn("Scheduling.listAppointments")(
      function*(tenantId: string, options: ListAppointmentsOptions = {}) {
        const limitRaw = options.limit ?? LIST_DEFAULT_LIMIT
        if (!Number.isFinite(limitRaw)) {
          return yield* new InvalidListQuery({ field: "limit", reason: "expected a number" })
        }
        const limit = Math.min(LIST_MAX_LIMIT, Math.max(1, Math.floor(limitRaw)))
        const clauses = [sql`tenant_id = ${tenantId}`]
        if (options.from !== undefined) {
          clauses.push(sql`starts_at >= ${yield* parseBound(options.from, "from", options.timeZone)}`)
        }
        if (options.to !== undefined) {
          clauses.push(sql`starts_at < ${yield* parseBound(options.to, "to", options.timeZone)}`)
        }
        if (options.status !== undefined) clauses.push(sql`status = ${options.status}`)
        if (options.cursor !== undefined) {
          const cursor = decodeCursor(options.cursor)
          if (Option.isNone(cursor)) {
            return yield* new InvalidListQuery({ field: "cursor", reason: "not a cursor returned by this API" })
          }
          const [startsAt, id] = cursor.value
          clauses.push(sql`(starts_at > ${startsAt} OR (starts_at = ${startsAt} AND id > ${id}))`)
        }
        const rows = yield* sql<AppointmentRow>`
          SELECT * FROM appointments WHERE ${sql.and(clauses)}
          ORDER BY starts_at, id
          LIMIT ${limit + 1}`.pipe(Effect.orDie)
        const page = rows.slice(0, limit)
        const last = page[page.length - 1]
        return {
          appointments: page.map(toAppointment),
          nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null
        } satisfies AppointmentPage as AppointmentPage
      }
    )

    const cancel = Effect.fn("Scheduling.cancel")(function*(tenantId: string, appointmentId: string) {
      const now = isoOf(yield* Clock.currentTimeMillis)
      const rows = yield* Effect.gen(function*() {
        yield* sql`
          UPDATE appointments SET status = 'cancelled', cancelled_at = ${now}
          WHERE id = ${appointmentId} AND tenant_id = ${tenantId} AND status = 'booked'`
        return yield* sql<AppointmentRow>`
          SELECT * FROM appointments WHERE id = ${appointmentId} AND tenant_id = ${tenantId}`
      }).pipe(sql.withTransaction, Effect.orDie)
      const row = rows[0]
      if (row === undefined) return yield* new AppointmentNotFound({ tenantId, appointmentId })
      return toAppointment(row)
    })

    return { checkAvailability, book, listAppointments, cancel } as const
  }),
  dependencies: []
}) {}
