import { OUTCOMES } from "../call/vocabulary.ts"
import { TOOL_NAMES as TOOL_NAME_LIST } from "../tools/names.ts"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readdirSync, readFileSync } from "node:fs"
import * as Prom from "prom-client"

/**
 * Prometheus metrics for `GET /metrics`. (Over 400 lines: every series is declared here, once, with its closed
 * label set; splitting them would scatter the one list an operator reads.)
 *
 * Built on prom-client's `Registry`, `Counter`, `Gauge` and `Histogram`, but every instance of the service owns
 * a fresh `Registry` (never prom-client's global default), so two instances — two tests — never share a series.
 * prom-client's `collectDefaultMetrics` is deliberately not used: on Bun it reports V8 heap spaces that
 * JavaScriptCore does not have (all zero), an event-loop monitor that Bun does not feed, and the three
 * `nodejs_active_*_total` gauges that `promtool check metrics` rejects. The process metrics below are our own
 * collectors over APIs checked on Bun 1.4.5 (`process.cpuUsage`, `process.memoryUsage`, `/proc/self`).
 *
 * Every label value goes through a closed list: anything unknown becomes `other` (or `unknown`), so a call SID,
 * a phone number or a model's invented tool name can never become a series.
 */

/** `Content-Type` of the text exposition format 0.0.4 that `render` produces (what promtool and Prometheus read). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8" as const

// ---------------------------------------------------------------------------------------------------------------
// Bounded label sets

export const CALL_OUTCOMES = [...OUTCOMES, "unknown"] as const
export type CallOutcome = (typeof CALL_OUTCOMES)[number]

export const TOOL_NAMES = [...TOOL_NAME_LIST, "other"] as const
export type ToolName = (typeof TOOL_NAMES)[number]

/** `relay`: an `error` frame reported by ConversationRelay; `relay_decode`: a frame we could not decode. */
export const ERROR_KINDS = ["claude", "tool", "relay", "relay_decode", "database", "signature", "summary", "other"] as const
export type ErrorKind = (typeof ERROR_KINDS)[number]

export const RETRY_OPERATIONS = ["claude", "embeddings", "database", "summary", "twilio", "tool", "other"] as const
export type RetryOperation = (typeof RETRY_OPERATIONS)[number]

/** Input tokens read from / written to Anthropic's prompt cache, the rest, and output tokens. */
export const TOKEN_KINDS = ["input", "cache_read", "cache_write", "output"] as const
export type TokenKind = (typeof TOKEN_KINDS)[number]

/** ConversationRelay frame types, both directions (inbound: setup…error; outbound: text…end), plus `unknown`. */
export const FRAME_TYPES = [
  "setup",
  "prompt",
  "interrupt",
  "dtmf",
  "info",
  "error",
  "text",
  "play",
  "sendDigits",
  "language",
  "end",
  "unknown"
] as const
export type FrameType = (typeof FRAME_TYPES)[number]

/** Twilio webhook routes: incoming call, the ConversationRelay WebSocket handshake, the `<Connect action>`, status. */
export const WEBHOOK_ROUTES = ["voice", "conversation", "connect_action", "status", "other"] as const
export type WebhookRoute = (typeof WEBHOOK_ROUTES)[number]

/** A known label value, or any string (mapped to the fallback when not known): autocompletion without a cast. */
type LabelInput<T extends string> = T | (string & {})

const bounded = <const T extends string>(allowed: ReadonlyArray<T>, fallback: T) => {
  const set: ReadonlySet<string> = new Set(allowed)
  return (value: unknown): T => (typeof value === "string" && set.has(value) ? (value as T) : fallback)
}

export const toCallOutcome = bounded(CALL_OUTCOMES, "unknown")
export const toToolName = bounded(TOOL_NAMES, "other")
export const toErrorKind = bounded(ERROR_KINDS, "other")
export const toRetryOperation = bounded(RETRY_OPERATIONS, "other")
export const toFrameType = bounded(FRAME_TYPES, "unknown")
export const toWebhookRoute = bounded(WEBHOOK_ROUTES, "other")
export const toTokenKind = bounded(TOKEN_KINDS, "input")
/** An HTTP status code as a label: `"200"`, `"403"`…; anything that is not an integer in 100–599 is `"other"`. */
export const toStatusLabel = (status: unknown): string => {
  const code = typeof status === "string" && /^\d{3}$/.test(status) ? Number(status) : status
  return typeof code === "number" && Number.isInteger(code) && code >= 100 && code <= 599 ? String(code) : "other"
}

