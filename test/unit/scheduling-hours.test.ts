import { SqlClient } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { Effect, Either, Layer, ParseResult, Schema, TestClock } from "effect"
import { Scheduling } from "../../src/scheduling/Scheduling.ts"
import { freeSlots, localBoundary } from "../../src/scheduling/slots.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { decodeTenantConfig, TenantConfig, type TenantConfigInput } from "../../src/tenants/TenantConfig.ts"
import { testDatabase } from "../support/db.ts"
import { runWith } from "../support/effect.ts"
import { insertTenant } from "../support/rows.ts"
import { SALON, salonConfig } from "../support/salon.ts"

/** Opening hours are normalised when a tenant is validated, and slots follow the normalised ranges. */

const decode = (overrides: Partial<TenantConfigInput>) => Effect.runSync(Effect.either(decodeTenantConfig({ ...SALON, ...overrides })))
const issues = (overrides: Partial<TenantConfigInput>) => {
  const result = decode(overrides)
  if (Either.isRight(result)) throw new Error("expected a refusal")
  return ParseResult.ArrayFormatter.formatErrorSync(result.left).map((i) => ({ path: i.path.join("."), message: i.message }))
}
const slotTimes = (config: TenantConfigInput["openingHours"], date: string, durationMinutes: number, step = 15) =>
  freeSlots({
    config: salonConfig({ openingHours: config, booking: { minLeadMinutes: 0, slotStepMinutes: step, horizonDays: 60 } }),
    date,
    durationMinutes,
    busy: [],
    nowMs: -Infinity
  }).map((s) => s.time)

const TUESDAY = "2026-12-01"

describe("opening hours normalised at validation", () => {
  test("sorted, duplicates removed, overlapping and touching ranges merged", () => {
    const config = salonConfig({
      openingHours: {
        tuesday: [["14:00", "19:00"], ["09:00", "12:00"], ["09:00", "12:00"], ["11:00", "12:30"], ["12:30", "13:00"]],
        saturday: [["09:00", "17:00"]],
        sunday: []
      }
    })
    expect(config.openingHours.tuesday).toEqual([["09:00", "13:00"], ["14:00", "19:00"]])
    expect(config.openingHours.saturday).toEqual([["09:00", "17:00"]])
    expect(config.openingHours.sunday).toEqual([])
    expect(config.openingHours.monday).toBeUndefined()
  })

  test("normalising is stable: the stored (encoded) form decodes to itself", () => {
    const config = salonConfig({ openingHours: { tuesday: [["14:00", "19:00"], ["09:00", "12:00"]] } })
    const again = Schema.decodeUnknownSync(TenantConfig)(Schema.encodeSync(TenantConfig)(config))
    expect(again.openingHours).toEqual(config.openingHours)
  })

  test("a range ending before it starts is refused with the day named", () => {
    const found = issues({ openingHours: { tuesday: [["09:00", "12:00"], ["19:00", "14:00"]] } })
    expect(found).toContainEqual({ path: "openingHours.tuesday.1", message: "tuesday: the opening range 19:00–14:00 must end after it starts" })
    const empty = issues({ openingHours: { friday: [["10:00", "10:00"]] } })
    expect(empty[0]?.message).toContain("friday")
  })

  test("24:00 ends a range (open until midnight); it never starts one", () => {
    expect(Either.isRight(decode({ openingHours: { friday: [["18:00", "24:00"]] } }))).toBe(true)
    expect(issues({ openingHours: { friday: [["24:00", "24:00"]] } }).length).toBeGreaterThan(0)
    expect(issues({ openingHours: { friday: [["18:00", "24:30"]] } }).length).toBeGreaterThan(0)
  })
})

describe("slots from normalised hours", () => {
  test("touching ranges are one: an hour-long slot at 11:30 across 12:00 is offered", () => {
    const merged = slotTimes({ tuesday: [["09:00", "12:00"], ["12:00", "14:00"]] }, TUESDAY, 60)
    expect(merged).toContain("11:30")
    expect(merged.at(-1)).toBe("13:00")
    // Control: with a real break, no slot crosses it.
    const broken = slotTimes({ tuesday: [["09:00", "12:00"], ["12:30", "14:00"]] }, TUESDAY, 60)
    expect(broken).not.toContain("11:30")
    expect(broken).toContain("11:00")
  })

  test("unordered, duplicated ranges give one ordered list without repeats", () => {
    const times = slotTimes({ tuesday: [["14:00", "15:00"], ["09:00", "10:00"], ["09:00", "10:00"]] }, TUESDAY, 30, 30)
    expect(times).toEqual(["09:00", "09:30", "14:00", "14:30"])
  })

  test("open until 24:00: the last slot ends at midnight", () => {
    expect(slotTimes({ tuesday: [["21:00", "24:00"]] }, TUESDAY, 60, 60)).toEqual(["21:00", "22:00", "23:00"])
  })

  test("a range ending in the spring-forward gap ends at the first instant after the gap (03:00), not an hour later", () => {
    // Sunday 29 March 2026 in Paris: 02:00 → 03:00. The first instant after the gap is 01:00 UTC.
    expect(new Date(localBoundary("2026-03-29", 150, "Europe/Paris")).toISOString()).toBe("2026-03-29T01:00:00.000Z")
    const times = slotTimes({ sunday: [["00:00", "02:30"]] }, "2026-03-29", 60)
    expect(times.at(-1)).toBe("01:00") // 01:00 CET + 1 h = 03:00 CEST, the end of the range
    // Control: an existing end time is exact.
    expect(new Date(localBoundary("2026-03-29", 240, "Europe/Paris")).toISOString()).toBe("2026-03-29T02:00:00.000Z")
  })
})

describe("a requested time inside the spring-forward gap", () => {
  const run = <A, E>(effect: Effect.Effect<A, E, Scheduling | SqlClient.SqlClient>): Promise<A> =>
    runWith(effect, Scheduling.Default.pipe(Layer.provideMerge(testDatabase())), { testClock: true })

  test("is explained as such, with the times the clocks jump between", async () => {
    const result = await run(Effect.gen(function*() {
      const config = salonConfig({ openingHours: { sunday: [["00:00", "06:00"]] } })
      yield* insertTenant("t1", { name: config.name, config: Schema.encodeSync(TenantConfig)(config) })
      const tenant: Tenant = { id: "t1", config }
      yield* TestClock.setTime(Date.parse("2026-03-20T10:00:00Z"))
      const scheduling = yield* Scheduling
      const skipped = yield* scheduling.book(tenant, { callId: null, callerNumber: "+33612345678" }, {
        date: "2026-03-29",
        time: "02:30",
        client_name: "Marie Dupont",
        service_type: "coupe-femme"
      })
      // Control: 03:00 exists and is booked.
      const control = yield* scheduling.book(tenant, { callId: null, callerNumber: "+33612345678" }, {
        date: "2026-03-29",
        time: "03:00",
        client_name: "Marie Dupont",
        service_type: "coupe-femme"
      })
      return { skipped, control }
    }))
    expect(result.skipped.status).toBe("unavailable")
    expect(result.skipped.status === "unavailable" && result.skipped.reason).toBe("skipped_by_clock_change")
    expect(result.skipped.message).toContain(
      "2 heures 30 n'existe pas le dimanche 29 mars : cette nuit-là, on passe à l'heure d'été et les horloges sautent de 2 heures à 3 heures."
    )
    expect(result.control.status).toBe("booked")
  })
})
