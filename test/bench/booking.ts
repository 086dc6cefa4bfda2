/**
 * Booking throughput and availability-check latency on a temp-file SQLite database with the real migrations.
 *
 *   bun test/bench/booking.ts [bookings=2000] [checks=2000]
 *
 * Prints numbers and exits; no assertions on timing (machines differ). The clock is Effect's TestClock, pinned
 * to a fixed "now", so the run is reproducible: every booking lands on a distinct free slot of an open day.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, Schema, TestClock, TestContext } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Scheduling } from "../../src/scheduling/Scheduling.ts"
import { addDays, dayStatus } from "../../src/scheduling/slots.ts"
import { databaseLayer } from "../../src/storage/Database.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { TenantConfig } from "../../src/tenants/TenantConfig.ts"

const BOOKINGS = Number(process.argv[2] ?? 2000)
const CHECKS = Number(process.argv[3] ?? 2000)

const config = Schema.decodeUnknownSync(TenantConfig)({
  name: "Bench",
  phoneNumbers: ["+33939035760"],
  greeting: "Bonjour",
  timezone: "Europe/Paris",
  openingHours: Object.fromEntries(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"].map((d) => [d, [["08:00", "12:00"], ["13:00", "20:00"]]])
  ),
  closures: ["2026-12-25", "2027-01-01"],
  services: [{ type: "rdv", name: "Rendez-vous", durationMinutes: 15 }],
  booking: { minLeadMinutes: 0, slotStepMinutes: 15, horizonDays: 365 }
})
const tenant: Tenant = { id: "bench", config }
const NOW = Date.parse("2026-11-02T06:00:00.000Z")

/** Distinct slots, in order: 44 per open day (11 opening hours × 4). */
const slots = function*() {
  for (let date = "2026-11-03";; date = addDays(date, 1)) {
    if (dayStatus(config, date) !== "open") continue
    for (const [from, to] of [[8, 12], [13, 20]] as const) {
      for (let h = from; h < to; h++) {
        for (const m of ["00", "15", "30", "45"]) yield { date, time: `${String(h).padStart(2, "0")}:${m}` }
      }
    }
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

const program = Effect.gen(function*() {
  yield* TestClock.setTime(NOW)
  const sql = yield* SqlClient.SqlClient
  const scheduling = yield* Scheduling
  yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
    VALUES ('bench', 'Bench', ${JSON.stringify(Schema.encodeSync(TenantConfig)(config))}, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`

  // Each booking belongs to a call, as in production: the voice webhook writes the call row first.
  const newCall = (id: string) =>
    sql`INSERT INTO calls (id, tenant_id, twilio_call_sid, from_number, to_number, direction, status, started_at, created_at)
      VALUES (${id}, 'bench', ${`CA${id}`}, '+33612345678', '+33100000000', 'inbound', 'in-progress', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`

  // 1. Sequential bookings, each a full `book` (validation, idempotency lookup, day slots, transaction).
  const plan = slots()
  const started = performance.now()
  let booked = 0
  for (let i = 0; i < BOOKINGS; i++) {
    const { date, time } = plan.next().value!
    yield* newCall(`call-${i}`)
    const result = yield* scheduling.book(tenant, { callId: `call-${i}`, callerNumber: "+33612345678" }, {
      date,
      time,
      client_name: `Client ${i}`,
      service_type: "rdv"
    })
    if (result.status === "booked") booked++
  }
  const bookingSeconds = (performance.now() - started) / 1000

  // 2. Contended bookings: 8 fibers at a time on the same slot (one wins each round).
  const rounds = Math.max(1, Math.floor(BOOKINGS / 20))
  const contendedStarted = performance.now()
  let contendedWins = 0
  for (let r = 0; r < rounds; r++) {
    const { date, time } = plan.next().value!
    for (let k = 0; k < 8; k++) yield* newCall(`race-${r}-${k}`)
    const results = yield* Effect.all(
      Array.from({ length: 8 }, (_, k) =>
        scheduling.book(tenant, { callId: `race-${r}-${k}`, callerNumber: "+33612345678" }, {
          date,
          time,
          client_name: `Race ${k}`,
          service_type: "rdv"
        })),
      { concurrency: "unbounded" }
    )
    contendedWins += results.filter((x) => x.status === "booked").length
  }
  const contendedSeconds = (performance.now() - contendedStarted) / 1000

  // 3. Availability checks. Cold: the first check of days nothing has looked at yet (slot instants not yet
  // memoised). Then repeated checks on full days (suggestions searched further on) and on days with free slots.
  const bookedUntil = plan.next().value!.date
  const timeCheck = (date: string) =>
    Effect.gen(function*() {
      const t0 = performance.now()
      const result = yield* scheduling.checkAvailability(tenant, { date, service_type: "rdv" })
      return { ms: performance.now() - t0, status: result.status }
    })
  const cold: Array<number> = []
  for (let i = 0; cold.length < 100; i++) {
    const date = addDays(bookedUntil, 7 + i)
    if (dayStatus(config, date) === "open") cold.push((yield* timeCheck(date)).ms)
  }
  const full: Array<number> = []
  const free: Array<number> = []
  const dates = Array.from({ length: 90 }, (_, i) => addDays("2026-11-03", i)).filter((d) => dayStatus(config, d) === "open")
  for (let i = 0; i < CHECKS; i++) {
    const { ms, status } = yield* timeCheck(dates[i % dates.length]!)
    ;(status === "available" ? free : full).push(ms)
  }
  for (const list of [cold, full, free]) list.sort((a, b) => a - b)
  const latencies = { cold, full, free }

  const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM appointments WHERE status = 'booked'`
  return { booked, bookingSeconds, rounds, contendedWins, contendedSeconds, latencies, stored: rows[0]!.n }
})

const dir = mkdtempSync(join(tmpdir(), "coccinelle-bench-"))
const layer = Scheduling.Default.pipe(Layer.provideMerge(databaseLayer(process.env.DATABASE_URL || join(dir, "bench.db"))))

const r = await Effect.runPromise(
  program.pipe(
    Effect.provide(layer),
    Effect.provide(TestContext.TestContext),
    Effect.provide(Logger.remove(Logger.defaultLogger))
  )
).finally(() => rmSync(dir, { recursive: true, force: true }))

const fmt = (n: number, digits = 2) => n.toFixed(digits)
console.log(`SQLite temp file, Bun ${Bun.version}`)
console.log(
  `book (sequential):   ${r.booked}/${BOOKINGS} booked in ${fmt(r.bookingSeconds)} s → ${fmt(r.booked / r.bookingSeconds, 0)} bookings/s`
)
console.log(
  `book (8-way races):  ${r.rounds} rounds, ${r.contendedWins} winners (expected ${r.rounds}) in ${fmt(r.contendedSeconds)} s → ${
    fmt((r.rounds * 8) / r.contendedSeconds, 0)
  } attempts/s`
)
const line = (label: string, list: ReadonlyArray<number>) =>
  console.log(
    `${label.padEnd(36)} n=${String(list.length).padStart(5)}  p50 ${fmt(percentile(list, 50), 3)} ms  p99 ${
      fmt(percentile(list, 99), 3)
    } ms  max ${fmt(list[list.length - 1] ?? NaN, 3)} ms`
  )
line("checkAvailability, cold day", r.latencies.cold)
line("checkAvailability, day with slots", r.latencies.free)
line("checkAvailability, full day (+next)", r.latencies.full)
line("checkAvailability, all warm", [...r.latencies.free, ...r.latencies.full].sort((a, b) => a - b))
console.log(`rows booked:         ${r.stored}`)