// ---------------------------------------------------------------------------------------------------------------
// Buckets

/** Voice turns: under 0.5 s feels live, over 2 s feels broken; 5 s is the point where a filler must have played. */
export const VOICE_LATENCY_BUCKETS: ReadonlyArray<number> = [0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5]
/** Tools range from a local full-text search (milliseconds) to a booking write or an embedding call. */
export const TOOL_DURATION_BUCKETS: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]

// ---------------------------------------------------------------------------------------------------------------
// The service's shape

/** The plain synchronous recorders: for edges outside the Effect runtime (a Bun callback). Never throw. */
export interface MetricsRecorders {
  readonly callStarted: () => void
  readonly callEnded: (outcome: LabelInput<CallOutcome>) => void
  readonly sessionClosed: () => void
  readonly callFinalised: (outcome: LabelInput<CallOutcome>) => void
  readonly turnLatency: (seconds: number) => void
  readonly claudeFirstToken: (seconds: number) => void
  readonly toolDuration: (tool: LabelInput<ToolName>, seconds: number) => void
  readonly error: (kind: LabelInput<ErrorKind>) => void
  readonly retry: (operation: LabelInput<RetryOperation>) => void
  readonly frameIn: (type: LabelInput<FrameType>) => void
  readonly frameOut: (type: LabelInput<FrameType>, count?: number) => void
  readonly webhook: (route: LabelInput<WebhookRoute>, status: number | string) => void
  readonly summaryWritten: () => void
  readonly summaryFailed: () => void
  readonly claudeTokens: (kind: LabelInput<TokenKind>, count: number) => void
}

export interface MetricsOptions {
  /** Sample event-loop lag with an unref'd 100 ms interval timer (stopped when the layer's scope closes). */
  readonly eventLoopLag: boolean
}

const LAG_SAMPLE_MS = 100
/** The max-lag gauge covers the last 5–10 s: two windows of this many samples, rotated. */
const LAG_WINDOW_SAMPLES = 50

const isObservable = (seconds: number) => Number.isFinite(seconds) && seconds >= 0

/** Registers `process_*` / `nodejs_*` collectors on `registry`; each reads its value when the registry renders. */
const registerProcessMetrics = (registry: Prom.Registry) => {
  const registers = [registry]

  // Each counter keeps its own previous reading and adds the delta when scraped (counters only go up).
  const cpuCounter = (name: string, help: string, read: (usage: NodeJS.CpuUsage) => number) => {
    let previous = read(process.cpuUsage())
    new Prom.Counter({
      name,
      help,
      registers,
      collect() {
        const now = read(process.cpuUsage())
        if (now > previous) this.inc((now - previous) / 1e6)
        previous = Math.max(previous, now)
      }
    }).inc(previous / 1e6)
  }
  cpuCounter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", (u) => u.user)
  cpuCounter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", (u) => u.system)
  cpuCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (u) => u.user + u.system)

  // Seconds since the epoch at which the process started: the runtime's own time origin.
  const startTime = Math.round(performance.timeOrigin / 1000)
  new Prom.Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(startTime)
    }
  })

  new Prom.Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage().rss)
    }
  })
  // Bun's process.memoryUsage() reports JavaScriptCore's heap under Node's field names; the names are kept so
  // the usual Node dashboards work.
  new Prom.Gauge({
    name: "nodejs_heap_size_total_bytes",
    help: "Process heap size in bytes (JavaScriptCore heap on Bun).",
    registers,
    collect() {
      this.set(process.memoryUsage().heapTotal)
    }
  })
  new Prom.Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "Process heap size used in bytes (JavaScriptCore heap on Bun).",
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed)
    }
  })
  new Prom.Gauge({
    name: "nodejs_external_memory_bytes",
    help: "Memory held outside the JavaScript heap by JavaScript objects, in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage().external)
    }
  })

  // File descriptors: Linux only (/proc). Registered only where readable, so no fake zero is ever exported.
  const openFds = (): number | undefined => {
    try {
      return readdirSync("/proc/self/fd").length - 1 // minus the descriptor of the listing itself
    } catch {
      return undefined
    }
  }
  if (openFds() !== undefined) {
    new Prom.Gauge({
      name: "process_open_fds",
      help: "Number of open file descriptors.",
      registers,
      collect() {
        const value = openFds()
        if (value !== undefined) this.set(value)
      }
    })
  }
  const maxFds = (() => {
    try {
      const match = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
      return match?.[1] === undefined ? undefined : Number(match[1])
    } catch {
      return undefined
    }
  })()
  if (maxFds !== undefined) {
    new Prom.Gauge({
      name: "process_max_fds",
      help: "Maximum number of open file descriptors.",
      registers,
      collect() {
        this.set(maxFds)
      }
    })
  }
}

