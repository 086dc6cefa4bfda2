import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ServerWebSocket } from "bun"
import { setImmediate } from "node:timers"
import { type RelaySocket, relayChannel } from "../../carriers/twilio/channel.ts"
import { makeEdge, MAX_FRAME_BYTES, MAX_REQUEST_BYTES, Server, type ServerAdapter, SOCKET_IDLE_TIMEOUT_SECONDS } from "../edge.ts"

/**
 * The Bun edge: plain `Bun.serve` owns HTTP and the relay's WebSocket upgrades (so Bun's socket
 * options stay ours), Effect handles every route through one runtime built at boot.
 */

interface SocketData {
  readonly connectionId: string
  /** Writes the frames the socket holds back (see `batchingSocket`); set once the socket is open. */
  flush?: () => void
}

/**
 * Outside Bun's own socket callbacks each `send` is a write of its own: 20–45 µs of the JavaScript thread apiece
 * under load (200 calls), up to a quarter of a turn's for a reply of seven frames. A socket's first frame in a turn
 * of the event loop still goes out at once: the first word of a reply never waits. The frames it sends after that
 * in the same turn (the rest of a reply, read from one network chunk) are held, then written together, corked, at
 * the loop's next turn, or before that socket's next inbound frame is handled, or before we close it: never out of
 * order, never after the caller's next frame was read.
 */
export const batchingSocket = (ws: ServerWebSocket<SocketData>, onDropped: () => void): RelaySocket => {
  let held: Array<string> | undefined
  const writeHeld = () => {
    for (const frame of held!) if (ws.send(frame) === 0) onDropped()
  }
  const flush = () => {
    if (held === undefined) return
    // Closed by the caller meanwhile: unbatched, these frames would have gone out just before the close.
    if (held.length > 0 && ws.readyState === WebSocket.OPEN) ws.cork(writeHeld)
    held = undefined
  }
  ws.data.flush = flush
  return {
    send: (data) => {
      if (held !== undefined) {
        held.push(data)
        return
      }
      held = []
      setImmediate(flush)
      return ws.send(data)
    },
    close: (code, reason) => {
      flush()
      ws.close(code, reason)
    }
  }
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
              const dropped = () => metrics.unsafe.error("relay")
              registry.open(ws.data.connectionId, relayChannel(batchingSocket(ws, dropped), dropped))
            },
            message: (ws, message) => {
              ws.data.flush?.()
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
