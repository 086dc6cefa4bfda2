import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Layer, LogLevel, ManagedRuntime } from "effect"
import { makeTestLogging } from "../../src/observability/Logging.ts"
import { AppLive } from "../../src/server/AppLayer.ts"
import { BunServer } from "../../src/server/BunServer.ts"
import { testDatabaseUrl } from "./db.ts"

export const PUBLIC_URL = "https://coccinelle.test"
export const AUTH_TOKEN = "test_auth_token_0123456789abcdef"
export const BUSINESS_NUMBER = "+33939035760"

export interface TestApp {
  readonly baseUrl: string
  readonly wsUrl: string
  readonly runtime: ManagedRuntime.ManagedRuntime<Layer.Layer.Success<typeof AppLive>, unknown>
  /** Every log line the server wrote, as JSON text. */
  readonly logLines: ReadonlyArray<string>
  readonly run: <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof AppLive>>) => Promise<A>
  /** Runs `f` with the server's own SqlClient (its database), as `run` would; a failed query rejects. */
  readonly query: <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown, Layer.Layer.Success<typeof AppLive>>) => Promise<A>
  readonly stop: () => Promise<void>
}

/**
 * Starts the real server (real layers, real SQLite in memory, real Bun.serve on 127.0.0.1:random)
 * with the given environment; Claude and OpenAI point at loopback fakes through their base URLs.
 */
export const startApp = async (env: Record<string, string> = {}): Promise<TestApp> => {
  const logging = makeTestLogging(LogLevel.Debug)
  const config = ConfigProvider.fromMap(
    new Map(Object.entries({
      PORT: "0",
      PUBLIC_URL,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_PHONE_NUMBER: BUSINESS_NUMBER,
      DATABASE_URL: await testDatabaseUrl(),
      ANTHROPIC_API_KEY: "sk-ant-test-key",
      ADMIN_TOKEN: "admin-secret-token",
      FILLER_AFTER_MS: "5000",
      DRAIN_TIMEOUT_MS: "500",
      // Tests that need Twilio's late webhooks to settle a call before its summary set these themselves.
      SUMMARY_SETTLE_MS: "0",
      SHUTDOWN_GRACE_MS: "0",
      ...env
    }))
  )
  const layer = AppLive.pipe(Layer.provide(Layer.setConfigProvider(config)), Layer.provide(logging.layer))
  const runtime = ManagedRuntime.make(layer)
  const server = await runtime.runPromise(BunServer)
  return {
    baseUrl: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}/webhooks/twilio/conversation`,
    runtime,
    logLines: logging.lines,
    run: (effect) => runtime.runPromise(effect),
    query: (f) => runtime.runPromise(Effect.orDie(Effect.flatMap(SqlClient.SqlClient, f))),
    stop: () => runtime.dispose()
  }
}