/**
 * Event-loop lag without `perf_hooks.monitorEventLoopDelay` (present on Bun 1.4.5 but it does not see a
 * blocked loop): a 100 ms interval timer measures how late it fires. This is process instrumentation at the
 * edge, so it uses the host's timer and `performance.now()`, not Effect's Clock (a TestClock would freeze it).
 * The timer is unref'd: it never keeps the process alive.
 */
const startEventLoopSampler = (registry: Prom.Registry) => {
  let last = 0
  let currentMax = 0
  let previousMax = 0
  let samples = 0
  let expected = performance.now() + LAG_SAMPLE_MS
  const timer = setInterval(() => {
    const now = performance.now()
    const lagSeconds = Math.max(0, now - expected) / 1000
    expected = now + LAG_SAMPLE_MS
    last = lagSeconds
    if (lagSeconds > currentMax) currentMax = lagSeconds
    if (++samples >= LAG_WINDOW_SAMPLES) {
      previousMax = currentMax
      currentMax = 0
      samples = 0
    }
  }, LAG_SAMPLE_MS)
  ;(timer as { unref?: () => void }).unref?.()

  const registers = [registry]
  new Prom.Gauge({
    name: "nodejs_eventloop_lag_seconds",
    help: "Lag of event loop in seconds (last 100 ms timer sample).",
    registers,
    collect() {
      this.set(last)
    }
  })
  new Prom.Gauge({
    name: "nodejs_eventloop_lag_max_seconds",
    help: "Maximum event loop lag in seconds over the last 5 to 10 seconds.",
    registers,
    collect() {
      this.set(Math.max(currentMax, previousMax))
    }
  })
  return () => clearInterval(timer)
}

