import * as SqlClient from "@effect/sql/SqlClient"
import type { Tool } from "@anthropic-ai/sdk/resources/messages"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Metrics } from "../observability/Metrics.ts"
import { CallsRepo, nowIso } from "../storage/CallsRepo.ts"
import { isoAfter, SUMMARY_CLAIM } from "../cluster/decisions.ts"
import { Claude } from "./Claude.ts"

/**
 * Post-call summaries. A finished call is queued; one background worker writes its French summary
 * with Claude, retrying on failure, and stores it at most once per call (primary key + ON CONFLICT).
 * Nothing here runs on a call's path. At start, calls that ended without a summary are queued again.
 * Several instances share the database: a summary is claimed there first (`summary_claims`, under a lease),
 * so one instance writes it and Claude is asked once, even when every instance queued the call.
 */

export const CallSummary = Schema.Struct({
  summary: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2000)).annotations({
    description: "2 à 4 phrases en français : qui appelait, ce qu'il voulait, ce qui a été fait."
  }),
  intent: Schema.String.pipe(Schema.maxLength(200)).annotations({ description: "L'intention principale, en quelques mots." }),
  sentiment: Schema.Literal("positif", "neutre", "négatif"),
  outcome: Schema.Literal("booked", "transferred", "message_taken", "information_given", "abandoned").annotations({
    description:
      "booked si un rendez-vous a été confirmé, transferred si l'appel a été transféré, message_taken si un message a été noté pour l'équipe, information_given si le client a obtenu l'information demandée, abandoned sinon."
  }),
  callbackNeeded: Schema.Boolean.annotations({
    description: "true si l'équipe doit rappeler le client (message laissé, demande non traitée, transfert sans réponse)."
  }),
  unansweredQuestions: Schema.Array(Schema.String.pipe(Schema.maxLength(300))).pipe(Schema.maxItems(20)).annotations({
    description: "Les questions du client auxquelles la base de connaissances n'a pas su répondre."
  })
})
export type CallSummary = typeof CallSummary.Type

/** The summary is the input of a tool Claude is forced to call: its JSON schema comes from the Schema above. */
export const SUMMARY_TOOL = "record_call_summary"
const summaryTool: Tool = {
  name: SUMMARY_TOOL,
  description: "Enregistre le résumé de l'appel pour le gérant.",
  input_schema: (({ $schema: _ignored, ...schema }) => schema)(
    JSONSchema.make(CallSummary) as unknown as Record<string, unknown>
  ) as Tool["input_schema"]
}

const decodeSummary = Schema.decodeUnknown(CallSummary)

const SUMMARY_SYSTEM = `Vous résumez des appels téléphoniques reçus par l'assistante vocale d'une petite entreprise française, pour le gérant.
Enregistrez le résumé de l'appel avec l'outil ${SUMMARY_TOOL}.`

const SUMMARY_WORKERS = 3

/** A finished call waiting for its summary, and when Twilio's last word on it is in. */
interface Queued {
  readonly callId: string
  readonly settlesAt: number
}

class SummaryUnusable extends Schema.TaggedError<SummaryUnusable>()("SummaryUnusable", { reason: Schema.String }) {}

