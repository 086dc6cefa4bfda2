import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { Lru } from "./Lru.ts"
import { base64ToVector } from "./vectors.ts"

/**
 * Text embeddings through OpenAI's `POST /v1/embeddings` (the `openai` SDK), used by knowledge search.
 * Optional: without `OPENAI_API_KEY` the service is `enabled: false` and search is full-text only.
 *
 * Documents are embedded once, at ingestion, in batches; a question is embedded at query time through a
 * bounded LRU cache, so a repeated question costs no request.
 */

export const DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
export const DEFAULT_EMBEDDING_DIMENSIONS = 1536
/** Inputs per request (the API takes up to 2048; 96 keeps each request small and quick to retry). */
export const DEFAULT_EMBEDDING_BATCH_SIZE = 96
export const DEFAULT_QUERY_CACHE_SIZE = 500

export type EmbeddingErrorReason =
  | "Disabled"
  | "RateLimited"
  | "ServerError"
  | "Connection"
  | "Timeout"
  | "Rejected"
  | "InvalidResponse"

export class EmbeddingError extends Data.TaggedError("EmbeddingError")<{
  readonly reason: EmbeddingErrorReason
  readonly message: string
  readonly status?: number | undefined
  readonly cause?: unknown
}> {
  /** 429, 5xx, timeouts and connection failures are worth retrying; a 4xx rejection is not. */
  get transient(): boolean {
    return this.reason === "RateLimited" || this.reason === "ServerError" || this.reason === "Connection" ||
      this.reason === "Timeout"
  }
}

// ---------------------------------------------------------------------------------------------------------
// Retry policies (named constants, capped jittered exponential backoff)
// ---------------------------------------------------------------------------------------------------------

/** Ingestion: up to 5 retries, 200 ms doubling with jitter, each wait capped at 2 s. */
export const ingestRetrySchedule = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.intersect(Schedule.recurs(5))
)

/** Query time sits on the caller's path: one quick retry, then the search falls back to full-text. */
export const queryRetrySchedule = Schedule.exponential("50 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(1))
)

export const DEFAULT_QUERY_TIMEOUT = Duration.millis(1500)
export const DEFAULT_REQUEST_TIMEOUT = Duration.seconds(30)

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

export interface EmbeddingsShape {
  /** false without an API key: every call then fails with reason "Disabled" */
  readonly enabled: boolean
  /** what `knowledge_chunks.embedding_model` records (vectors of another model are never compared) */
  readonly model: string
  readonly dimensions: number
  /** Embed many texts (batched, retried); one vector per input, in order. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Float32Array>, EmbeddingError>
  /** Embed a caller's question (LRU-cached, short timeout, one retry). */
  readonly embedQuery: (text: string) => Effect.Effect<Float32Array, EmbeddingError>
}

export interface EmbeddingsOptions {
  readonly apiKey: Redacted.Redacted<string> | undefined
  readonly baseURL?: string | undefined
  readonly model?: string | undefined
  /** sent as `dimensions` when set (text-embedding-3 models can shorten their vectors) */
  readonly dimensions?: number | undefined
  readonly batchSize?: number | undefined
  readonly queryCacheSize?: number | undefined
  readonly retrySchedule?: Schedule.Schedule<unknown, EmbeddingError> | undefined
  readonly queryRetrySchedule?: Schedule.Schedule<unknown, EmbeddingError> | undefined
  readonly queryTimeout?: Duration.DurationInput | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
}

const disabledError = new EmbeddingError({ reason: "Disabled", message: "embeddings are disabled (no OPENAI_API_KEY)" })

export const disabledEmbeddings: EmbeddingsShape = {
  enabled: false,
  model: DEFAULT_EMBEDDING_MODEL,
  dimensions: DEFAULT_EMBEDDING_DIMENSIONS,
  embed: () => Effect.fail(disabledError),
  embedQuery: () => Effect.fail(disabledError)
}

/** The SDK is loaded only when embeddings are configured (~1.4 MB of heap an instance without a key never needs). */
const loadOpenAI = Effect.promise(() => import("openai")).pipe(Effect.map((module) => module.default))

const toEmbeddingError = (OpenAI: typeof import("openai").default) => (cause: unknown): EmbeddingError => {
  if (cause instanceof OpenAI.APIConnectionTimeoutError) {
    return new EmbeddingError({ reason: "Timeout", message: "embeddings request timed out", cause })
  }
  if (cause instanceof OpenAI.APIConnectionError) {
    return new EmbeddingError({ reason: "Connection", message: `embeddings connection failed: ${cause.message}`, cause })
  }
  if (cause instanceof OpenAI.APIError) {
    const status = cause.status
    const reason: EmbeddingErrorReason = status === 429
      ? "RateLimited"
      : status !== undefined && (status >= 500 || status === 408)
      ? "ServerError"
      : "Rejected"
    return new EmbeddingError({ reason, status, message: `embeddings request failed: ${cause.message}`, cause })
  }
  return new EmbeddingError({ reason: "Connection", message: `embeddings request failed: ${String(cause)}`, cause })
}

/** The query cache key and the text actually embedded: whitespace-normalised. */
const normalizeQuery = (text: string): string => text.trim().replace(/\s+/g, " ")

