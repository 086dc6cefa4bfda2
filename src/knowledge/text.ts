/**
 * Pure text helpers for knowledge search: chunking, French folding, and turning a caller's words into a
 * safe FTS5 query. Nothing here touches a database or the network.
 *
 * Folding is applied to BOTH the indexed text and the query: lower case, accents stripped, ligatures
 * folded (FTS5's `remove_diacritics` does not fold `œ`/`æ`), everything that is not a letter or a digit
 * treated as a separator. Query terms are therefore `[\p{L}\p{N}]+` only and are always emitted quoted,
 * so nothing a caller says (`-`, `'`, `"`, `:`, `*`, `NEAR`, `AND`…) can reach FTS5's query syntax.
 */

// ---------------------------------------------------------------------------------------------------------
// Folding and tokens
// ---------------------------------------------------------------------------------------------------------

const LIGATURES: Record<string, string> = { "œ": "oe", "æ": "ae", "ß": "ss" }
const LIGATURE_RE = /[œæß]/g
const COMBINING_MARKS_RE = /\p{M}+/gu
const SEPARATORS_RE = /[^\p{L}\p{N}]+/u

/** "rendez-vous" (any dash or spacing) and "rdv" are one word, so "vous" being a stop word does not matter. */
const RENDEZ_VOUS_RE = /\brendez[\s\p{Pd}]*vous\b|\brdv\b/gu

/**
 * Lower case, ligatures folded (œ→oe, æ→ae), accents stripped, "rendez-vous" made one word. Punctuation
 * is kept (see `tokens`).
 */
export const fold = (text: string): string =>
  text
    .toLowerCase()
    .replace(LIGATURE_RE, (c) => LIGATURES[c] ?? c)
    .normalize("NFKD")
    .replace(COMBINING_MARKS_RE, "")
    .replace(RENDEZ_VOUS_RE, "rendezvous")

/** Folded tokens: runs of letters/digits. `rendez-vous` → rendez, vous; `l’adresse` → l, adresse. */
export const tokens = (text: string): Array<string> => fold(text).split(SEPARATORS_RE).filter((t) => t !== "")

/** The folded text as FTS5 should index it: tokens joined by spaces (same tokens the query side sees). */
export const indexText = (text: string): string => tokens(text).join(" ")

/**
 * French words that carry no meaning for a knowledge lookup (articles, pronouns, auxiliaries, question
 * words, politeness). Stored folded (no accents), since they are compared with folded tokens.
 */
export const FRENCH_STOP_WORDS: ReadonlySet<string> = new Set([
  // articles, prepositions, conjunctions
  "le", "la", "les", "l", "un", "une", "des", "de", "du", "d", "a", "au", "aux", "en", "dans", "par", "pour",
  "sur", "sous", "avec", "sans", "chez", "vers", "entre", "et", "ou", "mais", "donc", "ni", "car",
  "si", "que", "qu", "qui", "quoi", "dont", "y", "ca", "cela", "ceci", "ce", "cet", "cette", "ces", "c",
  // pronouns and possessives
  "je", "j", "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "me", "m", "te", "t", "se", "s", "lui",
  "leur", "leurs", "moi", "toi", "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "notre", "nos",
  "votre", "vos", "n", "ne", "pas", "plus", "tres", "bien", "aussi", "tout", "tous", "toute", "toutes",
  // auxiliaries and light verbs
  "est", "es", "suis", "sont", "etes", "sommes", "etre", "ai", "as", "avez", "avons", "ont", "avoir", "fait",
  "faites", "faire", "peux", "peut", "pouvez", "pouvons", "peuvent", "pourrais", "pourriez", "puis", "veux",
  "veut", "voulez", "voudrais", "voudrions", "souhaite", "souhaiterais", "dois", "doit", "devez", "faut",
  "sais", "savez", "savoir", "aimerais", "serait", "sera", "ete", "etait", "va", "vais", "allez", "prendre",
  "prends", "prend", "prenez", "avoir", "aller",
  // time and manner words that frame a question rather than name its subject
  "aujourd", "hui", "demain", "maintenant", "actuellement", "exactement", "possible", "normalement", "encore",
  "toujours", "deja", "vraiment", "juste", "peu", "beaucoup",
  // question words
  "quel", "quels", "quelle", "quelles", "comment", "combien", "pourquoi", "quand", "lequel", "laquelle",
  // politeness and fillers heard on the phone
  "bonjour", "bonsoir", "merci", "svp", "stp", "plait", "oui", "non", "alors", "euh", "hum", "voila", "ben",
  "madame", "monsieur", "dire", "dites", "question", "renseignement", "renseignements", "information",
  "informations", "demander"
])

// ---------------------------------------------------------------------------------------------------------
// Query terms and the FTS5 MATCH expression
// ---------------------------------------------------------------------------------------------------------

/** A query term: the folded word and, when `prefix`, the stem matched as an FTS5 prefix (`"stem"*`). */
export interface QueryTerm {
  readonly word: string
  readonly match: string
  readonly prefix: boolean
}

