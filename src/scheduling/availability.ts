import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Tenant } from "../tenants/Tenant.ts"
import type { Service, TenantConfig } from "../tenants/TenantConfig.ts"
import type { AppointmentsRepo } from "./AppointmentsRepo.ts"
import { dayLabel, lowerFirst } from "./french.ts"
import {
  availableMessage,
  beyondHorizonMessage,
  invalidDateMessage,
  pastDateMessage,
  suggestionsSentence,
  unavailableDayReason,
  unknownServiceMessage
} from "./messages.ts"
import { addDays, dayStatus, freeSlots, localDateAt, nextOpenDays, parseClockTime, parseLocalDate, type Slot, startOfLocalDay } from "./slots.ts"
import type { CheckAvailabilityInput } from "./toolInputs.ts"
import type {
  CheckAvailabilityResult,
  DaySuggestion,
  SchedulingErrorCode,
  SchedulingErrorResult,
  ServiceInfo,
  UnavailableReason
} from "./types.ts"

/** Free slots and the checks both tools share: which day, which service, what is free, which days come next. */

const SUGGESTED_DAYS = 3
const TIMES_PER_SUGGESTION = 3
const SUGGESTION_WINDOW_DAYS = 7
const ALTERNATIVES = 6

export const serviceInfo = (service: Service): ServiceInfo => ({
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

/** The free times nearest to the requested one, in time order. */
export const nearestTimes = (slots: ReadonlyArray<Slot>, requestedMinutes: number): Array<string> =>
  slots
    .map((s) => ({ time: s.time, distance: Math.abs(Option.getOrElse(parseClockTime(s.time), () => 0) - requestedMinutes) }))
    .sort((a, b) => a.distance - b.distance || a.time.localeCompare(b.time))
    .slice(0, ALTERNATIVES)
    .map((s) => s.time)
    .sort()

export interface DayContext {
  readonly nowMs: number
  readonly today: string
  readonly lastBookableDate: string
  readonly service: Service
  readonly date: string
}

export const errorResult = (
  today: string,
  error: SchedulingErrorCode,
  message: string,
  extra: Partial<Pick<SchedulingErrorResult, "lastBookableDate" | "knownServices" | "appointmentsInCall">> = {}
): SchedulingErrorResult => ({ status: "error", error, message, today, ...extra })

export const isError = (value: DayContext | SchedulingErrorResult): value is SchedulingErrorResult =>
  "status" in value && value.status === "error"

/** Date and service checks common to both tools: either the day to work on, or the error for the model. */
export const validateDay = (tenant: Tenant, date: string, serviceType: string) =>
  Effect.map(Clock.currentTimeMillis, (nowMs): DayContext | SchedulingErrorResult => {
    const config = tenant.config
    const today = localDateAt(config.timezone, nowMs)
    const lastBookableDate = addDays(today, config.booking.horizonDays)
    const service = findService(config, serviceType)
    if (Option.isNone(service)) {
      return errorResult(today, "unknown_service", unknownServiceMessage(config, serviceType), {
        knownServices: config.services.map(serviceInfo)
      })
    }
    if (Option.isNone(parseLocalDate(date))) return errorResult(today, "invalid_date", invalidDateMessage(date, today))
    if (date < today) return errorResult(today, "past_date", pastDateMessage(date, today))
    if (date > lastBookableDate) {
      return errorResult(
        today,
        "beyond_horizon",
        beyondHorizonMessage(config.booking.horizonDays, lastBookableDate, today),
        { lastBookableDate }
      )
    }
    return { nowMs, today, lastBookableDate, service: service.value, date }
  })

export const makeAvailability = (repo: AppointmentsRepo) => {
  const busyOnDays = (tenant: Tenant, firstDate: string, lastDate: string, except: string | null) =>
    repo.busyBetween(
      tenant.id,
      startOfLocalDay(firstDate, tenant.config.timezone),
      startOfLocalDay(addDays(lastDate, 1), tenant.config.timezone),
      except
    )

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
          message: availableMessage(serviceLabel, day.service.durationMinutes, label, times, config.booking.slotStepMinutes)
        } satisfies CheckAvailabilityResult as CheckAvailabilityResult
      }
      const reason: UnavailableReason = status === "open" ? "no_slot" : status
      const suggestions = yield* suggestAfter(tenant, day)
      return {
        status: "unavailable",
        reason,
        date: day.date,
        dayLabel: label,
        timeZone: config.timezone,
        service,
        suggestions,
        message: `${unavailableDayReason(reason, label, serviceLabel)} ${
          suggestionsSentence(suggestions, day.today, config.booking.horizonDays)
        }`
      } satisfies CheckAvailabilityResult as CheckAvailabilityResult
    }
  )

  return { checkAvailability, daySlots, suggestAfter } as const
}

export type Availability = ReturnType<typeof makeAvailability>
