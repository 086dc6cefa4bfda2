import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Alarms, withAlarm } from "../alarms.ts"
import type { AppConfig } from "../config.ts"
import { awaitFirstWords } from "../eventLoop.ts"
import type { Claude, ClaudeEvent } from "../llm/Claude.ts"
import { systemPrompt } from "../llm/prompt.ts"
import type { Metrics } from "../observability/Metrics.ts"
import { makeSpeechNormaliser, type SpeechNormaliser } from "../speech/normalise.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import type { ToolContext, Tools } from "../tools/Tools.ts"
import { toMessageParams } from "./history.ts"
import { SAY } from "./sentences.ts"
import { type CallState, turnSucceeded } from "./state.ts"
import type { Journal, Transcript } from "./transcript.ts"
import type { Outcome } from "./vocabulary.ts"

/**
 * A turn: the caller said something, Claude answers. Every word goes to the carrier as soon as it exists
 * (the SDK's events are handled synchronously, no effect per token); tools run between rounds; a filler
 * fills a silence; a first token too late, a failure or a loop of tools ends in an apology. The session runs
 * a turn in a child fiber, so a barge-in, a new prompt or a hang-up cancels it — and the HTTP request to Claude.
 */

/** What a turn uses of its call; the session builds it once. */
export interface TurnContext {
  readonly tenant: Tenant
  readonly toolContext: ToolContext
  readonly clock: Clock.Clock
  readonly config: AppConfig
  readonly claude: Claude
  readonly tools: Tools
  readonly metrics: Metrics
  readonly journal: Journal
  readonly transcript: Transcript
  readonly state: CallState
  /** The call's timers (filler, first-token deadline): no fiber per timer. */
  readonly alarms: Alarms
  /** A token to the carrier, synchronously (the hot path). */
  readonly speakNow: (token: string, last: boolean) => void
  /** A fixed sentence through its own normaliser, synchronously; returns what was said. */
  readonly sayNow: (sentence: string, last: boolean) => string
  readonly noteOutcome: (outcome: Outcome) => Effect.Effect<void>
  /** The apology, or the handover after too many failed turns. */
  readonly failedTurn: (apology: string) => Effect.Effect<"failed">
  /** A tool asked for a human. */
  readonly transfer: (why: string) => Effect.Effect<void>
  readonly countTextFrames: () => void
}

/** Per tenant (its cached object) and minute: every call of a tenant shares the blocks instead of building its own. */
const promptCache = new WeakMap<Tenant, { readonly minute: number; readonly blocks: ReturnType<typeof systemPrompt> }>()

/** What the caller has heard of a turn's reply so far, and what of it is not yet a transcript line. */
interface Reply {
  readonly turn: number
  /** One normaliser for the whole reply: every model word the caller hears goes through it. */
  readonly speech: SpeechNormaliser
  /** Something was said this turn (a word, the filler). */
  spoke: boolean
  /** Sent to the carrier but not yet a transcript line. */
  pending: string
}

/** The system prompt changes with the minute it states: rebuilt once a minute per tenant, not per request. */
const systemPromptAt = (tenant: Tenant, nowMs: number) => {
  const minute = Math.floor(nowMs / 60_000)
  const cached = promptCache.get(tenant)
  if (cached !== undefined && cached.minute === minute) return cached.blocks
  const blocks = systemPrompt(tenant, nowMs)
  promptCache.set(tenant, { minute, blocks })
  return blocks
}

/** What the normaliser still holds goes out now (a tool may take a while; an apology follows). */
const flushSpeech = (context: TurnContext, reply: Reply, last: boolean) =>
  Effect.sync(() => {
    const rest = reply.speech.flush()
    if (rest === "" && !last) return
    reply.pending += rest
    context.speakNow(rest, last)
  })

/** What was sent becomes a transcript line of the reply. */
const commitPending = (context: TurnContext, reply: Reply) =>
  Effect.suspend(() => {
    if (reply.pending === "") return Effect.void
    const content = reply.pending
    reply.pending = ""
    return Effect.map(context.transcript.add([{ role: "assistant", content, turn: reply.turn }]), (added) => {
      context.transcript.lastReply.push(...added)
    })
  })

// The turn's generators are written once, the turn coming as arguments: a generator function created per turn
// is a new function each time, and the JIT recompiles those again and again (their code specialises on objects
// that die with the turn).