const MAX_QUERY_TERMS = 12
const DIGITS_RE = /^\p{N}+$/u

/**
 * A light French stem used as a prefix: plural `s` dropped (`tarifs` → `tarif*`, `œufs` → `oeuf*`), and
 * the `-er`/`-ez` endings of words of 7+ letters (`acceptez` → `accept*`, `dernier` → `derni*` which also
 * matches `derniere`). Short words and numbers are matched exactly.
 */
export const queryTerm = (word: string): QueryTerm => {
  if (DIGITS_RE.test(word) || word.length < 4) return { word, match: word, prefix: false }
  let stem = word
  if (stem.length >= 5 && stem.endsWith("s") && !stem.endsWith("ss")) stem = stem.slice(0, -1)
  if (stem.length >= 7 && (stem.endsWith("er") || stem.endsWith("ez"))) stem = stem.slice(0, -2)
  return { word, match: stem, prefix: true }
}

/** Meaningful, de-duplicated terms of a caller's question (stop words and single letters dropped). */
export const queryTerms = (query: string): Array<QueryTerm> => {
  const seen = new Set<string>()
  const terms: Array<QueryTerm> = []
  for (const word of tokens(query)) {
    if (word.length < 2 && !DIGITS_RE.test(word)) continue
    if (FRENCH_STOP_WORDS.has(word)) continue
    const term = queryTerm(word)
    if (seen.has(term.match)) continue
    seen.add(term.match)
    terms.push(term)
    if (terms.length >= MAX_QUERY_TERMS) break
  }
  return terms
}

/** One term as FTS5 syntax. Terms are `[\p{L}\p{N}]+`, so quoting cannot be escaped out of. */
export const ftsTerm = (term: QueryTerm): string => `"${term.match}"${term.prefix ? "*" : ""}`

/** `"tarif"* OR "coupe"` — or `undefined` when nothing is left to search (empty query → no search). */
export const ftsQuery = (terms: ReadonlyArray<QueryTerm>): string | undefined =>
  terms.length === 0 ? undefined : terms.map(ftsTerm).join(" OR ")

/** The same terms as a Postgres tsquery: `'tarif':* | 'coupe'` (terms are `[\p{L}\p{N}]+`, nothing to escape). */
export const tsQuery = (terms: ReadonlyArray<QueryTerm>): string =>
  terms.map((term) => `'${term.match}'${term.prefix ? ":*" : ""}`).join(" | ")

/** Whether a term occurs among folded tokens, with the same semantics as its FTS5 form. */
export const termMatches = (term: QueryTerm, folded: ReadonlyArray<string>): boolean => {
  for (const token of folded) {
    if (term.prefix ? token.startsWith(term.match) : token === term.match) return true
  }
  return false
}

/**
 * The FTS column token that scopes a row to its tenant: `t` + hex of the UTF-8 id. Exact (no hash
 * collisions) and a single token for the unicode61 tokenizer whatever characters the id contains.
 */
export const tenantToken = (tenantId: string): string => {
  let hex = "t"
  for (const byte of new TextEncoder().encode(tenantId)) hex += byte.toString(16).padStart(2, "0")
  return hex
}

// ---------------------------------------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------------------------------------

export interface ChunkOptions {
  /** a chunk is closed once it reaches this size (characters) */
  readonly target: number
  /** hard maximum (a longer sentence is cut at word boundaries) */
  readonly max: number
  /** characters of the previous chunk repeated at the start of the next one */
  readonly overlap: number
}

export const DEFAULT_CHUNK_OPTIONS: ChunkOptions = { target: 650, max: 800, overlap: 120 }

export interface Chunk {
  readonly ordinal: number
  readonly title: string
  readonly text: string
}

const HEADING_RE = /^\s{0,3}#{1,6}\s+\S/

