import Anthropic from "@anthropic-ai/sdk"
import type { Stream as SdkStream } from "@anthropic-ai/sdk/core/streaming"
import type { MessageParam, RawMessageStreamEvent, TextBlockParam, Tool, ToolChoice } from "@anthropic-ai/sdk/resources/messages"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { makeAlarms, withAlarm } from "../alarms.ts"
import { AppConfig } from "../config.ts"
import { deferredTurn } from "../eventLoop.ts"
import { Metrics, type TokenKind } from "../observability/Metrics.ts"
import { requestBody } from "./requestBody.ts"

/** A tool call's input, as the model streamed it. */
const decodeJson = Schema.decodeUnknownOption(Schema.parseJson())

/** What a turn asks Claude for. */
export interface ClaudeRequest {
  readonly system: string | ReadonlyArray<TextBlockParam>
  readonly messages: ReadonlyArray<MessageParam>
  readonly tools?: ReadonlyArray<Tool>
  /** `{ type: "tool", name }` forces that tool (structured output: summaries). */
  readonly toolChoice?: ToolChoice
  readonly maxTokens?: number
  /** Overrides ANTHROPIC_MODEL (summaries use their own model); the fallback stays the same. */
  readonly model?: string
  /** How long one attempt may stay silent before the fallback model is asked (default CLAUDE_ATTEMPT_TIMEOUT_MS). */
  readonly attemptTimeoutMs?: number
  /** The caller's own deadline: aborting it ends the request at once, with no retry and no fallback. */
  readonly signal?: AbortSignal
}

/** What a turn reads back, already reassembled: text as it streams, each tool call whole. */
export type ClaudeEvent =
  | { readonly _tag: "TextDelta"; readonly text: string }
  | { readonly _tag: "ToolUse"; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly _tag: "Stop"; readonly stopReason: string }

export class ClaudeError extends Data.TaggedError("ClaudeError")<{
  readonly status: number | undefined
  readonly transient: boolean
  readonly message: string
  /** The model said nothing in time: retrying it would only wait again, the fallback may answer. */
  readonly stalled?: boolean
}> {}

export class ClaudeNotConfigured extends Data.TaggedError("ClaudeNotConfigured")<{}> {
  override readonly message = "ANTHROPIC_API_KEY is not set"
}

/** A body the SDK is given already serialised: it passes it on as it is, with this type. */
const JSON_BODY = { "content-type": "application/json" } as const

const TRANSIENT_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504, 529])

const toClaudeError = (cause: unknown): ClaudeError => {
  if (cause instanceof ClaudeError) return cause
  if (cause instanceof Anthropic.APIError) {
    const status = cause.status
    return new ClaudeError({
      status,
      // No status means the connection failed before an answer: worth another try.
      transient: status === undefined || TRANSIENT_STATUSES.has(status),
      message: cause.message.slice(0, 300)
    })
  }
  return new ClaudeError({ status: undefined, transient: true, message: String(cause).slice(0, 300) })
}

/**
 * Marks the conversation so far for Anthropic's prompt cache: the next request of the call re-reads
 * that prefix instead of processing it again, which keeps time to first token flat as a call grows.
 */
export const withHistoryCacheBreakpoint = (messages: ReadonlyArray<MessageParam>): Array<MessageParam> => {
  const last = messages[messages.length - 1]
  if (!last || typeof last.content === "string" || last.content.length === 0) return [...messages]
  const blocks = [...last.content]
  const lastBlock = blocks[blocks.length - 1]!
  if (lastBlock.type !== "text" && lastBlock.type !== "tool_result") return [...messages]
  blocks[blocks.length - 1] = { ...lastBlock, cache_control: { type: "ephemeral" } }
  return [...messages.slice(0, -1), { ...last, content: blocks } as MessageParam]
}

/** Capped, jittered exponential backoff; only typed transient errors, never an interruption. */
export const claudeRetryPolicy = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.intersect(Schedule.recurs(2)),
  Schedule.whileInput((error: ClaudeError) => error.transient && error.stalled !== true)
)

