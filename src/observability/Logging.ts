import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/**
 * Production logging: one JSON object per line on stdout, with every secret masked; in a terminal (or with
 * LOG_FORMAT=pretty) the same record as one human line (`formatHuman`).
 *
 * A line looks like
 *   {"timestamp":"2026-01-05T09:12:03.120Z","level":"info","message":"turn done","fiber":"#42",
 *    "annotations":{"callSid":"CA…","tenantId":"t_1"},"spans":{"turn":412},
 *    "span":"Calls.finish","traceId":"…","spanId":"…","cause":"Error: …\n    at …"}
 * `span`/`traceId`/`spanId` appear when the log happens inside a tracing span (`Effect.fn`, `Effect.withSpan`);
 * `spans` are the `Effect.withLogSpan` timers in milliseconds; `cause` (pretty-printed) and `errors` (the
 * failures and defects as redacted data, e.g. a tagged error's fields) only when the log carries a cause.
 *
 * Redaction runs on everything that reaches the line (message, annotations, cause):
 * - a value under a key that names a credential (token, apiKey/api_key, authorization, password, secret,
 *   signature, cookie, credential, private key…) becomes "[redacted]", at any depth;
 * - inside any string, our API keys (`cocc_…`), Anthropic/OpenAI keys (`sk-…`), `Bearer`/`Basic` credentials
 *   and `token=…`/`password: …` pairs are masked — so a key pasted into a message or an error text is caught too.
 * Effect `Redacted` values (from `Config.redacted`) already print as "<redacted>".
 */

export const REDACTED = "[redacted]"

/**
 * Adds annotations to every later log line of the running fiber, for the rest of its life, restoring nothing. Only
 * for a fiber that is one unit of work from start to end (a webhook's request, a relay socket's session): there it
 * costs one step, where `Effect.annotateLogs` costs ~20 and a restore.
 */
export const annotateThisFiber = (annotations: Readonly<Record<string, unknown>>): Effect.Effect<void> =>
  FiberRef.update(
    FiberRef.currentLogAnnotations,
    (current) => Object.entries(annotations).reduce((all, [key, value]) => HashMap.set(all, key, value), current)
  )

// ---------------------------------------------------------------------------------------------------------------
// Redaction

/** Substrings of a key (lower-cased, separators removed) that mark it as holding a credential. */
const SENSITIVE_KEY_PARTS = [
  "apikey",
  "password",
  "passwd",
  "secret",
  "signature",
  "authorization",
  "privatekey",
  "accesskey",
  "cookie",
  "credential"
] as const
/** Whole words of a key (split on case changes and separators) that mark it as holding a credential. */
const SENSITIVE_KEY_WORDS: ReadonlySet<string> = new Set(["token", "auth", "pass", "pwd", "jwt", "bearer"])

const splitWords = (key: string): Array<string> =>
  key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "")

/**
 * Whether a key names a credential: `token`, `authToken`, `TWILIO_AUTH_TOKEN`, `apiKey`, `x-api-key`,
 * `Authorization`, `X-Twilio-Signature`, `password`, `clientSecret`… but not `input_tokens` (a count).
 */
export const isSensitiveKey = (key: string): boolean => {
  const compact = key.toLowerCase().replace(/[^a-z0-9]/g, "")
  if (compact.endsWith("token")) return true
  if (SENSITIVE_KEY_PARTS.some((part) => compact.includes(part))) return true
  return splitWords(key).some((word) => SENSITIVE_KEY_WORDS.has(word))
}

/**
 * After `key: ` in prose ("no ANTHROPIC_API_KEY: summary skipped") a plain short word is a word, not a
 * secret; after `=` or a quote (query strings, env lines, JSON) any value is masked.
 */