/** Builds the registry, the metrics and the recorders. Pure apart from the (optional) sampler, which the scope stops. */
export const makeMetrics = (options: MetricsOptions) =>
  Effect.gen(function*() {
    const registry = new Prom.Registry()
    const registers = [registry]

    const activeCalls = new Prom.Gauge({
      name: "coccinelle_active_calls",
      help: "Calls whose ConversationRelay session is open.",
      registers
    })
    const callsTotal = new Prom.Counter({
      name: "coccinelle_calls_total",
      help: "Calls ended, by outcome.",
      labelNames: ["outcome"] as const,
      registers
    })
    const turnLatency = new Prom.Histogram({
      name: "coccinelle_turn_latency_seconds",
      help: "Time from the caller's final prompt to the first token sent back to Twilio.",
      buckets: [...VOICE_LATENCY_BUCKETS],
      registers
    })
    const claudeFirstToken = new Prom.Histogram({
      name: "coccinelle_claude_time_to_first_token_seconds",
      help: "Time from sending a request to Claude to its first streamed text token.",
      buckets: [...VOICE_LATENCY_BUCKETS],
      registers
    })
    const toolDuration = new Prom.Histogram({
      name: "coccinelle_tool_duration_seconds",
      help: "Duration of tool calls, by tool.",
      labelNames: ["tool"] as const,
      buckets: [...TOOL_DURATION_BUCKETS],
      registers
    })
    const errors = new Prom.Counter({
      name: "coccinelle_errors_total",
      help: "Errors, by kind.",
      labelNames: ["kind"] as const,
      registers
    })
    const listenerReconnects = new Prom.Counter({
      name: "coccinelle_listener_reconnects_total",
      help: "Times the Postgres LISTEN connection (notifications between instances) was lost and re-established.",
      registers
    })
    const retries = new Prom.Counter({
      name: "coccinelle_retries_total",
      help: "Retried attempts, by operation.",
      labelNames: ["operation"] as const,
      registers
    })
    const framesIn = new Prom.Counter({
      name: "coccinelle_ws_frames_in_total",
      help: "ConversationRelay frames received from Twilio, by type.",
      labelNames: ["type"] as const,
      registers
    })
    const framesOut = new Prom.Counter({
      name: "coccinelle_ws_frames_out_total",
      help: "ConversationRelay frames sent to Twilio, by type.",
      labelNames: ["type"] as const,
      registers
    })
    const webhooks = new Prom.Counter({
      name: "coccinelle_webhooks_total",
      help: "Twilio webhook requests answered, by route and HTTP status.",
      labelNames: ["route", "status"] as const,
      registers
    })
    const summariesWritten = new Prom.Counter({
      name: "coccinelle_summaries_written_total",
      help: "Call summaries written.",
      registers
    })
    const claudeTokens = new Prom.Counter({
      name: "coccinelle_claude_tokens_total",
      help: "Tokens of Claude requests by kind: uncached input, prompt-cache reads and writes, output.",
      labelNames: ["usage"] as const,
      registers
    })
    for (const usage of TOKEN_KINDS) claudeTokens.inc({ usage }, 0)
    const summariesFailed = new Prom.Counter({
      name: "coccinelle_summaries_failed_total",
      help: "Call summaries that failed for good (after retries).",
      registers
    })

    // Every bounded series exists from the first scrape, at zero: `rate()` and alerts need no "absent" case.
    for (const outcome of CALL_OUTCOMES) callsTotal.inc({ outcome }, 0)
    for (const tool of TOOL_NAMES) toolDuration.zero({ tool })
    for (const kind of ERROR_KINDS) errors.inc({ kind }, 0)
    for (const operation of RETRY_OPERATIONS) retries.inc({ operation }, 0)
    for (const type of FRAME_TYPES) {
      framesIn.inc({ type }, 0)
      framesOut.inc({ type }, 0)
    }

    registerProcessMetrics(registry)
    if (options.eventLoopLag) {
      const stop = startEventLoopSampler(registry)
      yield* Effect.addFinalizer(() => Effect.sync(stop))
    }

    const recorders: MetricsRecorders = {
      callStarted: () => activeCalls.inc(),
      callEnded: (outcome) => {
        activeCalls.dec()
        callsTotal.inc({ outcome: toCallOutcome(outcome) })
      },
      sessionClosed: () => activeCalls.dec(),
      callFinalised: (outcome) => callsTotal.inc({ outcome: toCallOutcome(outcome) }),
      turnLatency: (seconds) => {
        if (isObservable(seconds)) turnLatency.observe(seconds)
      },
      claudeFirstToken: (seconds) => {
        if (isObservable(seconds)) claudeFirstToken.observe(seconds)
      },
      toolDuration: (tool, seconds) => {
        if (isObservable(seconds)) toolDuration.observe({ tool: toToolName(tool) }, seconds)
      },
      error: (kind) => errors.inc({ kind: toErrorKind(kind) }),
      retry: (operation) => retries.inc({ operation: toRetryOperation(operation) }),
      frameIn: (type) => framesIn.inc({ type: toFrameType(type) }),
      frameOut: (type, count = 1) => framesOut.inc({ type: toFrameType(type) }, count),
      webhook: (route, status) => webhooks.inc({ route: toWebhookRoute(route), status: toStatusLabel(status) }),
      summaryWritten: () => summariesWritten.inc(),
      summaryFailed: () => summariesFailed.inc(),
      claudeTokens: (kind, count) => {
        if (Number.isFinite(count) && count > 0) claudeTokens.inc({ usage: toTokenKind(kind) }, count)
      }
    }

    return {
      /** Plain synchronous functions, for code outside the Effect runtime. */
      unsafe: recorders,
      /** A call's relay session opened: `coccinelle_active_calls` + 1. */
      callStarted: (): Effect.Effect<void> => Effect.sync(recorders.callStarted),
      /** A call ended: `coccinelle_active_calls` − 1 and `coccinelle_calls_total{outcome}` + 1. */
      callEnded: (outcome: LabelInput<CallOutcome>): Effect.Effect<void> => Effect.sync(() => recorders.callEnded(outcome)),
      /** A relay session closed without this process finalising its call: `coccinelle_active_calls` − 1 only. */
      sessionClosed: (): Effect.Effect<void> => Effect.sync(recorders.sessionClosed),
      /** A call finalised without a live session here (it never reached the relay): counted by outcome only. */
      callFinalised: (outcome: LabelInput<CallOutcome>): Effect.Effect<void> =>
        Effect.sync(() => recorders.callFinalised(outcome)),
      /** Final prompt → first token sent. Negative or non-finite values are dropped. */
      turnLatency: (seconds: number): Effect.Effect<void> => Effect.sync(() => recorders.turnLatency(seconds)),
      claudeFirstToken: (seconds: number): Effect.Effect<void> =>
        Effect.sync(() => recorders.claudeFirstToken(seconds)),
      toolDuration: (tool: LabelInput<ToolName>, seconds: number): Effect.Effect<void> =>
        Effect.sync(() => recorders.toolDuration(tool, seconds)),
      error: (kind: LabelInput<ErrorKind>): Effect.Effect<void> => Effect.sync(() => recorders.error(kind)),
      retry: (operation: LabelInput<RetryOperation>): Effect.Effect<void> =>
        Effect.sync(() => recorders.retry(operation)),
      frameIn: (type: LabelInput<FrameType>): Effect.Effect<void> => Effect.sync(() => recorders.frameIn(type)),
      frameOut: (type: LabelInput<FrameType>): Effect.Effect<void> => Effect.sync(() => recorders.frameOut(type)),
      webhook: (route: LabelInput<WebhookRoute>, status: number | string): Effect.Effect<void> =>
        Effect.sync(() => recorders.webhook(route, status)),
      summaryWritten: (): Effect.Effect<void> => Effect.sync(recorders.summaryWritten),
      /** The LISTEN connection came back after a loss. */
      listenerReconnected: (): Effect.Effect<void> => Effect.sync(() => listenerReconnects.inc()),
      summaryFailed: (): Effect.Effect<void> => Effect.sync(recorders.summaryFailed),
      /** Runs `self` and records its wall-clock duration (by Effect's Clock) as the tool's duration, whatever its exit. */
      timeTool:
        (tool: LabelInput<ToolName>) =>
        <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
          timed(self, (seconds) => recorders.toolDuration(tool, seconds)),
      /** The exposition, text format 0.0.4; serve it with `PROMETHEUS_CONTENT_TYPE`. */
      render: (): Effect.Effect<string> => Effect.promise(() => registry.metrics()),
      /** The content type of `render`'s output. */
      contentType: PROMETHEUS_CONTENT_TYPE
    } as const
  })

