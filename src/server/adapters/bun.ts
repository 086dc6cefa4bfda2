import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ServerWebSocket } from "bun"
import { relayChannel } from "../../carriers/twilio/channel.ts"
import { makeEdge, MAX_FRAME_BYTES, MAX_REQUEST_BYTES, Server, type ServerAdapter, SOCKET_IDLE_TIMEOUT_SECONDS } from "../edge.ts"

/**
 * The Bun edge: plain `Bun.serve` owns HTTP and the relay's WebSocket upgrades (so Bun's socket
 * options stay ours), Effect handles every route through one runtime built at boot.
 */

interface SocketData {
  readonly connectionId: string
}

export const ServerLive: ServerAdapter["ServerLive"] = Layer.scoped(
  Server,
  Effect.gen(function*() {
    const edge = yield* makeEdge
    const { registry, metrics } = edge
    const server = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Bun.serve<SocketData, never>({
          port: edge.config.port,
          hostname: edge.config.host,
          maxRequestBodySize: MAX_REQUEST_BYTES,
          fetch: (request, bunServer) => {
            if (!edge.isRelayPath(request.url)) return edge.handleHttp(request)
            const refusal = edge.refuseUpgrade(request)
            if (refusal) return refusal
            const upgraded = bunServer.upgrade(request, { data: { connectionId: crypto.randomUUID() } })
            return upgraded ? undefined : new Response("WebSocket upgrade failed", { status: 400 })
          },
          websocket: {
            idleTimeout: SOCKET_IDLE_TIMEOUT_SECONDS,
            maxPayloadLength: MAX_FRAME_BYTES,
            open: (ws: ServerWebSocket<SocketData>) => {
              // Bun's `send` returns 0 when it dropped the frame (socket closing).
              registry.open(ws.data.connectionId, relayChannel(ws, () => metrics.unsafe.error("relay")))
            },
            message: (ws, message) => {
              registry.deliver(ws.data.connectionId, typeof message === "string" ? message : message.toString("utf8"))
            },
            close: (ws, code) => {
              registry.close(ws.data.connectionId, code)
            }
          }
        })
      ),
      (server) => edge.shutdown(Effect.promise(() => server.stop(true)))
    )
    yield* edge.listening(server.port as number)
    return { port: server.port as number }
  })
)