const maskCredentialPair = (match: string, prefix: string, value: string): string =>
  /[=]\s*["']?$|["']$/.test(prefix) || /[^A-Za-zÀ-ÿ]/.test(value) || value.length >= 12 ? `${prefix}${REDACTED}` : match

const SECRET_PATTERNS: ReadonlyArray<readonly [RegExp, string | ((match: string, ...groups: Array<string>) => string)]> = [
  // HTTP credentials pasted in a text (first, so the scheme stays readable: "Bearer [redacted]").
  [/\b(Bearer|Basic)\s+[\w.~+/=-]{6,}/gi, `$1 ${REDACTED}`],
  // key=value / key: value / "key":"value" pairs whose key names a credential (query strings, headers, JSON).
  [
    /((?:[A-Za-z0-9]*[_-])?(?:token|api[_-]?key|password|passwd|secret|signature|authorization)["']?\s*[=:]\s*["']?)(?!\[redacted\]|(?:Bearer|Basic)\s)([^\s&"',;}]+)/gi,
    (match, prefix, value) => maskCredentialPair(match, prefix!, value!)
  ],
  // Our tenant API keys.
  [/(?<![A-Za-z0-9])cocc_[A-Za-z0-9_-]{6,}/g, `cocc_${REDACTED}`],
  // Anthropic (sk-ant-…) and OpenAI (sk-…, sk-proj-…) keys.
  [/(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/g, `sk-${REDACTED}`]
]

/** Masks every secret-looking substring of `text`. */
export const maskSecrets = (text: string): string => {
  let out = text
  for (const [pattern, replacement] of SECRET_PATTERNS) {
    out = typeof replacement === "string" ? out.replace(pattern, replacement) : out.replace(pattern, replacement)
  }
  return out
}

const MAX_DEPTH = 8
const MAX_ITEMS = 100

/**
 * A JSON-safe copy of `value` with credentials removed: sensitive keys replaced, strings masked, errors turned
 * into `{name, message, …}`, cycles and excessive depth cut, bigints and symbols stringified.
 */
export const redact = (value: unknown): unknown => walk(value, 0, new WeakSet())

const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
  switch (typeof value) {
    case "string":
      return maskSecrets(value)
    case "number":
    case "boolean":
    case "undefined":
      return value
    case "bigint":
      return value.toString()
    case "symbol":
      return maskSecrets(value.toString())
    case "function":
      return `[Function ${value.name || "anonymous"}]`
  }
  if (value === null) return null
  const object = value as object
  if (seen.has(object)) return "[Circular]"
  if (depth >= MAX_DEPTH) return "[Truncated]"
  seen.add(object)
  try {
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString()
    if (object instanceof Error) {
      const out: Record<string, unknown> = {}
      for (const [key, field] of Object.entries(object)) {
        out[key] = isSensitiveKey(key) ? REDACTED : walk(field, depth + 1, seen)
      }
      out["name"] = object.name
      out["message"] = maskSecrets(object.message)
      return out
    }
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return `[${object.byteLength} bytes]`
    if (Array.isArray(object)) return walkArray(object, depth, seen)
    if (object instanceof Set) return walkArray([...object], depth, seen)
    if (object instanceof Map) {
      return walkArray(
        [...object].map(([key, field]) => [key, isSensitiveKey(String(key)) ? REDACTED : field]),
        depth,
        seen
      )
    }
    const toJSON = (object as { toJSON?: unknown }).toJSON
    if (typeof toJSON === "function" && toJSON.length === 0) {
      return walk(toJSON.call(object), depth + 1, seen)
    }
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(object)) {
      out[key] = isSensitiveKey(key) ? REDACTED : walk(field, depth + 1, seen)
    }
    return out
  } catch {
    return "[Unserializable]"
  } finally {
    seen.delete(object) // a shared (not circular) reference may appear twice
  }
}

