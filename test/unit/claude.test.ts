import { afterEach, describe, expect, test } from "../support/test.ts"
import { runExit } from "../support/effect.ts"
import { Cause, Chunk, ConfigProvider, Deferred, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { setImmediate } from "node:timers"
import { Claude, type ClaudeEvent, type ClaudeRequest, fetchWithHeaderPairs } from "../../src/llm/Claude.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { callTool, type FakeAnthropic, type Script, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"

/**
 * The Claude service through the real @anthropic-ai/sdk against the loopback fake: tool input reassembly,
 * retries only before anything was said, the fallback model, and cancellation reaching the HTTP request.
 */

const PRIMARY = "claude-primary-test"
const FALLBACK = "claude-fallback-test"

const fakes: Array<FakeAnthropic> = []
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()))
})

const withFake = async (script: Script) => {
  const fake = await startFakeAnthropic({ script })
  fakes.push(fake)
  return fake
}

const claudeLayer = (fake: FakeAnthropic | null, env: Record<string, string> = {}) =>
  Claude.Default.pipe(
    Layer.provideMerge(Metrics.Test),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({
      ANTHROPIC_MODEL: PRIMARY,
      ANTHROPIC_FALLBACK_MODEL: FALLBACK,
      ...(fake ? { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fake.url } : {}),
      ...env
    })))))
  )

const run = <A, E>(fake: FakeAnthropic | null, effect: Effect.Effect<A, E, Claude | Metrics>, env?: Record<string, string>) =>
  runExit(effect, claudeLayer(fake, env))

const request: ClaudeRequest = { system: "Vous êtes une assistante.", messages: [{ role: "user", content: "Bonjour" }] }

const collect = (req: ClaudeRequest = request) =>
  Effect.flatMap(Claude, (claude) => Stream.runCollect(claude.stream(req))).pipe(Effect.map(Chunk.toArray))

const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
  return exit.value
}
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return failure.value
}
const textOf = (events: ReadonlyArray<ClaudeEvent>) => events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

describe("token usage", () => {
  test("input, prompt-cache reads and writes, and output tokens are counted from the stream", async () => {
    const fake = await withFake(() => [
      { usage: { input_tokens: 120, cache_read_input_tokens: 2_000, cache_creation_input_tokens: 300, output_tokens: 9 } },
      ...sayText("Bonjour.")
    ])
    const text = valueOf(await run(fake, Effect.zipRight(collect(), Effect.flatMap(Metrics, (metrics) => metrics.render()))))
    const count = (usage: string) => Number(new RegExp(`coccinelle_claude_tokens_total\\{usage="${usage}"\\} (\\d+)`).exec(text)?.[1])
    expect([count("input"), count("cache_read"), count("cache_write"), count("output")]).toEqual([120, 2_000, 300, 9])
  })
})

