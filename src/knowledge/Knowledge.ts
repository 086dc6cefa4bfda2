import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { DatabaseBackend } from "../storage/DatabaseBackend.ts"
import type { KnowledgeEntry } from "../tenants/TenantConfig.ts"
import { Embeddings } from "./Embeddings.ts"
import { Lru } from "./Lru.ts"
import {
  chunkDocument,
  ftsQuery,
  indexText,
  type QueryTerm,
  queryTerms,
  tenantToken,
  termMatches,
  tokens,
  tsQuery
} from "./text.ts"
import { blobToVector, normalizeInPlace, vectorToBlob, VectorTable } from "./vectors.ts"

/**
 * A tenant's knowledge: ingestion (chunk, index, embed once) and search (FTS5 bm25, plus cosine similarity
 * over the tenant's vectors when embeddings are enabled, merged by reciprocal rank fusion). Every query is
 * scoped to one tenant, in the FTS match itself and again in the join back to `knowledge_chunks`.
 * No LLM is called here: a question with no good match is answered `found: false`.
 *
 * Longer than 400 lines: the in-memory index and the SQL that fills it change together (one format, two
 * dialects); the pure text and vector code is already in text.ts and vectors.ts.
 */

// ---------------------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------------------

export interface Passage {
  readonly title: string
  readonly text: string
  /** reciprocal-rank-fusion score: higher is better, comparable only within one result */
  readonly score: number
}

export interface SearchResult {
  readonly found: boolean
  readonly passages: ReadonlyArray<Passage>
  /** what the agent must do with the result, in French (the agent speaks French) */
  readonly message: string
  /** how the passages were ranked: full-text only, or full-text and embeddings */
  readonly strategy: "none" | "lexical" | "hybrid"
}

export interface IngestResult {
  readonly documents: number
  readonly chunks: number
  /** chunks embedded by a request during this ingestion */
  readonly embedded: number
  /** chunks whose vector was reused from identical text already stored for the tenant */
  readonly reusedEmbeddings: number
}

/** The JSON the model reads as the result of the `search_knowledge` tool. */
export interface SearchToolResult {
  readonly found: boolean
  readonly message: string
  readonly passages: ReadonlyArray<{ readonly title: string; readonly text: string }>
}

export const FOUND_MESSAGE =
  "Passages trouvés dans les informations de l'établissement. Répondez uniquement à partir de ces passages, " +
  "brièvement et à l'oral. Si la réponse précise n'y figure pas, dites que vous n'avez pas cette information et " +
  "proposez de transmettre la demande à l'équipe ou de passer l'appel à un conseiller. N'inventez rien."

export const NOT_FOUND_MESSAGE =
  "Aucune information pertinente dans les informations de l'établissement. N'inventez pas de réponse : dites " +
  "à l'appelant que vous ne savez pas, puis proposez de le mettre en relation avec un membre de l'équipe ou de " +
  "prendre un message."

export const searchResultForModel = (result: SearchResult): SearchToolResult => ({
  found: result.found,
  message: result.message,
  passages: result.passages.map(({ text, title }) => ({ title, text }))
})

// ---------------------------------------------------------------------------------------------------------
// Ranking constants
// ---------------------------------------------------------------------------------------------------------

/** candidates taken from each ranking before fusion */
const CANDIDATES = 20
/** reciprocal rank fusion: score = Σ 1 / (RRF_K + rank) */
const RRF_K = 60
/** bm25 column weights: tenant token (ignored), title, body */
const BM25 = "bm25(knowledge_fts, 0.0, 2.0, 1.0)"
/** Postgres: ts_rank weights {D, C, B, A}; titles are weighted A, bodies B (2:1 as with bm25 above) */
const TS_WEIGHTS = "'{0.1, 0.2, 0.5, 1.0}'::float4[]"

interface LexicalRow {
  readonly id: number
  readonly title: string
  readonly text: string
  readonly score: number
}
/**
 * Minimum share of the question's IDF weight a passage must contain to count as a match. IDF is computed
 * on the tenant's own chunks, so words found everywhere (the business's name, "salon") weigh little and a
 * question about something absent ("chiens") is not answered by a passage that only shares "salon".
 */