export const makeEmbeddings = (options: EmbeddingsOptions): Effect.Effect<EmbeddingsShape> =>
  Effect.gen(function*() {
    const apiKey = options.apiKey === undefined ? "" : Redacted.value(options.apiKey).trim()
    if (apiKey === "") return disabledEmbeddings
    const OpenAI = yield* loadOpenAI

    const model = options.model ?? DEFAULT_EMBEDDING_MODEL
    const dimensions = options.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS
    const batchSize = Math.max(1, options.batchSize ?? DEFAULT_EMBEDDING_BATCH_SIZE)
    const retrySchedule = options.retrySchedule ?? ingestRetrySchedule
    const queryRetry = options.queryRetrySchedule ?? queryRetrySchedule
    const queryTimeout = Duration.decode(options.queryTimeout ?? DEFAULT_QUERY_TIMEOUT)
    const modelId = options.dimensions === undefined ? model : `${model}@${dimensions}`

    // Retries are ours (Schedule), so the SDK's own are off.
    const client = new OpenAI({
      apiKey,
      baseURL: options.baseURL,
      maxRetries: 0,
      timeout: Duration.toMillis(Duration.decode(options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT))
    })

    /** One request. The SDK's AbortSignal is wired to the fiber, so interruption cancels the HTTP call. */
    const request = (input: ReadonlyArray<string>) =>
      Effect.tryPromise({
        try: (signal) =>
          client.embeddings.create(
            {
              model,
              input: [...input],
              encoding_format: "base64",
              ...(options.dimensions === undefined ? {} : { dimensions: options.dimensions })
            },
            { signal }
          ),
        catch: toEmbeddingError(OpenAI)
      }).pipe(
        Effect.flatMap((response) =>
          Effect.try({
            try: () => {
              const data = response.data ?? []
              if (data.length !== input.length) {
                throw new Error(`expected ${input.length} embeddings, got ${data.length}`)
              }
              const vectors = new Array<Float32Array>(input.length)
              for (const item of data) {
                const raw: unknown = item.embedding
                const vector = typeof raw === "string"
                  ? base64ToVector(raw)
                  : Array.isArray(raw)
                  ? Float32Array.from(raw as Array<number>)
                  : undefined
                if (vector === undefined) throw new Error("embedding is neither base64 nor a number array")
                if (vector.length !== dimensions) {
                  throw new Error(`expected ${dimensions} dimensions, got ${vector.length}`)
                }
                if (!(item.index >= 0 && item.index < input.length) || vectors[item.index] !== undefined) {
                  throw new Error(`unexpected embedding index ${item.index}`)
                }
                vectors[item.index] = vector
              }
              return vectors
            },
            catch: (cause) =>
              new EmbeddingError({
                reason: "InvalidResponse",
                message: `invalid embeddings response: ${cause instanceof Error ? cause.message : String(cause)}`,
                cause
              })
          })
        ),
        Effect.withSpan("Embeddings.request", { attributes: { "embeddings.inputs": input.length, model } })
      )

    const embed = Effect.fn("Embeddings.embed")(function*(texts: ReadonlyArray<string>) {
      if (texts.length === 0) return [] as ReadonlyArray<Float32Array>
      const batches: Array<ReadonlyArray<string>> = []
      for (let i = 0; i < texts.length; i += batchSize) batches.push(texts.slice(i, i + batchSize))
      const results = yield* Effect.forEach(
        batches,
        (batch) => request(batch).pipe(Effect.retry({ schedule: retrySchedule, while: (e) => e.transient })),
        { concurrency: 2 }
      )
      return results.flat() as ReadonlyArray<Float32Array>
    })

    const queryCache = new Lru<string, Float32Array>(options.queryCacheSize ?? DEFAULT_QUERY_CACHE_SIZE)

    const embedQuery = Effect.fn("Embeddings.embedQuery")(function*(text: string) {
      const key = normalizeQuery(text)
      const cached = queryCache.get(key)
      if (cached !== undefined) return cached
      const [vector] = yield* request([key]).pipe(
        Effect.retry({ schedule: queryRetry, while: (e) => e.transient }),
        Effect.timeoutFail({
          duration: queryTimeout,
          onTimeout: () => new EmbeddingError({ reason: "Timeout", message: "query embedding timed out" })
        })
      )
      queryCache.set(key, vector!)
      return vector!
    })

    return { enabled: true, model: modelId, dimensions, embed, embedQuery } satisfies EmbeddingsShape
  })

/** `OPENAI_API_KEY` (optional; no key → disabled) and `OPENAI_BASE_URL` (optional). */
export const EmbeddingsConfig = Config.all({
  apiKey: Config.option(Config.redacted("OPENAI_API_KEY")),
  baseURL: Config.option(Config.string("OPENAI_BASE_URL"))
})

export class Embeddings extends Effect.Service<Embeddings>()("app/Embeddings", {
  effect: Effect.gen(function*() {
    const config = yield* EmbeddingsConfig
    return yield* makeEmbeddings({
      apiKey: Option.getOrUndefined(config.apiKey),
      baseURL: Option.getOrUndefined(Option.filter(config.baseURL, (url) => url.trim() !== ""))
    })
  })
}) {
  /** Full-text-only search (what the app runs without a key). */
  static readonly Disabled: Layer.Layer<Embeddings> = Layer.succeed(Embeddings, Embeddings.make(disabledEmbeddings))

  /** The real client with explicit options (tests point `baseURL` at a loopback fake). */
  static readonly layerWith = (options: EmbeddingsOptions): Layer.Layer<Embeddings> =>
    Layer.effect(Embeddings, Effect.map(makeEmbeddings(options), (shape) => Embeddings.make(shape)))

  /** A stub: `Embeddings.Test({ embed, embedQuery })`; anything not given fails as disabled. */
  static readonly Test = (shape: Partial<EmbeddingsShape>): Layer.Layer<Embeddings> =>
    Layer.succeed(Embeddings, Embeddings.make({ ...disabledEmbeddings, enabled: true, ...shape }))
}
