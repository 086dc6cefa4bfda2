/**
 * A loopback fake of the Anthropic Messages API (`POST /v1/messages`), for tests that go through the real
 * `@anthropic-ai/sdk` client. It speaks the wire format the API speaks:
 *
 *   streaming (`stream: true`): `text/event-stream`, one `event: <name>\ndata: <json>\n\n` per event —
 *     message_start, content_block_start, ping, content_block_delta (text_delta / input_json_delta),
 *     content_block_stop, message_delta (stop_reason + usage), message_stop; an in-stream `event: error`;
 *   non-streaming: one JSON `Message`;
 *   errors: HTTP status + `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
 *
 * Every response carries a `request-id` header (the SDK copies it onto errors and `_request_id`).
 * Requests are checked the way the API checks them (auth header, `anthropic-version`, required fields,
 * non-empty content, every `tool_use` answered by a `tool_result` in the next message) and rejected with a
 * 400 `invalid_request_error` otherwise, so a client bug shows up here rather than in production.
 *
 * When the client closes the connection before the reply finished (AbortSignal, barge-in, hang-up),
 * the request is marked `aborted` — that is how tests prove the HTTP request to Claude was cancelled.
 *
 * ```ts
 * const fake = await startFakeAnthropic({
 *   script: ({ index }) => index === 0
 *     ? [...sayText("Je regarde", " les créneaux."), ...callTool("check_availability", { date: "2026-09-01" })]
 *     : sayText("Mardi à ", "dix heures", " ?"),
 * })
 * try { … ANTHROPIC_BASE_URL = fake.url … await fake.waitForAbort(0, 2000) } finally { await fake.stop() }
 * ```
 */
import { serve } from "./runtime.ts"

// ---------------------------------------------------------------------------------------------------
// Script

export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal"

export type Step =
  /** Text. Several chunks become several `text_delta`s. Consecutive text steps (delays between them allowed) share one block. */
  | { readonly text: string | ReadonlyArray<string> }
  /**
   * A `tool_use` block. Its input is sent as `input_json_delta`s: an empty first delta (as the API does), then
   * the JSON split into `chunks` pieces (a number, default 3) or exactly the strings given (they must concatenate
   * to valid JSON).
   */
  | {
    readonly toolUse: {
      readonly id?: string
      readonly name: string
      readonly input: unknown
      readonly chunks?: number | ReadonlyArray<string>
    }
  }
  /** Pause before the next step (abortable: a client abort during a delay ends the reply at once). */
  | { readonly delayMs: number }
  /**
   * An error. Before anything was streamed: an HTTP error response with that status (529 → overloaded_error,
   * 500 → api_error, 429 → rate_limit_error, …). After something was streamed, or with `inStream: true`:
   * an `event: error` inside the 200 stream, then the stream ends (no message_stop), as the API does.
   */
  | {
    readonly error: number
    readonly type?: string
    readonly message?: string
    readonly inStream?: boolean
    readonly headers?: Readonly<Record<string, string>>
  }
  /** Override the stop_reason (default: `tool_use` when the reply has a tool use, else `end_turn`). */
  | { readonly stopReason: StopReason }
  /** Override usage numbers. */
  | {
    readonly usage: {
      readonly input_tokens?: number
      readonly output_tokens?: number
      readonly cache_read_input_tokens?: number
      readonly cache_creation_input_tokens?: number
    }
  }
  /** Stop here and keep the connection open until the client goes away (for first-token / stall timeouts). */
  | { readonly hang: true }
  /** Drop the connection here, without message_stop (a connection reset mid-stream). */
  | { readonly disconnect: true }

export type Reply = ReadonlyArray<Step>

export interface ScriptRequest {
  /** The parsed JSON body the client sent (model, messages, tools, system, stream, …). */
  readonly body: any
  /** 0-based position of this request among all requests the fake received. */
  readonly index: number
  readonly headers: Readonly<Record<string, string>>
}

export type Script = ((request: ScriptRequest) => Reply | Promise<Reply>) | ReadonlyArray<Reply>