export const takeTurn = (context: TurnContext, utterance: string, promptAt: number) => {
  const reply: Reply = { turn: ++context.transcript.turn, speech: makeSpeechNormaliser(), spoke: false, pending: "" }
  return runRounds(context, reply, utterance, promptAt).pipe(
    // A cut or failed reply keeps what was already sent: the canceller then trims it to what was
    // heard; after a failure it stays before the apology, as the caller heard it.
    Effect.ensuring(Effect.zipRight(Effect.sync(context.countTextFrames), commitPending(context, reply))),
    // Only a turn that ended well resets the count; the apology below must not.
    Effect.tap((ended) => Effect.sync(() => { if (ended !== "failed") turnSucceeded(context.state) })),
    Effect.catchAllCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.interrupt : apologise(context, reply, cause))
  )
}

/** Claude's rounds (and the tools between them) until the reply is complete. */
const runRounds = Effect.fnUntraced(function*(context: TurnContext, reply: Reply, utterance: string, promptAt: number) {
  const { alarms, claude, clock, config, journal, metrics, tenant, toolContext, tools, transcript } = context
  const { failedTurn, noteOutcome, sayNow, speakNow, transfer } = context
  const { event } = journal
  const addLines = transcript.add
  yield* addLines([{ role: "user", content: utterance, turn: reply.turn }])
  transcript.lastReply = []
  let modelSpoke = false
  /** A model token to the caller, synchronously; the turn's latency is measured on the first one. */
  const speakToken = (token: string) => {
    if (!modelSpoke) {
      modelSpoke = true
      const ms = clock.unsafeCurrentTimeMillis() - promptAt
      metrics.unsafe.turnLatency(ms / 1000)
      journal.eventNow("turn_latency", { turn: reply.turn, ms })
    }
    const said = reply.speech.push(token)
    if (said === "") return
    reply.spoke = true
    reply.pending += said
    speakNow(said, false)
  }
  /** Fills a silence: said once per turn when nothing has been spoken yet (never in the transcript). */
  const fillIn = () => {
    if (reply.spoke) return
    reply.spoke = true
    sayNow(SAY.filler, false)
  }
  const withFiller = withAlarm(alarms, config.fillerAfterMs, fillIn)

  /**
   * One request to Claude; its events are handled synchronously as they arrive. Until the model's first event, other
   * calls' work that can wait holds back (eventLoop.ts); the round stops counting itself however it ends.
   */
  const streamRound = (startedAt: number) =>
    Effect.acquireUseRelease(Effect.sync(awaitFirstWords), (firstWordsOut) => {
      const toolUses: Array<Extract<ClaudeEvent, { _tag: "ToolUse" }>> = []
      let noEventYet = true
      const onEvent = (item: ClaudeEvent) => {
        if (noEventYet) {
          noEventYet = false
          firstWordsOut()
          metrics.unsafe.claudeFirstToken((clock.unsafeCurrentTimeMillis() - startedAt) / 1000)
        }
        if (item._tag === "TextDelta") speakToken(item.text)
        else if (item._tag === "ToolUse") toolUses.push(item)
      }
      const deadline = new AbortController()
      // Computed at every request with the current time (a call past midnight gets today's date);
      // the stable block stays byte-identical, so the prompt cache keeps serving it.
      const response = claude.respond({
        system: systemPromptAt(tenant, startedAt),
        messages: toMessageParams(transcript.lines),
        tools: tools.definitions,
        signal: deadline.signal
      }, onEvent)
      // The round's alarms: the filler if nothing was said by FILLER_AFTER_MS; at FIRST_TOKEN_TIMEOUT_MS, if the
      // model has still said nothing, the request is abandoned (aborting it ends `response`).
      return response.pipe(
        withAlarm(alarms, config.firstTokenTimeoutMs, () => {
          if (noEventYet) deadline.abort()
        }),
        withFiller,
        // Past the deadline, whatever the request ended with, the turn ends on the timeout.
        Effect.mapError((error) => deadline.signal.aborted ? new FirstTokenTimeout() : error),
        Effect.as(toolUses)
      )
    }, (firstWordsOut) => Effect.sync(firstWordsOut))

  for (let round = 0; round <= config.maxToolRounds; round++) {
    const startedAt = yield* Clock.currentTimeMillis
    const toolUses = yield* streamRound(startedAt)
    if (toolUses.length === 0) {
      yield* flushSpeech(context, reply, true)
      yield* commitPending(context, reply)
      return
    }
    // The round's last words go out before any tool runs.
    yield* flushSpeech(context, reply, false)
    yield* commitPending(context, reply)
    // Out of rounds: the model would never read these results, so they do not run (a booking
    // made here would contradict the sentence the caller hears next).
    if (round === config.maxToolRounds) {
      yield* event("tool_rounds_exhausted", { rounds: round, skipped: toolUses.map((use) => use.name) })
      break
    }
    // Every tool_use gets its tool_result before the model goes on, in the order asked. Results are
    // recorded as they come; a booking or transfer, once started, completes and is recorded even if
    // the caller barges in, so the model never ignores what really happened; a tool the cut turn
    // never started is recorded as cancelled, which keeps the history valid for the next request.
    let handoff: string | null = null
    const unanswered = new Map(toolUses.map((use) => [use.id, use]))
    // Plain effects, not generators: a generator written here would be a new function per turn.
    const answer = (use: (typeof toolUses)[number], content: unknown, isError: boolean) =>
      Effect.suspend(() => {
        unanswered.delete(use.id)
        return Effect.zipRight(
          addLines([{ role: "tool_result", content: JSON.stringify(content), toolName: use.name, toolUseId: use.id, turn: reply.turn }]),
          event("tool_result", { name: use.name, isError })
        )
      })
    yield* addLines(toolUses.map((use) => ({
      role: "tool_use" as const,
      content: JSON.stringify(use.input ?? {}),
      toolName: use.name,
      toolUseId: use.id,
      turn: reply.turn
    })))
    yield* Effect.forEach(toolUses, (use) =>
      Effect.zipRight(
        event("tool_call", { name: use.name, input: use.input, round }),
        Effect.suspend(() => {
          if (handoff !== null) return answer(use, { skipped: "transfert en cours" }, true)
          const step = Effect.flatMap(withFiller(tools.execute(use.name, use.input, toolContext)), (outcome) => {
            if (outcome._tag === "Transfer") {
              handoff = outcome.reason
              return answer(use, { transferred: true }, false)
            }
            return Effect.zipRight(
              outcome.callOutcome ? noteOutcome(outcome.callOutcome) : Effect.void,
              answer(use, outcome.content, outcome.isError)
            )
          })
          return tools.isSideEffecting(use.name) ? Effect.uninterruptible(step) : step
        })
      ), { discard: true }).pipe(
        Effect.ensuring(Effect.suspend(() =>
          Effect.forEach([...unanswered.values()], (use) => answer(use, { cancelled: "l'appelant a interrompu" }, true), {
            discard: true
          })
        ))
      )
    if (handoff !== null) {
      // The reply so far ends here: what the normaliser still holds closes it.
      if (reply.spoke) yield* flushSpeech(context, reply, true)
      return yield* transfer(handoff)
    }
  }
  yield* commitPending(context, reply)
  // Looping on tools is a failure too: it counts towards the handover like an error does.
  return yield* failedTurn(SAY.tooManySteps)
})

