import type { MessageParam, TextBlockParam, Tool, ToolChoice } from "@anthropic-ai/sdk/resources/messages"

/**
 * The JSON body of a request to Claude, with its fixed part serialised once. All but the conversation — the model,
 * the system prompt (3.8 KB), the tools' definitions (6.3 KB): nearly all of a turn's body — is the same for every
 * turn of a tenant's calls within a minute (the prompt states the time, so turn.ts rebuilds it once a minute): it is
 * kept, keyed by that prompt's blocks, and only `messages` is serialised per request, last in the object (key order
 * means nothing to the API, and the prompt cache reads tools, system and messages, not the JSON's order).
 *
 * On Bun the body goes as a Blob of the kept head and the messages: Bun's `fetch` copies a string body on the thread
 * that runs JavaScript, ~60 µs for 10 KB when 200 calls send at once (and `JSON.stringify` of it ~20 µs more), while a
 * Blob's kept part is not copied there (~25 µs in all). On Deno a Blob measured no cheaper than the string it gets
 * instead (~100–150 µs either way, 200 requests in flight).
 */

/** What stays the same from one request to the next. */
export interface FixedRequest {
  readonly model: string
  readonly maxTokens: number
  readonly system: string | ReadonlyArray<TextBlockParam>
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly toolChoice?: ToolChoice | undefined
}

interface Head {
  readonly model: string
  readonly maxTokens: number
  readonly tools: ReadonlyArray<Tool> | undefined
  readonly toolChoice: ToolChoice | undefined
  /** The body's JSON up to the messages: `{"model":…,"messages":`. */
  readonly json: string
  readonly blob: Blob | undefined
}

const sendsBlobs = "Bun" in globalThis

/** Per system prompt (a tenant's, for a minute): its heads, one per model asked (the primary, the fallback). */
const headsBySystem = new WeakMap<ReadonlyArray<TextBlockParam>, Array<Head>>()

const makeHead = (fixed: FixedRequest): Head => {
  const tools = fixed.tools !== undefined && fixed.tools.length > 0 ? fixed.tools : undefined
  const object = JSON.stringify({
    model: fixed.model,
    max_tokens: fixed.maxTokens,
    system: fixed.system,
    ...(tools ? { tools } : {}),
    ...(fixed.toolChoice ? { tool_choice: fixed.toolChoice } : {}),
    stream: true
  })
  const json = `${object.slice(0, -1)},"messages":`
  return {
    model: fixed.model,
    maxTokens: fixed.maxTokens,
    tools: fixed.tools,
    toolChoice: fixed.toolChoice,
    json,
    blob: sendsBlobs ? new Blob([json]) : undefined
  }
}

const headOf = (fixed: FixedRequest): Head => {
  // A prompt given as a string (post-call summaries, off the call path) cannot key a WeakMap: built each time.
  if (typeof fixed.system === "string") return makeHead(fixed)
  let heads = headsBySystem.get(fixed.system)
  if (heads === undefined) headsBySystem.set(fixed.system, heads = [])
  const known = heads.find((head) =>
    head.model === fixed.model && head.maxTokens === fixed.maxTokens && head.tools === fixed.tools && head.toolChoice === fixed.toolChoice
  )
  if (known !== undefined) return known
  const head = makeHead(fixed)
  heads.push(head)
  return head
}

/** A streamed request's body: the kept head, then this request's messages. */
export const requestBody = (fixed: FixedRequest, messages: ReadonlyArray<MessageParam>): string | Blob => {
  const head = headOf(fixed)
  const rest = `${JSON.stringify(messages)}}`
  return head.blob !== undefined ? new Blob([head.blob, rest], { type: "application/json" }) : head.json + rest
}