/**
 * One tool-use block is streamed as a start, several `input_json_delta` pieces and a stop;
 * this folds those pieces so callers only ever see whole tool calls.
 */
const reassemble = (countTokens: (kind: TokenKind, count: number) => void, onProgress: () => void) => {
  const pending = new Map<number, { id: string; name: string; json: string }>()
  return (event: RawMessageStreamEvent): ReadonlyArray<ClaudeEvent> => {
    switch (event.type) {
      case "message_start": {
        // Whether the prompt cache works is only visible here.
        // (A proxy behind ANTHROPIC_BASE_URL may leave usage out: a metric must never fail a turn.)
        const usage = event.message?.usage
        countTokens("input", usage?.input_tokens ?? 0)
        countTokens("cache_read", usage?.cache_read_input_tokens ?? 0)
        countTokens("cache_write", usage?.cache_creation_input_tokens ?? 0)
        return []
      }
      case "content_block_start":
        // The model is answering, even if it is a long tool input that yields nothing yet.
        onProgress()
        if (event.content_block.type === "tool_use") {
          pending.set(event.index, { id: event.content_block.id, name: event.content_block.name, json: "" })
        }
        return []
      case "content_block_delta":
        if (event.delta.type === "text_delta") return event.delta.text === "" ? [] : [{ _tag: "TextDelta", text: event.delta.text }]
        if (event.delta.type === "input_json_delta") {
          const block = pending.get(event.index)
          if (block) block.json += event.delta.partial_json
        }
        return []
      case "content_block_stop": {
        const block = pending.get(event.index)
        if (!block) return []
        pending.delete(event.index)
        const input = block.json.trim() === ""
          ? {}
          : Option.getOrElse(decodeJson(block.json), () => ({ _unparseable: block.json }))
        return [{ _tag: "ToolUse", id: block.id, name: block.name, input }]
      }
      case "message_delta":
        countTokens("output", event.usage?.output_tokens ?? 0)
        return event.delta.stop_reason ? [{ _tag: "Stop", stopReason: event.delta.stop_reason }] : []
      default:
        return []
    }
  }
}

