import { describe, expect, test } from "../support/test.ts"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "../../src/observability/Metrics.ts"
import { type RunOptions, runWith } from "../support/effect.ts"
import { findPromtool, promtoolCheck, samples } from "../support/prometheus.ts"

/** Found (or unpacked) once, before the tests are declared, so its checks can be skipped where it cannot run. */
const promtool = findPromtool()

/** Runs `f` against a fresh `Metrics.Test` instance (its own registry) and returns what it returns. */
const withMetrics = <A>(f: (metrics: Metrics) => Effect.Effect<A>, layer: Layer.Layer<Metrics> = Metrics.Test, options?: RunOptions) =>
  runWith(Effect.flatMap(Metrics, f), layer, options)

const CALL_SID = "CA0123456789abcdef0123456789abcdef"
const PHONE = "+33612345678"

const recordSome = (metrics: Metrics) =>
  Effect.gen(function*() {
    yield* metrics.callStarted()
    yield* metrics.callStarted()
    yield* metrics.callEnded("booked")
    yield* metrics.callEnded(PHONE) // not an outcome: lands in `unknown`
    yield* metrics.callStarted()
    yield* metrics.turnLatency(0.42)
    yield* metrics.turnLatency(1.2)
    yield* metrics.turnLatency(-1) // dropped
    yield* metrics.turnLatency(Number.NaN) // dropped
    yield* metrics.claudeFirstToken(0.25)
    yield* metrics.toolDuration("book_appointment", 0.2)
    yield* metrics.toolDuration("delete_all_appointments", 0.03) // invented by a model: lands in `other`
    yield* metrics.error("claude")
    yield* metrics.error(CALL_SID)
    yield* metrics.retry("claude")
    yield* metrics.retry("rm -rf /")
    yield* metrics.frameIn("setup")
    yield* metrics.frameIn("prompt")
    yield* metrics.frameIn("prompt")
    yield* metrics.frameIn("PROMPT") // case matters: not a frame type
    yield* metrics.frameOut("text")
    yield* metrics.frameOut("sendDigits")
    yield* metrics.webhook("voice", 200)
    yield* metrics.webhook("status", "403")
    yield* metrics.webhook(`/webhooks/twilio/status?CallSid=${CALL_SID}`, 999)
    yield* metrics.summaryWritten()
    yield* metrics.summaryFailed()
    metrics.unsafe.frameOut("end") // the plain-function form, for Bun callbacks
    return yield* metrics.render()
  })

