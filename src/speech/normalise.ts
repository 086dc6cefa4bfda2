import { isSticky, normaliseSegment } from "./rules.ts"

/**
 * The streaming speech normaliser: every word the caller hears passes through one, between the model (or a
 * fixed sentence) and the carrier. `push` returns what can be said now; `flush` the rest at the end of the reply.
 *
 * Text is cut only between whitespace-separated tokens, and never after a token that may continue a pattern
 * (a number, "h", "-", "/"…, see `isSticky`) nor inside an unclosed markdown link, so no rewriting rule ever
 * sees half a pattern: the speech is the same whatever the token boundaries. What is held back is the word
 * being written (a TTS engine cannot say half a word anyway) and, after a number, the few tokens that may
 * complete it ("06 11 22 33 44", "9 h 30", "1 décembre", "12,50 €"); never a sentence.
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

  const say = (segment: string): string => {
    if (segment === "") return ""
    const spoken = fold(normaliseSegment(segment, atLineStart))
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
      return say(segment)
    },
    flush: () => {
      const spoken = say(held)
      held = ""
      atLineStart = true
      last = ""
      spaced = false
      return spoken
    }
  }
}
