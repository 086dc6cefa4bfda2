import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import type { OpeningRange, TenantConfig, Weekday } from "../tenants/TenantConfig.ts"

/**
 * Pure slot computation: no I/O, no clock. `now` and the booked intervals come in as arguments.
 *
 * Local wall-clock times ("09:30" on "2026-03-29" in Europe/Paris) are turned into UTC instants with
 * Effect's `DateTime` zoned constructors, which know the zone's DST rules; every comparison (lead time,
 * overlap, end of the opening range) is then made on instants, never on wall-clock minutes. A wall-clock
 * time that does not exist (02:30 on the spring-forward Sunday) is skipped as a start, and as a range end it is
 * the first instant after the gap; a repeated one (02:30 on the fall-back Sunday) is the earlier instant.
 */

/** A booked appointment as a half-open UTC interval [startMs, endMs). */
export interface BusyInterval {
  readonly startMs: number
  readonly endMs: number
}

/** A free start time: the local "HH:MM" and the UTC instants it covers. */
export interface Slot {
  readonly time: string
  readonly startMs: number
  readonly endMs: number
}

export interface LocalDate {
  readonly year: number
  readonly month: number
  readonly day: number
}

const MINUTE = 60_000
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/
const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/

/** JS weekday (0 = Sunday) to the config's weekday keys. */
const WEEKDAY_BY_INDEX: ReadonlyArray<Weekday> = [
  "sunday",
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday"
]

const zones = new Map<string, DateTime.TimeZone.Named>()

/** The named zone, built once per id (building one creates an `Intl.DateTimeFormat`). */
export const zoneOf = (timeZone: string): DateTime.TimeZone.Named => {
  let zone = zones.get(timeZone)
  if (zone === undefined) {
    zone = DateTime.zoneUnsafeMakeNamed(timeZone)
    zones.set(timeZone, zone)
  }
  return zone
}

/** A real calendar date "YYYY-MM-DD" (rejects 2026-02-30). */
export const parseLocalDate = (date: string): Option.Option<LocalDate> => {
  const match = DATE_PATTERN.exec(date)
  if (match === null) return Option.none()
  const parts = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) }
  return DateTime.make(parts).pipe(
    Option.filter((dt) => {
      const utc = DateTime.toPartsUtc(dt)
      return utc.year === parts.year && utc.month === parts.month && utc.day === parts.day
    }),
    Option.as(parts)
  )
}

/** Minutes since midnight of a "HH:MM" string, or none when malformed. */
export const parseClockTime = (time: string): Option.Option<number> => {
  const match = TIME_PATTERN.exec(time)
  return match === null ? Option.none() : Option.some(Number(match[1]) * 60 + Number(match[2]))
}

/** Minutes since midnight of an opening range's end: "HH:MM", or "24:00" (1440, the next midnight). */
export const rangeEndMinutes = (time: string): number =>
  time === "24:00" ? 24 * 60 : Option.getOrElse(parseClockTime(time), () => 0)

const pad2 = (n: number) => String(n).padStart(2, "0")

export const formatClockTime = (minutes: number): string => `${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`

const calendarDay = (date: string): DateTime.Utc => {
  const parts = Option.getOrThrowWith(parseLocalDate(date), () => new RangeError(`invalid date ${date}`))
  return DateTime.unsafeMake(parts)
}

/** Calendar arithmetic on local dates (no zone involved: a date is a date). */
export const addDays = (date: string, days: number): string =>
  DateTime.formatIsoDateUtc(DateTime.add(calendarDay(date), { days }))

export const weekdayOf = (date: string): Weekday =>
  WEEKDAY_BY_INDEX[DateTime.getPartUtc(calendarDay(date), "weekDay")] ?? "monday"

/** The local date in `timeZone` at the instant `nowMs`. */
export const localDateAt = (timeZone: string, nowMs: number): string =>
  DateTime.formatIsoDate(DateTime.unsafeMakeZoned(nowMs, { timeZone: zoneOf(timeZone) }))

/** The local wall-clock time "HH:MM" in `timeZone` at the instant `ms`. */
export const localTimeAt = (timeZone: string, ms: number): string => {
  const parts = DateTime.toParts(DateTime.unsafeMakeZoned(ms, { timeZone: zoneOf(timeZone) }))
  return `${pad2(parts.hours)}:${pad2(parts.minutes)}`
}