/** Sentences of a paragraph, punctuation kept. */
const sentences = (paragraph: string): Array<string> =>
  paragraph.match(/[^.!?…]+(?:[.!?…]+["»”)\]]*|$)\s*/g)?.map((s) => s.trim()).filter((s) => s !== "") ?? [paragraph]

/** Cut a piece longer than `max` at word boundaries. */
const cutWords = (text: string, max: number): Array<string> => {
  const out: Array<string> = []
  let current = ""
  for (const word of text.split(/\s+/)) {
    if (word === "") continue
    if (current !== "" && current.length + 1 + word.length > max) {
      out.push(current)
      current = ""
    }
    if (word.length > max) {
      for (let i = 0; i < word.length; i += max) out.push(word.slice(i, i + max))
      continue
    }
    current = current === "" ? word : `${current} ${word}`
  }
  if (current !== "") out.push(current)
  return out
}

/** Pieces of a paragraph no longer than `max`: the paragraph, else its sentences (overlong ones word-cut). */
const pieces = (paragraph: string, max: number): Array<string> =>
  paragraph.length <= max
    ? [paragraph]
    : sentences(paragraph).flatMap((sentence) => (sentence.length > max ? cutWords(sentence, max) : [sentence]))

/** The end of a chunk repeated at the start of the next: whole trailing sentences, else trailing words. */
const tailOverlap = (text: string, overlap: number): string => {
  if (overlap <= 0) return ""
  const parts = sentences(text.replace(/\n+/g, " "))
  let tail = ""
  for (let i = parts.length - 1; i >= 0; i--) {
    const candidate = tail === "" ? parts[i]! : `${parts[i]} ${tail}`
    if (candidate.length > overlap) break
    tail = candidate
  }
  if (tail !== "" && tail.length < text.length) return tail
  const words = text.replace(/\s+/g, " ").split(" ")
  tail = ""
  for (let i = words.length - 1; i >= 0; i--) {
    const candidate = tail === "" ? words[i]! : `${words[i]} ${tail}`
    if (candidate.length > overlap) break
    tail = candidate
  }
  return tail.length < text.length ? tail : ""
}

interface Block {
  /** sections are numbered; a block with its own heading opens a new section */
  readonly section: number
  readonly heading: string | undefined
  readonly text: string
}

/**
 * Blocks of a markdown or plain-text document: paragraphs separated by blank lines (a run of list items
 * stays one paragraph), each heading glued to the paragraph that follows it.
 */
const blocks = (content: string): Array<Block> => {
  const paragraphs = content
    .replace(/\r\n?/g, "\n")
    .split(/\n[ \t]*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== "")
  const out: Array<Block> = []
  let section = 0
  let heading: string | undefined
  let pendingHeading: Array<string> = []
  for (const paragraph of paragraphs) {
    const lines = paragraph.split("\n")
    // a paragraph may start with heading lines directly followed by text ("## Tarifs\nCoupe : 25 €")
    let i = 0
    while (i < lines.length && HEADING_RE.test(lines[i]!)) {
      pendingHeading.push(lines[i]!.trim())
      i++
    }
    const body = lines.slice(i).join("\n").trim()
    if (body === "") continue
    if (pendingHeading.length > 0) {
      section++
      heading = pendingHeading[pendingHeading.length - 1]
      out.push({ section, heading, text: `${pendingHeading.join("\n")}\n${body}` })
      pendingHeading = []
    } else {
      out.push({ section, heading, text: body })
    }
  }
  if (pendingHeading.length > 0) out.push({ section: section + 1, heading: undefined, text: pendingHeading.join("\n") })
  return out
}

const withoutHeadings = (text: string): string =>
  text.split("\n").filter((line) => !HEADING_RE.test(line)).join(" ")

/**
 * Split a knowledge entry into chunks of roughly `target`–`max` characters: paragraph-aware, a heading
 * always kept with its paragraph (and repeated when its section continues in a new chunk), a small
 * overlap between consecutive chunks of one section, and the entry's title on every chunk.
 */
export const chunkDocument = (
  title: string,
  content: string,
  options: ChunkOptions = DEFAULT_CHUNK_OPTIONS
): Array<Chunk> => {
  const { max, overlap, target } = options
  const texts: Array<string> = []
  let current = ""
  let carried = 0 // characters at the start of `current` repeated from the previous chunk
  const carriedOf: Array<number> = []
  let currentSection = -1
  let lastChunk = ""
  let lastSection = -1

  const flush = () => {
    const text = current.trim()
    if (text !== "") {
      texts.push(text)
      carriedOf.push(carried)
      lastChunk = text
      lastSection = currentSection
    }
    current = ""
    carried = 0
  }

  for (const block of blocks(content)) {
    const blockPieces = pieces(block.text, max)
    for (let p = 0; p < blockPieces.length; p++) {
      const piece = blockPieces[p]!
      const separator = p === 0 ? "\n\n" : " "
      if (current !== "" && current.length + separator.length + piece.length > max) flush()
      if (current === "") {
        // a new chunk that continues the previous chunk's section: repeat the heading, then a short overlap
        let prefix = ""
        if (texts.length > 0 && lastSection === block.section) {
          if (block.heading !== undefined && !piece.startsWith(block.heading)) prefix = `${block.heading}\n`
          const tail = tailOverlap(withoutHeadings(lastChunk), overlap)
          if (tail !== "") prefix += `${tail} `
        }
        const fits = prefix.length + piece.length <= max
        current = fits ? prefix + piece : piece
        carried = fits ? prefix.length : 0
      } else {
        current += separator + piece
      }
      currentSection = block.section
      if (current.length >= target) flush()
    }
  }
  flush()

  // a very short tail reads poorly alone: merge it back when the result stays reasonable
  if (texts.length >= 2 && texts[texts.length - 1]!.length < 150) {
    const last = texts[texts.length - 1]!.slice(carriedOf[texts.length - 1]!).trim()
    const previous = texts[texts.length - 2]!
    if (previous.length + 2 + last.length <= max + 200) texts.splice(-2, 2, `${previous}\n\n${last}`)
  }

  const cleanTitle = title.trim()
  if (texts.length === 0) texts.push(cleanTitle)
  return texts.map((text, ordinal) => ({ ordinal, title: cleanTitle, text }))
}
