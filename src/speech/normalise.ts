import { isSticky, normaliseSegment } from "./rules.ts"

/**
 * The streaming speech normaliser: every word the caller hears passes through one, between the model (or a
 * fixed sentence) and the carrier. `push` returns what can be said now; `flush` the rest at the end of the reply.
 *
 * Text is cut only between whitespace-separated tokens, and never after a token that may continue a pattern
 * (a number, "h", "-", "/"…, see `isSticky`) nor inside an unclosed markdown link, so no rewriting rule ever
 * sees half a pattern: the speech is the same whatever the token boundaries. What is held back: after a
 * number, the few tokens that may complete it ("06 11 22 33 44", "9 h 30", "1 décembre", "12,50 €"); a word
 * being written that is not plain letters or could still become an abbreviation or a URL ("RD…", "www…");
 * never a sentence. A plain word goes out as it is written; what follows it is rewritten together with it.
 *
 * Whitespace is folded as it goes out, character by character (so the folding cannot depend on the cuts
 * either): a run becomes one space, said at once; a line break right after a word becomes ". " (a heading or
 * a list item is a sentence to the ear); a comma after punctuation is dropped.
 */
export interface SpeechNormaliser {
  readonly push: (chunk: string) => string
  readonly flush: () => string
}

/** A markdown link longer than this is not waited for: its brackets are then said as they are (dropped). */
const MAX_LINK_HOLD = 300
/** A run of sticky tokens or an unspaced blob longer than this goes out anyway. */
const MAX_HOLD = 400

const isSpace = (char: string | undefined) => char === " " || char === "\n" || char === "\t" || char === "\r" || char === "\u00a0"
const PUNCTUATION = ".!?,;:…"

/** Index where a still-open markdown link begins in `text[0, end)`, or -1. */
const openLinkStart = (text: string, end: number): number => {
  const open = text.lastIndexOf("[", end - 1)
  if (open === -1 || end - open > MAX_LINK_HOLD) return -1
  const close = text.indexOf("]", open)
  if (close === -1 || close >= end) return open
  if (text[close + 1] !== "(") return -1
  const paren = text.indexOf(")", close)
  return paren === -1 || paren >= end ? open : -1
}

/**
 * Beginnings of the only words a rule rewrites on their own (abbreviations) or from their first letter (a URL's
 * "www", "http"): a word being written that could still become one waits; any other goes out letter by letter.
 */
const WATCHED = [
  "RDV", "Rdv", "rdv", "RDVs", "rdvs", "M.", "MM.", "Mr", "Mme", "Mmes", "Mlle", "Dr", "Pr", "n°", "N°", "nº", "Nº",
  "tél", "Tél", "etc", "env", "cf", "svp", "SVP", "Svp", "s.v.p.", "ex.", "av.", "bd", "Bd", "c.-à-d.", "c-à-d",
  "TTC", "HT", "tjrs", "tjs", "bcp", "h", "H", "j"
]
const WATCHED_ANY_CASE = ["www", "https", "mailto"]
const isWatchedStart = (word: string) =>
  WATCHED.some((watched) => watched.startsWith(word)) ||
  WATCHED_ANY_CASE.some((watched) => watched.startsWith(word.toLowerCase()))
/** Letters only: no rule starts inside such a word, and none rewrites its letters. */
const isPlainWordStart = (text: string) => /^[\p{L}'’]+$/u.test(text)

/** The end of the text that can be rewritten now: after whitespace, before any token a pattern may continue. */
const safeCut = (text: string): number => {
  let cut = text.length
  while (cut > 0 && !isSpace(text[cut - 1])) cut--
  while (cut > 0) {
    let end = cut
    while (end > 0 && isSpace(text[end - 1])) end--
    if (end === 0) break
    let start = end
    while (start > 0 && !isSpace(text[start - 1])) start--
    if (!isSticky(text.slice(start, end))) break
    cut = start
  }
  const link = openLinkStart(text, cut)
  if (link !== -1) {
    cut = link
    while (cut > 0 && !isSpace(text[cut - 1])) cut--
  }
  return cut
}

export const makeSpeechNormaliser = (): SpeechNormaliser => {
  let held = ""
  let atLineStart = true
  /** Last character said, whitespace aside ("" before the first word of a reply). */
  let last = ""
  /** Whether a space went out after `last` (a whitespace run is said once, as soon as it starts). */
  let spaced = false

  const fold = (text: string): string => {
    let out = ""
    for (const char of text) {
      if (isSpace(char)) {
        if (last === "" || spaced) continue
        // A line break after a word ends a sentence to the ear (a heading, a list item).
        out += char === "\n" && !PUNCTUATION.includes(last) ? ". " : " "
        spaced = true
        continue
      }
      // A separator after punctuation (a dropped emoji, an empty table cell) says nothing.
      if ((char === "," || char === ";") && (last === "" || PUNCTUATION.includes(last))) continue
      out += char
      last = char
      spaced = false
    }
    return out
  }

  /** The beginning of the current word, already said (plain letters), or "". */
  let saidOfWord = ""

  /** Rewrites and says a segment; one continuing a word already begun is rewritten with that beginning. */
  const say = (segment: string): string => {
    if (segment === "") return ""
    const rewritten = normaliseSegment(saidOfWord + segment, atLineStart && saidOfWord === "")
    // The beginning, plain letters, comes out of every rule as it went in: only the rest is new.
    const spoken = fold(rewritten.startsWith(saidOfWord) ? rewritten.slice(saidOfWord.length) : rewritten)
    saidOfWord = /\s/.test(segment) ? "" : saidOfWord + segment
    atLineStart = /\S/.test(segment) ? /\n\s*$/.test(segment) : atLineStart || segment.includes("\n")
    return spoken
  }

  return {
    push: (chunk) => {
      held += chunk
      let cut = safeCut(held)
      if (held.length - cut > MAX_HOLD) cut = held.length
      const segment = held.slice(0, cut)
      held = held.slice(cut)
      let spoken = say(segment)
      // The word being written goes out as it comes when it is plain letters that no rule could rewrite.
      if (held !== "" && isPlainWordStart(held) && !isWatchedStart(saidOfWord + held)) {
        // No rule rewrites plain letters that cannot become a watched word: said as they are.
        spoken += fold(held)
        saidOfWord += held
        atLineStart = false
        held = ""
      }
      return spoken
    },
    flush: () => {
      const spoken = say(held)
      held = ""
      atLineStart = true
      last = ""
      spaced = false
      saidOfWord = ""
      return spoken
    }
  }
}