const wallClock = (
  d: LocalDate,
  minutes: number,
  timeZone: string,
  disambiguation: "compatible" | "earlier" | "later" = "compatible"
): DateTime.Zoned =>
  DateTime.unsafeMakeZoned(
    { year: d.year, month: d.month, day: d.day, hours: Math.floor(minutes / 60), minutes: minutes % 60 },
    // "compatible": a repeated time (clocks going back) is the earlier instant, a skipped one the later.
    { timeZone: zoneOf(timeZone), adjustForTimeZone: true, disambiguation }
  )

/** Results of `localInstant`: zone rules do not change while the process runs, and days are checked again and again. */
const instants = new Map<string, Option.Option<number>>()
const INSTANT_CACHE_LIMIT = 50_000

/**
 * The UTC instant of a local wall-clock time, or none when that time does not exist in the zone
 * (skipped by a DST jump). Ambiguous times (clocks going back) resolve to the earlier instant.
 */
export const localInstant = (date: string, minutes: number, timeZone: string): Option.Option<number> => {
  const key = `${timeZone}|${date}|${minutes}`
  const cached = instants.get(key)
  if (cached !== undefined) return cached
  const result = Option.flatMap(parseLocalDate(date), (d) => {
    const zoned = wallClock(d, minutes, timeZone)
    const local = DateTime.toParts(zoned)
    return local.day === d.day && local.hours * 60 + local.minutes === minutes
      ? Option.some(DateTime.toEpochMillis(zoned))
      : Option.none()
  })
  if (instants.size >= INSTANT_CACHE_LIMIT) instants.clear()
  instants.set(key, result)
  return result
}

/** Minutes since the local midnight of `date` at instant `ms` (past the day's end when `ms` is on a later day). */
const localMinutesOn = (date: LocalDate, ms: number, timeZone: string): number => {
  const parts = DateTime.toParts(DateTime.unsafeMakeZoned(ms, { timeZone: zoneOf(timeZone) }))
  const dayShift = parts.day === date.day ? 0 : parts.year * 10_000 + parts.month * 100 + parts.day > date.year * 10_000 + date.month * 100 + date.day ? 1 : -1
  return dayShift * 24 * 60 + parts.hours * 60 + parts.minutes
}

/**
 * A wall-clock time skipped by the clocks going forward (02:30 on the spring-forward Sunday in Paris): the
 * first instant after the gap, and the gap in local wall-clock minutes ([120, 180) for 02:00–03:00).
 */
export const skippedTime = (
  date: string,
  minutes: number,
  timeZone: string
): Option.Option<{ readonly afterGapMs: number; readonly gapFrom: number; readonly gapTo: number }> => {
  if (minutes >= 24 * 60 || Option.isSome(localInstant(date, minutes, timeZone))) return Option.none()
  return Option.map(parseLocalDate(date), (d) => {
    // The clocks jump between these two readings of the time; search the jump to the minute.
    let before = DateTime.toEpochMillis(wallClock(d, minutes, timeZone, "earlier"))
    let after = DateTime.toEpochMillis(wallClock(d, minutes, timeZone, "later"))
    while (after - before > MINUTE) {
      const mid = before + Math.floor((after - before) / 2 / MINUTE) * MINUTE
      if (localMinutesOn(d, mid, timeZone) >= minutes) after = mid
      else before = mid
    }
    return { afterGapMs: after, gapFrom: localMinutesOn(d, before, timeZone) + 1, gapTo: localMinutesOn(d, after, timeZone) }
  })
}

/**
 * The instant of a local wall-clock time, even inside a DST gap (then the first instant after the gap), or
 * "24:00" (the next midnight). Used for bounds (end of an opening range, start of a day), never for a slot.
 */
export const localBoundary = (date: string, minutes: number, timeZone: string): number => {
  if (minutes >= 24 * 60) return localBoundary(addDays(date, 1), minutes - 24 * 60, timeZone)
  const exact = localInstant(date, minutes, timeZone)
  if (Option.isSome(exact)) return exact.value
  return Option.getOrThrowWith(skippedTime(date, minutes, timeZone), () => new RangeError(`invalid date ${date}`)).afterGapMs
}

/** The first instant of a local day. */
export const startOfLocalDay = (date: string, timeZone: string): number => localBoundary(date, 0, timeZone)

