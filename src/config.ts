import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { readFileSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { LOG_LEVEL_NAMES } from "./observability/Logging.ts"
import { TenantConfig } from "./tenants/TenantConfig.ts"

/**
 * Every environment knob of the server, read once through Effect's `Config` and documented in the README.
 * All of them are checked here before anything is created (no database, no demo tenant, no port): a bad
 * value is one `ConfigProblem` naming the variable, the value (secrets masked) and what is expected.
 * An empty value counts as unset, as `.env` files often leave them.
 */

export class ConfigProblem extends Data.TaggedError("ConfigProblem")<{
  readonly variable: string
  /** As shown to the operator: secrets already masked. */
  readonly shown: string
  readonly expected: string
}> {
  /** The one line printed at start-up (not `line`: Bun sets that on every Error). */
  get report(): string {
    return `configuration error: ${this.variable}=${this.shown} — expected ${this.expected}`
  }
}

/** The environment as a ConfigProvider, empty values dropped (so `PORT=` means "use the default"). */
export const environmentProvider = (env: Record<string, string | undefined>): ConfigProvider.ConfigProvider =>
  ConfigProvider.fromMap(
    new Map(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1].trim() !== ""))
  )

/** This process's environment, as every entry point (server, simulator) reads it. */
export const processEnvironment = (): ConfigProvider.ConfigProvider => environmentProvider(process.env)

const BUNDLED_DEMO_TENANT = fileURLToPath(new URL("./tenants/demo-tenant.json", import.meta.url))

/** A variable's raw text, none when unset or blank. */
const raw = (name: string) =>
  Effect.map(
    Effect.orDie(Config.option(Config.string(name))),
    Option.filter((value) => value.trim() !== "")
  )

const problem = (variable: string, value: string, expected: string, secret = false) =>
  new ConfigProblem({ variable, shown: secret ? `[redacted, ${value.length} characters]` : JSON.stringify(value), expected })

