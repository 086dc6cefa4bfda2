import { SqlClient } from "@effect/sql"
import { afterAll, beforeEach, describe, expect, test } from "../support/test.ts"
import { ConfigProvider, Effect, Layer, List, Logger, Redacted, Schedule } from "effect"
import { Embeddings, type EmbeddingsOptions } from "../../src/knowledge/Embeddings.ts"
import { Knowledge } from "../../src/knowledge/Knowledge.ts"
import { testDatabase } from "../support/db.ts"
import { runWith } from "../support/effect.ts"
import { insertTenant } from "../support/rows.ts"
import type { KnowledgeEntry } from "../../src/tenants/TenantConfig.ts"
import { FAKE_DIMENSIONS, startFakeOpenAI } from "../support/fakeOpenAI.ts"

// (fixtures repeated from knowledge.test.ts: importing a test file would register its tests again)
const addTenant = (id: string) => insertTenant(id, { at: "2026-11-25T09:00:00.000Z" })

const SALON: ReadonlyArray<KnowledgeEntry> = [
  { title: "Horaires d'ouverture", content: "Le salon est ouvert du mardi au vendredi de 9 h à 19 h, et le samedi de 9 h à 17 h." },
  { title: "Prise de rendez-vous", content: "Les rendez-vous se prennent par téléphone ou en ligne. Annulation 24 heures à l'avance." },
  { title: "Adresse et accès", content: "Le salon se trouve au 12 rue des Écoles, 75005 Paris. Un parking public se trouve place Maubert." },
  { title: "Tarifs", content: "Coupe femme : 45 €. Coupe homme : 25 €. Brushing : 30 €. Coloration : à partir de 60 €." },
  { title: "Paiement", content: "Nous acceptons la carte bancaire, les espèces et les chèques vacances." }
]

const fake = startFakeOpenAI({ apiKey: "sk-test-fake" })
afterAll(() => fake.stop())
beforeEach(() => fake.reset())

/** The real `openai` SDK against the loopback fake; retries without waiting so tests stay quick. */
const embeddingsLayer = (options: Partial<EmbeddingsOptions> = {}) =>
  Embeddings.layerWith({
    apiKey: Redacted.make("sk-test-fake"),
    baseURL: fake.url,
    retrySchedule: Schedule.recurs(3),
    queryRetrySchedule: Schedule.recurs(1),
    ...options
  })

const knowledgeLayer = (embeddings: Layer.Layer<Embeddings>) =>
  Knowledge.DefaultWithoutDependencies.pipe(Layer.provide(embeddings), Layer.provideMerge(testDatabase()))

/** Runs the effect and returns its value with the log lines it wrote. */
const run = async <A, E>(
  effect: Effect.Effect<A, E, Knowledge | SqlClient.SqlClient>,
  layer: Layer.Layer<Knowledge | SqlClient.SqlClient, unknown> = knowledgeLayer(embeddingsLayer())
): Promise<{ value: A; logs: Array<{ level: string; message: string; annotations: Record<string, unknown> }> }> => {
  const logs: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
  const capture = Logger.make(({ annotations, logLevel, message }) => {
    const text = List.isList(message) ? List.toArray(message).join(" ") : Array.isArray(message) ? message.join(" ") : String(message)
    const record: Record<string, unknown> = {}
    for (const [k, v] of annotations) record[k] = v
    logs.push({ level: logLevel.label, message: text, annotations: record })
  })
  return { value: await runWith(effect, layer, { logger: capture }), logs }
}

const manyEntries = (count: number): Array<KnowledgeEntry> =>
  Array.from({ length: count }, (_, i) => ({
    title: `Fiche ${i}`,
    content: `Information numéro ${i} : la prestation ${i} dure ${10 + i} minutes.`
  }))

