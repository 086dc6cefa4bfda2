import { describe, expect, test } from "../support/test.ts"
import { Option } from "effect"
import { dayLabel, spokenTime, summariseTimes } from "../../src/scheduling/french.ts"
import { normalizePhone, spokenPhone } from "../../src/scheduling/phone.ts"
import {
  addDays,
  dayStatus,
  freeSlots,
  localDateAt,
  localInstant,
  nextOpenDays,
  parseLocalDate,
  weekdayOf
} from "../../src/scheduling/slots.ts"
import type { TenantConfig, TenantConfigInput } from "../../src/tenants/TenantConfig.ts"
import { salonConfig } from "../support/salon.ts"

/** The salon, closed on Wednesday 2 December 2026. */
const configOf = (overrides: Partial<TenantConfigInput> = {}): TenantConfig => salonConfig({ closures: ["2026-12-02"], ...overrides })

const iso = (ms: number) => new Date(ms).toISOString()
const at = (text: string) => Date.parse(text)
const EARLY = at("2026-01-01T00:00:00Z")

describe("calendar helpers", () => {
  test("dates are real calendar dates", () => {
    expect(Option.isSome(parseLocalDate("2026-12-01"))).toBe(true)
    expect(Option.isSome(parseLocalDate("2028-02-29"))).toBe(true)
    expect(Option.isNone(parseLocalDate("2026-02-29"))).toBe(true)
    expect(Option.isNone(parseLocalDate("2026-02-30"))).toBe(true)
    expect(Option.isNone(parseLocalDate("2026-13-01"))).toBe(true)
    expect(Option.isNone(parseLocalDate("1/12/2026"))).toBe(true)
    expect(weekdayOf("2026-12-01")).toBe("tuesday")
    expect(weekdayOf("2026-03-29")).toBe("sunday")
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01")
    expect(addDays("2026-03-28", 2)).toBe("2026-03-30")
  })

  test("today is the local date in the tenant's zone", () => {
    expect(localDateAt("Europe/Paris", at("2026-11-30T23:30:00Z"))).toBe("2026-12-01")
    expect(localDateAt("America/New_York", at("2026-12-01T03:00:00Z"))).toBe("2026-11-30")
  })

  test("a local time skipped by DST does not exist; a repeated one is the earlier instant", () => {
    expect(Option.isNone(localInstant("2026-03-29", 2 * 60 + 30, "Europe/Paris"))).toBe(true)
    expect(iso(Option.getOrThrow(localInstant("2026-03-29", 3 * 60, "Europe/Paris")))).toBe("2026-03-29T01:00:00.000Z")
    expect(iso(Option.getOrThrow(localInstant("2026-10-25", 2 * 60 + 30, "Europe/Paris")))).toBe("2026-10-25T00:30:00.000Z")
    expect(iso(Option.getOrThrow(localInstant("2026-10-25", 3 * 60, "Europe/Paris")))).toBe("2026-10-25T02:00:00.000Z")
  })

  test("day status: weekday without hours, closure, open", () => {
    const config = configOf()
    expect(dayStatus(config, "2026-11-30")).toBe("closed_weekday") // Monday
    expect(dayStatus(config, "2026-12-02")).toBe("closed_exceptionally")
    expect(dayStatus(config, "2026-12-01")).toBe("open")
  })
})

