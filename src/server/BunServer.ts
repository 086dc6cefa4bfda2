import { HttpApp, HttpRouter } from "@effect/platform"
import { Duration, Effect, Option, Redacted } from "effect"
import type { ServerWebSocket } from "bun"
import { CallRegistry } from "../call/CallRegistry.ts"
import { AppConfig } from "../config.ts"
import { Metrics } from "../observability/Metrics.ts"
import { relayChannel } from "../carriers/twilio/channel.ts"
import { validHandshakeSignature } from "../carriers/twilio/signature.ts"
import { RELAY_PATH } from "../carriers/twilio/twiml.ts"
import { appRouter } from "./http.ts"

/**
 * The Bun edge: plain `Bun.serve` owns HTTP and the relay's WebSocket upgrades (so Bun's socket
 * options stay ours), Effect handles every route through one runtime built at boot.
 */

/** What the routes need from the application; the server is built where all of it exists. */
type RouteServices = typeof appRouter extends HttpRouter.HttpRouter<infer _E, infer R>
  ? Exclude<R, HttpRouter.HttpRouter.Provided>
  : never

interface SocketData {
  readonly connectionId: string
}

// Twilio keeps a silent call open for minutes (88 s seen); Bun's maximum idle timeout keeps it alive.
const SOCKET_IDLE_TIMEOUT_SECONDS = 960
// A long prompt is cut by the session, never refused by the socket (over this, Bun closes with 1009).
const MAX_FRAME_BYTES = 1024 * 1024
// Twilio's webhooks are small forms; refuse anything larger before reading it.
const MAX_REQUEST_BYTES = 256 * 1024

export class BunServer extends Effect.Service<BunServer>()("app/BunServer", {
  scoped: Effect.gen(function*() {
    const config = yield* AppConfig
    const registry = yield* CallRegistry
    const metrics = yield* Metrics
    const runtime = yield* Effect.runtime<RouteServices>()
    const app = yield* HttpRouter.toHttpApp(appRouter)
    const handleHttp = HttpApp.toWebHandlerRuntime(runtime)(app)
    const authToken = Option.map(config.twilioAuthToken, Redacted.value)

    if (Option.isNone(authToken)) {
      yield* Effect.logWarning(
        "TWILIO_AUTH_TOKEN is not set: webhooks and the relay socket are accepted WITHOUT signature checks. Never run like this in production."
      )
    }

    if (Option.isNone(config.anthropicApiKey)) {
      yield* Effect.logWarning("ANTHROPIC_API_KEY is not set: calls are answered, but the agent can only apologise.")
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Bun.serve<SocketData, never>({
          port: config.port,
          hostname: "0.0.0.0",
          maxRequestBodySize: MAX_REQUEST_BYTES,
          fetch: (request, bunServer) => {
            const url = new URL(request.url)
            if (url.pathname !== RELAY_PATH) return handleHttp(request)
            if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
              return new Response("WebSocket upgrade expected", { status: 426 })
            }
            if (!registry.isAccepting()) return new Response("shutting down", { status: 503 })
            if (
              Option.isSome(authToken) &&
              !validHandshakeSignature({
                authToken: authToken.value,
                signature: request.headers.get("x-twilio-signature"),
                wssUrl: config.publicWsUrl + RELAY_PATH
              })
            ) {
              metrics.unsafe.error("signature")
              metrics.unsafe.webhook("conversation", 403)
              return new Response("invalid Twilio signature", { status: 403 })
            }
            metrics.unsafe.webhook("conversation", 101)
            const upgraded = bunServer.upgrade(request, { data: { connectionId: crypto.randomUUID() } })
            return upgraded ? undefined : new Response("WebSocket upgrade failed", { status: 400 })
          },
          websocket: {
            idleTimeout: SOCKET_IDLE_TIMEOUT_SECONDS,
            maxPayloadLength: MAX_FRAME_BYTES,
            open: (ws: ServerWebSocket<SocketData>) => {
              registry.open(ws.data.connectionId, relayChannel(ws, () => metrics.unsafe.error("relay")))
            },
            message: (ws, message) => {
              registry.deliver(ws.data.connectionId, typeof message === "string" ? message : message.toString("utf8"))
            },
            close: (ws) => {
              registry.close(ws.data.connectionId)
            }
          }
        })
      ),
      (server) =>
        Effect.gen(function*() {
          yield* Effect.logInfo("shutting down: no new calls, draining live ones")
          yield* registry.drain(Duration.millis(config.drainTimeoutMs))
          // A call that ended with an `end` frame (a transfer, a goodbye, our handover at the limit — during
          // the drain or just before the signal) gets its connect action about a second later, which must
          // still find us listening to answer <Dial> or <Hangup/>.
          yield* Effect.sleep(Duration.millis(config.shutdownGraceMs))
          yield* Effect.promise(() => server.stop(true))
          yield* Effect.logInfo("server stopped")
        })
    )
    yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ port: server.port, publicUrl: config.publicUrl }))
    return { port: server.port as number } as const
  })
}) {}
