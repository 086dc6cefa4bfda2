import { FRENCH_STOP_WORDS, queryTerm, tokens } from "../../src/knowledge/text.ts"
import { normalizeInPlace, vectorToBase64 } from "../../src/knowledge/vectors.ts"
import { serve, sleep } from "./runtime.ts"

/**
 * A loopback fake of OpenAI's `POST /v1/embeddings`, speaking the real wire format so the real `openai`
 * SDK can be pointed at it (`baseURL: fake.url`). Vectors are deterministic: a hashed bag of folded,
 * lightly stemmed words (stop words dropped) in `dimensions` dimensions, unit length — texts sharing
 * words are close, unrelated texts are nearly orthogonal.
 *
 * The SDK sends `encoding_format: "base64"` unless told otherwise (and decodes it); the fake answers base64
 * float32 little-endian when asked, and plain number arrays for `"float"` or no format.
 */

export const FAKE_DIMENSIONS = 1536

const fnv1a = (text: string, seed = 0x811c9dc5): number => {
  let hash = seed
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** The fake's embedding of a text (exported so benches can build vectors without a server). */
export const fakeEmbedding = (text: string, dimensions = FAKE_DIMENSIONS): Float32Array => {
  const vector = new Float32Array(dimensions)
  for (const word of tokens(text)) {
    if (word.length < 2 || FRENCH_STOP_WORDS.has(word)) continue
    const stem = queryTerm(word).match
    const h = fnv1a(stem)
    vector[h % dimensions]! += (h & 0x80000000) !== 0 ? 1 : -1
    // a second, weaker coordinate makes collisions between different words less likely to cancel
    const h2 = fnv1a(stem, 0x9747b28c)
    vector[h2 % dimensions]! += (h2 & 1) === 0 ? 0.5 : -0.5
  }
  normalizeInPlace(vector)
  return vector
}

export interface FakeRequest {
  readonly model: string
  readonly input: ReadonlyArray<string>
  readonly encodingFormat: string | undefined
  readonly dimensions: number | undefined
  readonly authorization: string | null
}

export interface FakeOpenAI {
  /** base URL for the SDK, ending in /v1 */
  readonly url: string
  /** embeddings requests answered (including failed ones) */
  readonly requests: number
  /** inputs received in successful requests */
  readonly inputs: number
  readonly log: ReadonlyArray<FakeRequest>
  /** the next `count` requests answer `status` (429 rate limit or 500 server error) */
  failNext(count: number, status?: 429 | 500 | 503): void
  /** every request waits this long before answering */
  setDelay(ms: number): void
  reset(): void
  stop(): Promise<void>
}

const errorBody = (status: number) => {
  if (status === 429) {
    return {
      error: {
        message: "Rate limit reached for text-embedding-3-small on requests per min (RPM): Limit 3000. Please try again in 20ms.",
        type: "requests",
        param: null,
        code: "rate_limit_exceeded"
      }
    }
  }
  if (status === 401) {
    return { error: { message: "Incorrect API key provided.", type: "invalid_request_error", param: null, code: "invalid_api_key" } }
  }
  if (status === 400) {
    return { error: { message: "Invalid input.", type: "invalid_request_error", param: "input", code: null } }
  }
  return {
    error: {
      message: "The server had an error while processing your request. Sorry about that!",
      type: "server_error",
      param: null,
      code: null
    }
  }
}

export const startFakeOpenAI = (options: { readonly apiKey?: string } = {}): FakeOpenAI => {
  const apiKey = options.apiKey ?? "sk-test-fake"
  let requests = 0
  let inputs = 0
  let failures: Array<number> = []
  let delay = 0
  const log: Array<FakeRequest> = []

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", "x-request-id": `req_fake_${requests}`, ...headers }
    })

  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url)
      if (request.method !== "POST" || url.pathname !== "/v1/embeddings") {
        return json(404, { error: { message: "Not found", type: "invalid_request_error", param: null, code: null } })
      }
      requests++
      if (delay > 0) await sleep(delay)
      const authorization = request.headers.get("authorization")
      if (authorization !== `Bearer ${apiKey}`) return json(401, errorBody(401))
      const failure = failures.shift()
      if (failure !== undefined) {
        return json(failure, errorBody(failure), failure === 429 ? { "retry-after-ms": "10" } : {})
      }

      const body = (await request.json()) as {
        model?: unknown
        input?: unknown
        encoding_format?: unknown
        dimensions?: unknown
      }
      const input = typeof body.input === "string" ? [body.input] : body.input
      if (
        typeof body.model !== "string" || !Array.isArray(input) || input.length === 0 || input.length > 2048 ||
        !input.every((s) => typeof s === "string" && s !== "")
      ) return json(400, errorBody(400))
      const encodingFormat = typeof body.encoding_format === "string" ? body.encoding_format : undefined
      const dimensions = typeof body.dimensions === "number" ? body.dimensions : undefined
      log.push({ model: body.model, input: input as Array<string>, encodingFormat, dimensions, authorization })
      inputs += input.length

      let promptTokens = 0
      const data = (input as Array<string>).map((text, index) => {
        promptTokens += Math.ceil(text.length / 4)
        const vector = fakeEmbedding(text, dimensions ?? FAKE_DIMENSIONS)
        return {
          object: "embedding",
          index,
          embedding: encodingFormat === "base64" ? vectorToBase64(vector) : Array.from(vector)
        }
      })
      return json(200, {
        object: "list",
        data,
        model: body.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }
      })
    }
  })

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    get requests() {
      return requests
    },
    get inputs() {
      return inputs
    },
    log,
    failNext(count, status = 429) {
      failures = [...failures, ...Array.from({ length: count }, () => status)]
    },
    setDelay(ms) {
      delay = ms
    },
    reset() {
      requests = 0
      inputs = 0
      failures = []
      delay = 0
      log.length = 0
    },
    stop: () => server.stop(true)
  }
}
