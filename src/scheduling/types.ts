import * as Data from "effect/Data"

/** What the scheduling tools hand to the model and what the owner's API shows: types and domain errors only. */

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

export type BookingRefusalReason =
  | "closed_weekday"
  | "closed_exceptionally"
  | "outside_hours"
  | "past_time"
  | "too_soon"
  /** The time does not exist that day: the clocks jump over it (spring forward). */
  | "skipped_by_clock_change"

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

/** What a refused booking (slot taken, or not bookable at all) tells the model, besides its status. */
export interface RefusedBookingFields {
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
  /** What to tell the caller. */
  readonly message: string
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
  | RefusedBookingFields & { readonly status: "slot_taken" }
  | RefusedBookingFields & { readonly status: "unavailable"; readonly reason: BookingRefusalReason }
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
