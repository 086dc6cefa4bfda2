import { SqlClient } from "@effect/sql"
import { describe, expect, test } from "../support/test.ts"
import { Effect, Layer } from "effect"
import { Embeddings } from "../../src/knowledge/Embeddings.ts"
import { Knowledge, NOT_FOUND_MESSAGE, searchResultForModel } from "../../src/knowledge/Knowledge.ts"
import { testDatabase } from "../support/db.ts"
import { runWith } from "../support/effect.ts"
import { insertTenant } from "../support/rows.ts"
import type { KnowledgeEntry } from "../../src/tenants/TenantConfig.ts"

/** Knowledge over a fresh in-memory SQLite with the real migrations; full-text only (no API key). */
const lexicalLayer = () =>
  Knowledge.DefaultWithoutDependencies.pipe(
    Layer.provide(Embeddings.Disabled),
    Layer.provideMerge(testDatabase())
  )

/** SQLite keeps full-text rows in knowledge_fts; Postgres in the chunks themselves (a generated tsvector). */
const ftsTable = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({ pg: () => sql`knowledge_chunks`, orElse: () => sql`knowledge_fts` })

const run = <A, E>(effect: Effect.Effect<A, E, Knowledge | SqlClient.SqlClient>): Promise<A> => runWith(effect, lexicalLayer())

const addTenant = (id: string) => insertTenant(id, { at: "2026-11-25T09:00:00.000Z" })

const SALON: ReadonlyArray<KnowledgeEntry> = [
  {
    title: "Horaires d'ouverture",
    content: "Le salon est ouvert du mardi au vendredi de 9 h à 19 h, et le samedi de 9 h à 17 h. " +
      "Fermé le dimanche et le lundi."
  },
  {
    title: "Prise de rendez-vous",
    content: "Les rendez-vous se prennent par téléphone ou en ligne. Merci d'arriver cinq minutes en avance. " +
      "Toute annulation doit se faire 24 heures à l'avance."
  },
  {
    title: "Adresse et accès",
    content: "Le salon se trouve au 12 rue des Écoles, 75005 Paris. Métro Maubert-Mutualité (ligne 10). " +
      "Un parking public se trouve place Maubert."
  },
  { title: "Tarifs", content: "Coupe femme : 45 €. Coupe homme : 25 €. Brushing : 30 €. Coloration : à partir de 60 €." },
  { title: "Paiement", content: "Nous acceptons la carte bancaire, les espèces et les chèques vacances." },
  {
    title: "Soin aux œufs",
    content: "Notre soin capillaire aux œufs et au miel nourrit les cheveux secs du salon. Comptez 20 minutes."
  }
]

const searchTitles = (tenantId: string, query: string, limit?: number) =>
  Effect.flatMap(Knowledge, (k) => k.search(tenantId, query, limit)).pipe(
    Effect.map((r) => ({ ...r, titles: r.passages.map((p) => p.title) }))
  )

const withSalon = <A, E>(body: (k: Knowledge) => Effect.Effect<A, E, SqlClient.SqlClient | Knowledge>) =>
  Effect.gen(function*() {
    yield* addTenant("salon")
    const k = yield* Knowledge
    yield* k.addDocuments("salon", SALON)
    return yield* body(k)
  })