describe("Metrics", () => {
  test("renders the recorded series with the right values and bounded labels", async () => {
    const text = await withMetrics(recordSome)
    const s = samples(text)

    expect(s.get("coccinelle_active_calls")).toBe(1)
    expect(s.get(`coccinelle_calls_total{outcome="booked"}`)).toBe(1)
    expect(s.get(`coccinelle_calls_total{outcome="unknown"}`)).toBe(1)
    expect(s.get(`coccinelle_calls_total{outcome="transferred"}`)).toBe(0)

    expect(s.get(`coccinelle_turn_latency_seconds_bucket{le="0.3"}`)).toBe(0)
    expect(s.get(`coccinelle_turn_latency_seconds_bucket{le="0.5"}`)).toBe(1)
    expect(s.get(`coccinelle_turn_latency_seconds_bucket{le="1.5"}`)).toBe(2)
    expect(s.get(`coccinelle_turn_latency_seconds_bucket{le="5"}`)).toBe(2)
    expect(s.get(`coccinelle_turn_latency_seconds_bucket{le="+Inf"}`)).toBe(2)
    expect(s.get("coccinelle_turn_latency_seconds_count")).toBe(2)
    expect(s.get("coccinelle_turn_latency_seconds_sum")).toBeCloseTo(1.62, 9)
    expect(s.has(`coccinelle_turn_latency_seconds_bucket{le="0.1"}`)).toBe(true)

    expect(s.get("coccinelle_claude_time_to_first_token_seconds_count")).toBe(1)
    expect(s.get(`coccinelle_claude_time_to_first_token_seconds_bucket{le="0.3"}`)).toBe(1)

    expect(s.get(`coccinelle_tool_duration_seconds_count{tool="book_appointment"}`)).toBe(1)
    expect(s.get(`coccinelle_tool_duration_seconds_count{tool="other"}`)).toBe(1)
    expect(s.get(`coccinelle_tool_duration_seconds_sum{tool="other"}`)).toBeCloseTo(0.03, 9)
    expect(s.get(`coccinelle_tool_duration_seconds_bucket{le="0.05",tool="other"}`)).toBe(1)
    expect(s.get(`coccinelle_tool_duration_seconds_count{tool="search_knowledge"}`)).toBe(0)

    expect(s.get(`coccinelle_errors_total{kind="claude"}`)).toBe(1)
    expect(s.get(`coccinelle_errors_total{kind="other"}`)).toBe(1)
    expect(s.get(`coccinelle_retries_total{operation="claude"}`)).toBe(1)
    expect(s.get(`coccinelle_retries_total{operation="other"}`)).toBe(1)

    expect(s.get(`coccinelle_ws_frames_in_total{type="setup"}`)).toBe(1)
    expect(s.get(`coccinelle_ws_frames_in_total{type="prompt"}`)).toBe(2)
    expect(s.get(`coccinelle_ws_frames_in_total{type="unknown"}`)).toBe(1)
    expect(s.get(`coccinelle_ws_frames_out_total{type="text"}`)).toBe(1)
    expect(s.get(`coccinelle_ws_frames_out_total{type="sendDigits"}`)).toBe(1)
    expect(s.get(`coccinelle_ws_frames_out_total{type="end"}`)).toBe(1)

    expect(s.get(`coccinelle_webhooks_total{route="voice",status="200"}`)).toBe(1)
    expect(s.get(`coccinelle_webhooks_total{route="status",status="403"}`)).toBe(1)
    expect(s.get(`coccinelle_webhooks_total{route="other",status="other"}`)).toBe(1)

    expect(s.get("coccinelle_summaries_written_total")).toBe(1)
    expect(s.get("coccinelle_summaries_failed_total")).toBe(1)

    // No caller data ever becomes a label value.
    expect(text).not.toContain(CALL_SID)
    expect(text).not.toContain(PHONE)
    expect(text).not.toContain("delete_all")
    expect(text).not.toContain("PROMPT")
  })

  test("every label value is in its closed set", async () => {
    const text = await withMetrics(recordSome)
    const allowed: Record<string, ReadonlySet<string>> = {
      outcome: new Set(["booked", "transferred", "message_taken", "information_given", "abandoned", "unknown"]),
      tool: new Set(["search_knowledge", "check_availability", "book_appointment", "transfer_to_human", "take_message", "other"]),
      kind: new Set(["claude", "tool", "relay", "relay_decode", "database", "signature", "summary", "other"]),
      type: new Set(
        ["setup", "prompt", "interrupt", "dtmf", "info", "error", "text", "play", "sendDigits", "language", "end"]
          .concat("unknown")
      ),
      route: new Set(["voice", "conversation", "connect_action", "status", "other"]),
      usage: new Set(["input", "cache_read", "cache_write", "output"])
    }
    for (const key of samples(text).keys()) {
      for (const [, name, value] of key.matchAll(/(\w+)="([^"]*)"/g)) {
        if (name === undefined || value === undefined) continue
        if (name === "status") expect(value).toMatch(/^(\d{3}|other)$/)
        else if (name === "le") expect(value).toMatch(/^(\+Inf|\d+(\.\d+)?)$/)
        else if (name === "operation") expect(value).toMatch(/^[a-z_]+$/)
        else expect(allowed[name]?.has(value)).toBe(true)
      }
    }
  })

  test.skipIf(promtool === null)("the exposition passes promtool check metrics with no problem", async () => {
    // The production layer: process metrics and the event-loop sampler included.
    const text = await withMetrics(
      (metrics) => Effect.zipRight(recordSome(metrics), Effect.zipRight(Effect.sleep("250 millis"), metrics.render())),
      Metrics.Default
    )
    for (
      const name of [
        "process_cpu_seconds_total",
        "process_cpu_user_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "nodejs_heap_size_used_bytes",
        "nodejs_eventloop_lag_seconds"
      ]
    ) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, "m"))
    }
    expect(text).not.toContain("nodejs_active_")
    const start = samples(text).get("process_start_time_seconds") ?? 0
    expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(24 * 3600)

    const check = promtoolCheck(promtool!, text)
    expect(check.output).toBe("")
    expect(check.exitCode).toBe(0)
  })

  test.skipIf(promtool === null)("promtool catches a broken exposition (the check is real)", () => {
    const check = promtoolCheck(promtool!, "# TYPE coccinelle_active_total gauge\ncoccinelle_active_total 1\n")
    expect(check.exitCode).not.toBe(0)
    expect(check.output).toContain("_total")
  })

  test("each built layer owns its registry", async () => {
    await withMetrics((metrics) => Effect.zipRight(metrics.callStarted(), metrics.error("database")))
    const text = await withMetrics((metrics) => metrics.render())
    expect(samples(text).get("coccinelle_active_calls")).toBe(0)
    expect(samples(text).get(`coccinelle_errors_total{kind="database"}`)).toBe(0)
  })

  test("timeTool records the duration by Effect's Clock, also on failure", async () => {
    const text = await withMetrics((metrics) =>
      Effect.gen(function*() {
        const ok = yield* Effect.fork(metrics.timeTool("search_knowledge")(Effect.sleep("250 millis")))
        const failing = yield* Effect.fork(
          metrics.timeTool("check_availability")(Effect.zipRight(Effect.sleep("2 seconds"), Effect.fail("busy")))
        )
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.await(ok)
        yield* Fiber.await(failing)
        return yield* metrics.render()
      }),
      Metrics.Test,
      { testClock: true }
    )
    const s = samples(text)
    expect(s.get(`coccinelle_tool_duration_seconds_sum{tool="search_knowledge"}`)).toBeCloseTo(0.25, 9)
    expect(s.get(`coccinelle_tool_duration_seconds_sum{tool="check_availability"}`)).toBeCloseTo(2, 9)
  })

  test("the content type is the text format 0.0.4", async () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8")
    expect(await withMetrics((metrics) => Effect.succeed(metrics.contentType))).toBe(PROMETHEUS_CONTENT_TYPE)
  })
})
