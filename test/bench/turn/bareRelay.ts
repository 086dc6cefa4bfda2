/**
 * The benchmark's reference: the least a ConversationRelay server can do. On each final prompt it streams
 * a Claude request (plain fetch + SSE parsing) and forwards every text delta as a `text` frame. No
 * signatures, storage, tools or history.
 *
 *   PORT=0 CLAUDE_URL=http://127.0.0.1:1234 bun test/bench/turn/bareRelay.ts   → prints "listening <port>"
 */
const claudeUrl = process.env.CLAUDE_URL ?? "http://127.0.0.1:1"

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

const server = Bun.serve<{ turn?: AbortController }, never>({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  fetch: (request, bunServer) => (bunServer.upgrade(request, { data: {} }) ? undefined : new Response("upgrade", { status: 426 })),
  websocket: {
    message: (ws, message) => {
      const frame = JSON.parse(String(message))
      if (frame.type === "prompt" && frame.last !== false) {
        ws.data.turn?.abort()
        const turn = new AbortController()
        ws.data.turn = turn
        reply(ws, frame.voicePrompt, turn.signal).catch(() => {})
      } else if (frame.type === "interrupt") ws.data.turn?.abort()
    },
    close: (ws) => ws.data.turn?.abort()
  }
})
console.log(`listening ${server.port}`)