/** Text reply: `sayText("Bon", "jour")` streams two text deltas. Spread to combine with other steps. */
export const sayText = (...chunks: ReadonlyArray<string>): Array<Step> => [{ text: chunks }]

let toolIdCounter = 0
/** A tool_use block (stop_reason becomes `tool_use`). `text` adds a preamble text block before it. */
export const callTool = (
  name: string,
  input: unknown,
  options: { readonly chunks?: number | ReadonlyArray<string>; readonly id?: string; readonly text?: ReadonlyArray<string> | string } = {}
): Array<Step> => {
  const steps: Array<Step> = []
  if (options.text !== undefined) steps.push({ text: options.text })
  steps.push({
    toolUse: {
      id: options.id ?? `toolu_fake${String(++toolIdCounter).padStart(4, "0")}`,
      name,
      input,
      ...(options.chunks !== undefined ? { chunks: options.chunks } : {})
    }
  })
  return steps
}

/** Whether a request is a post-call summary's (the summariser's system prompt), not a turn's. */
export const isSummaryRequest = (body: any): boolean => typeof body?.system === "string" && body.system.startsWith("Vous résumez")

/** The post-call summary as Claude gives it: a call of the forced `record_call_summary` tool. */
export const summaryCall = (summary: unknown): Array<Step> => callTool("record_call_summary", summary)

/** For scripts: the text of the request's newest message (a string or its text blocks), and whether it carries tool results. */
export const lastMessage = (body: any): { text: string; toolResult: boolean } => {
  const last = body.messages[body.messages.length - 1]
  const blocks: Array<any> = typeof last.content === "string" ? [{ type: "text", text: last.content }] : last.content
  return {
    text: blocks.filter((b) => b.type === "text").map((b) => b.text).join(" "),
    toolResult: blocks.some((b) => b.type === "tool_result")
  }
}

/**
 * For scripts: the newest tool result of the request, parsed (the JSON the model reads), with the name of the
 * tool call it answers.
 */
export const lastToolResult = (body: any): { name: string; result: any } => {
  const block = body.messages.at(-1).content.findLast((b: any) => b.type === "tool_result")
  const use = body.messages.at(-2).content.find((b: any) => b.type === "tool_use" && b.id === block.tool_use_id)
  const text = typeof block.content === "string" ? block.content : block.content.map((b: any) => b.text).join("")
  return { name: use.name, result: JSON.parse(text) }
}

// ---------------------------------------------------------------------------------------------------
// Recording

export interface RecordedRequest {
  readonly index: number
  readonly method: string
  readonly path: string
  /** Parsed JSON body (or the raw text when it was not JSON). */
  readonly body: any
  /** Lower-cased header names. */
  readonly headers: Record<string, string>
  readonly stream: boolean
  /** HTTP status the fake answered with (200 for streams, even when an in-stream error follows). */
  status: number
  /** The client closed the connection before the reply finished. */
  aborted: boolean
  /** The reply was fully written (message_stop sent, or the JSON / error body returned). */
  completed: boolean
  /** The fake dropped the connection on purpose (a `disconnect` step). */
  dropped: boolean
  /** Why the fake rejected the request (400/401), if it did. */
  rejected?: string
}

export interface FakeAnthropic {
  /** Base URL for the SDK (`baseURL`) / `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Resolves with `requests[index]` once it has arrived (index is 0-based). */
  waitForRequest(index: number, timeoutMs?: number): Promise<RecordedRequest>
  /** Resolves once `requests[index]` has been aborted by the client; rejects if it completes instead or on timeout. */
  waitForAbort(index: number, timeoutMs?: number): Promise<RecordedRequest>
  /** Resolves once `requests[index]` has finished: completed, aborted or dropped. */
  waitForSettled(index: number, timeoutMs?: number): Promise<RecordedRequest>
  stop(): Promise<void>
}

export interface FakeAnthropicOptions {
  readonly script: Script
  /** Require this exact API key (as `x-api-key` or `Authorization: Bearer`); by default any non-empty key passes. */
  readonly apiKey?: string
  /** Check the request body like the API does (default true). */
  readonly validate?: boolean
}