describe("freeSlots", () => {
  test("every step in each range, the appointment ending within the range (lunch break respected)", () => {
    const slots = freeSlots({ config: configOf(), date: "2026-12-01", durationMinutes: 45, busy: [], nowMs: EARLY })
    const times = slots.map((s) => s.time)
    expect(times.slice(0, 10)).toEqual(["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15"])
    expect(times).not.toContain("11:30")
    expect(times).not.toContain("12:00")
    expect(times).not.toContain("13:45")
    expect(times[10]).toBe("14:00")
    expect(times[times.length - 1]).toBe("18:15")
    expect(times.length).toBe(10 + 18)
    // winter time in Paris: UTC+1
    expect(iso(slots[0]!.startMs)).toBe("2026-12-01T08:00:00.000Z")
    expect(iso(slots[0]!.endMs)).toBe("2026-12-01T08:45:00.000Z")
  })

  test("closed days have no slot", () => {
    expect(freeSlots({ config: configOf(), date: "2026-11-30", durationMinutes: 45, busy: [], nowMs: EARLY })).toEqual([])
    expect(freeSlots({ config: configOf(), date: "2026-12-02", durationMinutes: 45, busy: [], nowMs: EARLY })).toEqual([])
  })

  test("an existing appointment removes every slot it overlaps, not only its own start (half-open)", () => {
    const busy = [{ startMs: at("2026-12-01T09:00:00Z"), endMs: at("2026-12-01T09:45:00Z") }] // 10:00–10:45 local
    const times = freeSlots({ config: configOf(), date: "2026-12-01", durationMinutes: 30, busy, nowMs: EARLY })
      .map((s) => s.time)
    expect(times).toContain("09:30") // ends exactly at 10:00
    expect(times).not.toContain("09:45")
    expect(times).not.toContain("10:00")
    expect(times).not.toContain("10:15")
    expect(times).not.toContain("10:30")
    expect(times).toContain("10:45") // starts exactly when it ends
  })

  test("lead time and past times: nothing before now + minLeadMinutes", () => {
    // 09:10 local on Tuesday 1 December, lead 60 minutes: first start at or after 10:10
    const times = freeSlots({
      config: configOf(),
      date: "2026-12-01",
      durationMinutes: 45,
      busy: [],
      nowMs: at("2026-12-01T08:10:00Z")
    }).map((s) => s.time)
    expect(times[0]).toBe("10:15")
    const noLead = freeSlots({
      config: configOf({ booking: { minLeadMinutes: 0 } }),
      date: "2026-12-01",
      durationMinutes: 45,
      busy: [],
      nowMs: at("2026-12-01T13:00:00Z") // 14:00 local
    }).map((s) => s.time)
    expect(noLead[0]).toBe("14:00")
    expect(noLead).not.toContain("11:00")
  })

  test("DST spring forward (Paris, 2026-03-29): 02:xx does not exist, instants shift by one hour", () => {
    const config = configOf({ openingHours: { sunday: [["01:00", "05:00"]] }, booking: { slotStepMinutes: 30 } })
    const slots = freeSlots({ config, date: "2026-03-29", durationMinutes: 30, busy: [], nowMs: EARLY })
    expect(slots.map((s) => s.time)).toEqual(["01:00", "01:30", "03:00", "03:30", "04:00", "04:30"])
    expect(slots.map((s) => iso(s.startMs))).toEqual([
      "2026-03-29T00:00:00.000Z",
      "2026-03-29T00:30:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T01:30:00.000Z",
      "2026-03-29T02:00:00.000Z",
      "2026-03-29T02:30:00.000Z"
    ])
    // A 90-minute service from 01:30 ends at 04:00 local (02:00Z): only one real hour and a half.
    const long = freeSlots({ config, date: "2026-03-29", durationMinutes: 90, busy: [], nowMs: EARLY })
    expect(long.map((s) => s.time)).toEqual(["01:00", "01:30", "03:00", "03:30"])
    expect(iso(long[1]!.endMs)).toBe("2026-03-29T02:00:00.000Z")
  })

  test("DST fall back (Paris, 2026-10-25): 02:xx is the first (summer) occurrence, 03:00 is winter time", () => {
    const config = configOf({ openingHours: { sunday: [["01:00", "04:00"]] }, booking: { slotStepMinutes: 30 } })
    const slots = freeSlots({ config, date: "2026-10-25", durationMinutes: 30, busy: [], nowMs: EARLY })
    expect(slots.map((s) => s.time)).toEqual(["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"])
    expect(slots.map((s) => iso(s.startMs))).toEqual([
      "2026-10-24T23:00:00.000Z",
      "2026-10-24T23:30:00.000Z",
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T02:30:00.000Z"
    ])
    // The day before and after use their own offsets.
    const saturday = freeSlots({ config: configOf(), date: "2026-10-24", durationMinutes: 45, busy: [], nowMs: EARLY })
    expect(iso(saturday[0]!.startMs)).toBe("2026-10-24T07:00:00.000Z")
    const tuesday = freeSlots({ config: configOf(), date: "2026-10-27", durationMinutes: 45, busy: [], nowMs: EARLY })
    expect(iso(tuesday[0]!.startMs)).toBe("2026-10-27T08:00:00.000Z")
  })

  test("another zone: slots are in the tenant's zone", () => {
    const config = configOf({ timezone: "America/New_York" })
    const slots = freeSlots({ config, date: "2026-12-01", durationMinutes: 45, busy: [], nowMs: EARLY })
    expect(iso(slots[0]!.startMs)).toBe("2026-12-01T14:00:00.000Z")
  })
})

