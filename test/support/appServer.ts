import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Layer, LogLevel, ManagedRuntime } from "effect"
import { makeTestLogging } from "../../src/observability/Logging.ts"
import { loadServerAdapter } from "../../src/server/adapters/index.ts"
import { AppServices } from "../../src/server/AppLayer.ts"
import { Server } from "../../src/server/edge.ts"
import { testDatabaseUrl } from "./db.ts"

export const PUBLIC_URL = "https://coccinelle.test"
export const AUTH_TOKEN = "test_auth_token_0123456789abcdef"
export const BUSINESS_NUMBER = "+33939035760"

/** Everything the running server provides; what `run` and `query` may use. */
type AppContext = Layer.Layer.Success<typeof AppServices> | Server

export interface TestApp {
  readonly baseUrl: string
  readonly wsUrl: string
  readonly runtime: ManagedRuntime.ManagedRuntime<AppContext, unknown>
  /** Every log line the server wrote, as JSON text. */
  readonly logLines: ReadonlyArray<string>
  readonly run: <A, E>(effect: Effect.Effect<A, E, AppContext>) => Promise<A>
  /** Runs `f` with the server's own SqlClient (its database), as `run` would; a failed query rejects. */
  readonly query: <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown, AppContext>) => Promise<A>
  readonly stop: () => Promise<void>
}

/**
 * Starts the real server (real layers, real SQLite in memory, this runtime's own server adapter —
 * Bun.serve or Deno.serve — on 127.0.0.1:random)
 * with the given environment; Claude and OpenAI point at loopback fakes through their base URLs.
 */
export const startApp = async (env: Record<string, string> = {}): Promise<TestApp> => {
  const logging = makeTestLogging(LogLevel.Debug)
  const config = ConfigProvider.fromMap(
    new Map(Object.entries({
      PORT: "0",
      HOST: "127.0.0.1",
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
  const { ServerLive } = await loadServerAdapter()
  const layer = ServerLive.pipe(Layer.provideMerge(AppServices), Layer.provide(Layer.setConfigProvider(config)), Layer.provide(logging.layer))
  const runtime = ManagedRuntime.make(layer)
  const server = await runtime.runPromise(Server)
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
