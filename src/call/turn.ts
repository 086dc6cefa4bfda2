import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { AppConfig } from "../config.ts"
import type { Claude, ClaudeEvent } from "../llm/Claude.ts"
import { systemPrompt } from "../llm/prompt.ts"
import type { Metrics } from "../observability/Metrics.ts"
import { makeSpeechNormaliser } from "../speech/normalise.ts"
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
  /** A token to the carrier, synchronously (the hot path). */
  readonly speakNow: (token: string, last: boolean) => void
  /** A fixed sentence through its own normaliser; returns what was said. */
  readonly sayWhole: (sentence: string, last?: boolean) => Effect.Effect<string>
  readonly noteOutcome: (outcome: Outcome) => Effect.Effect<void>
  /** The apology, or the handover after too many failed turns. */
  readonly failedTurn: (apology: string) => Effect.Effect<"failed">
  /** A tool asked for a human. */
  readonly transfer: (why: string) => Effect.Effect<void>
  readonly countTextFrames: () => void
}

/** Per tenant (its cached object) and minute: every call of a tenant shares the blocks instead of building its own. */
const promptCache = new WeakMap<Tenant, { readonly minute: number; readonly blocks: ReturnType<typeof systemPrompt> }>()

export const takeTurn = (context: TurnContext, utterance: string, promptAt: number) => {
  const { claude, clock, config, journal, metrics, state, tenant, toolContext, tools, transcript } = context
  const { countTextFrames, failedTurn, noteOutcome, sayWhole, speakNow, transfer } = context
  const { event } = journal
  const addLines = transcript.add
  const speak = (token: string, last: boolean) => Effect.sync(() => speakNow(token, last))
  const turn = ++transcript.turn
  let spokeThisTurn = false
  let pending = "" // sent to Twilio but not yet a transcript line
  /** One normaliser for the whole reply: every model word the caller hears goes through it. */
  const speech = makeSpeechNormaliser()
  /** What the normaliser still holds goes out now (a tool may take a while; an apology follows). */
  const flushSpeech = (last: boolean) =>
    Effect.sync(() => {
      const rest = speech.flush()
      if (rest === "" && !last) return
      pending += rest
      speakNow(rest, last)
    })
  const commitPending = Effect.suspend(() => {
    if (pending === "") return Effect.void
    const content = pending
    pending = ""
    return Effect.map(addLines([{ role: "assistant", content, turn }]), (added) => {
      transcript.lastReply.push(...added)
    })
  })
  /** The system prompt changes with the minute it states: rebuilt once a minute per tenant, not per request. */
  const systemPromptAt = (nowMs: number) => {
    const minute = Math.floor(nowMs / 60_000)
    const cached = promptCache.get(tenant)
    if (cached !== undefined && cached.minute === minute) return cached.blocks
    const blocks = systemPrompt(tenant, nowMs)
    promptCache.set(tenant, { minute, blocks })
    return blocks
  }
  return Effect.gen(function*() {
    yield* addLines([{ role: "user", content: utterance, turn }])
    transcript.lastReply = []
    let modelSpoke = false
    /** A model token to the caller, synchronously; the turn's latency is measured on the first one. */
    const speakToken = (token: string) => {
      if (!modelSpoke) {
        modelSpoke = true
        const ms = clock.unsafeCurrentTimeMillis() - promptAt
        metrics.unsafe.turnLatency(ms / 1000)
        journal.eventNow("turn_latency", { turn, ms })
      }
      const said = speech.push(token)
      if (said === "") return
      spokeThisTurn = true
      pending += said
      speakNow(said, false)
    }
    /** Fills a silence: said once per turn when nothing has been spoken yet (never in the transcript). */
    const filler = Effect.suspend(() => {
      if (spokeThisTurn) return Effect.void
      spokeThisTurn = true
      return Effect.asVoid(sayWhole(SAY.filler, false))
    })
    const withFiller = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.scoped(
        Effect.zipRight(
          Effect.forkScoped(
            Effect.sleep(Duration.millis(config.fillerAfterMs)).pipe(
              Effect.zipRight(filler),
              // Also around an uninterruptible tool: the filler timer itself must stay cancellable.
              Effect.interruptible
            )
          ),
          effect
        )
      )
    /**
     * A Claude round's one timer, a sleeping fiber beside the request (no race): the filler at FILLER_AFTER_MS
     * if nothing was said, and at FIRST_TOKEN_TIMEOUT_MS, if the model has still said nothing, the request is
     * abandoned (`giveUp` aborts it), whichever comes first first.
     */
    const roundWatch = (noEventYet: () => boolean, giveUp: () => void) => {
      const deadline = Effect.sync(() => {
        if (noEventYet()) giveUp()
      })
      const fillerMs = config.fillerAfterMs
      const limitMs = config.firstTokenTimeoutMs
      const [first, second] = fillerMs < limitMs ? [filler, deadline] : [deadline, filler]
      return Effect.sleep(Duration.millis(Math.min(fillerMs, limitMs))).pipe(
        Effect.zipRight(first),
        Effect.zipRight(Effect.sleep(Duration.millis(Math.abs(limitMs - fillerMs)))),
        Effect.zipRight(second)
      )
    }

    /** One request to Claude; its events are handled synchronously as they arrive. */
    const streamRound = (startedAt: number) =>
      Effect.suspend(() => {
        const toolUses: Array<Extract<ClaudeEvent, { _tag: "ToolUse" }>> = []
        let firstEvent = true
        const onEvent = (item: ClaudeEvent) => {
          if (firstEvent) {
            firstEvent = false
            metrics.unsafe.claudeFirstToken((clock.unsafeCurrentTimeMillis() - startedAt) / 1000)
          }
          if (item._tag === "TextDelta") speakToken(item.text)
          else if (item._tag === "ToolUse") toolUses.push(item)
        }
        const deadline = new AbortController()
        // Computed at every request with the current time (a call past midnight gets today's date);
        // the stable block stays byte-identical, so the prompt cache keeps serving it.
        const reply = claude.respond({
          system: systemPromptAt(startedAt),
          messages: toMessageParams(transcript.lines),
          tools: tools.definitions,
          signal: deadline.signal
        }, onEvent)
        return Effect.flatMap(Effect.fork(roundWatch(() => firstEvent, () => deadline.abort())), (watch) =>
          reply.pipe(
            Effect.ensuring(Fiber.interrupt(watch)),
            // Past the deadline, whatever the request ended with, the turn ends on the timeout.
            Effect.mapError((error) => deadline.signal.aborted ? new FirstTokenTimeout() : error),
            Effect.as(toolUses)
          ))
      })

    for (let round = 0; round <= config.maxToolRounds; round++) {
      const startedAt = yield* Clock.currentTimeMillis
      const toolUses = yield* streamRound(startedAt)
      if (toolUses.length === 0) {
        yield* flushSpeech(true)
        yield* commitPending
        return
      }
      // The round's last words go out before any tool runs.
      yield* flushSpeech(false)
      yield* commitPending
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
      const answer = (use: (typeof toolUses)[number], content: unknown, isError: boolean) =>
        Effect.gen(function*() {
          unanswered.delete(use.id)
          yield* addLines([{ role: "tool_result", content: JSON.stringify(content), toolName: use.name, toolUseId: use.id, turn }])
          yield* event("tool_result", { name: use.name, isError })
        })
      yield* addLines(toolUses.map((use) => ({
        role: "tool_use" as const,
        content: JSON.stringify(use.input ?? {}),
        toolName: use.name,
        toolUseId: use.id,
        turn
      })))
      yield* Effect.forEach(toolUses, (use) =>
        Effect.gen(function*() {
          yield* event("tool_call", { name: use.name, input: use.input, round })
          if (handoff !== null) return yield* answer(use, { skipped: "transfert en cours" }, true)
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
          yield* tools.isSideEffecting(use.name) ? Effect.uninterruptible(step) : step
        }), { discard: true }).pipe(
          Effect.ensuring(Effect.suspend(() =>
            Effect.forEach([...unanswered.values()], (use) => answer(use, { cancelled: "l'appelant a interrompu" }, true), {
              discard: true
            })
          ))
        )
      if (handoff !== null) {
        // The reply so far ends here: what the normaliser still holds closes it.
        if (spokeThisTurn) yield* flushSpeech(true)
        return yield* transfer(handoff)
      }
    }
    yield* commitPending
    // Looping on tools is a failure too: it counts towards the handover like an error does.
    return yield* failedTurn(SAY.tooManySteps)
  }).pipe(
    // A cut or failed reply keeps what was already sent: the canceller then trims it to what was
    // heard; after a failure it stays before the apology, as the caller heard it.
    Effect.ensuring(Effect.zipRight(Effect.sync(countTextFrames), commitPending)),
    // Only a turn that ended well resets the count; the apology below must not.
    Effect.tap((ended) => Effect.sync(() => { if (ended !== "failed") turnSucceeded(state) })),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.gen(function*() {
          const failure = Cause.failureOption(cause)
          yield* metrics.error(Option.match(failure, { onNone: () => "other", onSome: errorKind }))
          // No model key on this server: say so plainly, never invite the caller to repeat.
          const notConfigured = Option.exists(failure, (error) => errorTag(error) === "ClaudeNotConfigured")
          yield* notConfigured
            ? Effect.logError("ANTHROPIC_API_KEY is not set: the agent cannot answer; the caller is told so")
            : Effect.logError("turn failed; apologising to the caller", cause)
          // Owners read events: the error's kind and message, never a stack trace.
          yield* event("error", { kind: "turn", error: describeFailure(cause) })
          // What was said before the failure stays before the apology, as the caller heard it.
          yield* flushSpeech(false)
          yield* commitPending
          return yield* failedTurn(notConfigured ? SAY.notConfigured : SAY.technicalIssue)
        })
    )
  )
}

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