describe("streaming and reassembly", () => {
  test("text deltas come out one by one, in order, then the stop reason", async () => {
    const fake = await withFake(() => sayText("Bon", "jour, ", "que puis-je faire ?"))
    const events = valueOf(await run(fake, collect()))
    expect(events).toEqual([
      { _tag: "TextDelta", text: "Bon" },
      { _tag: "TextDelta", text: "jour, " },
      { _tag: "TextDelta", text: "que puis-je faire ?" },
      { _tag: "Stop", stopReason: "end_turn" }
    ])
    expect(fake.requests[0]!.body).toMatchObject({ model: PRIMARY, stream: true, system: request.system })
  })

  test("several tool calls in one message: input_json_delta pieces become whole inputs, one ToolUse per block", async () => {
    const fake = await withFake(() => [
      ...sayText("Je regarde. "),
      ...callTool("search_knowledge", { query: "parking gratuit" }, { id: "toolu_a", chunks: ["{\"qu", "ery\": \"par", "king gratuit\"}"] }),
      ...callTool("check_availability", { date: "2026-12-01", service_type: "coupe-femme" }, { id: "toolu_b", chunks: 7 }),
      ...callTool("transfer_to_human", {}, { id: "toolu_c", chunks: [] })
    ])
    const events = valueOf(await run(fake, collect()))
    expect(events).toEqual([
      { _tag: "TextDelta", text: "Je regarde. " },
      { _tag: "ToolUse", id: "toolu_a", name: "search_knowledge", input: { query: "parking gratuit" } },
      { _tag: "ToolUse", id: "toolu_b", name: "check_availability", input: { date: "2026-12-01", service_type: "coupe-femme" } },
      { _tag: "ToolUse", id: "toolu_c", name: "transfer_to_human", input: {} },
      { _tag: "Stop", stopReason: "tool_use" }
    ])
  })

  test("after a reply's first words, what already waits on the event loop (another call's first words) goes before the rest", async () => {
    const fake = await withFake(() => sayText("Bon", "jour, ", "que puis-je faire ?"))
    const heard: Array<string> = []
    const exit = await run(fake, Effect.flatMap(Claude, (claude) =>
      claude.respond(request, (event) => {
        if (event._tag !== "TextDelta") return
        // Another call's reply, arrived meanwhile: queued behind the I/O this one came with.
        if (heard.length === 0) setImmediate(() => heard.push("(another call)"))
        heard.push(event.text)
      })))
    valueOf(exit)
    expect(heard).toEqual(["Bon", "(another call)", "jour, ", "que puis-je faire ?"])
  })

  test("closing the stream early aborts the HTTP request to Claude", async () => {
    const fake = await withFake(() => [...sayText("Bonjour. "), { delayMs: 5_000 }, ...sayText("Jamais dit.")])
    const events = valueOf(await run(fake, Effect.flatMap(Claude, (claude) => Stream.runCollect(Stream.take(claude.stream(request), 1)))))
    expect(Chunk.toArray(events)).toEqual([{ _tag: "TextDelta", text: "Bonjour. " }])
    const aborted = await fake.waitForAbort(0, 2_000)
    expect(aborted.completed).toBe(false)
  })

  test("interrupting a stream that waits for Claude's next event aborts the request at once (barge-in, hang-up)", async () => {
    const fake = await withFake(() => [...sayText("Bonjour. "), { hang: true }])
    const exit = await run(fake, Effect.gen(function*() {
      const claude = yield* Claude
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Stream.runForEach(claude.stream(request), () => Deferred.succeed(first, undefined)))
      yield* Deferred.await(first)
      // the consumer is now waiting for the next event, which never comes
      yield* Fiber.interrupt(fiber).pipe(
        Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("interrupting the stream waited for Claude's next event") })
      )
    }))
    valueOf(exit)
    await fake.waitForAbort(0, 1_000)
  })

  test("without an API key the service says so instead of calling anyone", async () => {
    const exit = await run(null, collect())
    expect(failureOf(exit)).toMatchObject({ _tag: "ClaudeNotConfigured" })
  })
})

describe("retries and fallback", () => {
  test("529 overloaded, then success: retried, the caller gets one reply", async () => {
    const fake = await withFake(({ index }) => (index === 0 ? [{ error: 529 }] : sayText("Bonjour !")))
    const events = valueOf(await run(fake, collect()))
    expect(textOf(events)).toBe("Bonjour !")
    expect(fake.requests.map((r) => [r.status, r.body.model])).toEqual([[529, PRIMARY], [200, PRIMARY]])
  })

  test("an overloaded error inside the stream before any word is retried too", async () => {
    const fake = await withFake(({ index }) => (index === 0 ? [{ error: 529, inStream: true }] : sayText("Bonjour !")))
    const events = valueOf(await run(fake, collect()))
    expect(textOf(events)).toBe("Bonjour !")
    expect(fake.requests).toHaveLength(2)
  })

  test("a failure after the first word is not retried and does not fall back: the caller would hear it twice", async () => {
    const fake = await withFake(() => [...sayText("Nous sommes ouverts "), { error: 529, inStream: true }])
    const exit = await run(fake, collect())
    expect(failureOf(exit)).toMatchObject({ _tag: "ClaudeError" })
    expect(fake.requests).toHaveLength(1)
  })

  test("the first word is handed over as soon as it is read: if taking it fails, nothing is asked again", async () => {
    const fake = await withFake(() => sayText("Bonjour, ", "que puis-je faire ?"))
    const heard: Array<string> = []
    const respond = Effect.flatMap(Claude, (claude) =>
      claude.respond(request, (event) => {
        if (event._tag !== "TextDelta") return
        heard.push(event.text)
        throw new Error("the socket refused the frame")
      }))
    expect(failureOf(await run(fake, respond))).toMatchObject({ _tag: "ClaudeError", transient: false })
    expect(heard).toEqual(["Bonjour, "])
    expect(fake.requests.map((r) => r.body.model)).toEqual([PRIMARY]) // no retry, no fallback: it was said once
  })

  test("a connection dropped mid-reply is not retried either", async () => {
    // The pause lets the first word reach the client before the reset (an errored stream drops what it had queued).
    const fake = await withFake(() => [...sayText("Nous sommes "), { delayMs: 50 }, { disconnect: true }])
    const exit = await run(fake, collect())
    expect(failureOf(exit)).toMatchObject({ _tag: "ClaudeError" })
    expect(fake.requests).toHaveLength(1)
  })

  test("the primary keeps failing before any word: the fallback model answers", async () => {
    const fake = await withFake(({ body }) => (body.model === PRIMARY ? [{ error: 529 }] : sayText("Ici le modèle de secours.")))
    const events = valueOf(await run(fake, collect()))
    expect(textOf(events)).toBe("Ici le modèle de secours.")
    // three tries on the primary (two retries), then the fallback
    expect(fake.requests.map((r) => r.body.model)).toEqual([PRIMARY, PRIMARY, PRIMARY, FALLBACK])
  })

  test("a request Claude refuses (400) is neither retried nor sent to the fallback", async () => {
    const fake = await withFake(() => [{ error: 400, message: "messages: bad" }])
    const exit = await run(fake, collect())
    expect(failureOf(exit)).toMatchObject({ _tag: "ClaudeError", status: 400, transient: false })
    expect(fake.requests).toHaveLength(1)
  })

  test("complete() gathers the whole text (summaries), with the same retry policy", async () => {
    const fake = await withFake(({ index }) => (index === 0 ? [{ error: 500 }] : sayText("Résumé ", "de l'appel.")))
    const text = valueOf(await run(fake, Effect.flatMap(Claude, (claude) => claude.complete(request))))
    expect(text).toBe("Résumé de l'appel.")
    expect(fake.requests).toHaveLength(2)
  })
})