const walkArray = (items: ReadonlyArray<unknown>, depth: number, seen: WeakSet<object>): Array<unknown> => {
  const out = items.slice(0, MAX_ITEMS).map((item) => walk(item, depth + 1, seen))
  if (items.length > MAX_ITEMS) out.push(`[${items.length - MAX_ITEMS} more]`)
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// The line

/** The object behind each JSON line (after redaction). */
export interface LogRecord {
  readonly timestamp: string
  readonly level: string
  readonly message: unknown
  readonly fiber: string
  readonly annotations: Record<string, unknown>
  readonly spans: Record<string, number>
  readonly span?: string
  readonly traceId?: string
  readonly spanId?: string
  readonly cause?: string
  readonly errors?: ReadonlyArray<unknown>
}

const currentSpan = (context: FiberRefs.FiberRefs): Option.Option<Tracer.AnySpan> =>
  Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)

const MAX_CAUSE_ERRORS = 5

/** The failures and defects of a cause as redacted data: `Cause.pretty` shows a tagged error's message, not its fields. */
const causeErrors = (cause: Cause.Cause<unknown>): ReadonlyArray<unknown> =>
  [...Cause.failures(cause), ...Cause.defects(cause)].slice(0, MAX_CAUSE_ERRORS).map(redact)

/** Effect's structured logger, reshaped and redacted: the record behind one line. */
export const recordLogger: Logger.Logger<unknown, LogRecord> = Logger.make((options) => {
  const base = Logger.structuredLogger.log(options)
  const span = currentSpan(options.context)
  const annotations = redact(base.annotations)
  return {
    timestamp: base.timestamp,
    level: base.logLevel.toLowerCase(),
    message: redact(base.message),
    fiber: base.fiberId,
    annotations: typeof annotations === "object" && annotations !== null ? (annotations as Record<string, unknown>) : {},
    spans: base.spans,
    ...(Option.isSome(span)
      ? {
        ...(span.value._tag === "Span" ? { span: maskSecrets(span.value.name) } : {}),
        traceId: span.value.traceId,
        spanId: span.value.spanId
      }
      : {}),
    ...(base.cause === undefined ? {} : { cause: maskSecrets(base.cause), errors: causeErrors(options.cause) })
  }
})

/** One JSON line (no trailing newline) per log. Never throws. */
export const jsonLineLogger: Logger.Logger<unknown, string> = Logger.map(recordLogger, (record) => {
  try {
    return JSON.stringify(record)
  } catch {
    return JSON.stringify({ timestamp: record.timestamp, level: record.level, message: "[unserializable log line]" })
  }
})

/** Annotations shown first on a human line, in this order; the rest follow as they come. */
const FIRST_ANNOTATIONS = ["callSid", "callId", "tenantId"] as const

const LEVEL_COLOURS: Record<string, string> = { fatal: "35", error: "31", warn: "33", warning: "33", info: "32", debug: "90", trace: "90" }

const humanValue = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text
}

/**
 * One record for a person at a terminal: `09:12:03.120 INFO  turn done  callSid=CA… tenantId=t_1 turn=412ms`,
 * then the cause, indented, on the lines below. Already redacted: it is the JSON line's record.
 */
export const formatHuman = (record: LogRecord, colour = false): string => {
  const time = record.timestamp.slice(11, 23)
  const level = record.level.toUpperCase().padEnd(5)
  const message = typeof record.message === "string"
    ? record.message
    : Array.isArray(record.message)
    ? record.message.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
    : JSON.stringify(record.message)
  const keys = [
    ...FIRST_ANNOTATIONS.filter((key) => key in record.annotations),
    ...Object.keys(record.annotations).filter((key) => !(FIRST_ANNOTATIONS as ReadonlyArray<string>).includes(key))
  ]
  const fields = [
    ...keys.map((key) => `${key}=${humanValue(record.annotations[key])}`),
    ...Object.entries(record.spans).map(([name, ms]) => `${name}=${ms}ms`)
  ].join(" ")
  const paint = (code: string | undefined, text: string) => (colour && code ? `\x1b[${code}m${text}\x1b[0m` : text)
  const head = `${paint("90", time)} ${paint(LEVEL_COLOURS[record.level], level)} ${message}${fields ? "  " + paint("90", fields) : ""}`
  return record.cause ? `${head}\n${record.cause.replace(/^/gm, "    ")}` : head
}

