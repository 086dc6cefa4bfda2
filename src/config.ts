import { Config, Effect, Option, Redacted } from "effect"

/** Every environment knob of the server, read once through Effect's `Config` and documented in the README. */
export class AppConfig extends Effect.Service<AppConfig>()("app/AppConfig", {
  effect: Effect.gen(function*() {
    const port = yield* Config.integer("PORT").pipe(Config.withDefault(8080))
    const publicUrl = yield* Config.string("PUBLIC_URL").pipe(
      Config.withDefault(`http://localhost:${port}`),
      Config.map((url) => url.replace(/\/+$/, ""))
    )
    const twilioAuthToken = yield* Config.option(Config.redacted("TWILIO_AUTH_TOKEN")).pipe(
      Config.map(Option.filter((token) => Redacted.value(token).length > 0))
    )
    const twilioPhoneNumber = yield* Config.option(Config.string("TWILIO_PHONE_NUMBER"))
    const anthropicApiKey = yield* Config.option(Config.redacted("ANTHROPIC_API_KEY"))
    const anthropicBaseUrl = yield* Config.option(Config.string("ANTHROPIC_BASE_URL"))
    const anthropicModel = yield* Config.string("ANTHROPIC_MODEL").pipe(Config.withDefault("claude-haiku-5-5"))
    const anthropicFallbackModel = yield* Config.string("ANTHROPIC_FALLBACK_MODEL").pipe(
      Config.withDefault("claude-sonnet-5-5")
    )
    const databaseUrl = yield* Config.string("DATABASE_URL").pipe(Config.withDefault("./data/coccinelle.db"))
    const adminToken = yield* Config.option(Config.redacted("ADMIN_TOKEN"))
    const maxToolRounds = yield* Config.integer("MAX_TOOL_ROUNDS").pipe(Config.withDefault(4))
    const firstTokenTimeoutMs = yield* Config.integer("FIRST_TOKEN_TIMEOUT_MS").pipe(Config.withDefault(8000))
    const claudeAttemptTimeoutMs = yield* Config.integer("CLAUDE_ATTEMPT_TIMEOUT_MS").pipe(Config.withDefault(3000))
    const fillerAfterMs = yield* Config.integer("FILLER_AFTER_MS").pipe(Config.withDefault(1500))
    const drainTimeoutMs = yield* Config.integer("DRAIN_TIMEOUT_MS").pipe(Config.withDefault(25_000))
    const shutdownGraceMs = yield* Config.integer("SHUTDOWN_GRACE_MS").pipe(Config.withDefault(3000))
    const demoTenantFile = yield* Config.string("DEMO_TENANT_FILE").pipe(Config.withDefault(""))
    const demoApiKeyFile = yield* Config.string("DEMO_API_KEY_FILE").pipe(Config.withDefault(""))
    return {
      port,
      publicUrl,
      /** wss:// form of the public origin: what ConversationRelay dials and signs. */
      publicWsUrl: publicUrl.replace(/^http/, "ws"),
      twilioAuthToken,
      twilioPhoneNumber,
      anthropicApiKey,
      anthropicBaseUrl,
      anthropicModel,
      anthropicFallbackModel,
      databaseUrl,
      adminToken,
      maxToolRounds,
      firstTokenTimeoutMs,
      fillerAfterMs,
      claudeAttemptTimeoutMs,
      drainTimeoutMs,
      shutdownGraceMs,
      demoTenantFile,
      demoApiKeyFile
    } as const
  })
}) {}
