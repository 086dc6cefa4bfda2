import { SqlClient, Statement } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { Cause, Context, Deferred, Effect, Exit, Layer, Option, Ref, Schema, TestClock } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Appointment, type BookAppointmentResult, Scheduling } from "../../src/scheduling/Scheduling.ts"
import { constraintOf } from "../../src/scheduling/AppointmentsRepo.ts"
import type { BookAppointmentInput } from "../../src/scheduling/toolInputs.ts"
import { testDatabase } from "../support/db.ts"
import { runScoped, runWith } from "../support/effect.ts"
import { insertTenant } from "../support/rows.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { TenantConfig, type TenantConfigInput } from "../../src/tenants/TenantConfig.ts"
import { FULL_DAY, SALON, salonConfig } from "../support/salon.ts"

// --- harness: a fresh in-memory database with the real migrations per test, TestClock for "now" ---

const run = <A, E>(effect: Effect.Effect<A, E, Scheduling | SqlClient.SqlClient>): Promise<A> =>
  runWith(effect, Scheduling.Default.pipe(Layer.provideMerge(testDatabase())), { testClock: true })


/** The salon, open Tuesday to Saturday and closed on Christmas Day, with a 30-minute brushing as well. */
const configOf = (overrides: Partial<TenantConfigInput> = {}) =>
  salonConfig({
    openingHours: { ...SALON.openingHours, thursday: FULL_DAY, friday: FULL_DAY },
    closures: ["2026-12-25"],
    services: [...SALON.services, { type: "brushing", name: "Brushing", durationMinutes: 30 }],
    ...overrides
  })

const addTenant = (id: string, overrides: Partial<TenantConfigInput> = {}) =>
  Effect.gen(function*() {
    const config = configOf(overrides)
    yield* insertTenant(id, { name: config.name, config: Schema.encodeSync(TenantConfig)(config) })
    return { id, config } satisfies Tenant as Tenant
  })

const setNow = (iso: string) => TestClock.setTime(Date.parse(iso))

/** The call row the voice webhook writes before any tool can run, and the context a tool then gets. */
const inCall = (callId: string, callerNumber = "+33612345678", tenantId = "t1") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = "2026-01-01T00:00:00.000Z"
    yield* sql`INSERT INTO calls (id, tenant_id, twilio_call_sid, from_number, to_number, direction, status, started_at, created_at)
      VALUES (${callId}, ${tenantId}, ${`CA-${callId}`}, ${callerNumber}, '+33939035760', 'inbound', 'in-progress', ${now}, ${now})`
    return { callId, callerNumber }
  })

/** Friday 20 November 2026, 11:00 in Paris. */
const NOW = "2026-11-20T10:00:00.000Z"
const TUESDAY = "2026-12-01"
const noCall = { callId: null, callerNumber: "+33612345678" }

const booking = (time: string, name = "Marie Dupont", service_type = "coupe-femme", date = TUESDAY) => ({
  date,
  time,
  client_name: name,
  service_type
})

const idOf = (result: BookAppointmentResult): string =>
  result.status === "booked" || result.status === "rescheduled" ? result.appointmentId : `no id: ${result.status}`

describe("checkAvailability", () => {
  test("lists the free times of a day with a lunch break", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      return yield* (yield* Scheduling).checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
    }))
    expect(result.status).toBe("available")
    if (result.status !== "available") return
    expect(result.times.slice(0, 2)).toEqual(["09:00", "09:15"])
    expect(result.times).toContain("11:15")
    expect(result.times).not.toContain("11:30")
    expect(result.times).not.toContain("12:00")
    expect(result.times).not.toContain("13:45")
    expect(result.times).toContain("14:00")
    expect(result.times[result.times.length - 1]).toBe("18:15")
    expect(result.dayLabel).toBe("mardi 1er décembre")
    expect(result.message).toContain("le matin entre 9 heures et 11 heures 15, l'après-midi entre 14 heures et 18 heures 15, toutes les 15 minutes")
    expect(result.service).toEqual({ type: "coupe-femme", name: "Coupe femme", durationMinutes: 45 })
    expect(JSON.parse(JSON.stringify(result))).toEqual(result)
  })

  test("a closure, and a weekday without hours, suggest the next open days with their first times", async () => {
    const [closure, monday] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      return [
        yield* scheduling.checkAvailability(tenant, { date: "2026-12-25", service_type: "coupe-femme" }),
        yield* scheduling.checkAvailability(tenant, { date: "2026-11-30", service_type: "coupe-femme" })
      ] as const
    }))
    expect(closure.status).toBe("unavailable")
    if (closure.status !== "unavailable") return
    expect(closure.reason).toBe("closed_exceptionally")
    expect(closure.suggestions.map((s) => s.date)).toEqual(["2026-12-26", "2026-12-29", "2026-12-30"])
    expect(closure.suggestions[0]!.times).toEqual(["09:00", "09:15", "09:30"])
    expect(closure.message).toContain("exceptionnellement fermé le vendredi 25 décembre")
    expect(closure.message).toContain("samedi 26 décembre (9 heures, 9 heures 15 et 9 heures 30)")
    expect(monday.status === "unavailable" && monday.reason).toBe("closed_weekday")
    expect(monday.status === "unavailable" && monday.suggestions[0]!.date).toBe(TUESDAY)
  })

  test("a full day says so and suggests the next days", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1", { openingHours: { saturday: [["09:00", "10:00"]] } })
      const scheduling = yield* Scheduling
      const booked = yield* scheduling.book(tenant, noCall, booking("09:00", "A", "coupe-femme", "2026-11-28"))
      expect(booked.status).toBe("booked")
      return yield* scheduling.checkAvailability(tenant, { date: "2026-11-28", service_type: "coupe-femme" })
    }))
    expect(result.status === "unavailable" && result.reason).toBe("no_slot")
    expect(result.status === "unavailable" && result.suggestions.map((s) => s.date)).toEqual([
      "2026-12-05",
      "2026-12-12",
      "2026-12-19"
    ])
  })

  test("lead time and past times today", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow("2026-12-01T08:10:00.000Z") // 09:10 in Paris
      const tenant = yield* addTenant("t1")
      return yield* (yield* Scheduling).checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
    }))
    expect(result.status === "available" && result.times[0]).toBe("10:15")
  })

  test("the last slots of today gone: no slot, next days suggested", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow("2026-12-01T17:30:00.000Z") // 18:30 in Paris
      const tenant = yield* addTenant("t1")
      return yield* (yield* Scheduling).checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
    }))
    expect(result.status === "unavailable" && result.reason).toBe("no_slot")
    expect(result.status === "unavailable" && result.suggestions[0]!.date).toBe("2026-12-02")
  })

  test("explicit errors the model can act on: malformed, past, beyond horizon, unknown service", async () => {
    const results = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      return yield* Effect.all([
        scheduling.checkAvailability(tenant, { date: "2026-02-30", service_type: "coupe-femme" }),
        scheduling.checkAvailability(tenant, { date: "2026-11-19", service_type: "coupe-femme" }),
        scheduling.checkAvailability(tenant, { date: "2027-01-20", service_type: "coupe-femme" }),
        scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "manucure" }),
        scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "Coupe Femme" })
      ])
    }))
    const [malformed, past, beyond, unknown, byName] = results
    expect(malformed).toMatchObject({ status: "error", error: "invalid_date", today: "2026-11-20" })
    expect(past).toMatchObject({ status: "error", error: "past_date" })
    expect(past!.message).toContain("vendredi 20 novembre")
    expect(beyond).toMatchObject({ status: "error", error: "beyond_horizon", lastBookableDate: "2027-01-19" })
    expect(unknown).toMatchObject({ status: "error", error: "unknown_service" })
    expect(unknown!.status === "error" && unknown!.knownServices!.map((s) => s.type)).toEqual(["coupe-femme", "brushing"])
    expect(unknown!.message).toContain("Coupe femme (identifiant « coupe-femme », 45 minutes)")
    expect(byName!.status).toBe("available")
  })

  test("an existing appointment hides every overlapping start, not just its own", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      yield* scheduling.book(tenant, noCall, booking("10:00")) // 10:00–10:45
      return yield* scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "brushing" }) // 30 min
    }))
    expect(result.status).toBe("available")
    if (result.status !== "available") return
    expect(result.times).toContain("09:30")
    for (const t of ["09:45", "10:00", "10:15", "10:30"]) expect(result.times).not.toContain(t)
    expect(result.times).toContain("10:45")
  })
})