export type DayStatus = "open" | "closed_weekday" | "closed_exceptionally"

export const dayStatus = (config: TenantConfig, date: string): DayStatus => {
  if (config.closures.includes(date)) return "closed_exceptionally"
  const ranges = config.openingHours[weekdayOf(date)]
  return ranges === undefined || ranges.length === 0 ? "closed_weekday" : "open"
}

export const openingRangesOn = (config: TenantConfig, date: string): ReadonlyArray<OpeningRange> =>
  dayStatus(config, date) === "open" ? (config.openingHours[weekdayOf(date)] ?? []) : []

export interface FreeSlotsParams {
  readonly config: TenantConfig
  /** Local date "YYYY-MM-DD" in the tenant's zone. */
  readonly date: string
  readonly durationMinutes: number
  /** Booked appointments (any day; only those overlapping a slot matter). */
  readonly busy: ReadonlyArray<BusyInterval>
  /** Epoch ms; slots starting before now + minLeadMinutes are not offered. */
  readonly nowMs: number
}

/**
 * Free start times on `date`: every `slotStepMinutes` from the start of each opening range, such that the
 * appointment ends within the range, does not overlap a booked interval, and starts at least
 * `minLeadMinutes` after now. Closed days (weekday without hours, closures) have none.
 */
export const freeSlots = (params: FreeSlotsParams): Array<Slot> => {
  const { config, date, durationMinutes, busy, nowMs } = params
  if (Option.isNone(parseLocalDate(date))) return []
  const earliestMs = nowMs + config.booking.minLeadMinutes * MINUTE
  const step = config.booking.slotStepMinutes
  const durationMs = durationMinutes * MINUTE
  const ranges = openingRangesOn(config, date)
  if (ranges.length === 0) return []
  // Only the intervals touching this day matter; filter once rather than for every slot.
  const dayStartMs = startOfLocalDay(date, config.timezone)
  const dayEndMs = startOfLocalDay(addDays(date, 1), config.timezone)
  const dayBusy = busy.filter((b) => b.startMs < dayEndMs + durationMs && b.endMs > dayStartMs)
  const slots: Array<Slot> = []
  for (const [from, to] of ranges) {
    const fromMinutes = Option.getOrElse(parseClockTime(from), () => 0)
    const toMinutes = rangeEndMinutes(to)
    // The range end as an instant; if it falls in a DST gap, the first instant after the gap.
    const rangeEndMs = localBoundary(date, toMinutes, config.timezone)
    for (let minutes = fromMinutes; minutes < toMinutes; minutes += step) {
      const start = localInstant(date, minutes, config.timezone)
      if (Option.isNone(start)) continue // does not exist today (spring forward)
      const startMs = start.value
      const endMs = startMs + durationMs
      if (endMs > rangeEndMs) break
      if (startMs < earliestMs) continue
      if (dayBusy.some((b) => b.startMs < endMs && startMs < b.endMs)) continue
      slots.push({ time: formatClockTime(minutes), startMs, endMs })
    }
  }
  return slots
}

export interface OpenDay {
  readonly date: string
  readonly slots: ReadonlyArray<Slot>
}

export interface NextOpenDaysParams {
  readonly config: TenantConfig
  /** Search starts the day after this local date. */
  readonly after: string
  /** Last local date searched (inclusive): usually today + horizonDays. */
  readonly until: string
  readonly durationMinutes: number
  readonly busy: ReadonlyArray<BusyInterval>
  readonly nowMs: number
  /** How many days to find. */
  readonly count: number
  /** How many slots to keep per day (the first ones). */
  readonly slotsPerDay?: number | undefined
}

/** The next `count` days after `after` (up to `until`) that still have a free slot, with their first slots. */
export const nextOpenDays = (params: NextOpenDaysParams): Array<OpenDay> => {
  const found: Array<OpenDay> = []
  if (Option.isNone(parseLocalDate(params.after)) || Option.isNone(parseLocalDate(params.until))) return found
  for (let date = addDays(params.after, 1); date <= params.until && found.length < params.count; date = addDays(date, 1)) {
    if (dayStatus(params.config, date) !== "open") continue
    const slots = freeSlots({ ...params, date })
    if (slots.length > 0) {
      found.push({ date, slots: params.slotsPerDay === undefined ? slots : slots.slice(0, params.slotsPerDay) })
    }
  }
  return found
}
