import { Option } from "effect"
import { addDays, parseClockTime, weekdayOf } from "./slots.ts"
import type { Weekday } from "../tenants/TenantConfig.ts"

/** French wording of dates and times for the messages the model reads (and often repeats aloud). */

export const WEEKDAY_FR: Record<Weekday, string> = {
  monday: "lundi",
  tuesday: "mardi",
  wednesday: "mercredi",
  thursday: "jeudi",
  friday: "vendredi",
  saturday: "samedi",
  sunday: "dimanche"
}

const MONTH_FR = [
  "janvier",
  "février",
  "mars",
  "avril",
  "mai",
  "juin",
  "juillet",
  "août",
  "septembre",
  "octobre",
  "novembre",
  "décembre"
] as const

/** "mardi 1 décembre", with the year when it is not the current one ("mardi 5 janvier 2027"). */
export const dayLabel = (date: string, today?: string): string => {
  const year = date.slice(0, 4)
  const month = MONTH_FR[Number(date.slice(5, 7)) - 1] ?? ""
  const day = Number(date.slice(8, 10))
  const label = `${WEEKDAY_FR[weekdayOf(date)]} ${day} ${month}`
  return today !== undefined && today.slice(0, 4) !== year ? `${label} ${year}` : label
}

/** "14:00" → "14 h 00", "09:30" → "9 h 30". */
export const spokenTime = (time: string): string => {
  const hours = Number(time.slice(0, 2))
  return `${hours} h ${time.slice(3, 5)}`
}

/** "Coupe femme" → "coupe femme" (acronyms such as "IRM" stay as they are). */
export const lowerFirst = (name: string): string =>
  name.length > 1 && name[1] === name[1]?.toUpperCase() && name[1] !== name[1]?.toLowerCase()
    ? name
    : name.charAt(0).toLowerCase() + name.slice(1)

/** "a", "a et b", "a, b et c". */
export const frenchList = (items: ReadonlyArray<string>): string =>
  items.length <= 1
    ? (items[0] ?? "")
    : `${items.slice(0, -1).join(", ")} et ${items[items.length - 1]}`

/**
 * A list of free start times, summarised for the ear: runs of at least three consecutive times (one step
 * apart) become "de 9 h 00 à 11 h 15 toutes les 15 minutes", the rest are listed.
 */
export const summariseTimes = (times: ReadonlyArray<string>, stepMinutes: number): string => {
  const minutes = times.map((t) => Option.getOrElse(parseClockTime(t), () => 0))
  const parts: Array<string> = []
  let i = 0
  while (i < times.length) {
    let j = i
    while (j + 1 < times.length && minutes[j + 1]! - minutes[j]! === stepMinutes) j++
    if (j - i >= 2) {
      parts.push(`de ${spokenTime(times[i]!)} à ${spokenTime(times[j]!)} toutes les ${stepMinutes} minutes`)
    } else {
      for (let k = i; k <= j; k++) parts.push(spokenTime(times[k]!))
    }
    i = j + 1
  }
  return frenchList(parts)
}

/** "aujourd'hui", "demain" or the day label, for suggestions. */
export const relativeDayLabel = (date: string, today: string): string =>
  date === today ? `aujourd'hui (${dayLabel(date, today)})` : date === addDays(today, 1)
    ? `demain (${dayLabel(date, today)})`
    : dayLabel(date, today)
