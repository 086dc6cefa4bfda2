import Anthropic from "@anthropic-ai/sdk"
import { afterEach, describe, expect, test } from "../support/test.ts"
import { callTool, type FakeAnthropic, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"

const fakes: Array<FakeAnthropic> = []
const start = async (options: Parameters<typeof startFakeAnthropic>[0]) => {
  const fake = await startFakeAnthropic(options)
  fakes.push(fake)
  return fake
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()))
})

const clientFor = (fake: FakeAnthropic) => new Anthropic({ apiKey: "test", baseURL: fake.url, maxRetries: 0 })
const params = {
  model: "claude-test-1",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Bonjour" }]
}

describe("fakeAnthropic with the real SDK", () => {
  test("text deltas arrive in order, with the API's event sequence", async () => {
    const fake = await start({ script: () => sayText("Bon", "jour", ", que puis-je", " faire pour vous ?") })
    const stream = await clientFor(fake).messages.create({ ...params, stream: true })
    const events: Array<string> = []
    const texts: Array<string> = []
    let stopReason: string | null = null
    for await (const event of stream) {
      events.push(event.type)
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") texts.push(event.delta.text)
      if (event.type === "message_delta") stopReason = event.delta.stop_reason
    }
    expect(texts).toEqual(["Bon", "jour", ", que puis-je", " faire pour vous ?"])
    expect(events).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop"
    ]) // `ping` is on the wire but the SDK swallows it
    expect(stopReason).toBe("end_turn")
    const req = await fake.waitForSettled(0)
    expect(req.completed).toBe(true)
    expect(req.aborted).toBe(false)
    expect(req.stream).toBe(true)
    expect(req.body.messages).toEqual(params.messages)
    // SDK 1.x sends the key as a bearer token
    expect(req.headers["authorization"]).toBe("Bearer test")
    expect(req.headers["anthropic-version"]).toBeDefined()
  })

  test("the raw wire has event: lines, a ping and a request-id header", async () => {
    const fake = await start({ script: [sayText("Salut")] })
    const res = await fetch(`${fake.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ ...params, stream: true })
    })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toStartWith("text/event-stream")
    expect(res.headers.get("request-id")).toStartWith("req_")
    const wire = await res.text()
    const names = [...wire.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])
    expect(names).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop"
    ])
    expect(wire).toContain(`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Salut"}}\n\n`)
  })

  test("tool_use input JSON is split over several deltas and reassembles", async () => {
    const input = { date: "2026-09-01", service: "coupe-femme", note: "« première visite »" }
    const fake = await start({
      script: () => callTool("check_availability", input, { id: "toolu_01", chunks: 4, text: ["Je regarde", " les créneaux."] })
    })
    const stream = await clientFor(fake).messages.create({ ...params, stream: true })
    const partials: Array<string> = []
    let text = ""
    let tool: { id: string; name: string } | undefined
    let stopReason: string | null = null
    for await (const event of stream) {
      if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
        tool = { id: event.content_block.id, name: event.content_block.name }
      }
      if (event.type === "content_block_delta" && event.delta.type === "input_json_delta") partials.push(event.delta.partial_json)
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text
      if (event.type === "message_delta") stopReason = event.delta.stop_reason
    }
    expect(text).toBe("Je regarde les créneaux.")
    expect(tool).toEqual({ id: "toolu_01", name: "check_availability" })
    expect(partials[0]).toBe("") // the API opens with an empty partial
    expect(partials.length).toBe(5)
    expect(JSON.parse(partials.join(""))).toEqual(input)
    expect(stopReason).toBe("tool_use")
  })

  test("the SDK's MessageStream helper assembles the same reply", async () => {
    const fake = await start({ script: () => [...sayText("Un instant."), ...callTool("search_knowledge", { query: "parking" })] })
    const final = await clientFor(fake).messages.stream(params).finalMessage()
    expect(final.stop_reason).toBe("tool_use")
    expect(final.content.map((b) => b.type)).toEqual(["text", "tool_use"])
    const toolBlock = final.content[1]
    expect(toolBlock?.type === "tool_use" && toolBlock.input).toEqual({ query: "parking" })
  })

  test("aborting the AbortSignal mid-stream marks the request aborted on the fake", async () => {
    const fake = await start({
      script: () => [{ text: "Première phrase." }, { delayMs: 5000 }, { text: " Jamais envoyée." }]
    })
    const controller = new AbortController()
    const stream = await clientFor(fake).messages.create({ ...params, stream: true }, { signal: controller.signal })
    const texts: Array<string> = []
    const consumed = (async () => {
      for await (const event of stream) {
        if (event.type === "content_block_delta" && event.delta.type === "text_delta") {
          texts.push(event.delta.text)
          controller.abort()
        }
      }
    })()
    // The SDK ends the iteration quietly on an abort (no throw) — see Stream.fromSSEResponse.
    await consumed.catch(() => undefined)
    const req = await fake.waitForAbort(0, 2000)
    expect(req.aborted).toBe(true)
    expect(req.completed).toBe(false)
    expect(texts).toEqual(["Première phrase."])
  })

  test("aborting before the first token also aborts the HTTP request", async () => {
    const fake = await start({ script: () => [{ hang: true }] })
    const controller = new AbortController()
    const stream = await clientFor(fake).messages.create({ ...params, stream: true }, { signal: controller.signal })
    const iterating = (async () => {
      for await (const _ of stream) {
        // message_start only
      }
    })()
    await fake.waitForRequest(0)
    setTimeout(() => controller.abort(), 50)
    await iterating.catch(() => undefined)
    expect((await fake.waitForAbort(0)).aborted).toBe(true)
  })

  test("HTTP 529 surfaces as the SDK's APIError with status 529 and overloaded_error", async () => {
    const fake = await start({ script: () => [{ error: 529 }] })
    const error = await clientFor(fake).messages.create({ ...params, stream: true }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(Anthropic.APIError)
    expect(error).toBeInstanceOf(Anthropic.OverloadedError)
    const apiError = error as InstanceType<typeof Anthropic.APIError>
    expect(apiError.status).toBe(529)
    expect(apiError.type).toBe("overloaded_error")
    expect(apiError.requestID).toStartWith("req_")
    expect(fake.requests[0]?.status).toBe(529)
  })

  test("HTTP 500 surfaces as InternalServerError", async () => {
    const fake = await start({ script: () => [{ delayMs: 20 }, { error: 500 }] })
    const error = await clientFor(fake).messages.create({ ...params, stream: true }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Anthropic.InternalServerError)
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(500)
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("api_error")
  })

  test("an in-stream error event is thrown by the iterator after the text already streamed", async () => {
    const fake = await start({ script: () => [...sayText("Bonjour"), { error: 529 }] })
    const stream = await clientFor(fake).messages.create({ ...params, stream: true })
    const texts: Array<string> = []
    const error = await (async () => {
      for await (const event of stream) {
        if (event.type === "content_block_delta" && event.delta.type === "text_delta") texts.push(event.delta.text)
      }
    })().catch((e: unknown) => e)
    expect(texts).toEqual(["Bonjour"])
    expect(error).toBeInstanceOf(Anthropic.APIError)
    // Thrown from inside a 200 stream: no HTTP status, but the error type is there.
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBeUndefined()
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error")
  })

  test("non-streaming requests get a JSON Message", async () => {
    const fake = await start({ script: () => sayText("Résumé : ", "rendez-vous pris mardi.") })
    const message = await clientFor(fake).messages.create(params)
    expect(message.type).toBe("message")
    expect(message.stop_reason).toBe("end_turn")
    expect(message.content).toHaveLength(1)
    const block = message.content[0]
    expect(block?.type === "text" && block.text).toBe("Résumé : rendez-vous pris mardi.")
    expect(message._request_id).toStartWith("req_")
    expect(fake.requests[0]?.stream).toBe(false)
  })

  test("script as an array answers request by request; beyond it, a 500 names the problem", async () => {
    const fake = await start({ script: [sayText("un"), sayText("deux")] })
    const client = clientFor(fake)
    const first = await client.messages.create(params)
    const second = await client.messages.create(params)
    expect(first.content[0]?.type === "text" && first.content[0].text).toBe("un")
    expect(second.content[0]?.type === "text" && second.content[0].text).toBe("deux")
    const error = await client.messages.create(params).catch((e: unknown) => e)
    expect(String(error)).toContain("no scripted reply for request #2")
  })

  test("rejects what the API rejects: unanswered tool_use, empty text", async () => {
    const fake = await start({ script: () => sayText("ok") })
    const client = clientFor(fake)
    const unanswered = await client.messages
      .create({
        ...params,
        messages: [
          { role: "user", content: "Bonjour" },
          {
            role: "assistant",
            content: [
              { type: "tool_use", id: "toolu_a", name: "a", input: {} },
              { type: "tool_use", id: "toolu_b", name: "b", input: {} }
            ]
          },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_a", content: "ok" }] }
        ]
      })
      .catch((e: unknown) => e)
    expect(unanswered).toBeInstanceOf(Anthropic.BadRequestError)
    expect(String(unanswered)).toContain("toolu_b")

    const empty = await client.messages
      .create({ ...params, messages: [{ role: "user", content: [{ type: "text", text: "" }] }] })
      .catch((e: unknown) => e)
    expect(empty).toBeInstanceOf(Anthropic.BadRequestError)
    expect(fake.requests.map((r) => r.status)).toEqual([400, 400])
  })

  test("waitForAbort rejects when the request completes normally", async () => {
    const fake = await start({ script: () => sayText("fini") })
    await clientFor(fake).messages.create(params)
    await expect(fake.waitForAbort(0, 500)).rejects.toThrow("completed instead of being aborted")
  })
})