describe("nextOpenDays", () => {
  test("skips closed and full days, stops at the horizon", () => {
    const config = configOf()
    // Tuesday 1 December is full; Wednesday 2 is a closure; Thursday/Friday closed; Saturday 5 open.
    const busy = [{ startMs: at("2026-12-01T08:00:00Z"), endMs: at("2026-12-01T18:00:00Z") }]
    const days = nextOpenDays({
      config,
      after: "2026-11-30",
      until: "2026-12-09",
      durationMinutes: 45,
      busy,
      nowMs: EARLY,
      count: 3,
      slotsPerDay: 2
    })
    expect(days.map((d) => d.date)).toEqual(["2026-12-05", "2026-12-08", "2026-12-09"])
    expect(days[0]!.slots.map((s) => s.time)).toEqual(["09:00", "09:15"])
    const limited = nextOpenDays({
      config,
      after: "2026-11-30",
      until: "2026-12-07",
      durationMinutes: 45,
      busy,
      nowMs: EARLY,
      count: 3
    })
    expect(limited.map((d) => d.date)).toEqual(["2026-12-05"])
  })
})

describe("phone normalisation", () => {
  test.each([
    ["06 12 34 56 78", "+33612345678"],
    ["06.12.34.56.78", "+33612345678"],
    ["06-12-34-56-78", "+33612345678"],
    ["0612345678", "+33612345678"],
    ["0033 6 12 34 56 78", "+33612345678"],
    ["+33 6 12 34 56 78", "+33612345678"],
    ["+33 (0)6 12 34 56 78", "+33612345678"],
    ["+330612345678", "+33612345678"],
    ["01 23 45 67 89", "+33123456789"],
    ["+44 20 7946 0958", "+442079460958"],
    ["0044 20 7946 0958", "+442079460958"],
    ["+1 415 555 2671", "+14155552671"],
    ["+32 470 12 34 56", "+32470123456"]
  ])("%p → %p", (raw, expected) => {
    expect(normalizePhone(raw)).toEqual(Option.some(expected))
  })

  // The overseas departments dial like mainland France ("0692…") but have their own country codes.
  test.each([
    ["Réunion mobile", "0692 12 34 56", "+262692123456", "0692 12 34 56"],
    ["Réunion fixed", "02 62 21 34 56", "+262262213456", "0262 21 34 56"],
    ["Guadeloupe fixed", "0590 81 23 45", "+590590812345", "0590 81 23 45"],
    ["Guadeloupe mobile", "06.90.12.34.56", "+590690123456", "0690 12 34 56"],
    ["Martinique fixed", "0596 71 23 45", "+596596712345", "0596 71 23 45"],
    ["Martinique mobile", "0696-12-34-56", "+596696123456", "0696 12 34 56"],
    ["Guyane fixed", "0594 29 12 34", "+594594291234", "0594 29 12 34"],
    ["Guyane mobile", "0694123456", "+594694123456", "0694 12 34 56"],
    ["Mayotte fixed", "0269 61 12 34", "+262269611234", "0269 61 12 34"],
    ["Mayotte mobile", "0639 01 23 45", "+262639012345", "0639 01 23 45"],
    ["Réunion from abroad", "+262 692 12 34 56", "+262692123456", "0692 12 34 56"],
    ["mainland mobile (control)", "06 12 34 56 78", "+33612345678", "06 12 34 56 78"],
    ["mainland fixed (control)", "01 42 68 53 00", "+33142685300", "01 42 68 53 00"]
  ])("%s: %p → %p, said %p", (_what, raw, e164, spoken) => {
    expect(normalizePhone(raw)).toEqual(Option.some(e164))
    expect(spokenPhone(e164)).toBe(spoken)
  })

  test("a foreign number is said in its international form", () => {
    expect(spokenPhone("+442079460958")).toBe("plus 44 20 7946 0958")
  })

  test.each(["", "anonymous", "12345", "06 12 34 56", "+33 6 12 34 56 78 9", "client:alice", "zéro six douze"])(
    "%p is not a number",
    (raw) => {
      expect(Option.isNone(normalizePhone(raw))).toBe(true)
    }
  )
})