// ---------------------------------------------------------------------------------------------------
// Wire helpers

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  408: "timeout_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  504: "timeout_error",
  529: "overloaded_error"
}

const ERROR_MESSAGES: Record<string, string> = {
  overloaded_error: "Overloaded",
  api_error: "Internal server error",
  rate_limit_error: "Number of request tokens has exceeded your per-minute rate limit",
  timeout_error: "Request timed out",
  authentication_error: "invalid x-api-key",
  permission_error: "Your API key does not have permission to use the specified resource.",
  not_found_error: "Not found",
  invalid_request_error: "Invalid request"
}

const errorTypeFor = (status: number): string => ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error")

const errorBody = (type: string, message: string, requestId: string) =>
  JSON.stringify({ type: "error", error: { type, message }, request_id: requestId })

const sseEvent = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

/** Split `s` into `n` non-empty pieces (fewer if `s` is shorter). */
const splitInto = (s: string, n: number): Array<string> => {
  const count = Math.max(1, Math.min(n, s.length))
  const size = Math.ceil(s.length / count)
  const out: Array<string> = []
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size))
  return out
}

const approxTokens = (value: unknown): number => Math.max(1, Math.ceil(JSON.stringify(value ?? "").length / 4))

/** The checks the real API makes that a client is most likely to trip over. Returns an error message or undefined. */
export const validateMessagesBody = (body: any): string | undefined => {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return "request body must be a JSON object"
  if (typeof body.model !== "string" || body.model === "") return "model: Field required"
  if (typeof body.max_tokens !== "number" || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
    return "max_tokens: Field required"
  }
  if (!Array.isArray(body.messages)) return "messages: Field required"
  if (body.messages.length === 0) return "messages: at least one message is required"
  const messages: Array<any> = body.messages
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    if (m?.role !== "user" && m?.role !== "assistant" && m?.role !== "system") {
      return `messages.${i}.role: Input should be 'user' or 'assistant'`
    }
    const isFinalAssistant = i === messages.length - 1 && m.role === "assistant"
    if (typeof m.content === "string") {
      if (m.content === "" && !isFinalAssistant) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`
    } else if (Array.isArray(m.content)) {
      if (m.content.length === 0 && !isFinalAssistant) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`
      for (let j = 0; j < m.content.length; j++) {
        const block = m.content[j]
        if (block?.type === "text" && (typeof block.text !== "string" || block.text === "")) {
          return `messages.${i}.content.${j}.text: text content blocks must be non-empty`
        }
      }
    } else {
      return `messages.${i}.content: Input should be a valid list or string`
    }
    if (isFinalAssistant && typeof m.content === "string" && /\s$/.test(m.content)) {
      return "messages: final assistant content cannot end with trailing whitespace"
    }
  }
  // tool_use ↔ tool_result pairing
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    const blocks: Array<any> = Array.isArray(m.content) ? m.content : []
    if (m.role === "assistant") {
      const ids = blocks.filter((b) => b?.type === "tool_use").map((b) => String(b.id))
      if (ids.length === 0) continue
      const next = messages[i + 1]
      if (next === undefined) continue // the client will answer them in a later request
      const answered = new Set(
        (Array.isArray(next.content) ? next.content : []).filter((b: any) => b?.type === "tool_result").map((b: any) => String(b.tool_use_id))
      )
      const missing = ids.filter((id) => !answered.has(id))
      if (next.role !== "user" || missing.length > 0) {
        return `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`
      }
    }
    if (m.role === "user") {
      const results = blocks.filter((b) => b?.type === "tool_result").map((b) => String(b.tool_use_id))
      if (results.length === 0) continue
      const prev = messages[i - 1]
      const asked = new Set(
        (prev && prev.role === "assistant" && Array.isArray(prev.content) ? prev.content : [])
          .filter((b: any) => b?.type === "tool_use")
          .map((b: any) => String(b.id))
      )
      const unexpected = results.filter((id) => !asked.has(id))
      if (unexpected.length > 0) {
        return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unexpected.join(", ")}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`
      }
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------
// Server

export const startFakeAnthropic = async (options: FakeAnthropicOptions): Promise<FakeAnthropic> => {
  const requests: Array<RecordedRequest> = []
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  const validate = options.validate ?? true

  const waitUntil = (
    what: string,
    timeoutMs: number,
    check: () => RecordedRequest | Error | undefined
  ): Promise<RecordedRequest> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        const r = check()
        if (r === undefined) return false
        cleanup()
        if (r instanceof Error) reject(r)
        else resolve(r)
        return true
      }
      const listener = () => {
        attempt()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`fakeAnthropic: timed out after ${timeoutMs} ms waiting for ${what}; ${describeRequests()}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        listeners.delete(listener)
      }
      listeners.add(listener)
      attempt()
    })

  const describeRequests = () =>
    `requests so far: ${requests.length === 0 ? "none" : requests.map((r) => `#${r.index} ${r.status}${r.aborted ? " aborted" : ""}${r.dropped ? " dropped" : ""}${r.completed ? " completed" : ""}${r.rejected ? ` rejected(${r.rejected})` : ""}`).join(", ")}`

  const resolveScript = async (req: ScriptRequest): Promise<Reply> => {
    const s = options.script
    if (typeof s === "function") return await s(req)
    const reply = s[req.index]
    if (reply === undefined) {
      return [{ error: 500, message: `fakeAnthropic: no scripted reply for request #${req.index} (script has ${s.length})` }]
    }
    return reply
  }

  let messageCounter = 0

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url)
    const requestId = `req_fake${String(++messageCounter).padStart(6, "0")}`
    const baseHeaders = { "request-id": requestId, "anthropic-organization-id": "00000000-0000-0000-0000-000000000000" }
    const jsonHeaders = { ...baseHeaders, "content-type": "application/json" }
    const headers: Record<string, string> = {}
    req.headers.forEach((v, k) => {
      headers[k.toLowerCase()] = v
    })
    const rawText = await req.text()
    let body: any = rawText
    try {
      body = JSON.parse(rawText)
    } catch {}
    const record: RecordedRequest = {
      index: requests.length,
      method: req.method,
      path: url.pathname,
      body,
      headers,
      stream: body?.stream === true,
      status: 0,
      aborted: false,
      completed: false,
      dropped: false
    }
    requests.push(record)

    const fail = (status: number, type: string, message: string, extraHeaders: Record<string, string> = {}) => {
      record.status = status
      record.completed = true
      if (status === 400 || status === 401 || status === 404) record.rejected = message
      notify()
      return new Response(errorBody(type, message, requestId), { status, headers: { ...jsonHeaders, ...extraHeaders } })
    }

    if (req.method !== "POST" || url.pathname !== "/v1/messages") {
      return fail(404, "not_found_error", `Not found: ${req.method} ${url.pathname}`)
    }
    const bearer = headers["authorization"]?.match(/^Bearer\s+(.+)$/i)?.[1]
    const key = headers["x-api-key"] ?? bearer
    if (!key) return fail(401, "authentication_error", "x-api-key header is required")
    if (options.apiKey !== undefined && key !== options.apiKey) return fail(401, "authentication_error", "invalid x-api-key")
    if (!headers["anthropic-version"]) return fail(400, "invalid_request_error", "anthropic-version: header is required")
    if (typeof body !== "object") return fail(400, "invalid_request_error", "There was an error parsing the body of your request")
    if (validate) {
      const problem = validateMessagesBody(body)
      if (problem !== undefined) return fail(400, "invalid_request_error", problem)
    }

    let reply: Reply
    try {
      reply = await resolveScript({ body, index: record.index, headers })
    } catch (e) {
      return fail(500, "api_error", `fakeAnthropic: script threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
    }

    // Abort tracking: the request's signal (client went away) and the stream's cancel.
    let abortedResolve!: () => void
    const abortedPromise = new Promise<void>((r) => {
      abortedResolve = r
    })
    const markAborted = () => {
      if (!record.completed && !record.dropped && !record.aborted) {
        record.aborted = true
        notify()
      }
      abortedResolve()
    }
    req.signal.addEventListener("abort", markAborted, { once: true })
    const isGone = () => record.aborted || record.dropped
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        abortedPromise.then(() => {
          clearTimeout(t)
          resolve()
        })
      })

    const model = typeof body.model === "string" ? body.model : "claude-fake"
    const messageId = `msg_fake${String(messageCounter).padStart(6, "0")}`
    const inputTokens = approxTokens(body.messages) + approxTokens(body.system) + approxTokens(body.tools)
    const hasToolUse = reply.some((s) => "toolUse" in s)
    let stopReason: StopReason = hasToolUse ? "tool_use" : "end_turn"
    let usageOverride: {
      input_tokens?: number
      output_tokens?: number
      cache_read_input_tokens?: number
      cache_creation_input_tokens?: number
    } = {}
    for (const s of reply) {
      if ("stopReason" in s) stopReason = s.stopReason
      if ("usage" in s) usageOverride = { ...usageOverride, ...s.usage }
    }
    const usageStart = () => ({
      input_tokens: usageOverride.input_tokens ?? inputTokens,
      cache_creation_input_tokens: usageOverride.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: usageOverride.cache_read_input_tokens ?? 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: 1,
      service_tier: "standard"
    })

    // Leading delays then an error (and no forced in-stream) → an HTTP error response.
    const firstContent = reply.findIndex((s) => !("delayMs" in s) && !("stopReason" in s) && !("usage" in s))
    const first = firstContent === -1 ? undefined : reply[firstContent]
    const httpError = first !== undefined && "error" in first && (!record.stream || first.inStream !== true) ? first : undefined
    if (!record.stream || httpError !== undefined) {
      // Non-streaming (or an HTTP error): play delays, then answer once.
      const content: Array<any> = []
      let outputTokens = 0
      let currentText: { type: "text"; text: string; citations: null } | undefined
      for (const step of reply) {
        if (isGone()) break
        if ("delayMs" in step) {
          await sleep(step.delayMs)
        } else if ("text" in step) {
          const chunks = typeof step.text === "string" ? [step.text] : step.text
          if (currentText === undefined) {
            currentText = { type: "text", text: "", citations: null }
            content.push(currentText)
          }
          currentText.text += chunks.join("")
          outputTokens += chunks.length
        } else if ("toolUse" in step) {
          currentText = undefined
          const t = step.toolUse
          content.push({ type: "tool_use", id: t.id ?? `toolu_fake${String(++toolIdCounter).padStart(4, "0")}`, name: t.name, input: t.input, caller: { type: "direct" } })
          outputTokens += approxTokens(t.input)
        } else if ("error" in step) {
          const type = step.type ?? errorTypeFor(step.error)
          return fail(step.error, type, step.message ?? ERROR_MESSAGES[type] ?? "Error", { ...(step.headers ?? {}) })
        } else if ("hang" in step) {
          await abortedPromise
        } else if ("disconnect" in step) {
          record.status = 200
          record.dropped = true
          notify()
          return new Response(
            new ReadableStream({
              start(controller) {
                controller.enqueue(new TextEncoder().encode("{\"id\":"))
                // error(undefined) resets the socket without Bun logging a stack trace
                controller.error(undefined)
              }
            }),
            { status: 200, headers: jsonHeaders }
          )
        }
      }
      if (isGone()) {
        record.status = 499
        notify()
        return new Response("", { status: 499 })
      }
      const message = {
        id: messageId,
        type: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        stop_details: null,
        container: null,
        usage: { ...usageStart(), output_tokens: usageOverride.output_tokens ?? Math.max(1, outputTokens) }
      }
      record.status = 200
      record.completed = true
      notify()
      return new Response(JSON.stringify(message), { status: 200, headers: jsonHeaders })
    }

    // Streaming.
    record.status = 200
    notify()
    const encoder = new TextEncoder()
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (name: string, data: unknown) => {
          if (isGone()) return
          try {
            controller.enqueue(encoder.encode(sseEvent(name, data)))
          } catch {
            markAborted()
          }
        }
        let blockIndex = -1
        let openBlock: "text" | undefined
        let pinged = false
        let outputTokens = 0
        const closeBlock = () => {
          if (openBlock !== undefined) {
            send("content_block_stop", { type: "content_block_stop", index: blockIndex })
            openBlock = undefined
          }
        }
        const startBlock = (contentBlock: unknown) => {
          closeBlock()
          blockIndex += 1
          send("content_block_start", { type: "content_block_start", index: blockIndex, content_block: contentBlock })
          if (!pinged) {
            send("ping", { type: "ping" })
            pinged = true
          }
        }
        send("message_start", {
          type: "message_start",
          message: {
            id: messageId,
            type: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            stop_details: null,
            container: null,
            usage: usageStart()
          }
        })
        for (const step of reply) {
          if (isGone()) return
          if ("delayMs" in step) {
            await sleep(step.delayMs)
          } else if ("text" in step) {
            const chunks = typeof step.text === "string" ? [step.text] : step.text
            if (openBlock !== "text") {
              startBlock({ type: "text", text: "" })
              openBlock = "text"
            }
            for (const chunk of chunks) {
              send("content_block_delta", { type: "content_block_delta", index: blockIndex, delta: { type: "text_delta", text: chunk } })
              outputTokens += 1
            }
          } else if ("toolUse" in step) {
            const t = step.toolUse
            startBlock({ type: "tool_use", id: t.id ?? `toolu_fake${String(++toolIdCounter).padStart(4, "0")}`, name: t.name, input: {}, caller: { type: "direct" } })
            const json = JSON.stringify(t.input ?? {})
            const pieces = Array.isArray(t.chunks) ? t.chunks : splitInto(json, typeof t.chunks === "number" ? t.chunks : 3)
            for (const partial of ["", ...pieces]) {
              send("content_block_delta", { type: "content_block_delta", index: blockIndex, delta: { type: "input_json_delta", partial_json: partial } })
            }
            outputTokens += approxTokens(t.input)
            send("content_block_stop", { type: "content_block_stop", index: blockIndex })
            openBlock = undefined
          } else if ("error" in step) {
            const type = step.type ?? errorTypeFor(step.error)
            send("error", { type: "error", error: { type, message: step.message ?? ERROR_MESSAGES[type] ?? "Error" }, request_id: requestId })
            record.completed = true
            notify()
            controller.close()
            return
          } else if ("hang" in step) {
            await abortedPromise
            return
          } else if ("disconnect" in step) {
            record.dropped = true
            notify()
            controller.error(undefined) // resets the socket; Bun logs nothing for an undefined reason
            return
          }
        }
        if (isGone()) return
        closeBlock()
        send("message_delta", {
          type: "message_delta",
          delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null, container: null },
          usage: {
            input_tokens: usageOverride.input_tokens ?? inputTokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: usageOverride.output_tokens ?? Math.max(1, outputTokens)
          }
        })
        send("message_stop", { type: "message_stop" })
        if (isGone()) return
        record.completed = true
        notify()
        controller.close()
      },
      cancel() {
        markAborted()
      }
    })
    return new Response(stream, {
      status: 200,
      headers: { ...baseHeaders, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" }
    })
  }

  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch: handle,
    error(e) {
      return new Response(errorBody("api_error", `fakeAnthropic crashed: ${e.message}`, "req_fake_crash"), { status: 500 })
    }
  })

  let stopped = false
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    waitForRequest: (index, timeoutMs = 2000) =>
      waitUntil(`request #${index}`, timeoutMs, () => requests[index]),
    waitForAbort: (index, timeoutMs = 2000) =>
      waitUntil(`request #${index} to be aborted`, timeoutMs, () => {
        const r = requests[index]
        if (r === undefined) return undefined
        if (r.aborted) return r
        if (r.completed || r.dropped) {
          return new Error(`fakeAnthropic: request #${index} ${r.completed ? "completed" : "was dropped"} instead of being aborted; ${describeRequests()}`)
        }
        return undefined
      }),
    waitForSettled: (index, timeoutMs = 2000) =>
      waitUntil(`request #${index} to finish`, timeoutMs, () => {
        const r = requests[index]
        return r !== undefined && (r.aborted || r.completed || r.dropped) ? r : undefined
      }),
    stop: async () => {
      if (stopped) return
      stopped = true
      await server.stop(true)
    }
  }
}
