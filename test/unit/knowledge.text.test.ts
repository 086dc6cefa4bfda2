import { describe, expect, test } from "../support/test.ts"
import {
  chunkDocument,
  fold,
  ftsQuery,
  indexText,
  queryTerms,
  tenantToken,
  tokens
} from "../../src/knowledge/text.ts"

const SAFE_FTS = /^"[\p{L}\p{N}]+"\*?( OR "[\p{L}\p{N}]+"\*?)*$/u
const words = (query: string) => queryTerms(query).map((t) => t.word)

describe("French folding", () => {
  test("lower case, accents stripped, ligatures folded", () => {
    expect(fold("Écoles À Noël")).toBe("ecoles a noel")
    expect(fold("Œufs, cœur, Æther")).toBe("oeufs, coeur, aether")
    expect(indexText("Soins aux œufs — 12 €")).toBe("soins aux oeufs 12")
  })

  test("anything that is not a letter or a digit separates words", () => {
    expect(tokens("rendez-vous, Rendez vous, RDV")).toEqual(["rendezvous", "rendezvous", "rendezvous"])
    expect(tokens("prenez-vous")).toEqual(["prenez", "vous"])
    expect(tokens("d'ouverture")).toEqual(["d", "ouverture"])
    expect(tokens("l’adresse")).toEqual(["l", "adresse"])
    expect(tokens(`"coupe":tarif*(NEAR)`)).toEqual(["coupe", "tarif", "near"])
  })
})

describe("query terms", () => {
  test("stop words, elisions and question words are dropped", () => {
    expect(words("Quels sont vos horaires d'ouverture ?")).toEqual(["horaires", "ouverture"])
    expect(words("Quelle est l’adresse du salon ?")).toEqual(["adresse", "salon"])
    expect(words("Comment je peux prendre un rendez-vous ?")).toEqual(["rendezvous"])
    expect(words("Vous êtes ouverts aujourd'hui ?")).toEqual(["ouverts"])
    expect(words("Bonjour, est-ce que vous êtes là ?")).toEqual([])
  })

  test("œufs and oeufs, écoles and ecoles give the same terms", () => {
    expect(queryTerms("œufs")).toEqual(queryTerms("oeufs"))
    expect(queryTerms("écoles")).toEqual(queryTerms("ecoles"))
    expect(ftsQuery(queryTerms("œufs"))).toBe(`"oeuf"*`)
  })

  test("plurals and long -er/-ez words become prefixes; short words and numbers stay exact", () => {
    expect(ftsQuery(queryTerms("tarifs coupe 45 bus"))).toBe(`"tarif"* OR "coupe"* OR "45" OR "bus"`)
    expect(ftsQuery(queryTerms("vous acceptez"))).toBe(`"accept"*`)
  })

  test("an empty or meaningless question gives no search", () => {
    expect(ftsQuery(queryTerms(""))).toBeUndefined()
    expect(ftsQuery(queryTerms("   ?! … « » ' ’ - *"))).toBeUndefined()
    expect(ftsQuery(queryTerms("le la les de du des et à"))).toBeUndefined()
  })

  test("FTS5 syntax typed or spoken by the caller always comes out as quoted words", () => {
    const hostile = [
      `"NEAR(coupe tarif, 3)" AND OR NOT *`,
      `title: coupe -femme ^homme`,
      `{title body}: "`,
      `coupe" OR "1"="1`,
      `rendez-vous d'ouverture l’adresse œufs`,
      `) ( ** :: '' "" -- ;`,
      `AND`,
      `NEAR`
    ]
    for (const query of hostile) {
      const match = ftsQuery(queryTerms(query))
      if (match !== undefined) expect(match).toMatch(SAFE_FTS)
    }
  })

  test("a question is capped at a few terms", () => {
    const long = Array.from({ length: 50 }, (_, i) => `mot${i}`).join(" ")
    expect(queryTerms(long).length).toBeLessThanOrEqual(12)
  })

  test("tenant tokens are single exact tokens whatever the id", () => {
    expect(tenantToken("acme")).toBe("t61636d65")
    expect(tokens(tenantToken("salon-lumière/été 2026"))).toHaveLength(1)
    expect(tenantToken("a")).not.toBe(tenantToken("a1"))
  })
})

describe("chunking", () => {
  const sentence = (i: number) =>
    `Le salon propose la prestation numéro ${i}, réalisée par une coiffeuse diplômée avec des produits naturels.`
  const paragraph = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => sentence(from + i)).join(" ")

  test("a short entry is one chunk carrying its title", () => {
    const chunks = chunkDocument("Parking", "Un parking gratuit se trouve derrière le salon.")
    expect(chunks).toEqual([{ ordinal: 0, title: "Parking", text: "Un parking gratuit se trouve derrière le salon." }])
  })

  test("long markdown: sizes bounded, headings kept with their paragraph, title on every chunk, nothing lost", () => {
    const content = [
      "# Nos prestations",
      paragraph(0, 9),
      "## Tarifs",
      "Coupe femme : 45 €. Coupe homme : 25 €. Brushing : 30 €.",
      paragraph(100, 14),
      "## Produits",
      paragraph(200, 3)
    ].join("\n\n")
    const chunks = chunkDocument("Prestations", content)
    expect(chunks.length).toBeGreaterThan(3)
    chunks.forEach((chunk, i) => {
      expect(chunk.ordinal).toBe(i)
      expect(chunk.title).toBe("Prestations")
      expect(chunk.text.length).toBeLessThanOrEqual(1000)
      // a heading never ends a chunk: it always has its paragraph after it
      expect(chunk.text.split("\n").at(-1)!).not.toMatch(/^#/)
    })
    // most chunks are in the 500–800 range (only the last of a section may be shorter)
    expect(chunks.filter((c) => c.text.length >= 450 && c.text.length <= 800).length).toBeGreaterThanOrEqual(
      chunks.length - 3
    )
    // "## Tarifs" and its first line are in one chunk
    expect(chunks.some((c) => c.text.includes("## Tarifs\nCoupe femme : 45 €."))).toBe(true)
    // every sentence survives
    for (const i of [0, 8, 100, 113, 200, 202]) {
      expect(chunks.some((c) => c.text.includes(sentence(i)))).toBe(true)
    }
  })

  test("a section continued in a new chunk repeats its heading and overlaps a little", () => {
    const content = `## Tarifs\n\n${paragraph(0, 20)}`
    const chunks = chunkDocument("Tarifs", content)
    expect(chunks.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]!.text.startsWith("## Tarifs\n")).toBe(true)
      const previous = chunks[i - 1]!.text
      const lastSentence = previous.slice(previous.lastIndexOf("Le salon propose"))
      expect(chunks[i]!.text).toContain(lastSentence)
    }
  })

  test("plain text without blank lines and an overlong sentence are still cut", () => {
    const wall = Array.from({ length: 400 }, (_, i) => `mot${i}`).join(" ")
    const chunks = chunkDocument("Mur", wall)
    expect(chunks.length).toBeGreaterThan(2)
    for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(1000)
    expect(chunks.map((c) => c.text).join(" ")).toContain("mot399")
  })

  test("Windows line endings and lists", () => {
    const chunks = chunkDocument("Paiement", "Moyens acceptés :\r\n- carte bancaire\r\n- espèces\r\n\r\nPas de chèques.")
    expect(chunks).toHaveLength(1)
    expect(chunks[0]!.text).toBe("Moyens acceptés :\n- carte bancaire\n- espèces\n\nPas de chèques.")
  })
})