export const MIN_LEXICAL_COVERAGE = 0.45
/** Minimum cosine similarity for a passage found by embeddings alone (text-embedding-3-small scale). */
export const MIN_SIMILARITY = 0.4
/** tenants whose statistics and vectors are kept in memory */
const TENANT_CACHE_SIZE = 256
const MAX_LIMIT = 10

// ---------------------------------------------------------------------------------------------------------
// Per-tenant in-memory index: term statistics (for the relevance threshold) and normalised vectors
// ---------------------------------------------------------------------------------------------------------

interface TenantIndex {
  readonly chunkCount: number
  /** sorted distinct folded tokens, and prefix sums of their document frequencies */
  readonly vocabulary: ReadonlyArray<string>
  readonly dfPrefix: Float64Array
  readonly dfExact: ReadonlyMap<string, number>
  /** unit vectors of the chunks embedded with the current model */
  readonly vectors:
    | { readonly ids: ReadonlyArray<number>; readonly rowOf: ReadonlyMap<number, number>; readonly table: VectorTable }
    | undefined
}

interface ChunkRow {
  readonly id: number
  readonly title: string
  readonly text: string
  readonly embedding: Uint8Array | null
  readonly embedding_model: string | null
}

const lowerBound = (sorted: ReadonlyArray<string>, key: string): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

const documentFrequency = (index: TenantIndex, term: QueryTerm): number => {
  if (!term.prefix) return index.dfExact.get(term.match) ?? 0
  const from = lowerBound(index.vocabulary, term.match)
  const to = lowerBound(index.vocabulary, term.match + "\uffff")
  return Math.min(index.chunkCount, index.dfPrefix[to]! - index.dfPrefix[from]!)
}

/**
 * BM25's IDF on the tenant's chunks. A word absent from the tenant's knowledge weighs as much as the
 * rarest word present (it may just be phrased differently); `-ez` verb forms ("vous acceptez", "vous
 * livrez") weigh half, since the thing asked about is what matters.
 */
const termWeight = (index: TenantIndex, term: QueryTerm): number => {
  const n = index.chunkCount
  const df = Math.max(1, documentFrequency(index, term))
  const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5))
  return term.word.endsWith("ez") && term.word.length >= 5 ? idf / 2 : idf
}

const coverage = (terms: ReadonlyArray<QueryTerm>, weights: ReadonlyArray<number>, title: string, text: string) => {
  const folded = tokens(`${title} ${text}`)
  let total = 0
  let matched = 0
  for (let i = 0; i < terms.length; i++) {
    total += weights[i]!
    if (termMatches(terms[i]!, folded)) matched += weights[i]!
  }
  return total > 0 ? matched / total : 0
}

const buildIndex = (rows: ReadonlyArray<ChunkRow>, model: string | undefined, dims: number): TenantIndex => {
  const df = new Map<string, number>()
  for (const row of rows) {
    for (const token of new Set(tokens(`${row.title} ${row.text}`))) df.set(token, (df.get(token) ?? 0) + 1)
  }
  const vocabulary = [...df.keys()].sort()
  const dfPrefix = new Float64Array(vocabulary.length + 1)
  for (let i = 0; i < vocabulary.length; i++) dfPrefix[i + 1] = dfPrefix[i]! + df.get(vocabulary[i]!)!

  let vectors: TenantIndex["vectors"] = undefined
  if (model !== undefined) {
    const embedded = rows.filter((row) =>
      row.embedding !== null && row.embedding_model === model && row.embedding.byteLength === dims * 4
    )
    if (embedded.length > 0) {
      const table = VectorTable.make(embedded.length, dims)
      const ids: Array<number> = []
      const rowOf = new Map<number, number>()
      embedded.forEach((row, i) => {
        table.setRowFromBlob(i, row.embedding!)
        ids.push(row.id)
        rowOf.set(row.id, i)
      })
      vectors = { ids, rowOf, table }
    }
  }
  return { chunkCount: rows.length, vocabulary, dfPrefix, dfExact: df, vectors }
}

