import { describe, expect, test } from "../support/test.ts"
import { ConfigProvider, Data, Effect, LogLevel, Redacted } from "effect"
import { fileURLToPath } from "node:url"
import {
  formatHuman,
  isSensitiveKey,
  LogLevelConfig,
  makeTestLogging,
  maskSecrets,
  redact,
  REDACTED
} from "../../src/observability/Logging.ts"
import { runExit, runScoped } from "../support/effect.ts"
import { evalCommand, spawnSync } from "../support/runtime.ts"

const ANTHROPIC_KEY = "sk-ant-api03-Zx9yQ2wE4rT6uI8oP0aS1dF3gH5jK7lL9zX2cV4bN6mM8qW0eR2tY4uI6oP8aS0dF2gH4jK6lL-AAAAAA"
const OPENAI_KEY = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56"
const OUR_KEY = "cocc_live_4f9d2a7c1e8b6053d2a9f1c7e4b8a6d0"
const TWILIO_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
const CALL_SID = "CA0123456789abcdef0123456789abcdef"
const SECRETS = [ANTHROPIC_KEY, OPENAI_KEY, OUR_KEY, TWILIO_TOKEN, "hunter2-password", "whsec_signature_value"]

const run = <A, E>(effect: Effect.Effect<A, E>, level?: LogLevel.LogLevel) => {
  const logging = makeTestLogging(level)
  return runExit(effect, logging.layer).then((exit) => ({ exit, logging }))
}

const expectNoSecret = (lines: ReadonlyArray<string>) => {
  for (const line of lines) {
    for (const secret of SECRETS) expect(line).not.toContain(secret)
    // A fragment long enough to identify a key must not survive either.
    expect(line).not.toContain(ANTHROPIC_KEY.slice(14, 40))
    expect(line).not.toContain(OUR_KEY.slice(10))
  }
}

describe("JSON line logger", () => {
  test("one valid JSON line per log, with level, message, timestamp and the call SID annotation", async () => {
    const { logging } = await run(
      Effect.logInfo("turn done").pipe(Effect.annotateLogs({ callSid: CALL_SID, tenantId: "t_salon" }))
    )
    expect(logging.lines).toHaveLength(1)
    const line = logging.lines[0] ?? ""
    expect(line).not.toContain("\n")
    const record = JSON.parse(line)
    expect(record.level).toBe("info")
    expect(record.message).toBe("turn done")
    expect(record.annotations.callSid).toBe(CALL_SID)
    expect(record.annotations.tenantId).toBe("t_salon")
    expect(new Date(record.timestamp).toISOString()).toBe(record.timestamp)
    expect(record.cause).toBeUndefined()
  })

  test("secrets in annotations are replaced by [redacted], by key name, at any depth", async () => {
    const { logging } = await run(
      Effect.logWarning("calling Twilio").pipe(
        Effect.annotateLogs({
          callSid: CALL_SID,
          apiKey: OUR_KEY,
          twilioAuthToken: TWILIO_TOKEN,
          headers: { Authorization: `Basic ${TWILIO_TOKEN}`, "X-Twilio-Signature": "whsec_signature_value" },
          request: { body: { password: "hunter2-password", api_key: OPENAI_KEY } },
          configSecret: Redacted.make(ANTHROPIC_KEY),
          usage: { input_tokens: 812, output_tokens: 64 }
        })
      )
    )
    expectNoSecret(logging.lines)
    const record = logging.records()[0] as unknown as { level: string; annotations: Record<string, any> }
    expect(record.level).toBe("warn")
    expect(record.annotations.callSid).toBe(CALL_SID)
    expect(record.annotations.apiKey).toBe(REDACTED)
    expect(record.annotations.twilioAuthToken).toBe(REDACTED)
    expect(record.annotations.headers.Authorization).toBe(REDACTED)
    expect(record.annotations.headers["X-Twilio-Signature"]).toBe(REDACTED)
    expect(record.annotations.request.body.password).toBe(REDACTED)
    expect(record.annotations.request.body.api_key).toBe(REDACTED)
    // Token counts are not credentials.
    expect(record.annotations.usage).toEqual({ input_tokens: 812, output_tokens: 64 })
  })

  test("keys that look like ours, Anthropic's or OpenAI's are masked inside messages", async () => {
    const { logging } = await run(
      Effect.logError(
        `Anthropic rejected ${ANTHROPIC_KEY}; tenant key ${OUR_KEY} (fallback ${OPENAI_KEY})`,
        { note: `retry with Authorization: Bearer ${OUR_KEY}` },
        `GET /webhooks/twilio/status?token=${TWILIO_TOKEN}&CallSid=${CALL_SID}`
      ).pipe(Effect.annotateLogs("callSid", CALL_SID))
    )
    expectNoSecret(logging.lines)
    const [record] = logging.records()
    expect(record?.level).toBe("error")
    expect(record?.message).toEqual([
      `Anthropic rejected sk-${REDACTED}; tenant key cocc_${REDACTED} (fallback sk-${REDACTED})`,
      { note: `retry with Authorization: Bearer ${REDACTED}` },
      `GET /webhooks/twilio/status?token=${REDACTED}&CallSid=${CALL_SID}`
    ])
  })

  test("a cause is pretty-printed, its errors kept as data, and its secrets masked", async () => {
    class AnthropicError extends Data.TaggedError("AnthropicError")<{
      readonly status: number
      readonly message: string
      readonly apiKey: string
    }> {}
    const failing = Effect.fail(
      new AnthropicError({ status: 401, message: `invalid x-api-key ${ANTHROPIC_KEY}`, apiKey: ANTHROPIC_KEY })
    )
    const { logging } = await run(
      failing.pipe(
        Effect.catchAllCause((cause) => Effect.logError("turn failed", cause)),
        Effect.annotateLogs("callSid", CALL_SID)
      )
    )
    expectNoSecret(logging.lines)
    const [record] = logging.records()
    expect(record?.message).toBe("turn failed")
    expect(record?.cause).toContain("AnthropicError")
    expect(record?.cause).toContain(`sk-${REDACTED}`)
    expect(record?.errors).toEqual([
      expect.objectContaining({ _tag: "AnthropicError", status: 401, apiKey: REDACTED })
    ])
    expect(record?.annotations["callSid"]).toBe(CALL_SID)
  })

  test("span names and log spans are on the line", async () => {
    const finish = Effect.fn("Calls.finish")(function*() {
      yield* Effect.logInfo("finishing")
    })
    const { logging } = await run(finish().pipe(Effect.withLogSpan("turn")))
    const [record] = logging.records()
    expect(record?.span).toBe("Calls.finish")
    expect(record?.traceId).toMatch(/^[0-9a-f]+$/)
    expect(typeof record?.spans["turn"]).toBe("number")
  })

  test("circular, deep, bigint and error values never break a line", async () => {
    const circular: Record<string, unknown> = { name: "loop" }
    circular["self"] = circular
    let deep: Record<string, unknown> = { leaf: true }
    for (let i = 0; i < 20; i++) deep = { next: deep }
    const { exit, logging } = await run(
      Effect.logInfo("odd values", { circular, deep, big: 10n, error: new Error(`boom ${OUR_KEY}`) })
    )
    expect(exit._tag).toBe("Success")
    expectNoSecret(logging.lines)
    const [record] = logging.records()
    const payload = (record?.message as Array<any>)[1]
    expect(payload.circular.self).toBe("[Circular]")
    expect(payload.big).toBe("10")
    expect(payload.error).toEqual({ name: "Error", message: `boom cocc_${REDACTED}` })
    expect(JSON.stringify(payload.deep)).toContain("[Truncated]")
  })

  test("the minimum level filters lines", async () => {
    const { logging } = await run(
      Effect.all([Effect.logDebug("hidden"), Effect.logInfo("shown"), Effect.logError("shown too")]),
      LogLevel.Info
    )
    expect(logging.records().map((r) => r.level)).toEqual(["info", "error"])
  })
})

