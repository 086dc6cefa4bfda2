import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Tenant } from "../tenants/Tenant.ts"
import { type AppointmentRow, type AppointmentsRepo, isoOf, toAppointment } from "./AppointmentsRepo.ts"
import { type Availability, errorResult, isError, nearestTimes, serviceInfo, validateDay } from "./availability.ts"
import { dayLabel, lowerFirst } from "./french.ts"
import {
  bookedMessage,
  INVALID_NAME_MESSAGE,
  invalidPhoneMessage,
  invalidTimeMessage,
  keptSentence,
  refusalReason,
  refusedMessage,
  replacementErrorMessage,
  rescheduledMessage,
  skippedTimeReason,
  slotTakenMessage,
  suggestionsSentence
} from "./messages.ts"
import { normalizePhone } from "./phone.ts"
import { dayStatus, formatClockTime, freeSlots, parseClockTime, type Slot, skippedTime } from "./slots.ts"
import type { BookAppointmentInput } from "./toolInputs.ts"
import type {
  Appointment,
  AppointmentFields,
  BookAppointmentResult,
  BookingRefusalReason,
  CallAppointment,
  CallContext,
  LocalDateTime
} from "./types.ts"

/**
 * The book_appointment tool: a new appointment, a repeat of one already made in this call, or a move of one
 * (`replaces_appointment_id`); a refusal always says why and what is free instead.
 */
