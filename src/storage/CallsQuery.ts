import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CallRow, MessageRow } from "./CallsRepo.ts"

/**
 * The owner's read side of calls: listing, one call in full, statistics. Every query takes the
 * tenant id first and filters on it; there is no way to ask for another tenant's rows.
 */

export interface CallListFilters {
  readonly status?: string | undefined
  readonly outcome?: string | undefined
  /** Only calls whose summary asks for a call back ("à rappeler" on the owner's page). */
  readonly callbackNeeded?: boolean | undefined
  /** ISO instants; `from` inclusive, `to` exclusive, on the call's creation time. */
  readonly from?: string | undefined
  readonly to?: string | undefined
  readonly limit: number
  readonly cursor?: { readonly createdAt: string; readonly id: string } | undefined
}

/** A listed call: the `calls` row as the repository reads it, without what the owner never sees, plus its summary. */
const CallListRow = Schema.Struct({
  ...CallRow.omit("tenant_id", "forwarded_from", "status_sequence").fields,
  summary: Schema.NullOr(Schema.String),
  callback_needed: Schema.NullOr(Schema.Number)
})
const CallDetailRow = Schema.Struct({ ...CallListRow.fields, forwarded_from: CallRow.fields.forwarded_from })
const EventRow = Schema.Struct({ type: Schema.String, data: Schema.String, created_at: Schema.String })
const SummaryRow = Schema.Struct({
  summary: Schema.String,
  intent: Schema.NullOr(Schema.String),
  sentiment: Schema.NullOr(Schema.String),
  outcome: Schema.NullOr(Schema.String),
  callback_needed: Schema.Number,
  unanswered: Schema.String,
  created_at: Schema.String
})
const Count = Schema.NullOr(Schema.Number)
const TotalsRow = Schema.Struct({
  total: Schema.Number,
  completed: Count,
  average_duration: Count,
  transfers: Count,
  ended_by_caller: Count,
  ended_by_agent: Count,
  resolved: Count
})

/** Rows checked at the storage edge: a malformed row is a defect, not a silent cast. */
const rowsOf = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknown(Schema.Array(schema))
  return <E, R>(query: Effect.Effect<ReadonlyArray<unknown>, E, R>) => Effect.flatMap(query, decode)
}

export const encodeCallCursor = (row: { created_at: string; id: string }) =>
  Buffer.from(JSON.stringify([row.created_at, row.id])).toString("base64url")

const decodeCursorJson = Schema.decodeUnknownOption(Schema.parseJson(Schema.Tuple(Schema.String, Schema.String)))
/** A cursor we issued, or none (not one of ours). */
export const decodeCallCursor = (cursor: string): Option.Option<{ createdAt: string; id: string }> =>
  Option.map(decodeCursorJson(Buffer.from(cursor, "base64url").toString("utf8")), ([createdAt, id]) => ({ createdAt, id }))

const EXCERPT_LENGTH = 160

const percentile = (sorted: ReadonlyArray<number>, p: number): number | null => {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!
}

