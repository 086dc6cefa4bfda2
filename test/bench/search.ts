/**
 * Knowledge search latency: `bun test/bench/search.ts`
 *
 * 50 tenants on one SQLite file; tenant 0 has ~5,000 chunks of generated French text, the others a few
 * dozen. Measures search latency (p50/p99) full-text only, then with embeddings (real `openai` SDK against
 * the loopback fake, vectors of 1536 dimensions; query embeddings served from the cache after a warm-up).
 * Prints numbers only; targets are p99 < 5 ms full-text and < 10 ms with a cached query embedding.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Embeddings } from "../../src/knowledge/Embeddings.ts"
import { Knowledge } from "../../src/knowledge/Knowledge.ts"
import { chunkDocument } from "../../src/knowledge/text.ts"
import { VectorTable } from "../../src/knowledge/vectors.ts"
import { databaseLayer } from "../../src/storage/Database.ts"
import type { KnowledgeEntry } from "../../src/tenants/TenantConfig.ts"
import { startFakeOpenAI } from "../support/fakeOpenAI.ts"

const TENANTS = 50
const BIG_TENANT_CHUNKS = 5_000
const SMALL_TENANT_DOCS = 12
const RUNS = 2_000

// ---------------------------------------------------------------------------------------------------------
// Believable French knowledge, deterministic
// ---------------------------------------------------------------------------------------------------------

let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const SUBJECTS = [
  "Le salon", "Notre équipe", "Le garage", "Le cabinet", "La boutique", "Notre atelier", "L'accueil",
  "Le responsable", "Chaque technicien", "La pharmacie", "Le secrétariat", "Notre boulangerie"
]
const VERBS = [
  "propose", "assure", "recommande", "organise", "prend en charge", "garantit", "vérifie", "prépare",
  "met à disposition", "conseille", "facture", "réserve"
]
const OBJECTS = [
  "une coupe femme avec shampooing et brushing", "la vidange et le contrôle des freins", "les consultations sans rendez-vous",
  "un devis gratuit pour le changement des pneus", "la livraison à domicile dans un rayon de dix kilomètres",
  "les soins capillaires aux œufs et au miel", "le remplacement du pare-brise", "les vaccins de la grippe saisonnière",
  "la coloration végétale sans ammoniaque", "un parking gratuit derrière le bâtiment", "les gâteaux d'anniversaire sur commande",
  "le contrôle technique des véhicules de moins de quatre ans", "la carte de fidélité avec une remise de dix pour cent",
  "les séances de kinésithérapie du sport", "le diagnostic électronique complet", "les cartes cadeaux", "les chèques vacances",
  "la garde d'enfants pendant le rendez-vous", "l'accès pour les personnes à mobilité réduite", "le lavage intérieur et extérieur"
]
const DETAILS = [
  "du mardi au samedi", "uniquement sur rendez-vous", "à partir de 25 euros", "en moins d'une heure", "pendant les vacances scolaires",
  "sauf les jours fériés", "avec un acompte de trente pour cent", "après confirmation par téléphone", "le samedi matin",
  "dès huit heures trente", "pour les clients fidèles", "sous quarante-huit heures", "avec une garantie de deux ans",
  "en espèces ou par carte bancaire", "à l'adresse du 12 rue des Écoles", "près de la gare Saint-Lazare"
]
const TOPICS = [
  "Horaires d'ouverture", "Tarifs", "Prise de rendez-vous", "Annulation", "Accès et parking", "Paiement", "Prestations",
  "Produits", "Garantie", "Fidélité", "Livraison", "Urgences", "Équipe", "Hygiène et sécurité", "Cadeaux", "Accessibilité"
]

const sentence = () => {
  const s = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)} ${pick(DETAILS)}`
  return `${s}${random() < 0.3 ? `, ${pick(DETAILS)}` : ""}.`
}
const paragraph = () => Array.from({ length: 3 + Math.floor(random() * 4) }, sentence).join(" ")
const document = (i: number): KnowledgeEntry => {
  const topic = pick(TOPICS)
  const sections = Array.from(
    { length: 2 + Math.floor(random() * 3) },
    (_, s) => `## ${topic} — point ${s + 1}\n\n${paragraph()}\n\n${paragraph()}`
  )
  return { title: `${topic} (fiche ${i})`, content: sections.join("\n\n") }
}

const bigTenantDocs = (): Array<KnowledgeEntry> => {
  const docs: Array<KnowledgeEntry> = []
  let chunks = 0
  while (chunks < BIG_TENANT_CHUNKS) {
    const doc = document(docs.length)
    const n = chunkDocument(doc.title, doc.content).length
    if (chunks + n > BIG_TENANT_CHUNKS) continue
    docs.push(doc)
    chunks += n
  }
  return docs
}

const QUESTIONS = [
  "Quels sont vos horaires d'ouverture le samedi ?", "Combien coûte une coupe femme ?", "Est-ce qu'il y a un parking ?",
  "Vous faites la vidange ?", "Je peux payer par carte bancaire ?", "Vous acceptez les chèques vacances ?",
  "Comment annuler mon rendez-vous ?", "Vous livrez à domicile ?", "C'est quoi l’adresse ?", "Avez-vous des soins aux oeufs ?",
  "Le contrôle technique c'est combien ?", "Vous faites les vaccins de la grippe ?", "Est-ce accessible en fauteuil roulant ?",
  "Il faut un acompte ?", "Vous êtes ouverts pendant les vacances scolaires ?", "Vous vendez des cartes cadeaux ?",
  "Le diagnostic électronique prend combien de temps ?", "Vous changez les pare-brise ?", "Vous acceptez les chiens ?",
  "Vous réparez les vélos électriques ?"
]

// ---------------------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------------------

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const fmt = (ms: number) => `${ms.toFixed(3)} ms`

const measure = async (
  label: string,
  runtime: ManagedRuntime.ManagedRuntime<Knowledge, unknown>,
  tenantOf: (i: number) => string
) => {
  const search = (i: number) =>
    runtime.runPromise(Effect.flatMap(Knowledge, (k) => k.search(tenantOf(i), QUESTIONS[i % QUESTIONS.length]!)))
  // warm-up: JIT, statement cache, per-tenant index, query-embedding cache; then collect the garbage
  // left by ingestion so the numbers are the steady state of a running server
  for (let i = 0; i < QUESTIONS.length * 3; i++) await search(i)
  Bun.gc(true)
  const times: Array<number> = []
  let found = 0
  let strategy = ""
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    const result = await search(i)
    times.push(performance.now() - started)
    if (result.found) found++
    strategy = result.strategy
  }
  times.sort((a, b) => a - b)
  console.log(
    `${label.padEnd(46)} p50 ${fmt(percentile(times, 50))}  p99 ${fmt(percentile(times, 99))}  max ${fmt(times.at(-1)!)}` +
      `  (${RUNS} searches, ${Math.round((100 * found) / RUNS)}% found, ${strategy})`
  )
}

const scenario = async (name: string, embeddings: Layer.Layer<Embeddings>) => {
  const dir = mkdtempSync(join(tmpdir(), "coccinelle-bench-"))
  const layer = Knowledge.DefaultWithoutDependencies.pipe(
    Layer.provide(embeddings),
    Layer.provideMerge(databaseLayer(process.env.DATABASE_URL || join(dir, "bench.db"))),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )
  const runtime = ManagedRuntime.make(layer)
  try {
    const big = bigTenantDocs()
    const ingestStarted = performance.now()
    let chunks = 0
    await runtime.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const k = yield* Knowledge
      const now = new Date().toISOString()
      for (let t = 0; t < TENANTS; t++) {
        const id = `tenant-${t}`
        // A DATABASE_URL outlives a scenario (each one gets a fresh SQLite file): the second finds the tenants.
        yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
                   VALUES (${id}, ${id}, '{}', ${now}, ${now}) ON CONFLICT (id) DO NOTHING`
        const docs = t === 0 ? big : Array.from({ length: SMALL_TENANT_DOCS }, (_, i) => document(i))
        chunks += (yield* k.replaceAll(id, docs)).chunks
      }
    }))
    console.log(
      `\n[${name}] ${TENANTS} tenants, ${chunks} chunks (tenant-0: ${BIG_TENANT_CHUNKS}); ingestion ${
        (performance.now() - ingestStarted).toFixed(0)
      } ms`
    )
    const coldStarted = performance.now()
    await runtime.runPromise(Effect.flatMap(Knowledge, (k) => k.search("tenant-0", QUESTIONS[0]!)))
    console.log(`first search on tenant-0 (its index was rebuilt at ingestion): ${fmt(performance.now() - coldStarted)}`)
    await measure("tenant-0 (5,000 chunks)", runtime, () => "tenant-0")
    await measure("small tenants (round robin over 49)", runtime, (i) => `tenant-${1 + (i % (TENANTS - 1))}`)
  } finally {
    await runtime.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

const fake = startFakeOpenAI({ apiKey: "sk-bench" })
console.log(`Bun ${Bun.version}; vector scoring with WebAssembly SIMD: ${VectorTable.make(1, 1536).simd}`)
try {
  await scenario("full-text only", Embeddings.Disabled)
  await scenario(
    "full-text + embeddings (cached query vectors)",
    Embeddings.layerWith({ apiKey: Redacted.make("sk-bench"), baseURL: fake.url })
  )
  console.log(`\nembeddings requests to the fake: ${fake.requests} (${fake.inputs} inputs)`)
} finally {
  await fake.stop()
}