const integer = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  Effect.flatMap(raw(name), (value) => {
    if (Option.isNone(value)) return Effect.succeed(fallback)
    const text = value.value.trim()
    const parsed = /^\d+$/.test(text) ? Number(text) : NaN
    return Number.isSafeInteger(parsed) && parsed >= min && parsed <= max
      ? Effect.succeed(parsed)
      : Effect.fail(problem(name, value.value, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`))
  })

const httpUrl = (name: string, example: string) =>
  Effect.flatMap(raw(name), (value) => {
    if (Option.isNone(value)) return Effect.succeed(Option.none<string>())
    const text = value.value.trim()
    const parsed = URL.canParse(text) ? new URL(text) : null
    return parsed && (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.hostname !== ""
      ? Effect.succeed(Option.some(text.replace(/\/+$/, "")))
      : Effect.fail(problem(name, value.value, `an http(s) URL with its scheme, e.g. ${example}`))
  })

const secret = (name: string) => Effect.map(raw(name), Option.map((value) => Redacted.make(value)))

const string = (name: string, fallback: string) => Effect.map(raw(name), Option.getOrElse(() => fallback))

/** `postgres://user:password@host/db` shown with its password masked. */
const maskUrlPassword = (url: string) => url.replace(/^([a-z]+:\/\/[^:/@]+:)[^@]*@/i, "$1[redacted]@")

const databaseUrl = Effect.flatMap(raw("DATABASE_URL"), (value) => {
  const url = Option.getOrElse(value, () => "./data/coccinelle.db").trim()
  if (/^postgres(ql)?:\/\//.test(url) || url === ":memory:") return Effect.succeed(url)
  const path = url.replace(/^sqlite:(\/\/)?/, "")
  const isDirectory = Option.getOrElse(
    Option.liftThrowable(() => statSync(path).isDirectory())(),
    () => false
  )
  return isDirectory
    ? Effect.fail(
      new ConfigProblem({
        variable: "DATABASE_URL",
        shown: JSON.stringify(maskUrlPassword(url)),
        expected: `a SQLite file path, but ${path} is a directory (e.g. ${path.replace(/\/+$/, "")}/coccinelle.db)`
      })
    )
    : Effect.succeed(url)
})

const decodeTenantFile = Schema.decodeUnknownEither(Schema.parseJson(TenantConfig), { onExcessProperty: "error" })

/** The demo tenant's JSON, decoded; a problem names the file and the first field that is wrong. */
export const readTenantFile = (variable: string, file: string): Effect.Effect<TenantConfig, ConfigProblem> =>
  Effect.suspend(() => {
    const text = Option.liftThrowable(() => readFileSync(file, "utf8"))()
    if (Option.isNone(text)) return Effect.fail(problem(variable, file, "a readable JSON file (it does not exist or cannot be read)"))
    const decoded = decodeTenantFile(text.value)
    if (decoded._tag === "Right") return Effect.succeed(decoded.right)
    const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
    const where = issue && issue.path.length > 0 ? `field ${issue.path.join(".")}: ` : ""
    return Effect.fail(problem(variable, file, `a tenant JSON file; ${where}${issue?.message.split("\n")[0] ?? "invalid"}`))
  })

const E164_PATTERN = /^\+[1-9]\d{6,14}$/

export const readConfig = Effect.gen(function*() {
  const port = yield* integer("PORT", 8080, 0, 65_535)
  const host = yield* string("HOST", "0.0.0.0")
  const publicUrl = Option.getOrElse(yield* httpUrl("PUBLIC_URL", "https://coccinelle.fly.dev"), () => `http://localhost:${port}`)
  const logLevel = yield* raw("LOG_LEVEL")
  if (Option.isSome(logLevel) && !LOG_LEVEL_NAMES.includes(logLevel.value.trim().toLowerCase())) {
    return yield* problem("LOG_LEVEL", logLevel.value, `one of ${LOG_LEVEL_NAMES.join(", ")}`)
  }
  const logFormat = yield* raw("LOG_FORMAT")
  if (Option.isSome(logFormat) && !["json", "pretty"].includes(logFormat.value.trim().toLowerCase())) {
    return yield* problem("LOG_FORMAT", logFormat.value, "json or pretty (default: pretty in a terminal, json otherwise)")
  }
  const twilioAccountSid = yield* raw("TWILIO_ACCOUNT_SID")
  if (Option.isSome(twilioAccountSid) && !/^AC[0-9a-f]{32}$/i.test(twilioAccountSid.value.trim())) {
    return yield* problem("TWILIO_ACCOUNT_SID", twilioAccountSid.value, "an account SID: AC followed by 32 hexadecimal characters")
  }
  const twilioAuthToken = yield* secret("TWILIO_AUTH_TOKEN")
  const twilioPhoneNumber = yield* raw("TWILIO_PHONE_NUMBER")
  if (Option.isSome(twilioPhoneNumber) && !E164_PATTERN.test(twilioPhoneNumber.value.trim())) {
    return yield* problem("TWILIO_PHONE_NUMBER", twilioPhoneNumber.value, "an E.164 number such as +33939035760 (no spaces)")
  }
  const anthropicApiKey = yield* secret("ANTHROPIC_API_KEY")
  const anthropicBaseUrl = yield* httpUrl("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
  yield* httpUrl("OPENAI_BASE_URL", "https://api.openai.com/v1")
  const anthropicModel = yield* string("ANTHROPIC_MODEL", "claude-haiku-5-5")
  const anthropicFallbackModel = yield* string("ANTHROPIC_FALLBACK_MODEL", "claude-sonnet-5-5")
  const database = yield* databaseUrl
  const adminToken = yield* secret("ADMIN_TOKEN")
  const maxToolRounds = yield* integer("MAX_TOOL_ROUNDS", 4, 1)
  const firstTokenTimeoutMs = yield* integer("FIRST_TOKEN_TIMEOUT_MS", 8000, 1)
  const claudeAttemptTimeoutMs = yield* integer("CLAUDE_ATTEMPT_TIMEOUT_MS", 3000, 1)
  const fillerAfterMs = yield* integer("FILLER_AFTER_MS", 1500, 0)
  const drainTimeoutMs = yield* integer("DRAIN_TIMEOUT_MS", 25_000, 0)
  const shutdownGraceMs = yield* integer("SHUTDOWN_GRACE_MS", 3000, 0)
  const ownerSessionTtlSeconds = yield* integer("OWNER_SESSION_TTL_SECONDS", 12 * 3600, 60)
  // Read where they are used (Summaries); checked here so a bad one stops the start, not the first summary.
  yield* integer("SUMMARY_RETRY_LIMIT", 5, 1)
  yield* integer("SUMMARY_SETTLE_MS", 5000, 0)
  const demoTenantSetting = (yield* string("DEMO_TENANT", "on")).trim().toLowerCase()
  if (!["on", "off"].includes(demoTenantSetting)) {
    return yield* problem("DEMO_TENANT", demoTenantSetting, "on (create the demo business on a first start) or off")
  }
  const demoTenantFile = Option.getOrElse(yield* raw("DEMO_TENANT_FILE"), () => "")
  const demoApiKeyFile = Option.getOrElse(yield* raw("DEMO_API_KEY_FILE"), () => "")
  const demoTenant = demoTenantSetting === "off"
    ? Option.none<TenantConfig>()
    : Option.some(yield* (demoTenantFile === ""
      ? readTenantFile("(bundled demo tenant)", BUNDLED_DEMO_TENANT)
      : readTenantFile("DEMO_TENANT_FILE", demoTenantFile)))
  return {
    port,
    /** The interface to listen on; all of them by default (what Fly.io needs). */
    host,
    publicUrl,
    /** wss:// form of the public origin: what ConversationRelay dials and signs. */
    publicWsUrl: publicUrl.replace(/^http/, "ws"),
    twilioAccountSid: Option.map(twilioAccountSid, (sid) => sid.trim()),
    twilioAuthToken,
    twilioPhoneNumber: Option.map(twilioPhoneNumber, (number) => number.trim()),
    anthropicApiKey,
    anthropicBaseUrl,
    anthropicModel,
    anthropicFallbackModel,
    databaseUrl: database,
    adminToken,
    maxToolRounds,
    firstTokenTimeoutMs,
    fillerAfterMs,
    claudeAttemptTimeoutMs,
    drainTimeoutMs,
    shutdownGraceMs,
    demoTenantFile,
    /** Where the demo tenant's key is written on first start ("" = beside a SQLite file, none on Postgres). */
    demoApiKeyFile,
    /** How long a sign-in on the owner's page lasts (cookie Max-Age and the stored session's expiry). */
    ownerSessionTtlSeconds,
    /** The demo business created on a first start; none with `DEMO_TENANT=off`. */
    demoTenant
  } as const
})

export class AppConfig extends Effect.Service<AppConfig>()("app/AppConfig", { effect: readConfig }) {}
