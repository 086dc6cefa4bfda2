import { addDays, localDateAt, weekdayOf } from "../../src/scheduling/slots.ts"

/** A Tuesday at least three days ahead in Paris: the demo salon is open then (09:00–12:00 and 14:00–19:00). */
export const nextTuesday = (nowMs: number = Date.now()): string => {
  const today = localDateAt("Europe/Paris", nowMs)
  for (let days = 3; days < 10; days++) {
    const date = addDays(today, days)
    if (weekdayOf(date) === "tuesday") return date
  }
  throw new Error("no Tuesday within a week")
}
