import * as Option from "effect/Option"
import { MONTHS_FR, spokenDayOfMonth, spokenTime } from "../speech/spoken.ts"
import type { Weekday } from "../tenants/TenantConfig.ts"
import { addDays, parseClockTime, weekdayOf } from "./slots.ts"

/** French wording of dates and times for the messages the model reads and repeats aloud: spoken forms only. */

export { spokenTime }

export const WEEKDAY_FR: Record<Weekday, string> = {
  monday: "lundi",
  tuesday: "mardi",
  wednesday: "mercredi",
  thursday: "jeudi",
  friday: "vendredi",
  saturday: "samedi",
  sunday: "dimanche"
}

/** "mardi 1er décembre", with the year when it is not the current one ("mardi 5 janvier 2027"). */
export const dayLabel = (date: string, today?: string): string => {
  const year = date.slice(0, 4)
  const month = MONTHS_FR[Number(date.slice(5, 7)) - 1] ?? ""
  const label = `${WEEKDAY_FR[weekdayOf(date)]} ${spokenDayOfMonth(Number(date.slice(8, 10)))} ${month}`
  return today !== undefined && today.slice(0, 4) !== year ? `${label} ${year}` : label
}

/** "vendredi 25 décembre 2026": always with the year (for text that must not depend on today). */
export const dayLabelWithYear = (date: string): string => `${dayLabel(date)} ${date.slice(0, 4)}`

/** "Coupe femme" → "coupe femme" (acronyms such as "IRM" stay as they are). */
export const lowerFirst = (name: string): string =>
  name.length > 1 && name[1] === name[1]?.toUpperCase() && name[1] !== name[1]?.toLowerCase()
    ? name
    : name.charAt(0).toLowerCase() + name.slice(1)

/** "a", "a et b", "a, b et c". */
export const frenchList = (items: ReadonlyArray<string>, conjunction = "et"): string =>
  items.length <= 1
    ? (items[0] ?? "")
    : `${items.slice(0, -1).join(", ")} ${conjunction} ${items[items.length - 1]}`

/** "toutes les 15 minutes", "toutes les demi-heures", "toutes les heures", "toutes les 2 heures". */
export const everyStep = (stepMinutes: number): string =>
  stepMinutes === 30
    ? "toutes les demi-heures"
    : stepMinutes === 60
    ? "toutes les heures"
    : stepMinutes % 60 === 0
    ? `toutes les ${stepMinutes / 60} heures`
    : `toutes les ${stepMinutes} minutes`

/** With this many free times or fewer, each one is named. */
const FEW_TIMES = 4

const periodOf = (minutes: number): "le matin" | "l'après-midi" | "le soir" =>
  minutes < 12 * 60 ? "le matin" : minutes < 18 * 60 ? "l'après-midi" : "le soir"

/**
 * Free start times, summarised for the ear. A few are named ("9 heures, 10 heures 30 et 14 heures"); more are
 * read as ranges by part of the day, with the step once: "le matin entre 9 heures et 11 heures 15, l'après-midi
 * entre 14 heures et 18 heures, toutes les 15 minutes". A lone time in a broken run is named ("à 16 heures").
 */
export const summariseTimes = (times: ReadonlyArray<string>, stepMinutes: number): string => {
  if (times.length <= FEW_TIMES) return frenchList(times.map(spokenTime))
  const minutes = times.map((t) => Option.getOrElse(parseClockTime(t), () => 0))
  const byPeriod = new Map<string, Array<string>>()
  let hasRange = false
  for (let i = 0; i < times.length;) {
    let j = i
    while (j + 1 < times.length && minutes[j + 1]! - minutes[j]! === stepMinutes) j++
    const period = periodOf(minutes[i]!)
    const parts = byPeriod.get(period) ?? []
    if (j - i >= 2) {
      hasRange = true
      parts.push(`entre ${spokenTime(times[i]!)} et ${spokenTime(times[j]!)}`)
    } else {
      for (let k = i; k <= j; k++) parts.push(`à ${spokenTime(times[k]!)}`)
    }
    byPeriod.set(period, parts)
    i = j + 1
  }
  const periods = [...byPeriod].map(([period, parts]) => `${period} ${frenchList(parts)}`)
  return `${periods.join(", ")}${hasRange ? `, ${everyStep(stepMinutes)}` : ""}`
}

/** "aujourd'hui", "demain" or the day label, for suggestions. */
export const relativeDayLabel = (date: string, today: string): string =>
  date === today ? `aujourd'hui (${dayLabel(date, today)})` : date === addDays(today, 1)
    ? `demain (${dayLabel(date, today)})`
    : dayLabel(date, today)

/** "de 9 heures à midi et de 14 heures à 19 heures". */
export const rangesSentence = (ranges: ReadonlyArray<readonly [string, string]>): string =>
  frenchList(ranges.map(([from, to]) => `de ${spokenTime(from)} à ${spokenTime(to)}`))

/**
 * Opening hours as a person says them: days with the same hours grouped ("du mardi au vendredi, de 9 heures
 * à midi et de 14 heures à 19 heures ; le samedi, de 9 heures à 17 heures ; fermé le dimanche et le lundi").
 */
export const openingHoursSentence = (
  openingHours: Partial<Record<Weekday, ReadonlyArray<readonly [string, string]>>>
): string => {
  const days = Object.keys(WEEKDAY_FR) as Array<Weekday>
  const groups: Array<{ first: Weekday; last: Weekday; count: number; hours: string }> = []
  const closed: Array<Weekday> = []
  for (const day of days) {
    const ranges = openingHours[day] ?? []
    if (ranges.length === 0) {
      closed.push(day)
      continue
    }
    const hours = rangesSentence(ranges)
    const previous = groups[groups.length - 1]
    const adjacent = previous !== undefined && days.indexOf(previous.last) === days.indexOf(day) - 1
    if (previous !== undefined && adjacent && previous.hours === hours) {
      groups[groups.length - 1] = { ...previous, last: day, count: previous.count + 1 }
    } else {
      groups.push({ first: day, last: day, count: 1, hours })
    }
  }
  if (groups.length === 0) return "aucun horaire d'ouverture n'est renseigné"
  const open = groups.map((g) =>
    g.count === 1
      ? `le ${WEEKDAY_FR[g.first]}, ${g.hours}`
      : g.count === 2
      ? `le ${WEEKDAY_FR[g.first]} et le ${WEEKDAY_FR[g.last]}, ${g.hours}`
      : `du ${WEEKDAY_FR[g.first]} au ${WEEKDAY_FR[g.last]}, ${g.hours}`
  )
  const shut = closed.length === 0 ? [] : [`fermé ${frenchList(closed.map((d) => `le ${WEEKDAY_FR[d]}`))}`]
  return [...open, ...shut].join(" ; ")
}