/** The `limit` best rows by cosine similarity (unit vectors, so a dot product). */
const topBySimilarity = (
  vectors: NonNullable<TenantIndex["vectors"]>,
  query: Float32Array,
  limit: number
): Array<{ id: number; similarity: number }> => {
  const scores = vectors.table.scores(query)
  const count = vectors.ids.length
  const best: Array<{ id: number; similarity: number }> = []
  for (let row = 0; row < count; row++) {
    const similarity = scores[row]!
    if (best.length === limit && similarity <= best[limit - 1]!.similarity) continue
    let at = best.length
    while (at > 0 && best[at - 1]!.similarity < similarity) at--
    best.splice(at, 0, { id: vectors.ids[row]!, similarity })
    if (best.length > limit) best.pop()
  }
  return best
}

const found = (passages: ReadonlyArray<Passage>, strategy: SearchResult["strategy"]): SearchResult => ({
  found: true,
  passages,
  message: FOUND_MESSAGE,
  strategy
})

const notFound = (strategy: SearchResult["strategy"]): SearchResult => ({
  found: false,
  passages: [],
  message: NOT_FOUND_MESSAGE,
  strategy
})

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

interface PreparedChunk {
  readonly documentIndex: number
  readonly ordinal: number
  readonly title: string
  readonly text: string
}

const embeddingInput = (title: string, text: string) => `${title}\n\n${text}`

/** A tenant's knowledge changed (payload: its id): every instance drops its cached index. */
export const KNOWLEDGE_CHANNEL = "coccinelle_knowledge_changed"