/** A turn that failed: the error recorded, what was said kept before the apology, then the apology (or a handover). */
const apologise = Effect.fnUntraced(function*(context: TurnContext, reply: Reply, cause: Cause.Cause<unknown>) {
  const failure = Cause.failureOption(cause)
  yield* context.metrics.error(Option.match(failure, { onNone: () => "other", onSome: errorKind }))
  // No model key on this server: say so plainly, never invite the caller to repeat.
  const notConfigured = Option.exists(failure, (error) => errorTag(error) === "ClaudeNotConfigured")
  yield* notConfigured
    ? Effect.logError("ANTHROPIC_API_KEY is not set: the agent cannot answer; the caller is told so")
    : Effect.logError("turn failed; apologising to the caller", cause)
  // Owners read events: the error's kind and message, never a stack trace.
  yield* context.journal.event("error", { kind: "turn", error: describeFailure(cause) })
  // What was said before the failure stays before the apology, as the caller heard it.
  yield* flushSpeech(context, reply, false)
  yield* commitPending(context, reply)
  return yield* context.failedTurn(notConfigured ? SAY.notConfigured : SAY.technicalIssue)
})

class FirstTokenTimeout {
  readonly _tag = "FirstTokenTimeout"
}

/** A failure as owners may read it: its tag and message, no stack. */
const describeFailure = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => (Cause.isDie(cause) ? "unexpected error" : "interrupted"),
    onSome: (error) => {
      if (typeof error === "object" && error !== null) {
        const tag = "_tag" in error ? String(error._tag) : "Error"
        const message = "message" in error && typeof error.message === "string" ? `: ${error.message}` : ""
        return (tag + message).slice(0, 300)
      }
      return String(error).slice(0, 300)
    }
  })

const errorTag = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined

const errorKind = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    switch (error._tag) {
      case "ClaudeError":
      case "ClaudeNotConfigured":
      case "FirstTokenTimeout":
        return "claude"
    }
  }
  return "other"
}