/** The `fetch` the SDK calls (its own type, not re-exported by the package's root). */
type SdkFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * The SDK hands `fetch` its headers as a `Headers` object. Deno turns one into a request's headers by iterating it,
 * and its iterator sorts the whole list again at every step: ~50 KB of garbage per request to Claude, an eighth of
 * what a turn allocated (Deno's sampling heap profiler, 300 turns), and 26 µs per request where pairs read in one
 * pass take 7 µs. On Bun pairs cost ~3 µs more per request than its native `Headers`: nothing next to a turn.
 */
export const fetchWithHeaderPairs = (fetchImpl: SdkFetch): SdkFetch => (input, init) => {
  const headers = init?.headers
  if (!(headers instanceof Headers)) return fetchImpl(input, init)
  const pairs: Array<[string, string]> = []
  headers.forEach((value, name) => {
    pairs.push([name, value])
  })
  return fetchImpl(input, { ...init, headers: pairs })
}

export class Claude extends Effect.Service<Claude>()("app/Claude", {
  scoped: Effect.gen(function*() {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    // Every attempt's stall deadline, on one sleeping fiber (see alarms.ts).
    const alarms = yield* makeAlarms
    yield* Effect.addFinalizer(() => alarms.stop)
    const client = Option.map(
      config.anthropicApiKey,
      (key) =>
        new Anthropic({
          apiKey: Redacted.value(key),
          // Retries, timeouts and fallbacks are ours (Effect schedules), not the SDK's.
          maxRetries: 0,
          timeout: 60_000,
          fetch: fetchWithHeaderPairs((input, init) => fetch(input, init)),
          // Nothing here exports OpenTelemetry spans: the SDK's own tracing would build a span's attributes (and
          // trace headers) for every request, a few percent of a turn's CPU, for nothing.
          openTelemetry: false,
          ...Option.match(config.anthropicBaseUrl, { onNone: () => ({}), onSome: (baseURL) => ({ baseURL }) })
        })
    )

    // One policy per model, built once (a turn must not build a Schedule per request).
    const retryPolicies = new Map<string, Schedule.Schedule<unknown, ClaudeError>>()
    const retryPolicy = (model: string) => {
      const known = retryPolicies.get(model)
      if (known !== undefined) return known
      const policy = claudeRetryPolicy.pipe(
        Schedule.tapInput((error: ClaudeError) =>
          Effect.zipRight(
            metrics.retry("claude"),
            Effect.logWarning("Claude failed, retrying").pipe(Effect.annotateLogs({ status: error.status, model }))
          )
        )
      )
      retryPolicies.set(model, policy)
      return policy
    }
    const abandoned = () => new ClaudeError({ status: undefined, transient: false, message: "abandoned by the caller" })

    /**
     * One attempt, up to its first text or whole tool call. Up to there nothing was said (message_start and
     * ping fold to nothing), so an error among those events, such as an in-stream overloaded_error, may be
     * retried. Those first events go to `onEvent` as soon as they are read, before anything else runs (the
     * first word is the one the caller waits for); from then on nothing is retried. A failed or silent attempt
     * has its HTTP request aborted at once. The attempt's deadline is an alarm that aborts the request if the
     * model has not begun by then (no race, no fiber per attempt).
     */
    const openAttempt = (anthropic: Anthropic, model: string, request: ClaudeRequest, onEvent: (event: ClaudeEvent) => void) =>
      Effect.suspend(() => {
        if (request.signal?.aborted) return Effect.fail(abandoned())
        const controller = new AbortController()
        const abortWithCaller = () => controller.abort()
        request.signal?.addEventListener("abort", abortWithCaller)
        let begun = false
        let stalled = false
        let delivered = false
        const fold = reassemble(metrics.unsafe.claudeTokens, () => {
          begun = true
        })
        const firstEvents = Effect.tryPromise({
          try: async () => {
            // The SDK's generic `post` of `messages.create`'s request: the body comes serialised, its fixed part kept.
            const sdkStream = await anthropic.post<SdkStream<RawMessageStreamEvent>>("/v1/messages", {
              body: requestBody(
                { model, maxTokens: request.maxTokens ?? 400, system: request.system, tools: request.tools, toolChoice: request.toolChoice },
                withHistoryCacheBreakpoint(request.messages)
              ),
              headers: JSON_BODY,
              stream: true,
              signal: controller.signal
            })
            // Not `for await`: leaving that loop awaits iterator.return(), which an async generator only
            // settles after the pending next() — i.e. after Claude's next event. Aborting the request makes
            // the pending read reject at once instead.
            const iterator = sdkStream[Symbol.asyncIterator]()
            for (;;) {
              const next = await iterator.next()
              if (next.done) throw new ClaudeError({ status: undefined, transient: true, message: "empty stream" })
              const events = fold(next.value)
              if (events.length > 0) {
                delivered = true
                for (const event of events) onEvent(event)
                return iterator
              }
            }
          },
          catch: (cause) =>
            request.signal?.aborted
              ? abandoned()
              : delivered
              ? new ClaudeError({ ...toClaudeError(cause), transient: false }) // words went out: never again
              : stalled
              ? new ClaudeError({ status: undefined, transient: true, stalled: true, message: "no first event in time" })
              : toClaudeError(cause)
        })
        const stopFollowingCaller = () => request.signal?.removeEventListener("abort", abortWithCaller)
        return firstEvents.pipe(
          // Silent for too long (no content block begun): give up on this attempt for the fallback. A model
          // busy writing a long tool input has begun a block, so it is left to finish.
          withAlarm(alarms, request.attemptTimeoutMs ?? config.claudeAttemptTimeoutMs, () => {
            if (!begun) {
              stalled = true
              controller.abort()
            }
          }),
          Effect.map((iterator) => ({ controller, iterator, fold, stopFollowingCaller })),
          Effect.onError(() => Effect.sync(() => {
            stopFollowingCaller()
            controller.abort()
          }))
        )
      })

    /**
     * Retried only until its first event: once words are spoken, a retry would repeat them. The policy's driver
     * is only built once an attempt has failed (most turns never need it): the failure is replayed to it first,
     * so it decides and counts exactly as if it had watched from the start.
     */
    const open = (anthropic: Anthropic, model: string, request: ClaudeRequest, onEvent: (event: ClaudeEvent) => void) => {
      const attempt = openAttempt(anthropic, model, request, onEvent)
      return Effect.catchAll(attempt, (failure) => {
        let replay: ClaudeError | undefined = failure
        const again = Effect.suspend(() => {
          if (replay === undefined) return attempt
          const first = replay
          replay = undefined
          return Effect.fail(first)
        })
        return Effect.retry(again, retryPolicy(model))
      })
    }

    /**
     * Streams one reply into `onEvent`, a plain function called for each event in order. The SDK's events are
     * read in one loop inside one effect (no Stream per token): interrupting it (barge-in, hang-up) aborts the
     * HTTP request to Claude at once. The fallback model only takes over when the primary failed before saying
     * anything; a failure after words went out is final.
     */
    const respond = (request: ClaudeRequest, onEvent: (event: ClaudeEvent) => void): Effect.Effect<void, ClaudeError | ClaudeNotConfigured> =>
      Option.match(client, {
        onNone: () => Effect.fail(new ClaudeNotConfigured()),
        onSome: (anthropic) => {
          const primary = request.model ?? config.anthropicModel
          const opening = open(anthropic, primary, request, onEvent).pipe(
            Effect.catchTag("ClaudeError", (error) =>
              error.transient && config.anthropicFallbackModel !== primary && !request.signal?.aborted
                ? Effect.zipRight(
                  Effect.logWarning("Claude primary model unavailable, using fallback").pipe(
                    Effect.annotateLogs({ status: error.status, stalled: error.stalled === true, fallback: config.anthropicFallbackModel })
                  ),
                  open(anthropic, config.anthropicFallbackModel, request, onEvent)
                )
                : Effect.fail(error)
            )
          )
          return Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(opening), (opened) => {
              // A reply read to its end needs no abort: aborting a finished request still builds its AbortError and
              // tells every listener, ~1.5 % of a turn's CPU.
              let readToEnd = false
              return restore(
                // The first words are out. The rest of a reply often came with them; it is read at its own turn of
                // the event loop, after the I/O already waiting: other calls' first words, a barge-in on this one.
                // A caller waits for the first word, not the fifth.
                Effect.zipRight(deferredTurn, Effect.tryPromise({
                  try: async (signal) => {
                    for (;;) {
                      const next = await opened.iterator.next()
                      if (signal.aborted) return
                      if (next.done) {
                        readToEnd = true
                        return
                      }
                      for (const event of opened.fold(next.value)) onEvent(event)
                    }
                  },
                  catch: (cause) => new ClaudeError({ ...toClaudeError(cause), transient: false })
                }))
              ).pipe(Effect.ensuring(Effect.sync(() => {
                opened.stopFollowingCaller()
                if (!readToEnd) opened.controller.abort()
              })))
            })
          )
        }
      })

    /** The same reply as a Stream, for callers that want one (tests, tools off the call path). */
    const stream = (request: ClaudeRequest): Stream.Stream<ClaudeEvent, ClaudeError | ClaudeNotConfigured> =>
      Stream.asyncScoped<ClaudeEvent, ClaudeError | ClaudeNotConfigured>((emit) =>
        Effect.forkScoped(
          respond(request, (event) => void emit.single(event)).pipe(
            Effect.matchCauseEffect({
              onFailure: (cause) => Effect.promise(() => emit.halt(cause)),
              onSuccess: () => Effect.promise(() => emit.end())
            })
          )
        ), "unbounded")

    /** A whole answer, no streaming: for work off the call path (post-call summaries). */
    const complete = Effect.fn("Claude.complete")(function*(request: ClaudeRequest) {
      let text = ""
      yield* respond(request, (event) => {
        if (event._tag === "TextDelta") text += event.text
      })
      return text
    })

    return { respond, stream, complete, configured: Option.isSome(client) } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