describe("French wording", () => {
  test("day labels say « 1er » and the year only when it is not this one", () => {
    expect(dayLabel("2026-12-01", "2026-11-20")).toBe("mardi 1er décembre")
    expect(dayLabel("2026-12-02", "2026-11-20")).toBe("mercredi 2 décembre")
    expect(dayLabel("2027-01-05", "2026-12-20")).toBe("mardi 5 janvier 2027")
    expect(dayLabel("2027-01-01", "2026-12-20")).toBe("vendredi 1er janvier 2027")
  })

  test.each([
    ["14:00", "14 heures"],
    ["09:30", "9 heures 30"],
    ["09:05", "9 heures 5"],
    ["12:00", "midi"],
    ["12:30", "midi et demi"],
    ["12:15", "midi 15"],
    ["00:00", "minuit"],
    ["24:00", "minuit"],
    ["01:00", "une heure"],
    ["01:45", "une heure 45"],
    ["21:00", "vingt et une heures"],
    ["21:30", "vingt et une heures 30"],
    ["13:45", "13 heures 45"]
  ])("spoken time %p → %p", (time, spoken) => {
    expect(spokenTime(time)).toBe(spoken)
  })

  const run = (from: string, to: string, step: number): Array<string> => {
    const times: Array<string> = []
    const [fh, fm] = from.split(":").map(Number)
    const [th, tm] = to.split(":").map(Number)
    for (let m = fh! * 60 + fm!; m <= th! * 60 + tm!; m += step) {
      times.push(`${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`)
    }
    return times
  }

  test("a day of free slots is read as ranges by part of the day, the step said once", () => {
    expect(summariseTimes([...run("09:00", "11:15", 15), ...run("14:00", "18:00", 15)], 15)).toBe(
      "le matin entre 9 heures et 11 heures 15, l'après-midi entre 14 heures et 18 heures, toutes les 15 minutes"
    )
    expect(summariseTimes([...run("09:00", "11:00", 60), ...run("14:00", "19:00", 60)], 60)).toBe(
      "le matin entre 9 heures et 11 heures, l'après-midi entre 14 heures et 19 heures, toutes les heures"
    )
    expect(summariseTimes(run("18:00", "21:00", 30), 30)).toBe("le soir entre 18 heures et vingt et une heures, toutes les demi-heures")
  })

  test("a half-booked day: ranges where runs remain, the lone times named", () => {
    expect(summariseTimes(["09:00", "09:15", "09:30", "10:30", "14:00", "14:15", "14:30", "14:45", "16:00"], 15)).toBe(
      "le matin entre 9 heures et 9 heures 30 et à 10 heures 30, l'après-midi entre 14 heures et 14 heures 45 et à 16 heures, toutes les 15 minutes"
    )
  })

  test("a few remaining times are each named, no ranges", () => {
    expect(summariseTimes(["09:00", "09:15", "12:00", "17:30"], 15)).toBe("9 heures, 9 heures 15, midi et 17 heures 30")
    expect(summariseTimes(["10:00"], 15)).toBe("10 heures")
  })
})