describe("book", () => {
  test("the read-back: the day with « 1er », the time said, the name, an overseas number in its local pairs", async () => {
    const results = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      return [
        yield* scheduling.book(tenant, noCall, { ...booking("11:15", "Paul Hoarau"), client_phone: "0692 12 34 56" }),
        yield* scheduling.book(tenant, { callId: null, callerNumber: "+590690123456" }, booking("09:00", "Léa Jean"))
      ] as const
    }))
    expect(results[0]).toMatchObject({
      status: "booked",
      clientPhone: "+262692123456",
      message: "Rendez-vous confirmé : coupe femme le mardi 1er décembre à 11 heures 15, au nom de Paul Hoarau, numéro de téléphone 0692 12 34 56."
    })
    expect(results[1]).toMatchObject({
      status: "booked",
      clientPhone: "+590690123456",
      message: "Rendez-vous confirmé : coupe femme le mardi 1er décembre à 9 heures, au nom de Léa Jean, numéro de téléphone 0690 12 34 56."
    })
  })

  test("books, stores a UTC instant and the zone, and gives a read-back sentence", async () => {
    const [result, rows] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const result = yield* (yield* Scheduling).book(tenant, noCall, booking("14:00"))
      const sql = yield* SqlClient.SqlClient
      return [result, yield* sql`SELECT * FROM appointments`] as const
    }))
    expect(result).toMatchObject({
      status: "booked",
      startsAt: "2026-12-01T13:00:00.000Z",
      endsAt: "2026-12-01T13:45:00.000Z",
      date: TUESDAY,
      time: "14:00",
      timeZone: "Europe/Paris",
      clientName: "Marie Dupont",
      clientPhone: "+33612345678",
      alreadyBooked: false,
      message: "Rendez-vous confirmé : coupe femme le mardi 1er décembre à 14 heures, au nom de Marie Dupont, numéro de téléphone 06 12 34 56 78."
    })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      tenant_id: "t1",
      starts_at: "2026-12-01T13:00:00.000Z",
      time_zone: "Europe/Paris",
      status: "booked",
      created_at: NOW,
      service_type: "coupe-femme",
      service_name: "Coupe femme"
    })
  })

  test("DST weekends: the stored instants follow the zone's offset of that day", async () => {
    const results = await run(Effect.gen(function*() {
      yield* setNow("2026-03-01T10:00:00.000Z")
      const tenant = yield* addTenant("t1", {
        openingHours: { saturday: [["09:00", "17:00"]], sunday: [["01:00", "05:00"]], monday: [["09:00", "17:00"]] },
        booking: { slotStepMinutes: 30, horizonDays: 365 }
      })
      const scheduling = yield* Scheduling
      return yield* Effect.all([
        scheduling.book(tenant, noCall, booking("09:00", "A", "brushing", "2026-03-28")),
        scheduling.book(tenant, noCall, booking("01:30", "B", "brushing", "2026-03-29")),
        scheduling.book(tenant, noCall, booking("02:30", "C", "brushing", "2026-03-29")), // does not exist
        scheduling.book(tenant, noCall, booking("03:00", "D", "brushing", "2026-03-29")),
        scheduling.book(tenant, noCall, booking("09:00", "E", "brushing", "2026-03-30")),
        scheduling.book(tenant, noCall, booking("09:00", "F", "brushing", "2026-10-24")),
        scheduling.book(tenant, noCall, booking("02:30", "G", "brushing", "2026-10-25")),
        scheduling.book(tenant, noCall, booking("03:00", "H", "brushing", "2026-10-25")),
        scheduling.book(tenant, noCall, booking("09:00", "I", "brushing", "2026-10-26"))
      ])
    }))
    const startsAt = results.map((r) => (r.status === "booked" ? r.startsAt : r.status))
    expect(startsAt).toEqual([
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T00:30:00.000Z",
      "unavailable",
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
      "2026-10-24T07:00:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-26T08:00:00.000Z"
    ])
    expect(results[2]).toMatchObject({ status: "unavailable", reason: "skipped_by_clock_change" })
    // The local time read back is the wall clock of that day.
    expect(results[3]).toMatchObject({ time: "03:00", date: "2026-03-29" })
    expect(results[7]).toMatchObject({ time: "03:00", date: "2026-10-25" })
  })

  test("the database itself refuses an overlapping booked row (trigger) and a re-booking over a taken slot", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const sql = yield* SqlClient.SqlClient
      const first = yield* scheduling.book(tenant, noCall, booking("14:00"))
      const insertRow = (id: string, startsAt: string, endsAt: string) =>
        sql`INSERT INTO appointments (id, tenant_id, service_type, service_name, client_name, client_phone,
              starts_at, ends_at, time_zone, status, created_at)
            VALUES (${id}, 't1', 'brushing', 'Brushing', 'X', '+33612345678', ${startsAt}, ${endsAt},
              'Europe/Paris', 'booked', ${NOW})`.pipe(Effect.flip, Effect.map((e) => constraintOf(e) ?? e))
      const overlap = yield* insertRow("x1", "2026-12-01T13:30:00.000Z", "2026-12-01T14:00:00.000Z")
      const sameStart = yield* insertRow("x2", "2026-12-01T13:00:00.000Z", "2026-12-01T13:15:00.000Z")
      // Cancel, book an overlapping one, then try to bring the first back.
      if (first.status !== "booked") return yield* Effect.die("not booked")
      yield* scheduling.cancel("t1", first.appointmentId)
      const second = yield* scheduling.book(tenant, noCall, booking("14:15", "Other"))
      const revive = yield* sql`UPDATE appointments SET status = 'booked', cancelled_at = NULL WHERE id = ${first.appointmentId}`
        .pipe(Effect.flip, Effect.map((e) => constraintOf(e) ?? e))
      return { overlap, sameStart, second: second.status, revive }
    }))
    // which guard refused, read from the driver's codes and constraint names (not message text)
    expect(outcome).toEqual({ overlap: "slot", sameStart: "slot", second: "booked", revive: "slot" })
  })

  test("when only the database sees the conflict, its refusal becomes 'slot taken', not a crash", async () => {
    // A row written by something else (an import, another instance) that the application's windowed
    // queries do not look at: it starts two days earlier and lasts three days. Only the trigger catches it.
    const result = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO appointments (id, tenant_id, service_type, service_name, client_name, client_phone,
          starts_at, ends_at, time_zone, status, created_at)
        VALUES ('blocker', 't1', 'stage', 'Stage', 'Équipe', '+33612345678',
          '2026-11-29T12:00:00.000Z', '2026-12-02T12:00:00.000Z', 'Europe/Paris', 'booked', ${NOW})`
      return yield* (yield* Scheduling).book(tenant, noCall, booking("14:00"))
    }))
    expect(result.status).toBe("slot_taken")
  })

  test("a repeated tool call in the same call returns the same appointment, even concurrently", async () => {
    const [first, again, concurrent, count] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("14:00"))
      // Same phone, given explicitly in national format this time.
      const again = yield* scheduling.book(tenant, context, { ...booking("14:00"), client_phone: "06 12 34 56 78" })
      const luc = yield* inCall("call-2", "+33699999999")
      const concurrent = yield* Effect.all(
        [
          scheduling.book(tenant, luc, booking("16:00", "Luc")),
          scheduling.book(tenant, luc, booking("16:00", "Luc"))
        ],
        { concurrency: "unbounded" }
      )
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM appointments`
      return [first, again, concurrent, rows[0]!.n] as const
    }))
    expect(first.status).toBe("booked")
    expect(again).toMatchObject({ status: "booked", alreadyBooked: true })
    expect(again.status === "booked" && first.status === "booked" && again.appointmentId === first.appointmentId).toBe(
      true
    )
    expect(concurrent.map((r) => r.status)).toEqual(["booked", "booked"])
    const ids = new Set(concurrent.map((r) => (r.status === "booked" ? r.appointmentId : "")))
    expect(ids.size).toBe(1)
    expect(count).toBe(2)
  })

  test("a repeat is answered even once the slot is within the lead time", async () => {
    const again = await run(Effect.gen(function*() {
      yield* setNow("2026-12-01T11:00:00.000Z") // 12:00 local
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      yield* scheduling.book(tenant, context, booking("14:00"))
      yield* TestClock.adjust("65 minutes")
      return yield* scheduling.book(tenant, context, booking("14:00"))
    }))
    expect(again).toMatchObject({ status: "booked", alreadyBooked: true })
  })

  test("the appointment is linked to its call", async () => {
    const callId = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const sql = yield* SqlClient.SqlClient
      const result = yield* (yield* Scheduling).book(tenant, yield* inCall("call-1"), booking("14:00"))
      if (result.status !== "booked") return yield* Effect.die(result)
      const rows = yield* sql<{ call_id: string | null }>`SELECT call_id FROM appointments WHERE id = ${result.appointmentId}`
      return rows[0]!.call_id
    }))
    expect(callId).toBe("call-1")
  })

  test("a call id without its call row is a defect, not a booking silently unlinked from its call", async () => {
    // The voice webhook writes the call row before the TwiML goes back, so a tool never runs without it.
    const [exit, count] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const sql = yield* SqlClient.SqlClient
      const exit = yield* (yield* Scheduling).book(tenant, { callId: "ghost", callerNumber: "+33612345678" }, booking("14:00"))
        .pipe(Effect.exit)
      const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM appointments`
      return [exit, rows[0]!.n] as const
    }))
    const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
    expect((defect as { _tag?: string } | undefined)?._tag).toBe("SqlError")
    // SQLITE_CONSTRAINT_FOREIGNKEY (787, node:sqlite's errcode) or Postgres's foreign_key_violation.
    const cause = (defect as { cause?: { code?: string; errcode?: number } }).cause
    expect(cause?.errcode === 787 || cause?.code === "23503").toBe(true)
    expect(count).toBe(0)
  })

  test("phone: normalised, defaults to the caller, error when neither is usable", async () => {
    const [given, fromCaller, invalid, hidden] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      return yield* Effect.all([
        scheduling.book(tenant, { callId: null, callerNumber: null }, { ...booking("09:00"), client_phone: "0033 6.12.34.56.78" }),
        scheduling.book(tenant, { callId: null, callerNumber: "+33 7 00 00 00 01" }, booking("10:00")),
        scheduling.book(tenant, noCall, { ...booking("11:00"), client_phone: "06 12" }),
        scheduling.book(tenant, { callId: null, callerNumber: "anonymous" }, booking("11:00"))
      ])
    }))
    expect(given).toMatchObject({ status: "booked", clientPhone: "+33612345678" })
    expect(fromCaller).toMatchObject({ status: "booked", clientPhone: "+33700000001" })
    expect(invalid).toMatchObject({ status: "error", error: "invalid_phone" })
    expect(hidden).toMatchObject({ status: "error", error: "invalid_phone" })
    expect(hidden.message).toContain("client_phone")
  })

  test("refusals: closed day, off-grid time, too soon, already past, malformed time, empty name", async () => {
    const results = await run(Effect.gen(function*() {
      yield* setNow("2026-12-01T08:10:00.000Z") // Tuesday 09:10 local
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      return yield* Effect.all([
        scheduling.book(tenant, noCall, booking("10:00", "A", "coupe-femme", "2026-12-25")),
        scheduling.book(tenant, noCall, booking("12:30")),
        scheduling.book(tenant, noCall, booking("14:10")),
        scheduling.book(tenant, noCall, booking("09:30")),
        scheduling.book(tenant, noCall, booking("09:00")),
        scheduling.book(tenant, noCall, booking("9h30")),
        scheduling.book(tenant, noCall, booking("10:30", "   "))
      ])
    }))
    const [closed, lunch, offGrid, tooSoon, past, malformed, noName] = results
    expect(closed).toMatchObject({ status: "unavailable", reason: "closed_exceptionally" })
    expect(closed!.status === "unavailable" && closed!.suggestions[0]!.date).toBe("2026-12-26")
    expect(lunch).toMatchObject({ status: "unavailable", reason: "outside_hours" })
    expect(lunch!.status === "unavailable" && lunch!.alternatives).toContain("14:00")
    expect(offGrid).toMatchObject({ status: "unavailable", reason: "outside_hours" })
    expect(tooSoon).toMatchObject({ status: "unavailable", reason: "too_soon" })
    expect(tooSoon!.message).toContain("une heure")
    expect(past).toMatchObject({ status: "unavailable", reason: "past_time" })
    expect(malformed).toMatchObject({ status: "error", error: "invalid_time" })
    expect(noName).toMatchObject({ status: "error", error: "invalid_name" })
  })

  test("a slot booked earlier by someone else is 'slot taken' with the nearest free times", async () => {
    const result = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      yield* scheduling.book(tenant, noCall, booking("14:00", "Alice"))
      return yield* scheduling.book(tenant, { callId: null, callerNumber: "+33622222222" }, booking("14:15", "Bruno"))
    }))
    expect(result).toMatchObject({ status: "slot_taken", time: "14:15" })
    expect(result.status === "slot_taken" && result.alternatives).toEqual(["14:45", "15:00", "15:15", "15:30", "15:45", "16:00"])
  })
})

describe("booking races between connections (two server processes on one database)", () => {
  /** One booking of a race: the call it is made from (its row created first) and the tool input, which may name appointments `prepare` made. */
  interface Racer {
    readonly callId: string
    readonly callerNumber: string
    readonly input: BookAppointmentInput | ((ids: ReadonlyMap<string, string>) => BookAppointmentInput)
  }

  /**
   * Each racer books through its own `Scheduling` on its own SQLite connection to one temp-file database (WAL),
   * as separate server processes would. Every racer is held just before its first write to `appointments`
   * until all of them have got there — past their availability checks, which all saw the slot free — and then
   * all go at once. Only what the database does at the write can stop a loser: without the overlap trigger and
   * the unique start index, the same-slot and overlap races below book twice (checked by removing them).
   *
   * `prepare` runs first on one connection (earlier bookings); its result names appointments for the racers.
   */
  const raceOnConnections = (
    racers: ReadonlyArray<Racer>,
    prepare: (tenant: Tenant) => Effect.Effect<ReadonlyMap<string, string>, never, Scheduling | SqlClient.SqlClient> = () =>
      Effect.succeed(new Map())
  ) => {
    const dir = mkdtempSync(join(tmpdir(), "scheduling-race-"))
    const file = join(dir, "race.db")
    const program = Effect.gen(function*() {
      yield* setNow(NOW)
      const connections: Array<Context.Context<Scheduling | SqlClient.SqlClient>> = []
      for (let i = 0; i < racers.length; i++) {
        connections.push(yield* Layer.build(Scheduling.Default.pipe(Layer.provideMerge(testDatabase(file)))))
      }
      const setup = connections[0]!
      const tenant = yield* addTenant("t1").pipe(Effect.provide(setup))
      for (const racer of racers) {
        const exists = yield* Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM calls WHERE id = ${racer.callId}`),
          setup
        )
        if (exists[0]!.n === 0) yield* inCall(racer.callId, racer.callerNumber).pipe(Effect.provide(setup))
      }
      const ids = yield* prepare(tenant).pipe(Effect.provide(setup))

      const gate = yield* Deferred.make<void>()
      const atGate = yield* Ref.make(0)
      const held = racers.map(() => false)
      const arrive = Ref.updateAndGet(atGate, (n) => n + 1).pipe(
        Effect.flatMap((n) => (n === racers.length ? Deferred.succeed(gate, undefined) : Effect.void))
      )
      /** Holds racer `i` before its first write to `appointments` (or the booking lock) until every racer is there (or done). */
      const holdFirstWrite = (i: number): Statement.Statement.Transformer => (statement) =>
        Effect.suspend(() => {
          const [text] = statement.compile()
          // On Postgres the tenant's booking lock comes first: racers are held before it, or the first would hold
          // it at the gate while the others wait on it.
          if (held[i] || !/^\s*(INSERT INTO|UPDATE) appointments\b|pg_advisory_xact_lock/.test(text)) return Effect.succeed(statement)
          held[i] = true
          return arrive.pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(statement))
        })

      const results = yield* Effect.all(
        racers.map((racer, i) =>
          Context.get(connections[i]!, Scheduling).book(
            tenant,
            { callId: racer.callId, callerNumber: racer.callerNumber },
            typeof racer.input === "function" ? racer.input(ids) : racer.input
          ).pipe(
            Statement.withTransformer(holdFirstWrite(i)),
            // A racer refused before writing must not keep the others waiting (the test then fails on `held`).
            Effect.ensuring(Effect.suspend(() => (held[i] ? Effect.void : arrive)))
          )
        ),
        { concurrency: "unbounded" }
      )
      const rows = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ id: string; call_id: string; client_name: string; starts_at: string; ends_at: string; status: string }>`
            SELECT id, call_id, client_name, starts_at, ends_at, status FROM appointments ORDER BY starts_at, id`),
        setup
      )
      return { results, held, ids, booked: rows.filter((r) => r.status === "booked"), rows }
    })
    return runScoped(program, { testClock: true }).finally(() => rmSync(dir, { recursive: true, force: true }))
  }

  const racer = (callId: string, callerNumber: string, input: Racer["input"]): Racer => ({ callId, callerNumber, input })

  test("two processes book the same slot, both past their checks before either writes: one appointment, the other 'slot taken'", async () => {
    const outcome = await raceOnConnections([
      racer("call-a", "+33611111111", booking("14:00", "Alice")),
      racer("call-b", "+33622222222", booking("14:00", "Bruno"))
    ])
    expect(outcome.held).toEqual([true, true])
    expect(outcome.results.map((r) => r.status).sort()).toEqual(["booked", "slot_taken"])
    expect(outcome.booked).toHaveLength(1)
    expect(outcome.rows).toHaveLength(1)
    const winner = outcome.results.find((r) => r.status === "booked")!
    expect(idOf(winner)).toBe(outcome.booked[0]!.id)
    const loser = outcome.results.find((r) => r.status === "slot_taken")!
    if (loser.status !== "slot_taken") return
    // The loser's alternatives are computed after the refusal, so they already leave out the winner's slot.
    expect(loser.alternatives).not.toContain("14:00")
    expect(loser.alternatives).not.toContain("13:45")
    expect(loser.alternatives).toContain("14:45")
    expect(loser.message).toContain("n'est plus libre")
  })

  test("two processes book overlapping slots with different starts (14:00 and 14:30): only the overlap trigger can refuse, and does", async () => {
    const outcome = await raceOnConnections([
      racer("call-a", "+33611111111", booking("14:00", "Alice")),
      racer("call-b", "+33622222222", booking("14:30", "Bruno"))
    ])
    expect(outcome.held).toEqual([true, true])
    expect(outcome.results.map((r) => r.status).sort()).toEqual(["booked", "slot_taken"])
    expect(outcome.booked).toHaveLength(1)
    expect(outcome.rows).toHaveLength(1)
  })

  test("eight processes book eight overlapping times of one afternoon at once: the booked ones never overlap", async () => {
    const times = ["14:00", "14:15", "14:30", "14:45", "15:00", "15:15", "15:30", "15:45"]
    const outcome = await raceOnConnections(
      times.map((time, i) => racer(`call-${i}`, "+33611111111", booking(time, `C${i}`)))
    )
    expect(outcome.held).toEqual(times.map(() => true))
    expect(outcome.booked.length).toBeGreaterThanOrEqual(2)
    expect(outcome.results.filter((r) => r.status === "booked")).toHaveLength(outcome.booked.length)
    expect(outcome.results.filter((r) => r.status !== "booked").every((r) => r.status === "slot_taken")).toBe(true)
    for (let i = 1; i < outcome.booked.length; i++) {
      expect(outcome.booked[i]!.starts_at >= outcome.booked[i - 1]!.ends_at).toBe(true)
    }
  })

  test("the same tool call run twice at once on two connections: one appointment, both answered with it", async () => {
    const outcome = await raceOnConnections([
      racer("call-1", "+33612345678", booking("14:00")),
      racer("call-1", "+33612345678", booking("14:00"))
    ])
    expect(outcome.held).toEqual([true, true])
    expect(outcome.rows).toHaveLength(1)
    expect(outcome.results.map((r) => r.status)).toEqual(["booked", "booked"])
    expect(outcome.results.map(idOf)).toEqual([outcome.rows[0]!.id, outcome.rows[0]!.id])
    expect(outcome.results.map((r) => r.status === "booked" && r.alreadyBooked).sort()).toEqual([false, true])
  })

  test("the same move run twice at once on two connections: moved once, the second answered with the new appointment", async () => {
    const outcome = await raceOnConnections(
      [0, 1].map(() =>
        racer("call-1", "+33612345678", (ids) => ({ ...booking("10:00"), replaces_appointment_id: ids.get("first")! }))
      ),
      (tenant) =>
        Effect.gen(function*() {
          const first = yield* (yield* Scheduling).book(tenant, { callId: "call-1", callerNumber: "+33612345678" }, booking("09:00"))
          return new Map([["first", idOf(first)]])
        })
    )
    expect(outcome.held).toEqual([true, true])
    expect(outcome.results.map((r) => r.status).sort()).toEqual(["booked", "rescheduled"])
    const moved = outcome.results.find((r) => r.status === "rescheduled")!
    expect(outcome.results.find((r) => r.status === "booked")).toMatchObject({ alreadyBooked: true, appointmentId: idOf(moved) })
    expect(outcome.rows.map((r) => [r.id, r.starts_at, r.status])).toEqual([
      [outcome.ids.get("first")!, "2026-12-01T08:00:00.000Z", "cancelled"],
      [idOf(moved), "2026-12-01T09:00:00.000Z", "booked"]
    ])
  })
})

