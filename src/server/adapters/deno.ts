import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { relayChannel } from "../../carriers/twilio/channel.ts"
import { makeEdge, MAX_FRAME_BYTES, MAX_REQUEST_BYTES, Server, type ServerAdapter, SOCKET_IDLE_TIMEOUT_SECONDS } from "../edge.ts"

/**
 * The Deno edge: `Deno.serve` and `Deno.upgradeWebSocket`, with the limits Bun enforces natively
 * (`maxRequestBodySize`, `maxPayloadLength`) enforced here. Deno's `idleTimeout` is a ping/pong
 * check: a silent but healthy call stays open, a peer that stops answering pings is closed.
 */

const tooLarge = () => new Response("Payload Too Large", { status: 413 })

/** The request with its body read under the cap, or 413; a declared length over the cap is refused unread. */
const capBody = async (request: Request): Promise<Request | Response> => {
  const declared = request.headers.get("content-length")
  if (declared !== null) return Number(declared) > MAX_REQUEST_BYTES ? tooLarge() : request
  if (request.body === null) return request
  const chunks: Array<Uint8Array> = []
  let size = 0
  for await (const chunk of request.body) {
    size += chunk.byteLength
    if (size > MAX_REQUEST_BYTES) return tooLarge()
    chunks.push(chunk)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new Request(request, { body })
}

// A UTF-8 character is at most 3 bytes per UTF-16 unit, so shorter strings need no encoding to measure.
const frameBytes = (data: string | ArrayBuffer | Blob): number =>
  typeof data !== "string"
    ? (data instanceof Blob ? data.size : data.byteLength)
    : data.length * 3 <= MAX_FRAME_BYTES
    ? data.length
    : new TextEncoder().encode(data).byteLength

export const ServerLive: ServerAdapter["ServerLive"] = Layer.scoped(
  Server,
  Effect.gen(function*() {
    const edge = yield* makeEdge
    const { registry, metrics } = edge
    const sockets = new Set<WebSocket>()
    const decoder = new TextDecoder()

    const upgrade = (request: Request): Response => {
      let upgraded: ReturnType<typeof Deno.upgradeWebSocket>
      try {
        upgraded = Deno.upgradeWebSocket(request, { idleTimeout: SOCKET_IDLE_TIMEOUT_SECONDS })
      } catch {
        // A malformed handshake (no key, wrong version): Bun's `upgrade` returns false for it.
        return new Response("WebSocket upgrade failed", { status: 400 })
      }
      const { socket, response } = upgraded
      const connectionId = crypto.randomUUID()
      socket.binaryType = "arraybuffer"
      socket.onopen = () => {
        sockets.add(socket)
        // Deno's `send` reports nothing: a socket no longer open counts as a dropped frame.
        registry.open(connectionId, relayChannel({
          send: (data) => {
            if (socket.readyState !== WebSocket.OPEN) return 0
            socket.send(data)
          },
          close: (code, reason) => socket.close(code, reason)
        }, () => metrics.unsafe.error("relay")))
      }
      socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
        if (socket.readyState !== WebSocket.OPEN) return
        if (frameBytes(event.data) > MAX_FRAME_BYTES) return socket.close(1009, "frame too large")
        registry.deliver(connectionId, typeof event.data === "string" ? event.data : decoder.decode(event.data))
      }
      socket.onclose = (event: CloseEvent) => {
        sockets.delete(socket)
        registry.close(connectionId, event.code)
      }
      return response
    }

    const handle = async (request: Request): Promise<Response> => {
      if (edge.isRelayPath(request.url)) return edge.refuseUpgrade(request) ?? upgrade(request)
      const capped = await capBody(request)
      return capped instanceof Response ? capped : edge.handleHttp(capped)
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => Deno.serve({ port: edge.config.port, hostname: edge.config.host, onListen: () => {} }, handle)),
      (server) =>
        edge.shutdown(Effect.promise(() => {
          // Like Bun's `stop(true)`: sockets still open after the drain are closed, not waited for.
          for (const socket of sockets) socket.close(1001, "server stopping")
          return server.shutdown()
        }))
    )
    yield* edge.listening(server.addr.port)
    return { port: server.addr.port }
  })
)