const timed = <A, E, R>(self: Effect.Effect<A, E, R>, record: (seconds: number) => void): Effect.Effect<A, E, R> =>
  Effect.flatMap(Clock.currentTimeNanos, (start) =>
    Effect.ensuring(
      self,
      Effect.flatMap(Clock.currentTimeNanos, (end) => Effect.sync(() => record(Number(end - start) / 1e9)))
    )
  )

/**
 * The app's metrics. `Metrics.Default` (scoped: stops the event-loop sampler on release) for the app;
 * `Metrics.Test` for tests: a fresh registry each time the layer is built, no timer.
 *
 * Two forms of every recorder:
 * - `metrics.callStarted()`, `metrics.error("claude")`… return `Effect<void>` (an `Effect.sync`, never fails, no
 *   requirement): `yield*` them in a generator. Called bare, outside Effect, they record NOTHING.
 * - `metrics.unsafe.callStarted()`, `metrics.unsafe.error("signature")`… are plain synchronous functions for code
 *   outside the Effect runtime (a `Bun.serve` `fetch` or WebSocket callback).
 */
export class Metrics extends Effect.Service<Metrics>()("app/Metrics", {
  scoped: makeMetrics({ eventLoopLag: true })
}) {
  static readonly Test: Layer.Layer<Metrics> = Layer.scoped(
    Metrics,
    Effect.map(makeMetrics({ eventLoopLag: false }), (impl) => Metrics.make(impl))
  )
}
