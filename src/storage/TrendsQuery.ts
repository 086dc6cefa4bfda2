import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { OUTCOMES, type Outcome } from "../call/vocabulary.ts"
import { addDays, localDateAt, localTimeAt } from "../scheduling/slots.ts"

/**
 * Trends for the owner's page: calls per day by outcome, resolution rate, turn latency p50/p95 per day,
 * busiest hours. The SQL is plain (no json_extract, no date functions) so it runs unchanged on SQLite and
 * Postgres: rows are read as they are and grouped here, by the tenant's local day and hour.
 */

/** Outcomes that count as the call having been dealt with. */
const RESOLVED: ReadonlySet<string> = new Set(["booked", "transferred", "message_taken", "information_given"])

/** An instant as text whatever the driver returns (SQLite: ISO text; Postgres timestamptz: a Date). */
const Instant = Schema.Union(Schema.String, Schema.DateFromSelf.pipe(Schema.transform(Schema.String, {
  strict: true,
  decode: (date) => date.toISOString(),
  encode: (text) => new Date(text)
})))

const CallRow = Schema.Struct({ created_at: Instant, outcome: Schema.NullOr(Schema.String) })
const LatencyRow = Schema.Struct({ created_at: Instant, data: Schema.String })
const LatencyData = Schema.parseJson(Schema.Struct({ ms: Schema.Number }))
const decodeLatency = Schema.decodeUnknownOption(LatencyData)

export interface TrendDay {
  readonly date: string
  readonly total: number
  readonly byOutcome: Readonly<Record<Outcome | "other", number>>
  /** Percent of the day's calls with a resolved outcome, null without calls. */
  readonly resolutionRate: number | null
  readonly latencyP50Ms: number | null
  readonly latencyP95Ms: number | null
}

export interface Trends {
  readonly from: string
  readonly to: string
  readonly days: ReadonlyArray<TrendDay>
  /** Calls per local hour of the day, 0 to 23. */
  readonly hours: ReadonlyArray<number>
  readonly totalCalls: number
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number | null => {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
}

const emptyOutcomes = (): Record<Outcome | "other", number> => ({
  booked: 0,
  transferred: 0,
  message_taken: 0,
  information_given: 0,
  abandoned: 0,
  other: 0
})

/** Groups rows into the days from `firstDay` to `lastDay` (local dates, inclusive). Pure, for tests. */
export const groupTrends = (
  input: {
    readonly firstDay: string
    readonly lastDay: string
    readonly timeZone: string
    readonly calls: ReadonlyArray<{ readonly createdAt: string; readonly outcome: string | null }>
    readonly latencies: ReadonlyArray<{ readonly createdAt: string; readonly ms: number }>
  }
): Omit<Trends, "from" | "to"> => {
  const days = new Map<string, { outcomes: Record<Outcome | "other", number>; total: number; latencies: Array<number> }>()
  for (let day = input.firstDay; day <= input.lastDay; day = addDays(day, 1)) {
    days.set(day, { outcomes: emptyOutcomes(), total: 0, latencies: [] })
  }
  const hours = Array.from({ length: 24 }, () => 0)
  for (const call of input.calls) {
    const ms = Date.parse(call.createdAt)
    const day = days.get(localDateAt(input.timeZone, ms))
    if (day === undefined) continue
    day.total += 1
    const outcome = (OUTCOMES as ReadonlyArray<string>).includes(call.outcome ?? "") ? call.outcome as Outcome : "other"
    day.outcomes[outcome] += 1
    hours[Number(localTimeAt(input.timeZone, ms).slice(0, 2))]! += 1
  }
  for (const latency of input.latencies) {
    days.get(localDateAt(input.timeZone, Date.parse(latency.createdAt)))?.latencies.push(latency.ms)
  }
  const result = [...days].map(([date, day]): TrendDay => {
    const sorted = day.latencies.sort((a, b) => a - b)
    const resolved = [...RESOLVED].reduce((n, outcome) => n + day.outcomes[outcome as Outcome], 0)
    return {
      date,
      total: day.total,
      byOutcome: day.outcomes,
      resolutionRate: day.total === 0 ? null : Math.round((resolved / day.total) * 1000) / 10,
      latencyP50Ms: percentile(sorted, 50),
      latencyP95Ms: percentile(sorted, 95)
    }
  })
  return { days: result, hours, totalCalls: input.calls.length }
}

export class TrendsQuery extends Effect.Service<TrendsQuery>()("app/TrendsQuery", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const callsIn = SqlSchema.findAll({
      Request: Schema.Struct({ tenantId: Schema.String, from: Schema.String, to: Schema.String }),
      Result: CallRow,
      execute: ({ tenantId, from, to }) =>
        sql`SELECT created_at, outcome FROM calls
            WHERE tenant_id = ${tenantId} AND created_at >= ${from} AND created_at < ${to}`
    })

    // A turn's latency is dated by its call, so a day's p50/p95 covers the calls of that day.
    const latenciesIn = SqlSchema.findAll({
      Request: Schema.Struct({ tenantId: Schema.String, from: Schema.String, to: Schema.String }),
      Result: LatencyRow,
      execute: ({ tenantId, from, to }) =>
        sql`SELECT c.created_at AS created_at, e.data AS data
            FROM call_events e JOIN calls c ON c.id = e.call_id
            WHERE e.type = 'turn_latency' AND c.tenant_id = ${tenantId}
              AND c.created_at >= ${from} AND c.created_at < ${to}`
    })

    /**
     * Trends over [from, to) (UTC instants), grouped by the local days in `timeZone` from the day of `from`
     * to the day before `to`.
     */
    const trends = Effect.fn("TrendsQuery.trends")(function*(
      tenantId: string,
      range: { readonly from: string; readonly to: string; readonly timeZone: string }
    ) {
      const calls = yield* callsIn({ tenantId, from: range.from, to: range.to })
      const latencyRows = yield* latenciesIn({ tenantId, from: range.from, to: range.to })
      const latencies = latencyRows.flatMap((row) =>
        Option.match(decodeLatency(row.data), {
          onNone: () => [],
          onSome: ({ ms }) => (Number.isFinite(ms) ? [{ createdAt: row.created_at, ms }] : [])
        })
      )
      const grouped = groupTrends({
        firstDay: localDateAt(range.timeZone, Date.parse(range.from)),
        lastDay: localDateAt(range.timeZone, Date.parse(range.to) - 1),
        timeZone: range.timeZone,
        calls: calls.map((row) => ({ createdAt: row.created_at, outcome: row.outcome })),
        latencies
      })
      return { from: range.from, to: range.to, ...grouped } satisfies Trends
    }, Effect.orDie)

    return { trends } as const
  })
}) {}