export class CallsQuery extends Effect.Service<CallsQuery>()("app/CallsQuery", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Newest first, keyset-paginated on (created_at, id) so pages stay stable while calls arrive. */
    const list = Effect.fn("CallsQuery.list")(function*(tenantId: string, filters: CallListFilters) {
      const clauses = [sql`c.tenant_id = ${tenantId}`]
      if (filters.status) clauses.push(sql`c.status = ${filters.status}`)
      if (filters.outcome) clauses.push(sql`c.outcome = ${filters.outcome}`)
      if (filters.callbackNeeded) clauses.push(sql`s.callback_needed = 1`)
      if (filters.from) clauses.push(sql`c.created_at >= ${filters.from}`)
      if (filters.to) clauses.push(sql`c.created_at < ${filters.to}`)
      if (filters.cursor) {
        clauses.push(
          sql`(c.created_at < ${filters.cursor.createdAt} OR (c.created_at = ${filters.cursor.createdAt} AND c.id < ${filters.cursor.id}))`
        )
      }
      const rows = yield* rowsOf(CallListRow)(sql`
        SELECT c.id, c.twilio_call_sid, c.from_number, c.to_number, c.direction, c.status, c.duration,
               c.created_at, c.started_at, c.ended_at, c.end_reason, c.outcome, s.summary, s.callback_needed
        FROM calls c LEFT JOIN call_summaries s ON s.call_id = c.id
        WHERE ${sql.and(clauses)}
        ORDER BY c.created_at DESC, c.id DESC
        LIMIT ${filters.limit + 1}`)
      const page = rows.slice(0, filters.limit)
      const last = page[page.length - 1]
      return {
        calls: page.map((row) => ({
          id: row.id,
          twilio_call_sid: row.twilio_call_sid,
          from_number: row.from_number,
          to_number: row.to_number,
          direction: row.direction,
          status: row.status,
          duration: row.duration,
          created_at: row.created_at,
          started_at: row.started_at,
          ended_at: row.ended_at,
          end_reason: row.end_reason,
          outcome: row.outcome,
          callback_needed: row.callback_needed === 1,
          summary_excerpt: row.summary === null
            ? null
            : row.summary.length > EXCERPT_LENGTH
            ? row.summary.slice(0, EXCERPT_LENGTH - 1) + "…"
            : row.summary
        })),
        nextCursor: rows.length > filters.limit && last ? encodeCallCursor(last) : null
      }
    }, Effect.orDie)

    /** One call with its transcript, tool calls, events and summary — or nothing if not this tenant's. */
    const detail = Effect.fn("CallsQuery.detail")(function*(tenantId: string, callId: string) {
      const calls = yield* rowsOf(CallDetailRow)(sql`
        SELECT c.*, NULL AS summary, NULL AS callback_needed FROM calls c WHERE c.id = ${callId} AND c.tenant_id = ${tenantId}`)
      const call = calls[0]
      if (!call) return Option.none()
      const messages = yield* rowsOf(MessageRow)(sql`SELECT seq, role, content, tool_name, tool_use_id, interrupted, turn, created_at
         FROM call_messages WHERE call_id = ${callId} ORDER BY seq`)
      const events = yield* rowsOf(EventRow)(sql`
        SELECT type, data, created_at FROM call_events WHERE call_id = ${callId} ORDER BY id`)
      const summaries = yield* rowsOf(SummaryRow)(sql`SELECT summary, intent, sentiment, outcome, callback_needed, unanswered, created_at
         FROM call_summaries WHERE call_id = ${callId}`)
      const results = new Map(
        messages.filter((m) => m.role === "tool_result").map((m) => [m.tool_use_id, m.content] as const)
      )
      const summary = summaries[0]
      return Option.some({
        id: call.id,
        twilio_call_sid: call.twilio_call_sid,
        from_number: call.from_number,
        to_number: call.to_number,
        forwarded_from: call.forwarded_from,
        direction: call.direction,
        status: call.status,
        duration: call.duration,
        created_at: call.created_at,
        started_at: call.started_at,
        ended_at: call.ended_at,
        end_reason: call.end_reason,
        outcome: call.outcome,
        transcript: messages
          .filter((m) => m.role === "user" || m.role === "assistant")
          .map((m) => ({
            seq: m.seq,
            role: m.role === "user" ? "caller" : "agent",
            text: m.content,
            interrupted: m.interrupted === 1,
            turn: m.turn,
            at: m.created_at
          })),
        toolCalls: messages
          .filter((m) => m.role === "tool_use")
          .map((m) => ({
            seq: m.seq,
            name: m.tool_name,
            input: parseJson(m.content),
            result: parseJson(results.get(m.tool_use_id) ?? "null"),
            turn: m.turn,
            at: m.created_at
          })),
        events: events.map((e) => ({ type: e.type, data: parseJson(e.data), at: e.created_at })),
        summary: summary
          ? {
            summary: summary.summary,
            intent: summary.intent,
            sentiment: summary.sentiment,
            outcome: summary.outcome,
            callbackNeeded: summary.callback_needed === 1,
            unansweredQuestions: parseJson(summary.unanswered),
            createdAt: summary.created_at
          }
          : null
      })
    }, Effect.orDie)

    const stats = Effect.fn("CallsQuery.stats")(function*(
      tenantId: string,
      period: { readonly from?: string | undefined; readonly to?: string | undefined }
    ) {
      const clauses = [sql`tenant_id = ${tenantId}`]
      if (period.from) clauses.push(sql`created_at >= ${period.from}`)
      if (period.to) clauses.push(sql`created_at < ${period.to}`)
      const where = sql.and(clauses)
      const [totals] = yield* rowsOf(TotalsRow)(sql`SELECT COUNT(*) AS total,
                SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,
                AVG(duration) AS average_duration,
                SUM(CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END) AS transfers,
                SUM(CASE WHEN end_reason = 'caller_hangup' THEN 1 ELSE 0 END) AS ended_by_caller,
                SUM(CASE WHEN end_reason IN ('agent_hangup', 'transfer') THEN 1 ELSE 0 END) AS ended_by_agent,
                SUM(CASE WHEN outcome IN ('booked', 'transferred', 'message_taken', 'information_given') THEN 1 ELSE 0 END) AS resolved
         FROM calls WHERE ${where}`)
      const [bookings] = yield* rowsOf(Schema.Struct({ n: Schema.Number }))(sql`
        SELECT COUNT(*) AS n FROM appointments a JOIN calls c ON c.id = a.call_id
        WHERE a.tenant_id = ${tenantId} AND c.tenant_id = ${tenantId}
          ${period.from ? sql`AND c.created_at >= ${period.from}` : sql``}
          ${period.to ? sql`AND c.created_at < ${period.to}` : sql``}`)
      const [messagesTaken] = yield* rowsOf(Schema.Struct({ n: Schema.Number }))(sql`
        SELECT COUNT(*) AS n FROM caller_messages WHERE tenant_id = ${tenantId}
          ${period.from ? sql`AND created_at >= ${period.from}` : sql``}
          ${period.to ? sql`AND created_at < ${period.to}` : sql``}`)
      const latencyMs = sql.onDialectOrElse({
        pg: () => sql`(e.data->>'ms')::float8`,
        orElse: () => sql`CAST(json_extract(e.data, '$.ms') AS REAL)`
      })
      const latencies = yield* rowsOf(Schema.Struct({ ms: Schema.NullOr(Schema.Number) }))(sql`
        SELECT ${latencyMs} AS ms
        FROM call_events e JOIN calls c ON c.id = e.call_id
        WHERE e.type = 'turn_latency' AND c.tenant_id = ${tenantId}
          ${period.from ? sql`AND c.created_at >= ${period.from}` : sql``}
          ${period.to ? sql`AND c.created_at < ${period.to}` : sql``}
        ORDER BY ms`)
      const sorted = latencies.flatMap((row) => (row.ms !== null && Number.isFinite(row.ms) ? [row.ms] : []))
      const total = totals?.total ?? 0
      const rate = (n: number) => (total === 0 ? 0 : Math.round((n / total) * 1000) / 10)
      return {
        totalCalls: total,
        completedCalls: totals?.completed ?? 0,
        averageDuration: totals?.average_duration === null || totals?.average_duration === undefined
          ? 0
          : Math.round(totals.average_duration),
        successRate: rate(totals?.completed ?? 0),
        resolutionRate: rate(totals?.resolved ?? 0),
        transfers: totals?.transfers ?? 0,
        bookingsMade: bookings?.n ?? 0,
        messagesTaken: Number(messagesTaken?.n ?? 0),
        endedByCaller: totals?.ended_by_caller ?? 0,
        endedByAgent: totals?.ended_by_agent ?? 0,
        turnLatencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), samples: sorted.length }
      }
    }, Effect.orDie)

    return { list, detail, stats } as const
  })
}) {}

const decodeJson = Schema.decodeUnknownOption(Schema.parseJson())
const parseJson = (text: string): unknown => Option.getOrElse(decodeJson(text), () => text)