export const makeBooking = (repo: AppointmentsRepo, availability: Availability) =>
  Effect.fn("Scheduling.book")(
    function*(tenant: Tenant, context: CallContext, input: BookAppointmentInput) {
      const config = tenant.config
      const day = yield* validateDay(tenant, input.date, input.service_type)
      if (isError(day)) return day as BookAppointmentResult
      const requestedMinutes = parseClockTime(input.time)
      if (Option.isNone(requestedMinutes)) {
        return errorResult(day.today, "invalid_time", invalidTimeMessage(input.time)) as BookAppointmentResult
      }
      const clientName = input.client_name.trim().replace(/\s+/g, " ")
      if (clientName === "") {
        return errorResult(day.today, "invalid_name", INVALID_NAME_MESSAGE) as BookAppointmentResult
      }
      const givenPhone = input.client_phone?.trim() ?? ""
      const phone = givenPhone !== ""
        ? normalizePhone(givenPhone)
        : Option.flatMap(Option.fromNullable(context.callerNumber), normalizePhone)
      if (Option.isNone(phone)) {
        return errorResult(day.today, "invalid_phone", invalidPhoneMessage(givenPhone)) as BookAppointmentResult
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
        const fields = appointmentFields(toAppointment(row))
        return {
          status: "booked",
          ...fields,
          alreadyBooked,
          message: bookedMessage({ ...fields, serviceName: row.service_name })
        }
      }

      // A repeated tool call in the same phone call is answered with the booking already made, before any
      // check (the slot now looks taken by it, and the lead time may have run out since).
      const idempotencyKey = context.callId === null
        ? null
        : [tenant.id, context.callId, day.date, time, day.service.type, clientPhone].join("|")
      const repeated = idempotencyKey === null
        ? Effect.succeed(Option.none<AppointmentRow>())
        : repo.findByIdempotencyKey(idempotencyKey)

      /** The move cannot be made: what the model reads, with what this call still has booked. */
      const replacementError = (code: "unknown_appointment" | "appointment_cancelled", appointmentId: string) =>
        Effect.gen(function*() {
          const held = context.callId === null ? [] : yield* repo.bookedInCall(tenant.id, context.callId)
          const appointmentsInCall = held.map((a): CallAppointment => ({
            appointmentId: a.id,
            date: a.date,
            time: a.time,
            dayLabel: dayLabel(a.date, day.today),
            serviceName: a.serviceName,
            clientName: a.clientName
          }))
          return errorResult(day.today, code, replacementErrorMessage(code, appointmentId, appointmentsInCall), {
            appointmentsInCall
          }) as BookAppointmentResult
        })

      // A move (`replaces_appointment_id`) only ever touches an appointment this call booked for this tenant,
      // and only while it is still booked; anything else is refused before a single write.
      let replacing = Option.none<AppointmentRow>()
      const replacesId = input.replaces_appointment_id?.trim()
      if (replacesId !== undefined && replacesId !== "") {
        const target = context.callId === null
          ? Option.none<AppointmentRow>()
          : yield* repo.findInCall(tenant.id, context.callId, replacesId)
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

      // The appointment being moved: its own time counts as free for its move (9 heures → 9 heures 15 overlaps
      // itself, not someone else), and a refused move says it is kept.
      const heldId = Option.isSome(replacing) ? replacing.value.id : null
      const kept = Option.map(replacing, (row): LocalDateTime => {
        const appointment = toAppointment(row)
        return { date: appointment.date, time: appointment.time }
      })
      const kept_ = Option.match(kept, {
        onNone: () => "",
        onSome: (k) => keptSentence(dayLabel(k.date, day.today), k.time)
      })
      const keptField = Option.match(kept, { onNone: () => ({}), onSome: (k) => ({ keptAppointment: k }) })

      const rescheduledResult = (row: AppointmentRow, previousRow: AppointmentRow): BookAppointmentResult => {
        const fields = appointmentFields(toAppointment(row))
        const previous = toAppointment(previousRow)
        return {
          status: "rescheduled",
          ...fields,
          previous: { date: previous.date, time: previous.time },
          message: rescheduledMessage({ ...fields, serviceName: row.service_name }, {
            dayLabel: dayLabel(previous.date, day.today),
            time: previous.time
          })
        }
      }

      const status = dayStatus(config, day.date)
      const slots = status === "open" ? yield* availability.daySlots(tenant, day, heldId) : []
      const slot = slots.find((s) => s.time === time)

      /** What every refusal carries: the day and service asked for, the nearest free times, other days when none. */
      const refusal = (freeNow: ReadonlyArray<Slot>) => {
        const alternatives = nearestTimes(freeNow, requestedMinutes.value)
        const otherDays = alternatives.length === 0
          ? Effect.map(availability.suggestAfter(tenant, day, heldId), (suggestions) => ({
            suggestions,
            sentence: suggestionsSentence(suggestions, day.today, config.booking.horizonDays)
          }))
          : Effect.succeed({ suggestions: [], sentence: "" })
        return Effect.map(otherDays, ({ sentence, suggestions }) => ({
          fields: { date: day.date, time, dayLabel: label, timeZone: config.timezone, service, alternatives, suggestions, ...keptField },
          sentence
        }))
      }

      const slotTaken = (freeNow: ReadonlyArray<Slot>) =>
        Effect.map(refusal(freeNow), ({ fields, sentence }): BookAppointmentResult => ({
          status: "slot_taken",
          ...fields,
          message: slotTakenMessage(time, label, kept_, serviceLabel, fields.alternatives, sentence)
        }))

      if (slot === undefined) {
        // Why is it not free? Closed, not a start time we offer, too soon, or booked by someone else.
        const durationMinutes = day.service.durationMinutes
        const offered = freeSlots({ config, date: day.date, durationMinutes, busy: [], nowMs: -Infinity })
        const offeredNow = freeSlots({ config, date: day.date, durationMinutes, busy: [], nowMs: day.nowMs })
        if (status === "open" && offeredNow.some((s) => s.time === time)) {
          // A concurrent twin of this request (same call, time, service, phone) may have committed since the
          // checks above, and taken the slot itself: answer it as the repeat it is (as after a refused insert).
          const twinMoved = Option.isNone(replacing) ||
            Option.exists(yield* repo.findInCall(tenant.id, context.callId!, replacing.value.id), (r) => r.status !== "booked")
          const twin = twinMoved ? yield* repeated : Option.none<AppointmentRow>()
          if (Option.isSome(twin)) return bookedResult(twin.value, true)
          return yield* slotTaken(slots)
        }
        const onGrid = offered.find((s) => s.time === time)
        const skipped = skippedTime(day.date, requestedMinutes.value, config.timezone)
        const reason: BookingRefusalReason = status !== "open"
          ? status
          : Option.isSome(skipped)
          ? "skipped_by_clock_change"
          : onGrid === undefined
          ? "outside_hours"
          : onGrid.startMs <= day.nowMs
          ? "past_time"
          : "too_soon"
        const { fields, sentence } = yield* refusal(slots)
        const why = Option.isSome(skipped) && reason === "skipped_by_clock_change"
          ? skippedTimeReason(time, label, formatClockTime(skipped.value.gapFrom), formatClockTime(skipped.value.gapTo))
          : refusalReason(reason, time, label, serviceLabel, config.booking.minLeadMinutes)
        return {
          status: "unavailable",
          reason,
          ...fields,
          message: refusedMessage(why, kept_, fields.alternatives, sentence)
        } satisfies BookAppointmentResult as BookAppointmentResult
      }

      const outcome = yield* repo.insert({
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
        return yield* slotTaken(yield* availability.daySlots(tenant, day, heldId))
      }
      const { replaced, row } = outcome.right
      yield* Effect.annotateCurrentSpan({ tenantId: tenant.id, outcome: Option.isSome(replaced) ? "rescheduled" : "booked" })
      return Option.isSome(replaced) ? rescheduledResult(row, replaced.value) : bookedResult(row, false)
    }
  )