export class Knowledge extends Effect.Service<Knowledge>()("app/Knowledge", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const embeddings = yield* Embeddings
    const backend = yield* DatabaseBackend

    const cache = new Lru<string, TenantIndex>(TENANT_CACHE_SIZE)
    /** bumped on every ingestion so a load that raced with it is not cached */
    const generations = new Map<string, number>()
    const invalidateHere = (tenantId: string) =>
      Effect.sync(() => {
        generations.set(tenantId, (generations.get(tenantId) ?? 0) + 1)
        cache.delete(tenantId)
      })
    /** Here at once, and on every other instance (through the database) as soon as the change is committed. */
    const invalidate = (tenantId: string) =>
      Effect.zipRight(
        invalidateHere(tenantId),
        backend.notify(KNOWLEDGE_CHANNEL, tenantId).pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("knowledge change not announced", cause))
        )
      )
    yield* Effect.forkScoped(
      backend.listen(KNOWLEDGE_CHANNEL).pipe(
        Stream.runForEach(invalidateHere),
        Effect.catchAllCause((cause) => Effect.logError("knowledge changes no longer heard", cause))
      )
    )
    // Changes notified while the listener was down were missed: every tenant's index is stale once.
    yield* Effect.forkScoped(Stream.runForEach(backend.reconnected, () =>
      Effect.forEach(new Set([...cache.keys(), ...generations.keys()]), invalidateHere, { discard: true })))

    const loadIndex = (tenantId: string) =>
      Effect.suspend(() => {
        const cached = cache.get(tenantId)
        if (cached !== undefined) return Effect.succeed(cached)
        const generation = generations.get(tenantId) ?? 0
        return sql<ChunkRow>`
          SELECT id, title, text, embedding, embedding_model FROM knowledge_chunks WHERE tenant_id = ${tenantId}
        `.pipe(
          Effect.map((rows) => {
            const index = buildIndex(rows, embeddings.enabled ? embeddings.model : undefined, embeddings.dimensions)
            if ((generations.get(tenantId) ?? 0) === generation) cache.set(tenantId, index)
            return index
          }),
          Effect.withSpan("Knowledge.loadIndex", { attributes: { tenantId } })
        )
      })

    /** Vectors for the chunks: reused for text already embedded for this tenant, requested for the rest. */
    const embedChunks = (tenantId: string, chunks: ReadonlyArray<PreparedChunk>) =>
      Effect.gen(function*() {
        const none = { vectors: chunks.map(() => undefined as Float32Array | undefined), embedded: 0, reused: 0 }
        if (!embeddings.enabled || chunks.length === 0) return none
        const existing = yield* sql<{ title: string; text: string; embedding: Uint8Array }>`
          SELECT title, text, embedding FROM knowledge_chunks
          WHERE tenant_id = ${tenantId} AND embedding IS NOT NULL AND embedding_model = ${embeddings.model}
        `
        const known = new Map<string, Uint8Array>()
        for (const row of existing) known.set(embeddingInput(row.title, row.text), row.embedding)

        const vectors = chunks.map((chunk) => {
          const blob = known.get(embeddingInput(chunk.title, chunk.text))
          return blob !== undefined && blob.byteLength === embeddings.dimensions * 4 ? blobToVector(blob) : undefined
        })
        const reused = vectors.filter((v) => v !== undefined).length
        const missing = chunks.flatMap((chunk, i) => (vectors[i] === undefined ? [i] : []))
        if (missing.length === 0) return { vectors, embedded: 0, reused }

        // identical chunks (the same paragraph in two entries) are embedded once
        const inputs = [...new Set(missing.map((i) => embeddingInput(chunks[i]!.title, chunks[i]!.text)))]
        return yield* embeddings.embed(inputs).pipe(
          Effect.map((fresh) => {
            const byInput = new Map(inputs.map((input, k) => [input, fresh[k]!]))
            for (const i of missing) vectors[i] = byInput.get(embeddingInput(chunks[i]!.title, chunks[i]!.text))
            return { vectors, embedded: missing.length, reused }
          }),
          // the text is still indexed: search stays full-text for these chunks until `backfillEmbeddings`
          Effect.catchTag("EmbeddingError", (error) =>
            Effect.logWarning("knowledge: embedding at ingestion failed; chunks indexed for full-text only").pipe(
              Effect.annotateLogs({ tenantId, reason: error.reason, chunks: missing.length }),
              Effect.as({ vectors, embedded: 0, reused })
            ))
        )
      })

    const ingest = (tenantId: string, entries: ReadonlyArray<KnowledgeEntry>, replace: boolean) =>
      Effect.gen(function*() {
        const chunks: Array<PreparedChunk> = entries.flatMap((entry, documentIndex) =>
          chunkDocument(entry.title, entry.content).map((chunk) => ({ documentIndex, ...chunk }))
        )
        // network first, outside the write transaction
        const { embedded, reused, vectors } = yield* embedChunks(tenantId, chunks)
        const now = new Date(yield* Clock.currentTimeMillis).toISOString()
        const token = tenantToken(tenantId)
        const documentIds = entries.map(() => crypto.randomUUID())

        yield* Effect.gen(function*() {
          if (replace) {
            // explicit rather than relying on ON DELETE CASCADE (which needs PRAGMA foreign_keys)
            yield* sql`DELETE FROM knowledge_chunks WHERE tenant_id = ${tenantId}`
            yield* sql`DELETE FROM knowledge_documents WHERE tenant_id = ${tenantId}`
          }
          for (let d = 0; d < entries.length; d++) {
            const entry = entries[d]!
            yield* sql`
              INSERT INTO knowledge_documents (id, tenant_id, title, content, created_at)
              VALUES (${documentIds[d]!}, ${tenantId}, ${entry.title}, ${entry.content}, ${now})
            `
          }
          for (let c = 0; c < chunks.length; c++) {
            const chunk = chunks[c]!
            const vector = vectors[c]
            const [row] = yield* sql<{ id: number }>`
              INSERT INTO knowledge_chunks (tenant_id, document_id, ordinal, title, text, embedding, embedding_model)
              VALUES (${tenantId}, ${documentIds[chunk.documentIndex]!}, ${chunk.ordinal}, ${chunk.title},
                      ${chunk.text}, ${vector === undefined ? null : vectorToBlob(vector)},
                      ${vector === undefined ? null : embeddings.model})
              RETURNING id
            `
            // Postgres indexes the chunk itself (a generated tsvector column, sql/postgres/0002_knowledge.sql)
            yield* sql.onDialectOrElse({
              pg: () => Effect.void,
              orElse: () =>
                sql`
                  INSERT INTO knowledge_fts (rowid, tenant, title, body)
                  VALUES (${row!.id}, ${token}, ${indexText(chunk.title)}, ${indexText(chunk.text)})
                `
            })
          }
        }).pipe(sql.withTransaction, Effect.ensuring(invalidate(tenantId)))
        // rebuild the tenant's statistics and vectors now rather than on its next call
        yield* loadIndex(tenantId)

        return { documents: entries.length, chunks: chunks.length, embedded, reusedEmbeddings: reused } satisfies IngestResult
      }).pipe(Effect.orDie)

    /** Add documents to a tenant's knowledge (chunked, indexed, embedded once when embeddings are on). */
    const addDocuments = Effect.fn("Knowledge.addDocuments")(function*(
      tenantId: string,
      entries: ReadonlyArray<KnowledgeEntry>
    ) {
      return yield* ingest(tenantId, entries, false)
    })

    /** Replace a tenant's whole knowledge (admin update, demo seed). Unchanged text keeps its vectors. */
    const replaceAll = Effect.fn("Knowledge.replaceAll")(function*(
      tenantId: string,
      entries: ReadonlyArray<KnowledgeEntry>
    ) {
      return yield* ingest(tenantId, entries, true)
    })

    /** Embed the tenant's chunks that have no vector for the current model (after a failed ingestion). */
    const backfillEmbeddings = Effect.fn("Knowledge.backfillEmbeddings")(function*(tenantId: string) {
      if (!embeddings.enabled) return 0
      const rows = yield* sql<{ id: number; title: string; text: string }>`
        SELECT id, title, text FROM knowledge_chunks
        WHERE tenant_id = ${tenantId}
          AND (embedding IS NULL OR embedding_model IS NULL OR embedding_model <> ${embeddings.model})
        ORDER BY id
      `.pipe(Effect.orDie)
      if (rows.length === 0) return 0
      const vectors = yield* embeddings.embed(rows.map((row) => embeddingInput(row.title, row.text)))
      yield* Effect.forEach(rows, (row, i) =>
        sql`
          UPDATE knowledge_chunks SET embedding = ${vectorToBlob(vectors[i]!)}, embedding_model = ${embeddings.model}
          WHERE id = ${row.id} AND tenant_id = ${tenantId}
        `, { discard: true }).pipe(sql.withTransaction, Effect.orDie, Effect.ensuring(invalidate(tenantId)))
      return rows.length
    })

    /** Drop a tenant's knowledge (the rows also go when the tenant row is deleted). */
    const removeAll = Effect.fn("Knowledge.removeAll")(function*(tenantId: string) {
      yield* Effect.gen(function*() {
        yield* sql`DELETE FROM knowledge_chunks WHERE tenant_id = ${tenantId}`
        yield* sql`DELETE FROM knowledge_documents WHERE tenant_id = ${tenantId}`
      }).pipe(sql.withTransaction, Effect.orDie, Effect.ensuring(invalidate(tenantId)))
    })

    const queryVector = (query: string) =>
      embeddings.embedQuery(query).pipe(
        // in place: scaling is idempotent, so the cached vector may be normalised once and reused
        Effect.map((vector) => {
          normalizeInPlace(vector)
          return vector as Float32Array | undefined
        }),
        Effect.catchTag("EmbeddingError", (error) =>
          Effect.logWarning("knowledge: query embedding failed; full-text search only").pipe(
            Effect.annotateLogs({ reason: error.reason, status: error.status ?? null }),
            Effect.as(undefined)
          ))
      )

    /**
     * Search one tenant's knowledge. Never fails on what the caller said: an empty question, one made of
     * stop words, or one full of FTS5 operators gives `found: false` or passages, never an error.
     */
    const search = Effect.fn("Knowledge.search")(function*(tenantId: string, query: string, limit: number = 4) {
      const take = Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit) || 1))
      const terms = queryTerms(query)
      const match = ftsQuery(terms)
      if (match === undefined) return notFound("none")

      const index = yield* loadIndex(tenantId).pipe(Effect.orDie)
      if (index.chunkCount === 0) return notFound("none")
      const useVectors = embeddings.enabled && index.vectors !== undefined

      const weights = terms.map((term) => termWeight(index, term))
      const lexical = sql.onDialectOrElse({
        // The same folded terms as a tsquery (`'tarif':* | 'coupe'`). ts_rank knows no IDF, so like bm25 each
        // term's rank is weighted by its IDF on the tenant's chunks (a word in every chunk counts for little).
        pg: () =>
          sql<LexicalRow>`
            SELECT id, title, text, ${
            sql.join(" + ", false)(terms.map((term, i) =>
              sql`${weights[i]!}::float8 * ts_rank(${sql.literal(TS_WEIGHTS)}, search, to_tsquery('simple', ${
                tsQuery([term])
              }), 1)`
            ))
          } AS score
            FROM knowledge_chunks
            WHERE tenant_id = ${tenantId} AND search @@ to_tsquery('simple', ${tsQuery(terms)})
            ORDER BY score DESC, id LIMIT ${CANDIDATES}
          `,
        orElse: () =>
          sql<LexicalRow>`
            SELECT c.id AS id, c.title AS title, c.text AS text, r.score AS score
            FROM (
              SELECT rowid AS id, ${sql.literal(BM25)} AS score FROM knowledge_fts
              WHERE knowledge_fts MATCH ${`tenant : "${tenantToken(tenantId)}" AND {title body} : (${match})`}
              ORDER BY score LIMIT ${CANDIDATES}
            ) AS r
            JOIN knowledge_chunks c ON c.id = r.id
            WHERE c.tenant_id = ${tenantId}
            ORDER BY r.score
          `
      }).pipe(Effect.orDie)

      const [lexicalRows, vector] = yield* Effect.all(
        [lexical, useVectors ? queryVector(query) : Effect.succeed(undefined)],
        { concurrency: useVectors ? 2 : 1 }
      )

      interface Candidate {
        id: number
        title?: string
        text?: string
        fused: number
        /** lexical relevance, computed lazily (tokenising a passage is the costly part) */
        coverage: number | undefined
        similarity: number
      }
      const candidates = new Map<number, Candidate>()
      lexicalRows.forEach((row, rank) => {
        candidates.set(row.id, {
          id: row.id,
          title: row.title,
          text: row.text,
          fused: 1 / (RRF_K + rank + 1),
          coverage: undefined,
          similarity: -1
        })
      })

      const vectors = index.vectors
      if (vector !== undefined && vectors !== undefined) {
        topBySimilarity(vectors, vector, CANDIDATES).forEach(({ id, similarity }, rank) => {
          const existing = candidates.get(id)
          if (existing !== undefined) {
            existing.fused += 1 / (RRF_K + rank + 1)
            existing.similarity = similarity
          } else {
            candidates.set(id, { id, fused: 1 / (RRF_K + rank + 1), coverage: undefined, similarity })
          }
        })
        // lexical candidates outside the vector top list still get their similarity for the threshold
        for (const candidate of candidates.values()) {
          if (candidate.similarity !== -1) continue
          const row = vectors.rowOf.get(candidate.id)
          if (row !== undefined) candidate.similarity = vectors.table.score(row, vector)
        }
      }

      // best fused rank first; keep the first `take` relevant enough (lexically or semantically)
      const relevant: Array<Candidate> = []
      for (const c of [...candidates.values()].sort((a, b) => b.fused - a.fused)) {
        if (c.similarity < MIN_SIMILARITY) {
          if (c.text === undefined) continue
          c.coverage ??= coverage(terms, weights, c.title!, c.text)
          if (c.coverage < MIN_LEXICAL_COVERAGE) continue
        }
        relevant.push(c)
        if (relevant.length === take) break
      }
      const strategy = vector !== undefined ? "hybrid" : "lexical"
      if (relevant.length === 0) return notFound(strategy)

      // passages found by embeddings alone: read their text (still scoped to the tenant)
      const missing = relevant.filter((c) => c.text === undefined).map((c) => c.id)
      if (missing.length > 0) {
        const rows = yield* sql<{ id: number; title: string; text: string }>`
          SELECT id, title, text FROM knowledge_chunks WHERE tenant_id = ${tenantId} AND ${sql.in("id", missing)}
        `.pipe(Effect.orDie)
        for (const row of rows) {
          const candidate = candidates.get(row.id)!
          candidate.title = row.title
          candidate.text = row.text
        }
      }

      const passages = relevant
        .filter((c) => c.text !== undefined)
        .map((c) => ({ title: c.title!, text: c.text!, score: Math.round(c.fused * 1e5) / 1e5 }))
      if (passages.length === 0) return notFound(strategy)
      return found(passages, strategy)
    })

    /** Load a tenant's statistics and vectors ahead of its first call (e.g. at boot or after ingestion). */
    const warm = Effect.fn("Knowledge.warm")(function*(tenantId: string) {
      yield* loadIndex(tenantId).pipe(Effect.orDie, Effect.asVoid)
    })

    return { addDocuments, replaceAll, backfillEmbeddings, removeAll, search, warm } as const
  }),
  dependencies: [Embeddings.Default]
}) {}
