import * as Effect from "effect/Effect"
import { Summaries } from "../llm/Summaries.ts"
import { Metrics } from "../observability/Metrics.ts"
import { CallsRepo } from "../storage/CallsRepo.ts"
import type { EndReason, Outcome } from "./vocabulary.ts"

/**
 * The one way a call ends. Whoever notices the end — the session (socket closed, transfer, goodbye, shutdown),
 * the connect action (Twilio's session failed), the status callback (hung up before the relay), recovery at
 * start — calls `finalise`; only the first call for a call id does anything: the row's end with its `end` event
 * and the end of its lease, the outcome's count and the post-call summary. The others learn that it was already
 * done.
 */
export class CallEnd extends Effect.Service<CallEnd>()("app/CallEnd", {
  effect: Effect.gen(function*() {
    const calls = yield* CallsRepo
    const summaries = yield* Summaries
    const metrics = yield* Metrics

    /** Returns whether this caller finalised the call. Never fails: a failed step is logged. */
    const finalise = Effect.fnUntraced(function*(callId: string, end: { readonly reason: EndReason; readonly outcome: Outcome }) {
      const finalised = yield* calls.finalize(callId, { endReason: end.reason, outcome: end.outcome }).pipe(
        Effect.catchAllCause((cause) => Effect.as(Effect.logError("call finalisation failed", cause), false))
      )
      if (!finalised) return false
      yield* metrics.callFinalised(end.outcome)
      yield* Effect.logInfo("call ended").pipe(Effect.annotateLogs({ reason: end.reason, outcome: end.outcome }))
      yield* summaries.enqueue(callId)
      return true
    })

    return { finalise } as const
  })
}) {}