describe("several appointments in one call, and an explicit move (replaces_appointment_id)", () => {
  const rowsOf = Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string; call_id: string | null; client_name: string; starts_at: string; status: string; cancelled_at: string | null }>`
      SELECT id, call_id, client_name, starts_at, status, cancelled_at FROM appointments ORDER BY created_at, rowid`)

  /** `booking(...)` as a move of `appointmentId`. */
  const moving = (appointmentId: string, time: string, name?: string, service_type?: string, date?: string) => ({
    ...booking(time, name, service_type, date),
    replaces_appointment_id: appointmentId
  })

  test("« deux séances, mardi et jeudi »: the same person, phone and service twice in one call is two appointments", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const tuesday = yield* scheduling.book(tenant, context, booking("09:00"))
      const thursday = yield* scheduling.book(tenant, context, booking("09:00", "Marie Dupont", "coupe-femme", "2026-12-03"))
      // A third the same Tuesday afternoon, the name spelled as the model heard it this time.
      const afternoon = yield* scheduling.book(tenant, context, booking("15:00", "marie dupont"))
      return { tuesday, thursday, afternoon, rows: yield* rowsOf }
    }))
    for (const result of [outcome.tuesday, outcome.thursday, outcome.afternoon]) {
      expect(result).toMatchObject({ status: "booked", alreadyBooked: false, clientPhone: "+33612345678" })
    }
    expect(outcome.thursday.message).toBe(
      "Rendez-vous confirmé : coupe femme le jeudi 3 décembre à 9 heures, au nom de Marie Dupont, numéro de téléphone 06 12 34 56 78."
    )
    expect(new Set([outcome.tuesday, outcome.thursday, outcome.afternoon].map(idOf)).size).toBe(3)
    expect(outcome.rows.map((r) => [r.call_id, r.client_name, r.starts_at, r.status])).toEqual([
      ["call-1", "Marie Dupont", "2026-12-01T08:00:00.000Z", "booked"],
      ["call-1", "Marie Dupont", "2026-12-03T08:00:00.000Z", "booked"],
      ["call-1", "marie dupont", "2026-12-01T14:00:00.000Z", "booked"]
    ])
  })

  test("« finalement plutôt 10 h »: the named appointment is cancelled, its slot free again, 10 h booked, one read-back", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("09:00"))
      yield* TestClock.adjust("2 minutes")
      const moved = yield* scheduling.book(tenant, context, moving(idOf(first), "10:00", "marie dupont"))
      const availability = yield* scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
      return { first, moved, availability, rows: yield* rowsOf }
    }))
    expect(outcome.moved).toMatchObject({
      status: "rescheduled",
      startsAt: "2026-12-01T09:00:00.000Z",
      endsAt: "2026-12-01T09:45:00.000Z",
      date: TUESDAY,
      time: "10:00",
      dayLabel: "mardi 1er décembre",
      timeZone: "Europe/Paris",
      service: { type: "coupe-femme", name: "Coupe femme", durationMinutes: 45 },
      clientName: "marie dupont",
      clientPhone: "+33612345678",
      previous: { date: TUESDAY, time: "09:00" }
    })
    expect(outcome.moved.message).toBe(
      "C'est noté : votre rendez-vous coupe femme est déplacé du mardi 1er décembre à 9 heures au mardi 1er décembre à 10 heures, au nom de marie dupont."
    )
    // The call's outcome is noted from `appointmentId` in the result (CallSession): it must be there.
    expect("appointmentId" in outcome.moved).toBe(true)
    expect(idOf(outcome.moved)).not.toBe(idOf(outcome.first))
    expect(outcome.rows).toEqual([
      {
        id: idOf(outcome.first),
        call_id: "call-1",
        client_name: "Marie Dupont",
        starts_at: "2026-12-01T08:00:00.000Z",
        status: "cancelled",
        cancelled_at: "2026-11-20T10:02:00.000Z"
      },
      {
        id: idOf(outcome.moved),
        call_id: "call-1",
        client_name: "marie dupont",
        starts_at: "2026-12-01T09:00:00.000Z",
        status: "booked",
        cancelled_at: null
      }
    ])
    expect(outcome.availability.status === "available" && outcome.availability.times).toContain("09:00")
    expect(outcome.availability.status === "available" && outcome.availability.times).not.toContain("10:00")
  })

  test("the move may overlap the appointment it replaces, change service, and follow the client to another day", async () => {
    const [later, nextDay, rows] = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("09:00", "Hélène Lefèvre-Durand"))
      // 09:15–10:00 overlaps 09:00–09:45, which is the appointment being moved: free for the move.
      const later = yield* scheduling.book(tenant, context, moving(idOf(first), "09:15", "Hélène Lefèvre-Durand"))
      const nextDay = yield* scheduling.book(
        tenant,
        context,
        moving(idOf(later), "14:00", "Hélène Lefèvre-Durand", "brushing", "2026-12-02")
      )
      return [later, nextDay, yield* rowsOf] as const
    }))
    expect(later).toMatchObject({ status: "rescheduled", time: "09:15", previous: { date: TUESDAY, time: "09:00" } })
    expect(nextDay).toMatchObject({
      status: "rescheduled",
      date: "2026-12-02",
      time: "14:00",
      service: { type: "brushing" },
      previous: { date: TUESDAY, time: "09:15" }
    })
    expect(nextDay.message).toContain("déplacé du mardi 1er décembre à 9 heures 15 au mercredi 2 décembre à 14 heures")
    expect(rows.map((r) => r.status)).toEqual(["cancelled", "cancelled", "booked"])
  })

  test("a move is refused, with nothing changed, for an id of another call, of another tenant, unknown, or cancelled", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const other = yield* addTenant("t2")
      const scheduling = yield* Scheduling
      const sql = yield* SqlClient.SqlClient
      const earlierCall = yield* inCall("call-earlier", "+33611111111")
      const fromEarlierCall = yield* scheduling.book(tenant, earlierCall, booking("11:00", "Marie Dupont"))
      const otherTenantCall = yield* inCall("call-t2", "+33612345678", "t2")
      const fromOtherTenant = yield* scheduling.book(other, otherTenantCall, booking("09:00"))
      const context = yield* inCall("call-1")
      const mine = yield* scheduling.book(tenant, context, booking("09:00"))
      const cancelledOne = yield* scheduling.book(tenant, context, booking("16:00"))
      yield* scheduling.cancel("t1", idOf(cancelledOne))
      const before = yield* sql`SELECT * FROM appointments ORDER BY id`
      const refusals = {
        otherCall: yield* scheduling.book(tenant, context, moving(idOf(fromEarlierCall), "14:00")),
        otherTenant: yield* scheduling.book(tenant, context, moving(idOf(fromOtherTenant), "14:00")),
        unknown: yield* scheduling.book(tenant, context, moving("nope", "14:00")),
        cancelled: yield* scheduling.book(tenant, context, moving(idOf(cancelledOne), "14:00")),
        // Outside any call nothing can be moved, not even an appointment that exists.
        noCall: yield* scheduling.book(tenant, noCall, moving(idOf(mine), "14:00"))
      }
      const after = yield* sql`SELECT * FROM appointments ORDER BY id`
      return { refusals, before, after, mine: idOf(mine) }
    }))
    const { refusals } = outcome
    for (const refusal of [refusals.otherCall, refusals.otherTenant, refusals.unknown, refusals.noCall]) {
      expect(refusal).toMatchObject({ status: "error", error: "unknown_appointment", today: "2026-11-20" })
      expect(refusal.message).toContain("rien n'a été modifié")
    }
    expect(refusals.cancelled).toMatchObject({ status: "error", error: "appointment_cancelled" })
    expect(refusals.cancelled.message).toContain("n'est plus réservé (il a déjà été déplacé ou annulé)")
    // The model is told what this call holds, and only that, so it can pick the right id or book anew.
    expect(refusals.unknown).toMatchObject({
      appointmentsInCall: [{
        appointmentId: outcome.mine,
        date: TUESDAY,
        time: "09:00",
        dayLabel: "mardi 1er décembre",
        serviceName: "Coupe femme",
        clientName: "Marie Dupont"
      }]
    })
    expect(refusals.unknown.message).toContain(
      `coupe femme le mardi 1er décembre à 9 heures au nom de Marie Dupont (appointmentId « ${outcome.mine} »)`
    )
    expect(refusals.unknown.message).toContain("omettez ce champ")
    expect(refusals.noCall).toMatchObject({ appointmentsInCall: [] })
    expect(refusals.noCall.message).toContain("sans replaces_appointment_id")
    expect(JSON.stringify(refusals)).not.toContain("call-earlier")
    expect(outcome.after).toEqual(outcome.before)
  })

  test("moving onto a taken slot keeps the old appointment booked and answers slot taken with alternatives", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const alice = yield* inCall("call-alice", "+33611111111")
      yield* scheduling.book(tenant, alice, booking("10:00", "Alice Martin"))
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("09:00"))
      const taken = yield* scheduling.book(tenant, context, moving(idOf(first), "10:15"))
      const closed = yield* scheduling.book(tenant, context, moving(idOf(first), "10:00", "Marie Dupont", "coupe-femme", "2026-12-25"))
      return { first, taken, closed, rows: yield* rowsOf }
    }))
    expect(outcome.taken).toMatchObject({ status: "slot_taken", time: "10:15", keptAppointment: { date: TUESDAY, time: "09:00" } })
    if (outcome.taken.status !== "slot_taken") return
    // Alice's 10:00–10:45 blocks 09:30 to 10:30; Marie's own 09:00 does not count against her move.
    expect(outcome.taken.alternatives).toEqual(["09:00", "09:15", "10:45", "11:00", "11:15", "14:00"])
    expect(outcome.taken.message).toContain("Le rendez-vous déjà pris du mardi 1er décembre à 9 heures est conservé tel quel.")
    expect(outcome.closed).toMatchObject({
      status: "unavailable",
      reason: "closed_exceptionally",
      keptAppointment: { date: TUESDAY, time: "09:00" }
    })
    expect(outcome.rows.map((r) => [r.client_name, r.starts_at, r.status])).toEqual([
      ["Alice Martin", "2026-12-01T09:00:00.000Z", "booked"],
      ["Marie Dupont", "2026-12-01T08:00:00.000Z", "booked"]
    ])
  })

  test("when only the database sees the conflict, the move is rolled back whole: the old appointment stays booked", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const sql = yield* SqlClient.SqlClient
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("14:00", "Marie Dupont", "coupe-femme", "2026-12-02"))
      // A row the windowed queries do not look at (it starts two days earlier): only the trigger sees it,
      // inside the transaction, after the old appointment has been cancelled there.
      yield* sql`INSERT INTO appointments (id, tenant_id, service_type, service_name, client_name, client_phone,
          starts_at, ends_at, time_zone, status, created_at)
        VALUES ('blocker', 't1', 'stage', 'Stage', 'Équipe', '+33600000000',
          '2026-11-29T12:00:00.000Z', '2026-12-02T12:00:00.000Z', 'Europe/Paris', 'booked', ${NOW})`
      const moved = yield* scheduling.book(tenant, context, moving(idOf(first), "14:00"))
      return { first, moved, rows: yield* rowsOf }
    }))
    expect(outcome.moved).toMatchObject({ status: "slot_taken", keptAppointment: { date: "2026-12-02", time: "14:00" } })
    expect(outcome.rows.filter((r) => r.client_name === "Marie Dupont")).toEqual([
      {
        id: idOf(outcome.first),
        call_id: "call-1",
        client_name: "Marie Dupont",
        starts_at: "2026-12-02T13:00:00.000Z",
        status: "booked",
        cancelled_at: null
      }
    ])
  })

  test("a mother booking for herself and her son, then moving hers: the move touches only the appointment named", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const marie = yield* scheduling.book(tenant, context, booking("09:00", "Marie Dupont"))
      const paul = yield* scheduling.book(tenant, context, booking("10:00", "Paul Dupont"))
      const brushing = yield* scheduling.book(tenant, context, booking("15:00", "Marie Dupont", "brushing"))
      const moved = yield* scheduling.book(tenant, context, moving(idOf(marie), "11:00", "Marie Dupont"))
      return { marie, paul, brushing, moved, rows: yield* rowsOf }
    }))
    expect(outcome.marie).toMatchObject({ status: "booked", alreadyBooked: false })
    expect(outcome.paul).toMatchObject({ status: "booked", alreadyBooked: false, clientName: "Paul Dupont", clientPhone: "+33612345678" })
    expect(outcome.brushing).toMatchObject({ status: "booked", alreadyBooked: false })
    expect(outcome.moved).toMatchObject({ status: "rescheduled", time: "11:00", previous: { date: TUESDAY, time: "09:00" } })
    expect(outcome.rows.map((r) => [r.client_name, r.starts_at, r.status])).toEqual([
      ["Marie Dupont", "2026-12-01T08:00:00.000Z", "cancelled"],
      ["Paul Dupont", "2026-12-01T09:00:00.000Z", "booked"],
      ["Marie Dupont", "2026-12-01T14:00:00.000Z", "booked"],
      ["Marie Dupont", "2026-12-01T10:00:00.000Z", "booked"]
    ])
  })

  test("the exact same request repeated is still idempotent: a booking, a move (even concurrently), a move onto its own time", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const first = yield* scheduling.book(tenant, context, booking("09:00"))
      const repeat = yield* scheduling.book(tenant, context, booking("09:00"))
      const moves = yield* Effect.all([
        scheduling.book(tenant, context, moving(idOf(first), "10:00")),
        scheduling.book(tenant, context, moving(idOf(first), "10:00"))
      ], { concurrency: "unbounded" })
      const movedAgain = yield* scheduling.book(tenant, context, moving(idOf(first), "10:00"))
      const ontoItself = yield* scheduling.book(tenant, context, moving(idOf(moves[0]!), "10:00"))
      return { first, repeat, moves, movedAgain, ontoItself, rows: yield* rowsOf }
    }))
    expect(outcome.repeat).toMatchObject({ status: "booked", alreadyBooked: true, appointmentId: idOf(outcome.first) })
    // The two concurrent moves race: whichever wins reschedules, the other finds its work done.
    const [moved, concurrent] = [...outcome.moves].sort((a) => (a.status === "rescheduled" ? -1 : 1))
    expect(moved).toMatchObject({ status: "rescheduled", time: "10:00" })
    for (const again of [concurrent!, outcome.movedAgain, outcome.ontoItself]) {
      expect(again).toMatchObject({ status: "booked", alreadyBooked: true, time: "10:00", appointmentId: idOf(moved!) })
    }
    expect(outcome.rows.map((r) => r.status)).toEqual(["cancelled", "booked"])
  })

  test("a booking from another call for the same person is a new appointment, and so is one made outside any call", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const monday = yield* inCall("call-monday")
      const first = yield* scheduling.book(tenant, monday, booking("09:00"))
      // She calls back later from the same phone and asks for 10 h: that is a second appointment (the owner
      // cancels; the agent does not cancel what another call booked).
      const tuesday = yield* inCall("call-tuesday")
      const second = yield* scheduling.book(tenant, tuesday, booking("10:00"))
      const noCallFirst = yield* scheduling.book(tenant, noCall, booking("14:00"))
      const noCallSecond = yield* scheduling.book(tenant, noCall, booking("15:00"))
      return { first, second, noCallFirst, noCallSecond, rows: yield* rowsOf }
    }))
    expect(outcome.first).toMatchObject({ status: "booked", alreadyBooked: false })
    expect(outcome.second).toMatchObject({ status: "booked", alreadyBooked: false, time: "10:00" })
    expect(outcome.noCallFirst.status).toBe("booked")
    expect(outcome.noCallSecond.status).toBe("booked")
    expect(outcome.rows.map((r) => [r.call_id, r.starts_at, r.status])).toEqual([
      ["call-monday", "2026-12-01T08:00:00.000Z", "booked"],
      ["call-tuesday", "2026-12-01T09:00:00.000Z", "booked"],
      [null, "2026-12-01T13:00:00.000Z", "booked"],
      [null, "2026-12-01T14:00:00.000Z", "booked"]
    ])
  })
})