export class Summaries extends Effect.Service<Summaries>()("app/Summaries", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const calls = yield* CallsRepo
    const claude = yield* Claude
    const metrics = yield* Metrics
    const model = yield* Config.string("ANTHROPIC_SUMMARY_MODEL").pipe(Config.withDefault("claude-sonnet-5-5"))
    const retryLimit = yield* Config.integer("SUMMARY_RETRY_LIMIT").pipe(Config.withDefault(5))
    const settleMs = yield* Config.integer("SUMMARY_SETTLE_MS").pipe(Config.withDefault(5000))

    /** Who claims summaries in the database: this process's summary workers. */
    const claimant = crypto.randomUUID()
    const queue = yield* Queue.unbounded<Queued>()
    /** Calls queued or being summarised: a call queued twice (socket close and status callback) is summarised once. */
    const pending = new Set<string>()

    const hasSummary = (callId: string) =>
      Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM call_summaries WHERE call_id = ${callId}`, (rows) => (rows[0]?.n ?? 0) > 0)

    /** Takes the call's summary for this process unless another holds a live claim on it. */
    const claim = Effect.fnUntraced(function*(callId: string) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{ call_id: string }>`INSERT INTO summary_claims (call_id, instance_id, lease_until)
        VALUES (${callId}, ${claimant}, ${isoAfter(now, SUMMARY_CLAIM)})
        ON CONFLICT (call_id) DO UPDATE SET instance_id = excluded.instance_id, lease_until = excluded.lease_until
        WHERE summary_claims.instance_id = excluded.instance_id OR summary_claims.lease_until <= ${new Date(now).toISOString()}
        RETURNING call_id`
      return rows.length > 0
    })
    /** The work is over (written, given up, or stopped): a later start or another instance may take it again. */
    const releaseClaim = (callId: string) =>
      sql`DELETE FROM summary_claims WHERE call_id = ${callId} AND instance_id = ${claimant}`.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("summary claim not released", cause))
      )

    const transcriptOf = (callId: string) =>
      Effect.map(calls.messages(callId), (messages) =>
        messages.map((m) => {
          switch (m.role) {
            case "user":
              return `Client : ${m.content}`
            case "assistant":
              return `Assistante : ${m.content}${m.interrupted === 1 ? " [interrompue]" : ""}`
            case "tool_use":
              return `[outil ${m.tool_name} : ${m.content}]`
            case "tool_result":
              return `[résultat ${m.tool_name} : ${m.content.slice(0, 600)}]`
          }
        }).join("\n"))

    const messagesTaken = (callId: string) =>
      Effect.map(
        sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM caller_messages WHERE call_id = ${callId}`,
        (rows) => Number(rows[0]?.n ?? 0)
      )

    const store = Effect.fnUntraced(function*(callId: string, summary: CallSummary) {
      const createdAt = yield* nowIso
      const inserted = yield* sql<{ call_id: string }>`INSERT INTO call_summaries ${
        sql.insert({
          call_id: callId,
          summary: summary.summary,
          intent: summary.intent,
          sentiment: summary.sentiment,
          outcome: summary.outcome,
          // A message taken for the team always needs a callback, whatever the model read.
          callback_needed: summary.callbackNeeded || (yield* messagesTaken(callId)) > 0 ? 1 : 0,
          unanswered: JSON.stringify(summary.unansweredQuestions),
          created_at: createdAt
        })
      } ON CONFLICT (call_id) DO NOTHING RETURNING call_id`
      // A message taken is only visible to the summary: refine the weakest outcome with it.
      if (inserted.length > 0 && summary.outcome === "message_taken") {
        yield* sql`UPDATE calls SET outcome = 'message_taken' WHERE id = ${callId} AND (outcome IS NULL OR outcome = 'abandoned')`
      }
      return inserted.length > 0
    })

    /**
     * Twilio's own word on how a call ended (connect action, status callback) comes a second or so after our
     * socket closed: a summary's work — even its claim — starts once the call has been over for
     * SUMMARY_SETTLE_MS, so the hang-up itself costs the database nothing for it.
     */
    const untilSettled = (settlesAt: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        // Never more than the settle time, whatever the clocks say.
        settlesAt > now ? Effect.sleep(Duration.millis(Math.min(settleMs, settlesAt - now))) : Effect.void)

    /** One attempt at a call's summary, once the call has settled (retried as a whole by `summarise`). */
    const summaryAttempt = Effect.fnUntraced(function*({ callId, settlesAt }: Queued) {
      yield* untilSettled(settlesAt)
      if (yield* hasSummary(callId)) return
      // Before the claim: a claim names an existing call, so an unknown id would fail it and be retried.
      const call = yield* calls.findById(callId)
      if (Option.isNone(call)) return
      if (!(yield* claim(callId))) return
      const transcript = yield* transcriptOf(callId)
      if (transcript.trim() !== "" && !claude.configured) {
        return yield* Effect.logWarning("no ANTHROPIC_API_KEY: call summary skipped").pipe(Effect.annotateLogs({ callId }))
      }
      const summary: CallSummary = transcript.trim() === ""
        ? {
          summary: "L'appelant a raccroché avant d'exprimer une demande.",
          intent: "inconnue",
          sentiment: "neutre",
          outcome: call.value.outcome === "transferred" ? "transferred" : "abandoned",
          callbackNeeded: false,
          unansweredQuestions: []
        }
        : yield* Stream.runCollect(claude.stream({
          model,
          // Off the call's path: a long transcript may take its time to start.
          attemptTimeoutMs: 30_000,
          system: SUMMARY_SYSTEM,
          maxTokens: 700,
          tools: [summaryTool],
          toolChoice: { type: "tool", name: SUMMARY_TOOL },
          messages: [{
            role: "user",
            content: `Appel du ${call.value.started_at} (fin : ${call.value.end_reason ?? "inconnue"}, issue enregistrée : ${
              call.value.outcome ?? "inconnue"
            }).\n\nTranscription :\n${transcript}`
          }]
        })).pipe(
          Effect.flatMap((events) => {
            const call = Chunk.findFirst(events, (event) => event._tag === "ToolUse" && event.name === SUMMARY_TOOL)
            return Option.isNone(call) || call.value._tag !== "ToolUse"
              ? Effect.fail(new SummaryUnusable({ reason: `no ${SUMMARY_TOOL} call in the reply` }))
              : decodeSummary(call.value.input).pipe(
                Effect.mapError((error) => new SummaryUnusable({ reason: error.message.slice(0, 300) }))
              )
          })
        )
      if (yield* store(callId, summary)) {
        yield* metrics.summaryWritten()
        yield* Effect.logInfo("call summary written").pipe(Effect.annotateLogs({ callId }))
      }
    })

    const summarise = ({ callId, settlesAt }: Queued) =>
      summaryAttempt({ callId, settlesAt }).pipe(
        Effect.retry(
          Schedule.exponential("1 second").pipe(
            Schedule.jittered,
            Schedule.union(Schedule.spaced("1 minute")),
            Schedule.intersect(Schedule.recurs(Math.max(0, retryLimit - 1))),
            Schedule.tapInput(() => metrics.retry("summary"))
          )
        ),
        Effect.catchAllCause((cause) =>
          Effect.all([
            metrics.summaryFailed(),
            metrics.error("summary"),
            Effect.logError("call summary failed; it will be retried at next start", cause).pipe(
              Effect.annotateLogs({ callId })
            )
          ], { discard: true })
        ),
        Effect.ensuring(Effect.zipRight(releaseClaim(callId), Effect.sync(() => pending.delete(callId))))
      )

    /** Queue a call that just ended (or ended at `endedAt`); returns at once. */
    const enqueue = (callId: string, endedAt?: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (pending.has(callId)) return Effect.void
        pending.add(callId)
        return Queue.offer(queue, { callId, settlesAt: (endedAt ?? now) + settleMs })
      })

    // A few workers, so one summary stuck in its retries does not hold back every other call's.
    yield* Effect.replicateEffect(
      Queue.take(queue).pipe(Effect.flatMap(summarise), Effect.forever, Effect.forkScoped),
      SUMMARY_WORKERS
    )

    // Calls that ended without a summary (crash, restart during retries) are picked up again.
    const missing = yield* sql<{ id: string; ended_at: string | Date }>`SELECT c.id, c.ended_at FROM calls c LEFT JOIN call_summaries s ON s.call_id = c.id
      WHERE c.ended_at IS NOT NULL AND s.call_id IS NULL ORDER BY c.ended_at`.pipe(Effect.orDie)
    yield* Effect.forEach(missing, (row) => enqueue(row.id, new Date(row.ended_at).getTime()), { discard: true })
    if (missing.length > 0) yield* Effect.logInfo("queued missing call summaries").pipe(Effect.annotateLogs({ count: missing.length }))

    /** Waits until nothing is queued or being summarised (tests, shutdown). */
    const idle = Effect.suspend(() => (pending.size === 0 ? Effect.void : Effect.sleep(Duration.millis(20)))).pipe(
      Effect.repeat({ until: () => pending.size === 0 })
    )

    return { enqueue, idle } as const
  })
}) {}