describe("redaction helpers", () => {
  test("isSensitiveKey", () => {
    for (
      const key of [
        "token",
        "authToken",
        "TWILIO_AUTH_TOKEN",
        "access_token",
        "apiKey",
        "api_key",
        "x-api-key",
        "ANTHROPIC_API_KEY",
        "Authorization",
        "password",
        "clientSecret",
        "X-Twilio-Signature",
        "signature",
        "cookie",
        "privateKey"
      ]
    ) expect([key, isSensitiveKey(key)]).toEqual([key, true])
    for (const key of ["callSid", "tenantId", "input_tokens", "outputTokens", "message", "from", "durationMs", "keyword"]) {
      expect([key, isSensitiveKey(key)]).toEqual([key, false])
    }
  })

  test("maskSecrets leaves ordinary text alone", () => {
    const text = `Rendez-vous booké pour ${CALL_SID} à 14h, coccinelle_calls_total, sk-1, ask-me, tokens: 12`
    expect(maskSecrets(text)).toBe(text)
  })

  test("maskSecrets masks secrets, not the words after a variable's name", () => {
    const prose = "no ANTHROPIC_API_KEY: call summary skipped; TWILIO_AUTH_TOKEN: absent"
    expect(maskSecrets(prose)).toBe(prose)
    expect(maskSecrets("password: hunter2, token=abc, secret: averyverylongword")).toBe(
      `password: ${REDACTED}, token=${REDACTED}, secret: ${REDACTED}`
    )
  })

  test("redact keeps a shared (non-circular) object twice", () => {
    const shared = { a: 1 }
    expect(redact({ x: shared, y: shared })).toEqual({ x: { a: 1 }, y: { a: 1 } })
  })
})

