/**
 * Text for Claude's request, in Latin-1. The SDK sends a request as one JSON string, held while the turn waits
 * for the answer: a single character past U+00FF (an owner's ’, a « … », a price in €) makes the whole string
 * two bytes per character, and on Deno a live call's memory follows. The usual typographic characters of French
 * text have plain equivalents the model reads the same way; what the caller hears and the owner reads keep the
 * original (only the request changes). Anything else past Latin-1 is left as it is.
 */
const PLAIN: Record<string, string> = {
  "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
  "\u201c": "\"", "\u201d": "\"", "\u201e": "\"", "\u2033": "\"",
  "\u2026": "...",
  "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
  "\u2007": "\u00a0", "\u2009": "\u00a0", "\u200a": "\u00a0", "\u202f": "\u00a0",
  "\u0153": "oe", "\u0152": "OE",
  "\u20ac": "EUR"
}
const TYPOGRAPHIC = new RegExp(`[${Object.keys(PLAIN).join("")}]`, "g")
const BEYOND_LATIN1 = /[^\u0000-\u00ff]/

export const latin1ForClaude = (text: string): string =>
  BEYOND_LATIN1.test(text) ? text.replace(TYPOGRAPHIC, (char) => PLAIN[char]!) : text