describe("the request's body", () => {
  test("each request sends its own conversation after the fixed part: a new prompt or model is sent as it is, never an earlier one", async () => {
    const fake = await withFake(() => sayText("Oui."))
    const tools = [{ name: "search_knowledge", description: "Cherche.", input_schema: { type: "object" as const, properties: {} } }]
    // turn.ts gives the same blocks for a minute, then new ones (the time they state has changed).
    const thisMinute = [{ type: "text" as const, text: "Il est 10 h 41." }]
    const nextMinute = [{ type: "text" as const, text: "Il est 10 h 42." }]
    const turn = (system: ClaudeRequest["system"], content: string, model?: string): ClaudeRequest => ({
      system,
      messages: [{ role: "user", content }],
      tools,
      maxTokens: 300,
      ...(model ? { model } : {})
    })
    valueOf(await run(fake, Effect.forEach([
      turn(thisMinute, "Bonjour"),
      turn(thisMinute, "Êtes-vous ouverts « samedi » ?"),
      turn(thisMinute, "Et dimanche ?", FALLBACK),
      turn(nextMinute, "Merci"),
      turn("Résumez l'appel.", "Fin")
    ], collect)))
    expect(fake.requests.map(({ body }) => [body.model, body.system, body.messages[0].content])).toEqual([
      [PRIMARY, thisMinute, "Bonjour"],
      [PRIMARY, thisMinute, "Êtes-vous ouverts « samedi » ?"],
      [FALLBACK, thisMinute, "Et dimanche ?"],
      [PRIMARY, nextMinute, "Merci"],
      [PRIMARY, "Résumez l'appel.", "Fin"]
    ])
    for (const { body, headers } of fake.requests) {
      expect(body).toMatchObject({ max_tokens: 300, tools, stream: true })
      expect(headers["content-type"]).toBe("application/json")
    }
  })
})

describe("the fetch the SDK is given", () => {
  test("passes every header on as pairs (repeated ones joined), and the rest of the request untouched", async () => {
    const seen: Array<RequestInit | undefined> = []
    const fetchPairs = fetchWithHeaderPairs(async (_input, init) => {
      seen.push(init)
      return new Response("ok")
    })
    const headers = new Headers({ "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" })
    headers.append("anthropic-beta", "a")
    headers.append("anthropic-beta", "b")
    const signal = new AbortController().signal
    await fetchPairs("http://127.0.0.1:1/v1/messages", { method: "POST", headers, body: "{}", signal })
    const sent = new Headers(seen[0]!.headers)
    expect(Array.isArray(seen[0]!.headers)).toBe(true)
    expect(sent.get("x-api-key")).toBe("sk-ant-test")
    expect(sent.get("anthropic-version")).toBe("2023-06-01")
    expect(sent.get("anthropic-beta")).toBe("a, b")
    expect(seen[0]).toMatchObject({ method: "POST", body: "{}", signal })
    // Headers given any other way reach fetch as they came.
    const plain = { "x-api-key": "k" }
    await fetchPairs("http://127.0.0.1:1/v1/messages", { headers: plain })
    expect(seen[1]!.headers).toBe(plain)
  })
})