describe("fakeAnthropic timing and failures", () => {
  test("deltas are flushed as produced, not buffered until the end", async () => {
    const fake = await start({ script: () => [{ text: "tout de suite" }, { delayMs: 400 }, { text: " plus tard" }] })
    const t0 = performance.now()
    const stream = await clientFor(fake).messages.create({ ...params, stream: true })
    const arrivals: Array<number> = []
    for await (const event of stream) {
      if (event.type === "content_block_delta") arrivals.push(performance.now() - t0)
    }
    expect(arrivals).toHaveLength(2)
    expect(arrivals[0]!).toBeLessThan(300)
    expect(arrivals[1]!).toBeGreaterThanOrEqual(380)
  })

  test("a dropped connection mid-stream makes the SDK iterator throw (not end quietly)", async () => {
    const fake = await start({ script: () => [...sayText("Bonjour"), { delayMs: 20 }, { disconnect: true }] })
    const stream = await clientFor(fake).messages.create({ ...params, stream: true })
    const types: Array<string> = []
    const error = await (async () => {
      for await (const event of stream) types.push(event.type)
    })().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect(types).not.toContain("message_stop")
    const req = await fake.waitForSettled(0)
    expect(req.dropped).toBe(true)
    expect(req.aborted).toBe(false)
  })
})
