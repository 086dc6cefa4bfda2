/**
 * The benchmark's reference: the least a ConversationRelay server can do. On each final prompt it streams
 * a Claude request (plain fetch + SSE parsing) and forwards every text delta as a `text` frame. No
 * signatures, storage, tools or history. It runs on Bun or on Deno, so that our server on each runtime can
 * also be set against what that runtime itself costs.
 *
 *   PORT=0 CLAUDE_URL=http://127.0.0.1:1234 bun test/bench/turn/bareRelay.ts              → prints "listening <port>"
 *   PORT=0 CLAUDE_URL=… deno run --allow-net --allow-env test/bench/turn/bareRelay.ts     → the same, on Deno
 */

/** The little of Deno's API this file uses (Bun's type checker has no Deno types). */
interface DenoApi {
  readonly env: { get(name: string): string | undefined }
  serve(
    options: { port: number; hostname: string; onListen: (address: { port: number }) => void },
    handler: (request: Request) => Response
  ): unknown
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response }
}
const deno = (globalThis as { Deno?: DenoApi }).Deno
const env = (name: string) => deno ? deno.env.get(name) : process.env[name]

const claudeUrl = env("CLAUDE_URL") ?? "http://127.0.0.1:1"
const port = Number(env("PORT") ?? 0)

const reply = async (ws: { send: (data: string) => unknown }, prompt: string, signal: AbortSignal) => {
  const response = await fetch(`${claudeUrl}/v1/messages`, {
    method: "POST",
    signal,
    headers: { "content-type": "application/json", "x-api-key": "bench", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-bench", max_tokens: 400, stream: true, messages: [{ role: "user", content: prompt }] })
  })
  const decoder = new TextDecoder()
  let buffered = ""
  const reader = response.body!.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    buffered += decoder.decode(read.value, { stream: true })
    let cut: number
    while ((cut = buffered.indexOf("\n\n")) !== -1) {
      const event = buffered.slice(0, cut)
      buffered = buffered.slice(cut + 2)
      const data = event.split("\n").find((line) => line.startsWith("data: "))
      if (!data) continue
      const parsed = JSON.parse(data.slice(6))
      if (parsed.type === "content_block_delta" && parsed.delta.type === "text_delta") {
        ws.send(JSON.stringify({ type: "text", token: parsed.delta.text, last: false }))
      }
    }
  }
  ws.send(JSON.stringify({ type: "text", token: "", last: true }))
}

/** One socket's frames: a final prompt starts a reply (cancelling the one before), an interrupt cancels it. */
const relay = (ws: { send: (data: string) => unknown }) => {
  let turn: AbortController | undefined
  return {
    message: (message: string) => {
      const frame = JSON.parse(message)
      if (frame.type === "prompt" && frame.last !== false) {
        turn?.abort()
        turn = new AbortController()
        reply(ws, frame.voicePrompt, turn.signal).catch(() => {})
      } else if (frame.type === "interrupt") turn?.abort()
    },
    close: () => turn?.abort()
  }
}

if (deno) {
  deno.serve({ port, hostname: "127.0.0.1", onListen: (address) => console.log(`listening ${address.port}`) }, (request) => {
    const { socket, response } = deno.upgradeWebSocket(request)
    const frames = relay(socket)
    socket.onmessage = (event) => frames.message(String(event.data))
    socket.onclose = frames.close
    return response
  })
} else {
  const server = Bun.serve<{ frames?: ReturnType<typeof relay> }, never>({
    port,
    hostname: "127.0.0.1",
    fetch: (request, bunServer) => (bunServer.upgrade(request, { data: {} }) ? undefined : new Response("upgrade", { status: 426 })),
    websocket: {
      open: (ws) => {
        ws.data.frames = relay(ws)
      },
      message: (ws, message) => ws.data.frames?.message(String(message)),
      close: (ws) => ws.data.frames?.close()
    }
  })
  console.log(`listening ${server.port}`)
}
