/**
 * A loopback Claude: answers every `POST /v1/messages` with a streamed reply in Anthropic's SSE wire format,
 * after ANSWER_AFTER_MS (50 ms by default). Its own process, so its CPU is nobody's server CPU.
 *
 *   PORT=0 bun test/bench/turn/claudeSse.ts   → prints "listening <port>"
 */
export const FIRST_DELTA = "D'accord, "
const DELTAS = [FIRST_DELTA, "je regarde ", "les créneaux ", "libres ", "pour une coupe ", "demain matin."]
const answerAfterMs = Number(process.env.ANSWER_AFTER_MS ?? 50)

const sse = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`
let counter = 0
const body = (model: string) =>
  sse("message_start", {
    type: "message_start",
    message: {
      id: `msg_bench${++counter}`,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 900, output_tokens: 1, cache_read_input_tokens: 800, cache_creation_input_tokens: 0 }
    }
  }) +
  sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }) +
  sse("ping", { type: "ping" }) +
  DELTAS.map((text) => sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })).join("") +
  sse("content_block_stop", { type: "content_block_stop", index: 0 }) +
  sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 14 } }) +
  sse("message_stop", { type: "message_stop" })

if (import.meta.main) {
  const server = Bun.serve({
    port: Number(process.env.PORT ?? 0),
    hostname: "127.0.0.1",
    fetch: async (request) => {
      const { model } = (await request.json()) as { model?: string }
      await Bun.sleep(answerAfterMs)
      return new Response(body(model ?? "claude-bench"), {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_bench${counter}` }
      })
    }
  })
  console.log(`listening ${server.port}`)
}