describe("embeddings through the real openai SDK and the fake server", () => {
  test("ingestion embeds every chunk once, in batches, and stores float32 blobs", async () => {
    const { value } = await run(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* addTenant("t")
        const counts = yield* (yield* Knowledge).addDocuments("t", manyEntries(10))
        const rows = yield* sql<{ bytes: number; model: string }>`
          SELECT length(embedding) AS bytes, embedding_model AS model FROM knowledge_chunks WHERE tenant_id = 't'`
        return { counts, rows }
      }),
      knowledgeLayer(embeddingsLayer({ batchSize: 4 }))
    )
    expect(value.counts).toEqual({ documents: 10, chunks: 10, embedded: 10, reusedEmbeddings: 0 })
    expect(fake.requests).toBe(Math.ceil(10 / 4))
    expect(fake.inputs).toBe(10)
    expect(fake.log.map((r) => r.input.length)).toEqual([4, 4, 2])
    expect(fake.log.every((r) => r.model === "text-embedding-3-small")).toBe(true)
    // the SDK asks for base64 by default; we ask for it explicitly and decode it ourselves
    expect(fake.log.every((r) => r.encodingFormat === "base64")).toBe(true)
    expect(fake.log.every((r) => r.authorization === "Bearer sk-test-fake")).toBe(true)
    expect(value.rows).toHaveLength(10)
    for (const row of value.rows) expect(row).toEqual({ bytes: FAKE_DIMENSIONS * 4, model: "text-embedding-3-small" })
  })

  test("the default layer reads OPENAI_API_KEY / OPENAI_BASE_URL through Config and batches by 96", async () => {
    const config = Layer.setConfigProvider(
      ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-test-fake"], ["OPENAI_BASE_URL", fake.url]]))
    )
    const layer = Knowledge.Default.pipe(Layer.provideMerge(testDatabase()), Layer.provide(config))
    const { value } = await run(
      Effect.gen(function*() {
        yield* addTenant("t")
        const k = yield* Knowledge
        const counts = yield* k.addDocuments("t", manyEntries(100))
        return { counts, hit: yield* k.search("t", "Combien de minutes dure la prestation 42 ?") }
      }),
      layer
    )
    expect(value.counts.embedded).toBe(100)
    expect(fake.log.filter((r) => r.input.length > 1).map((r) => r.input.length)).toEqual([96, 4])
    expect(value.hit.strategy).toBe("hybrid")
    expect(value.hit.passages[0]!.title).toBe("Fiche 42")
  })

  test("no key: embeddings are disabled and search is full-text", async () => {
    const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OPENAI_BASE_URL", fake.url]])))
    const layer = Knowledge.Default.pipe(Layer.provideMerge(testDatabase()), Layer.provide(config))
    const { value } = await run(
      Effect.gen(function*() {
        yield* addTenant("t")
        const k = yield* Knowledge
        const counts = yield* k.addDocuments("t", SALON)
        return { counts, hit: yield* k.search("t", "Quels sont vos tarifs ?") }
      }),
      layer
    )
    expect(value.counts.embedded).toBe(0)
    expect(value.hit).toMatchObject({ found: true, strategy: "lexical" })
    expect(fake.requests).toBe(0)
  })

  test("hybrid search ranks the right passage, and a repeated question is embedded once", async () => {
    const { value } = await run(Effect.gen(function*() {
      yield* addTenant("salon")
      const k = yield* Knowledge
      yield* k.addDocuments("salon", SALON)
      const afterIngest = fake.requests
      const first = yield* k.search("salon", "Quels sont vos tarifs pour une coupe femme ?")
      const second = yield* k.search("salon", "Quels sont vos tarifs pour une coupe femme ?")
      const third = yield* k.search("salon", "  Quels sont vos tarifs   pour une coupe femme ?")
      return { afterIngest, first, second, third, queries: fake.requests - afterIngest }
    }))
    expect(value.afterIngest).toBe(1)
    expect(value.first).toMatchObject({ found: true, strategy: "hybrid" })
    expect(value.first.passages[0]!.title).toBe("Tarifs")
    expect(value.second).toEqual(value.first)
    expect(value.third).toEqual(value.first)
    expect(value.queries).toBe(1)
  })

  test("hybrid search still says found: false when nothing is relevant, and stays tenant-scoped", async () => {
    const { value } = await run(Effect.gen(function*() {
      yield* addTenant("salon")
      yield* addTenant("other")
      const k = yield* Knowledge
      yield* k.addDocuments("salon", SALON)
      yield* k.addDocuments("other", [{ title: "Coffre", content: "Le code du coffre est 4471 mandarine." }])
      return {
        unrelated: yield* k.search("salon", "Vous vendez des pneus neige ?"),
        foreign: yield* k.search("salon", "code du coffre 4471 mandarine"),
        own: yield* k.search("other", "code du coffre mandarine")
      }
    }))
    expect(value.unrelated).toMatchObject({ found: false, strategy: "hybrid", passages: [] })
    expect(value.foreign.found).toBe(false)
    expect(JSON.stringify(value.foreign)).not.toContain("mandarine")
    expect(value.own).toMatchObject({ found: true, strategy: "hybrid" })
  })

  test("a passage found by embeddings alone is returned", async () => {
    // Lexically, the question shares one word of three with the passage (below the coverage threshold);
    // the fake's vectors (bags of stems) put them at cosine ≈ 0.58, above the similarity threshold.
    const docs: Array<KnowledgeEntry> = [
      { title: "Barbe", content: "Barbe." },
      { title: "Horaires", content: "Ouvert du mardi au samedi." }
    ]
    const question = "barbe moustache favoris"
    const search = Effect.gen(function*() {
      yield* addTenant("t")
      const k = yield* Knowledge
      yield* k.addDocuments("t", docs)
      return yield* k.search("t", question)
    })
    const hybrid = await run(search)
    const lexicalOnly = await run(search, knowledgeLayer(Embeddings.Disabled))
    expect(lexicalOnly.value).toMatchObject({ found: false, strategy: "lexical" })
    expect(hybrid.value).toMatchObject({ found: true, strategy: "hybrid" })
    expect(hybrid.value.passages.map((p) => p.title)).toEqual(["Barbe"])
  })

  test("replaceAll with unchanged text reuses stored vectors instead of asking again", async () => {
    const { value } = await run(Effect.gen(function*() {
      yield* addTenant("t")
      const k = yield* Knowledge
      yield* k.addDocuments("t", SALON)
      const before = fake.inputs
      const counts = yield* k.replaceAll("t", [...SALON, { title: "Nouveau", content: "Barbe taillée : 15 €." }])
      return { counts, newInputs: fake.inputs - before }
    }))
    expect(value.counts).toEqual({ documents: SALON.length + 1, chunks: SALON.length + 1, embedded: 1, reusedEmbeddings: SALON.length })
    expect(value.newInputs).toBe(1)
  })

  test("transient 429/500 at ingestion are retried with the default policy", async () => {
    fake.failNext(1, 429)
    fake.failNext(1, 500)
    const { value } = await run(
      Effect.gen(function*() {
        yield* addTenant("t")
        return yield* (yield* Knowledge).addDocuments("t", SALON)
      }),
      knowledgeLayer(embeddingsLayer({ retrySchedule: undefined }))
    )
    expect(value.embedded).toBe(SALON.length)
    expect(fake.requests).toBe(3)
  })

  test("ingestion still indexes text when embeddings keep failing; backfill embeds later", async () => {
    fake.failNext(4, 500)
    const { logs, value } = await run(Effect.gen(function*() {
      yield* addTenant("t")
      const k = yield* Knowledge
      const counts = yield* k.addDocuments("t", SALON)
      const lexical = yield* k.search("t", "Quels sont vos tarifs ?")
      const backfilled = yield* k.backfillEmbeddings("t")
      const hybrid = yield* k.search("t", "Quels sont vos tarifs ?")
      return { counts, lexical, backfilled, hybrid }
    }))
    expect(value.counts.embedded).toBe(0)
    expect(value.lexical).toMatchObject({ found: true, strategy: "lexical" })
    expect(value.backfilled).toBe(SALON.length)
    expect(value.hybrid).toMatchObject({ found: true, strategy: "hybrid" })
    expect(logs.some((l) => l.level === "WARN" && l.message.includes("embedding at ingestion failed"))).toBe(true)
  })

  test("when the query embedding fails, search falls back to full-text with a warning", async () => {
    const { logs, value } = await run(Effect.gen(function*() {
      yield* addTenant("t")
      const k = yield* Knowledge
      yield* k.addDocuments("t", SALON)
      fake.failNext(2, 500)
      const result = yield* k.search("t", "Comment on prend rendez-vous ?")
      return result
    }))
    expect(value).toMatchObject({ found: true, strategy: "lexical" })
    expect(value.passages[0]!.title).toBe("Prise de rendez-vous")
    const warning = logs.find((l) => l.level === "WARN" && l.message.includes("query embedding failed"))
    expect(warning?.annotations.reason).toBe("ServerError")
  })

  test("a slow embeddings server does not hold the search past the query timeout", async () => {
    const { value } = await run(
      Effect.gen(function*() {
        yield* addTenant("t")
        const k = yield* Knowledge
        yield* k.addDocuments("t", SALON)
        fake.setDelay(2_000)
        const started = performance.now()
        const result = yield* k.search("t", "Où se trouve le parking ?")
        return { result, ms: performance.now() - started }
      }),
      knowledgeLayer(embeddingsLayer({ queryTimeout: "150 millis" }))
    )
    expect(value.result).toMatchObject({ found: true, strategy: "lexical" })
    expect(value.ms).toBeLessThan(1_000)
  })
})