describe("Knowledge.search (full-text)", () => {
  test("French questions find their passage", async () => {
    const results = await run(withSalon(() =>
      Effect.all({
        rdv: searchTitles("salon", "Comment on prend rendez-vous ?"),
        hours: searchTitles("salon", "Quels sont vos horaires d'ouverture ?"),
        address: searchTitles("salon", "C'est quoi l’adresse exacte ?"),
        ecoles: searchTitles("salon", "vous êtes rue des ecoles ?"),
        ecolesAccent: searchTitles("salon", "Rue des écoles"),
        eggs: searchTitles("salon", "Vous faites un soin aux oeufs ?"),
        eggsLigature: searchTitles("salon", "soin aux œufs"),
        price: searchTitles("salon", "Combien coûte une coupe homme ?"),
        card: searchTitles("salon", "Je peux payer par carte ?")
      })
    ))
    expect(results.rdv.titles[0]).toBe("Prise de rendez-vous")
    expect(results.hours.titles[0]).toBe("Horaires d'ouverture")
    expect(results.address.titles[0]).toBe("Adresse et accès")
    expect(results.ecoles.titles[0]).toBe("Adresse et accès")
    expect(results.ecolesAccent.titles[0]).toBe("Adresse et accès")
    expect(results.eggs.titles[0]).toBe("Soin aux œufs")
    expect(results.eggsLigature.titles[0]).toBe("Soin aux œufs")
    expect(results.price.titles[0]).toBe("Tarifs")
    expect(results.card.titles[0]).toBe("Paiement")
    for (const r of Object.values(results)) {
      expect(r.found).toBe(true)
      expect(r.strategy).toBe("lexical")
      expect(r.passages[0]!.score).toBeGreaterThan(0)
    }
  })

  test("œ written plainly in the document is found by a query with œ", async () => {
    const r = await run(Effect.gen(function*() {
      yield* addTenant("epicerie")
      const k = yield* Knowledge
      yield* k.addDocuments("epicerie", [{ title: "Produits frais", content: "Oeufs bio de la ferme, livrés le jeudi." }])
      return yield* k.search("epicerie", "Vous avez des œufs bio ?")
    }))
    expect(r.found).toBe(true)
    expect(r.passages[0]!.title).toBe("Produits frais")
  })

  test("FTS5 operators, quotes and punctuation in the question never throw", async () => {
    const hostile = [
      `"NEAR(coupe tarif, 3)" AND OR NOT *`,
      `title: coupe -femme ^homme`,
      `{title body}: "`,
      `coupe" OR "1"="1`,
      `tarif*`,
      `'`,
      `"`,
      `AND`,
      `NEAR`,
      `coupe NOT homme`,
      `"coupe" AND tarif*`,
      `rendez-vous d'ouverture l’adresse œufs : - * " ( )`,
      `"rendez-vous" : - * ( ) ^ { }`
    ]
    const results = await run(withSalon((k) => Effect.forEach(hostile, (q) => k.search("salon", q))))
    expect(results).toHaveLength(hostile.length)
    expect(results[10]!.passages.map((p) => p.title)).toEqual(["Tarifs"])
    expect(results[12]!.passages[0]!.title).toBe("Prise de rendez-vous")
  })

  test("an empty question or one made of stop words searches nothing", async () => {
    const results = await run(withSalon((k) =>
      Effect.forEach(["", "   ", "?!", "Bonjour, est-ce que vous êtes là ?"], (q) => k.search("salon", q))
    ))
    for (const r of results) {
      expect(r).toEqual({ found: false, passages: [], message: NOT_FOUND_MESSAGE, strategy: "none" })
    }
  })

  test("a question with no good match is found: false with an honest instruction", async () => {
    const results = await run(withSalon((k) =>
      Effect.forEach(
        [
          "Est-ce que vous acceptez les chiens dans le salon ?",
          "Vous vendez des pneus neige ?",
          "Quel temps fera-t-il demain à Lyon ?",
          "Vous faites des massages du dos ?"
        ],
        (q) => k.search("salon", q)
      )
    ))
    for (const r of results) {
      expect(r.found).toBe(false)
      expect(r.passages).toEqual([])
      expect(r.message).toContain("N'inventez pas")
      expect(r.message).toContain("membre de l'équipe")
    }
  })

  test("limit bounds the passages; the tool result keeps titles and text only", async () => {
    const r = await run(withSalon((k) => k.search("salon", "le salon", 2)))
    expect(r.found).toBe(true)
    expect(r.passages.length).toBe(2)
    const forModel = searchResultForModel(r)
    expect(JSON.parse(JSON.stringify(forModel))).toEqual({
      found: true,
      message: r.message,
      passages: r.passages.map((p) => ({ title: p.title, text: p.text }))
    })
  })
})