describe("LOG_LEVEL", () => {
  const level = (env: Record<string, string>) =>
    runScoped(Effect.either(LogLevelConfig).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

  test("defaults to info, accepts any case, rejects nonsense", async () => {
    expect(await level({})).toEqual(expect.objectContaining({ _tag: "Right", right: LogLevel.Info }))
    expect(await level({ LOG_LEVEL: "debug" })).toEqual(expect.objectContaining({ _tag: "Right", right: LogLevel.Debug }))
    expect(await level({ LOG_LEVEL: "WARNING" })).toEqual(
      expect.objectContaining({ _tag: "Right", right: LogLevel.Warning })
    )
    expect((await level({ LOG_LEVEL: "loud" }))._tag).toBe("Left")
  })

  test("LoggingLive writes JSON lines to stdout at the configured level", () => {
    const logging = fileURLToPath(new URL("../../src/observability/Logging.ts", import.meta.url))
    const script = `
      import { Effect } from "effect"
      import { LoggingLive } from ${JSON.stringify(logging)}
      await Effect.runPromise(
        Effect.all([Effect.logInfo("info line"), Effect.logWarning("warn line ${OUR_KEY}")]).pipe(
          Effect.annotateLogs("callSid", "${CALL_SID}"),
          Effect.provide(LoggingLive)
        )
      )
    `
    const child = spawnSync(evalCommand(script), {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...process.env, LOG_LEVEL: "warn" },
      stdout: "pipe",
      stderr: "pipe"
    })
    expect(child.stderr.toString()).toBe("")
    expect(child.exitCode).toBe(0)
    const lines = child.stdout.toString().trim().split("\n")
    expect(lines).toHaveLength(1)
    expectNoSecret(lines)
    const record = JSON.parse(lines[0] ?? "")
    expect(record).toEqual(
      expect.objectContaining({ level: "warn", message: `warn line cocc_${REDACTED}`, annotations: { callSid: CALL_SID } })
    )
  })

  const MESSAGE_WITH_SECRETS = 'upstream said: invalid x-api-key short-key-1 for admin tok"en-42'
  test("LoggingLive masks the configured secrets themselves, even short or oddly shaped ones", () => {
    const logging = fileURLToPath(new URL("../../src/observability/Logging.ts", import.meta.url))
    const script = `
      import { Effect } from "effect"
      import { LoggingLive } from ${JSON.stringify(logging)}
      await Effect.runPromise(
        Effect.logError(${JSON.stringify(MESSAGE_WITH_SECRETS)}).pipe(Effect.provide(LoggingLive))
      )
    `
    const child = spawnSync(evalCommand(script), {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...process.env, LOG_LEVEL: "info", ANTHROPIC_API_KEY: "short-key-1", ADMIN_TOKEN: 'tok"en-42' },
      stdout: "pipe",
      stderr: "pipe"
    })
    expect(child.stderr.toString()).toBe("")
    const line = child.stdout.toString().trim()
    expect(line).not.toContain("short-key-1")
    expect(line).not.toContain("en-42")
    expect(JSON.parse(line).message).toBe(`upstream said: invalid x-api-key ${REDACTED} for admin ${REDACTED}`)
  })

  test("LOG_FORMAT=pretty: one human line per log (time, level, message, call SID first), secrets still masked", () => {
    const logging = fileURLToPath(new URL("../../src/observability/Logging.ts", import.meta.url))
    const script = `
      import { Effect } from "effect"
      import { LoggingLive } from ${JSON.stringify(logging)}
      await Effect.runPromise(
        Effect.logWarning("Claude failed with ${OUR_KEY}").pipe(
          Effect.annotateLogs({ tenantId: "t_salon", callSid: "${CALL_SID}" }),
          Effect.provide(LoggingLive)
        )
      )
    `
    const child = spawnSync(evalCommand(script), {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...process.env, LOG_LEVEL: "info", LOG_FORMAT: "pretty" },
      stdout: "pipe",
      stderr: "pipe"
    })
    expect(child.stderr.toString()).toBe("")
    const lines = child.stdout.toString().trim().split("\n")
    expect(lines).toHaveLength(1)
    expectNoSecret(lines)
    // Not a terminal here: no colour codes.
    expect(lines[0]).toMatch(new RegExp(`^\\d{2}:\\d{2}:\\d{2}\\.\\d{3} WARN  Claude failed with cocc_\\[redacted\\]  callSid=${CALL_SID} tenantId=t_salon$`))
  })
})

describe("human log lines", () => {
  test("time, level, message, annotations with the call SID first, log spans, and the cause indented below", () => {
    const line = formatHuman({
      timestamp: "2026-11-30T09:12:03.120Z",
      level: "error",
      message: "turn failed",
      fiber: "#1",
      annotations: { tenantId: "t_1", callSid: CALL_SID, note: "two words" },
      spans: { turn: 412 },
      cause: "ClaudeError: overloaded\n  at x"
    })
    expect(line).toBe(
      `09:12:03.120 ERROR turn failed  callSid=${CALL_SID} tenantId=t_1 note="two words" turn=412ms\n    ClaudeError: overloaded\n      at x`
    )
  })
})