describe("listAppointments and cancel", () => {
  test("tenant isolation: another tenant neither lists nor cancels", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const a = yield* addTenant("ta")
      const b = yield* addTenant("tb")
      const scheduling = yield* Scheduling
      const booked = yield* scheduling.book(a, noCall, booking("14:00"))
      if (booked.status !== "booked") return yield* Effect.die(booked)
      // Tenant B can book the same time: slots are per tenant.
      const sameTimeB = yield* scheduling.book(b, noCall, booking("14:00"))
      const listB = yield* scheduling.listAppointments("tb")
      const cancelByB = yield* scheduling.cancel("tb", booked.appointmentId).pipe(Effect.flip)
      const listA = yield* scheduling.listAppointments("ta")
      return { sameTimeB: sameTimeB.status, listB, cancelByB, listA, id: booked.appointmentId }
    }))
    expect(outcome.sameTimeB).toBe("booked")
    expect(outcome.listB.appointments.map((x) => x.tenantId)).toEqual(["tb"])
    expect(outcome.cancelByB._tag).toBe("AppointmentNotFound")
    expect(outcome.listA.appointments).toHaveLength(1)
    expect(outcome.listA.appointments[0]).toMatchObject({ id: outcome.id, status: "booked", date: TUESDAY, time: "14:00" })
  })

  test("a cancelled slot is free again and can be booked again, even by the same call", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const context = yield* inCall("call-1")
      const booked = yield* scheduling.book(tenant, context, booking("14:00"))
      if (booked.status !== "booked") return yield* Effect.die(booked)
      const before = yield* scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
      yield* TestClock.adjust("1 minute")
      const cancelled = yield* scheduling.cancel("t1", booked.appointmentId)
      const after = yield* scheduling.checkAvailability(tenant, { date: TUESDAY, service_type: "coupe-femme" })
      const rebooked = yield* scheduling.book(tenant, context, booking("14:00"))
      const missing = yield* scheduling.cancel("t1", "nope").pipe(Effect.flip)
      return { before, cancelled, after, rebooked, missing, firstId: booked.appointmentId }
    }))
    expect(outcome.before.status === "available" && outcome.before.times).not.toContain("14:00")
    expect(outcome.cancelled).toMatchObject({ status: "cancelled", cancelledAt: "2026-11-20T10:01:00.000Z" })
    expect(outcome.after.status === "available" && outcome.after.times).toContain("14:00")
    expect(outcome.rebooked).toMatchObject({ status: "booked", alreadyBooked: false })
    expect(outcome.rebooked.status === "booked" && outcome.rebooked.appointmentId).not.toBe(outcome.firstId)
    expect(outcome.missing).toMatchObject({ _tag: "AppointmentNotFound", appointmentId: "nope" })
  })

  test("keyset pagination: no duplicates, no gaps, stable under inserts before the cursor", async () => {
    const outcome = await run(Effect.gen(function*() {
      yield* setNow(NOW)
      const tenant = yield* addTenant("t1")
      const scheduling = yield* Scheduling
      const sql = yield* SqlClient.SqlClient
      const times = ["09:00", "10:00", "11:00", "14:00", "15:00", "16:00", "17:00"]
      for (const date of ["2026-12-01", "2026-12-02", "2026-12-03"]) {
        for (const time of times) yield* scheduling.book(tenant, noCall, booking(time, `${date} ${time}`, "coupe-femme", date))
      }
      // Ties on starts_at: cancelled rows at the same instant as booked ones.
      for (let i = 0; i < 5; i++) {
        yield* sql`INSERT INTO appointments (id, tenant_id, service_type, service_name, client_name, client_phone,
            starts_at, ends_at, time_zone, status, created_at, cancelled_at)
          VALUES (${`zz-cancelled-${i}`}, 't1', 'brushing', 'Brushing', 'X', '+33612345678',
            '2026-12-02T13:00:00.000Z', '2026-12-02T13:30:00.000Z', 'Europe/Paris', 'cancelled', ${NOW}, ${NOW})`
      }
      const all = yield* scheduling.listAppointments("t1", { limit: 200 })
      const seen: Array<Appointment> = []
      let cursor: string | undefined = undefined
      let pages = 0
      do {
        const page: { appointments: ReadonlyArray<Appointment>; nextCursor: string | null } = yield* scheduling
          .listAppointments("t1", { limit: 4, cursor })
        seen.push(...page.appointments)
        cursor = page.nextCursor ?? undefined
        pages++
        // A booking made before the cursor while paging must not shift later pages.
        if (pages === 2) yield* scheduling.book(tenant, noCall, booking("09:00", "late", "coupe-femme", "2026-11-27"))
      } while (cursor !== undefined)
      const filtered = yield* scheduling.listAppointments("t1", { from: "2026-12-02", to: "2026-12-02", timeZone: "Europe/Paris", status: "booked" })
      const bad = yield* scheduling.listAppointments("t1", { cursor: "garbage!" }).pipe(Effect.flip)
      return { all: all.appointments, allCursor: all.nextCursor, seen, pages, filtered: filtered.appointments, bad }
    }))
    expect(outcome.all).toHaveLength(26)
    expect(outcome.allCursor).toBeNull()
    expect(outcome.seen.map((a) => a.id)).toEqual(outcome.all.map((a) => a.id))
    expect(new Set(outcome.seen.map((a) => a.id)).size).toBe(26)
    expect(outcome.pages).toBe(7)
    const keys = outcome.all.map((a) => `${a.startsAt}|${a.id}`)
    expect([...keys].sort()).toEqual(keys)
    expect(outcome.filtered).toHaveLength(7)
    expect(outcome.filtered.every((a) => a.date === "2026-12-02" && a.status === "booked")).toBe(true)
    expect(outcome.bad).toMatchObject({ _tag: "InvalidListQuery", field: "cursor" })
  })

  test("limit defaults to 50 and is capped at 200", async () => {
    const [byDefault, capped] = await run(Effect.gen(function*() {
      yield* setNow("2026-01-01T00:00:00.000Z")
      const tenant = yield* addTenant("t1", {
        openingHours: { monday: [["08:00", "20:00"]], tuesday: [["08:00", "20:00"]], wednesday: [["08:00", "20:00"]] },
        booking: { minLeadMinutes: 0, slotStepMinutes: 15 }
      })
      const scheduling = yield* Scheduling
      for (const date of ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-12", "2026-01-13"]) {
        for (let h = 8; h < 20; h++) {
          yield* scheduling.book(tenant, noCall, booking(`${String(h).padStart(2, "0")}:00`, "N", "brushing", date))
        }
      }
      return [
        yield* scheduling.listAppointments("t1"),
        yield* scheduling.listAppointments("t1", { limit: 1000 })
      ] as const
    }))
    expect(byDefault.appointments).toHaveLength(50)
    expect(byDefault.nextCursor).not.toBeNull()
    expect(capped.appointments).toHaveLength(60)
    expect(capped.nextCursor).toBeNull()
  })
})