// ---------------------------------------------------------------------------------------------------------------
// Layers

const LOG_LEVEL_ALIASES: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None,
  silent: LogLevel.None
}

export const LOG_LEVEL_NAMES: ReadonlyArray<string> = Object.keys(LOG_LEVEL_ALIASES)

/** `LOG_LEVEL`: all, trace, debug, info, warn|warning, error, fatal, none|off|silent (any case); default info. */
export const LogLevelConfig: Config.Config<LogLevel.LogLevel> = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("info"),
  Config.mapOrFail((value) => {
    const level = LOG_LEVEL_ALIASES[value.trim().toLowerCase()]
    return level === undefined
      ? Either.left(
        ConfigError.InvalidData(
          ["LOG_LEVEL"],
          `Expected one of ${Object.keys(LOG_LEVEL_ALIASES).join(", ")} but received ${JSON.stringify(value)}`
        )
      )
      : Either.right(level)
  })
)

/** The configured secrets themselves: masked wherever they appear, whatever their shape. */
const SECRET_VARIABLES = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "ADMIN_TOKEN"] as const
const MIN_MASKED_SECRET = 8

export const ConfiguredSecrets: Config.Config<ReadonlyArray<string>> = Config.map(
  Config.all(SECRET_VARIABLES.map((name) => Config.option(Config.string(name)))),
  (values) => values.flatMap((value) => (Option.isSome(value) && value.value.length >= MIN_MASKED_SECRET ? [value.value] : []))
)

/** Replaces each secret (raw or JSON-escaped) in a finished line. */
export const maskValues = (line: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce(
    (masked, secret) => masked.split(secret).join(REDACTED).split(JSON.stringify(secret).slice(1, -1)).join(REDACTED),
    line
  )

export type LogFormat = "json" | "pretty"

/** Replaces Effect's default logger with the line logger (on the Console service: stdout) at `level`. */
export const jsonLogging = (
  level: LogLevel.LogLevel,
  secrets: ReadonlyArray<string> = [],
  format: LogFormat = "json",
  colour = false
): Layer.Layer<never> => {
  const lines = format === "json" ? jsonLineLogger : Logger.map(recordLogger, (record) => formatHuman(record, colour))
  return Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.withConsoleLog(secrets.length === 0 ? lines : Logger.map(lines, (line) => maskValues(line, secrets)))
    ),
    Logger.minimumLogLevel(level)
  )
}

/** `LOG_FORMAT`: json or pretty; by default pretty when stdout is a terminal (a person reads it), JSON otherwise. */
export const LogFormatConfig: Config.Config<LogFormat> = Config.string("LOG_FORMAT").pipe(
  Config.map((value) => value.trim().toLowerCase()),
  Config.validate({ message: "Expected json or pretty", validation: (value): value is LogFormat => value === "json" || value === "pretty" }),
  Config.withDefault<LogFormat>(process.stdout.isTTY ? "pretty" : "json")
)

/** Production logging: level from `LOG_LEVEL`, format from `LOG_FORMAT` (both checked at start by config.ts). */
export const LoggingLive: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(
    Config.all([LogLevelConfig, ConfiguredSecrets, LogFormatConfig]),
    ([level, secrets, format]) => jsonLogging(level, secrets, format, format === "pretty" && process.stdout.isTTY === true)
  )
)

/**
 * For tests: the production line format, captured in memory. Provide `layer` and read `lines` (raw JSON strings)
 * or `records()` (parsed).
 */
export const makeTestLogging = (level: LogLevel.LogLevel = LogLevel.All) => {
  const lines: Array<string> = []
  const layer: Layer.Layer<never> = Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.map(jsonLineLogger, (line) => {
        lines.push(line)
      })
    ),
    Logger.minimumLogLevel(level)
  )
  return {
    layer,
    lines: lines as ReadonlyArray<string>,
    records: (): Array<LogRecord> => lines.map((line) => JSON.parse(line) as LogRecord)
  }
}