describe("tenant isolation", () => {
  const secret = { title: "Coffre", content: "Le code secret du coffre est 4471 mandarine, ne le donnez à personne." }

  test("tenant B never receives tenant A's passage, even for an exact phrase of it", async () => {
    const r = await run(Effect.gen(function*() {
      for (const id of ["acme", "acme2", "b"]) yield* addTenant(id)
      const k = yield* Knowledge
      yield* k.addDocuments("acme", [secret])
      yield* k.addDocuments("acme2", [{ title: "Horaires", content: "Ouvert tous les jours de 8 h à 20 h." }])
      yield* k.addDocuments("b", SALON)
      return {
        a: yield* k.search("acme", "code secret du coffre 4471 mandarine"),
        prefixTenant: yield* k.search("acme2", "code secret du coffre 4471 mandarine"),
        b: yield* k.search("b", "Le code secret du coffre est 4471 mandarine"),
        bHostile: yield* k.search("b", `mandarine" OR tenant : "t61636d65`),
        unknown: yield* k.search("nobody", "code secret du coffre 4471 mandarine"),
        acmeSalon: yield* k.search("acme", "horaires d'ouverture du salon")
      }
    }))
    expect(r.a.found).toBe(true)
    expect(r.a.passages[0]!.text).toContain("mandarine")
    for (const other of [r.prefixTenant, r.b, r.bHostile, r.unknown]) {
      expect(other.found).toBe(false)
      expect(JSON.stringify(other)).not.toContain("mandarine")
    }
    expect(r.acmeSalon.found).toBe(false)
  })

  test("replaceAll swaps a tenant's knowledge and leaves other tenants alone", async () => {
    const r = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* addTenant("a")
      yield* addTenant("b")
      const k = yield* Knowledge
      yield* k.addDocuments("a", SALON)
      yield* k.addDocuments("b", SALON)
      const before = yield* k.search("a", "coupe homme")
      const counts = yield* k.replaceAll("a", [secret])
      return {
        before,
        counts,
        oldGone: yield* k.search("a", "coupe homme"),
        newThere: yield* k.search("a", "coffre mandarine"),
        bIntact: yield* k.search("b", "coupe homme"),
        rows: yield* sql<{ docs: number; chunks: number; fts: number }>`
          SELECT (SELECT count(*) FROM knowledge_documents WHERE tenant_id = 'a') AS docs,
                 (SELECT count(*) FROM knowledge_chunks WHERE tenant_id = 'a') AS chunks,
                 (SELECT count(*) FROM ${ftsTable(sql)}) AS fts`
      }
    }))
    expect(r.before.found).toBe(true)
    expect(r.counts).toEqual({ documents: 1, chunks: 1, embedded: 0, reusedEmbeddings: 0 })
    expect(r.oldGone.found).toBe(false)
    expect(r.newThere.found).toBe(true)
    expect(r.bIntact.found).toBe(true)
    expect(r.rows[0]).toEqual({ docs: 1, chunks: 1, fts: 1 + SALON.length })
  })

  test("deleting a tenant removes its chunks and their full-text rows", async () => {
    const r = await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* addTenant("gone")
      yield* addTenant("stays")
      const k = yield* Knowledge
      yield* k.addDocuments("gone", SALON)
      yield* k.addDocuments("stays", [secret])
      yield* sql`DELETE FROM tenants WHERE id = 'gone'`
      return yield* sql<{ chunks: number; fts: number }>`
        SELECT (SELECT count(*) FROM knowledge_chunks) AS chunks, (SELECT count(*) FROM ${ftsTable(sql)}) AS fts`
    }))
    expect(r[0]).toEqual({ chunks: 1, fts: 1 })
  })
})

describe("ingestion", () => {
  test("long documents are chunked and every chunk is searchable", async () => {
    const long = Array.from(
      { length: 30 },
      (_, i) => `Le forfait numéro ${i} comprend un shampooing, une coupe et un brushing pour ${20 + i} euros.`
    ).join(" ")
    const r = await run(Effect.gen(function*() {
      yield* addTenant("t")
      const k = yield* Knowledge
      const counts = yield* k.addDocuments("t", [{ title: "Forfaits", content: `## Forfaits\n\n${long}` }])
      return { counts, hit: yield* k.search("t", "forfait numéro 29") }
    }))
    expect(r.counts.documents).toBe(1)
    expect(r.counts.chunks).toBeGreaterThan(2)
    expect(r.hit.found).toBe(true)
    expect(r.hit.passages[0]!.text).toContain("forfait numéro 29")
    expect(r.hit.passages[0]!.title).toBe("Forfaits")
  })
})
