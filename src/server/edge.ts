import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CallRegistry } from "../call/CallRegistry.ts"
import { AppConfig } from "../config.ts"
import { Metrics } from "../observability/Metrics.ts"
import { validHandshakeSignature } from "../carriers/twilio/signature.ts"
import { RELAY_PATH } from "../carriers/twilio/twiml.ts"
import { makeTwilioWebhooks, type WebhookServices } from "../carriers/twilio/webhooks.ts"
import { appRouter } from "./http.ts"

/**
 * What both server adapters (Bun, Deno) share: the limits, the HTTP handler, the relay handshake
 * checks and the shutdown order. The adapters only bind these to their runtime's server and sockets.
 */

/** The listening server, whichever runtime serves it. */
export class Server extends Context.Tag("app/Server")<Server, { readonly port: number }>() {}

/** What the routes need from the application; the server is built where all of it exists. */
export type RouteServices = typeof appRouter extends HttpRouter.HttpRouter<infer _E, infer R>
  ? Exclude<R, HttpRouter.HttpRouter.Provided>
  : never

export type ServerRequirements = RouteServices | WebhookServices | AppConfig | CallRegistry | Metrics

/** One module per runtime exports this (`adapters/bun.ts`, `adapters/deno.ts`); `main.ts` picks one. */
export interface ServerAdapter {
  readonly ServerLive: Layer.Layer<Server, never, ServerRequirements>
}

// Twilio keeps a silent call open for minutes (88 s seen); Bun's maximum idle timeout keeps it alive.
export const SOCKET_IDLE_TIMEOUT_SECONDS = 960
// Only an abusive relay frame is refused (closed with 1009): Bun does it itself, the Deno adapter by hand.
export const MAX_FRAME_BYTES = 1024 * 1024
// Twilio's webhooks are small forms; refuse anything larger before reading it.
export const MAX_REQUEST_BYTES = 256 * 1024

/** The routes as a web `fetch` handler, the relay's upgrade checks, and the shutdown sequence. */
export const makeEdge = Effect.gen(function*() {
  const config = yield* AppConfig
  const registry = yield* CallRegistry
  const metrics = yield* Metrics
  const runtime = yield* Effect.runtime<RouteServices>()
  const app = yield* HttpRouter.toHttpApp(appRouter)
  const handleRoute = HttpApp.toWebHandlerRuntime(runtime)(app)
  const handleTwilioWebhook = yield* makeTwilioWebhooks
  /** Twilio's webhooks first (two per call, kept off the router), then the routes. */
  const handleHttp = (request: Request): Promise<Response> => handleTwilioWebhook(request) ?? handleRoute(request)
  const authToken = Option.map(config.twilioAuthToken, Redacted.value)

  if (Option.isNone(authToken)) {
    yield* Effect.logWarning(
      "TWILIO_AUTH_TOKEN is not set: webhooks and the relay socket are accepted WITHOUT signature checks. Never run like this in production."
    )
  }
  if (Option.isNone(config.anthropicApiKey)) {
    yield* Effect.logWarning("ANTHROPIC_API_KEY is not set: calls are answered, but the agent can only apologise.")
  }

  /** `undefined` when the request may become the relay socket; otherwise the answer to send instead. */
  const refuseUpgrade = (request: Request): Response | undefined => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("WebSocket upgrade expected", { status: 426 })
    }
    // Draining: a moving call's new socket is never refused outright. Behind Fly's proxy another machine takes
    // it; elsewhere this instance serves it (the drain waits for it, up to its limit).
    if (!registry.isAccepting() && registry.behindFlyProxy) {
      return new Response("replayed elsewhere", { status: 409, headers: { "fly-replay": "elsewhere=true" } })
    }
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
    return undefined
  }

  /** Drain live calls, then give late connect actions time to land, then stop listening. */
  const shutdown = (stopListening: Effect.Effect<void>) =>
    Effect.gen(function*() {
      yield* Effect.logInfo("shutting down: no new calls, draining live ones")
      yield* registry.drain(Duration.millis(config.drainTimeoutMs))
      // A call that ended with an `end` frame (a transfer, a goodbye, our handover at the limit — during
      // the drain or just before the signal) gets its connect action about a second later, which must
      // still find us listening to answer <Dial> or <Hangup/>.
      yield* Effect.sleep(Duration.millis(config.shutdownGraceMs))
      yield* stopListening
      yield* Effect.logInfo("server stopped")
    })

  const listening = (port: number) =>
    Effect.logInfo("listening").pipe(Effect.annotateLogs({ port, publicUrl: config.publicUrl }))

  const isRelayPath = (url: string) => new URL(url).pathname === RELAY_PATH

  return { config, registry, metrics, handleHttp, isRelayPath, refuseUpgrade, shutdown, listening } as const
})
