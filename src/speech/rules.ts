import { normalizePhone, spokenPhone } from "../scheduling/phone.ts"
import { spokenClock, spokenEmail, spokenIsoDate, spokenPrice, spokenUrl } from "./spoken.ts"

/**
 * The rewriting rules of the speech normaliser, applied to a segment of text that no pattern crosses (the
 * streaming part, `normalise.ts`, only cuts between whitespace-separated tokens and never inside a group of
 * "sticky" tokens such as "06 11 22 33 44" or "9 h 30"). Every lookbehind accepts the start of the segment
 * as whitespace, which is what precedes a segment in the whole text, so the result does not depend on where
 * the text was cut.
 */

/** Tokens that may continue into the next one ("9" "h" "30", "06" "11"…, "24h" "/" "24"): never cut after them. */
export const isSticky = (token: string): boolean => /\p{N}/u.test(token) || /^[+€]/.test(token) || STICKY.has(token)
const STICKY: ReadonlySet<string> = new Set(["h", "H", "j", "-", "–", "—", "/", ":"])

const MONTHS = "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
const SP = "[ \\u00a0\\u202f]"

type Rule = readonly [RegExp, string | ((match: string, ...groups: Array<string>) => string)]

const number = (text: string | undefined): number => Number(text ?? "0")

const clock = (h: string | undefined, m: string | undefined) => spokenClock(number(h), number(m))

/** A URL or domain match may end with the sentence's punctuation: that is kept out of what is spelt. */
const url = (match: string) => {
  const trail = /[.,;:!?)]+$/.exec(match)?.[0] ?? ""
  return spokenUrl(match.slice(0, match.length - trail.length)) + trail
}

const phone = (match: string) => {
  const e164 = normalizePhone(match)
  return e164._tag === "Some" ? spokenPhone(e164.value) : match
}

const validDate = (y: string, m: string, d: string, match: string) =>
  number(m) >= 1 && number(m) <= 12 && number(d) >= 1 && number(d) <= 31
    ? spokenIsoDate(number(y), number(m), number(d))
    : match

const TIME = `(?:([01]?\\d|2[0-4])${SP}?[hH](?:${SP}?([0-5]\\d))?|([01]?\\d|2[0-4]):([0-5]\\d))`
const NOT_BEFORE = "(?<![\\p{L}\\p{N}:,.])"
const NOT_AFTER = "(?![\\p{L}\\p{N}]|:\\d)"

/** Markdown, links and addresses, in that order (a link's URL must go before the URL rule sees it). */
const STRUCTURE: ReadonlyArray<Rule> = [
  [/!?\[([^\]\n]*)\]\(([^)\s]*)\)/g, (_m, label, target) => (label!.trim() !== "" ? label! : spokenUrl(target!))],
  [/<((?:https?:\/\/|mailto:)[^>\s]+)>/g, "$1"],
  [/mailto:/gi, ""],
  [
    /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.[a-z]{2,}(?![\p{L}\p{N}-])/giu,
    spokenEmail
  ],
  [/(?<![\p{L}\p{N}])(?:https?:\/\/|www\.)[^\s<>()[\]*`"«»]+/giu, url],
  [
    /(?<![\p{L}\p{N}@./-])(?:[a-z0-9-]+\.)+(?:fr|com|net|org|eu|re|gp|mq|gf|yt|io|be|ch|ca|info)(?:\/[^\s<>()[\]*`"«»]*)?(?![\p{L}\p{N}-])/giu,
    url
  ],
  [/```[\w-]*/g, " "],
  [/`/g, ""],
  [/(?<!\S)[-*_=|:]{3,}(?!\S)/g, " "],
  [/\*+|~~/g, ""],
  [/(?<![\p{L}\p{N}])_+|_+(?![\p{L}\p{N}])/gu, ""]
]

/** Rules for the start of a line: headings, bullets, quotes. */
const LINE_START: ReadonlyArray<Rule> = [
  [/^[ \t]*#{1,6}[ \t]+/, ""],
  [/^[ \t]*(?:[-+•▪◦‣●–—]|\d{1,2}[.)])[ \t]+/, ""],
  [/^[ \t]*>+[ \t]?/, ""]
]

/** Numbers: dates, phone numbers, prices, times, units. */
const NUMBERS: ReadonlyArray<Rule> = [
  [/(?<![\p{N}-])(\d{4})-(\d{2})-(\d{2})(?![\p{N}-])/gu, (m, y, mo, d) => validDate(y!, mo!, d!, m)],
  [/(?<![\p{N}/])(\d{1,2})\/(\d{1,2})\/(\d{4})(?![\p{N}/])/gu, (m, d, mo, y) => validDate(y!, mo!, d!, m)],
  [/(?<![\p{L}\p{N}+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?\d){6,13}(?!\p{N})/gu, phone],
  [/(?<![\p{L}\p{N}+])0[1-9](?:[ .-]?\d{2}){4}(?!\p{N})/gu, phone],
  [
    new RegExp(
      `(?<![\\p{N},.])(\\d{1,3}(?:${SP}\\d{3})+|\\d+)(?:[,.](\\d{1,2}))?${SP}?(?:€|EUR(?!\\p{L})|euros?(?!\\p{L}))`,
      "gu"
    ),
    (_m, units, cents) => spokenPrice(number(units!.replace(/\D/g, "")) * 100 + number((cents ?? "").padEnd(2, "0")))
  ],
  [/€\s?(\d+)(?:[,.](\d{1,2}))?/g, (_m, units, cents) => spokenPrice(number(units) * 100 + number((cents ?? "").padEnd(2, "0")))],
  [new RegExp(`(\\d+)${SP}?h${SP}?\\/${SP}?(\\d+)`, "g"), "$1 heures sur $2"],
  [new RegExp(`(\\d+)${SP}?j(?:ours)?${SP}?\\/${SP}?(\\d+)`, "g"), "$1 jours sur $2"],
  [
    new RegExp(`${NOT_BEFORE}${TIME}${SP}*[-–—]${SP}*${TIME}${NOT_AFTER}`, "gu"),
    (_m, h1, m1, h2, m2, h3, m3, h4, m4) => `${clock(h1 ?? h2, m1 ?? m2)} à ${clock(h3 ?? h4, m3 ?? m4)}`
  ],
  [new RegExp(`${NOT_BEFORE}${TIME}${NOT_AFTER}`, "gu"), (_m, h1, m1, h2, m2) => clock(h1 ?? h2, m1 ?? m2)],
  [new RegExp(`(?<![\\p{L}\\p{N},.])(\\d+)${SP}?h(?![\\p{L}\\p{N}])`, "gu"), "$1 heures"],
  [new RegExp(`(?<![\\p{N},.])1${SP}+(?=(?:${MONTHS})(?!\\p{L}))`, "giu"), "1er "],
  [new RegExp(`(?<![\\p{N},.])1${SP}+heures?(?!\\p{L})`, "gu"), "une heure"],
  [new RegExp(`(?<![\\p{N},.])21${SP}+heures?(?!\\p{L})`, "gu"), "vingt et une heures"],
  [new RegExp(`(?<![\\p{N},.])(1|21)${SP}*(?:minutes?|min|mn)(?!\\p{L})`, "gu"), (_m, n) => (n === "1" ? "une minute" : "vingt et une minutes")],
  [new RegExp(`(?<![\\p{N},.])(\\d+)${SP}*(?:min|mn)(?!\\p{L})`, "gu"), "$1 minutes"],
  [new RegExp(`(\\d)${SP}*%`, "g"), "$1 pour cent"],
  [new RegExp(`(\\d)${SP}*°C?(?!\\p{L})`, "gu"), "$1 degrés"],
  [new RegExp(`(\\d)${SP}*km(?!\\p{L})`, "gu"), "$1 kilomètres"]
]

/** A whole word, not a piece of an address ("prise.rdv@…", "…/rdv"). */
const word = (pattern: string) =>
  new RegExp(`(?<![\\p{L}\\p{N}./@_-])(?:${pattern})(?![\\p{L}\\p{N}@_/-]|\\.[\\p{L}\\p{N}])`, "gu")

/** Abbreviations said in full (before addresses are spelt out). Each is one token, so no cut falls inside one. */
const ABBREVIATIONS: ReadonlyArray<Rule> = [
  [word("RDV|Rdv|rdv|RDVs|rdvs|RDV'?s"), "rendez-vous"],
  [/(?<![\p{L}\p{N}.])M\.(?=\s|$)/gu, "monsieur"],
  [/(?<![\p{L}\p{N}.])MM\.(?=\s|$)/gu, "messieurs"],
  [word("Mr"), "monsieur"],
  [word("Mme"), "madame"],
  [word("Mmes"), "mesdames"],
  [word("Mlle"), "mademoiselle"],
  [/(?<![\p{L}\p{N}])Dr\.?(?![\p{L}\p{N}])/gu, "docteur"],
  [/(?<![\p{L}\p{N}])Pr\.?(?![\p{L}\p{N}])/gu, "professeur"],
  [/(?<![\p{L}\p{N}])[nN][°º]/gu, "numéro"],
  [/(?<![\p{L}\p{N}])[Tt]él\.?(?![\p{L}\p{N}])/gu, "téléphone"],
  // Its period usually ends the sentence too: it stays.
  [/(?<![\p{L}\p{N}])etc\.(?![\p{L}\p{N}])/gu, "et cetera."],
  [/(?<![\p{L}\p{N}])etc(?![\p{L}\p{N}.])/gu, "et cetera"],
  [/(?<![\p{L}\p{N}])env\.(?!\p{L})/gu, "environ"],
  [/(?<![\p{L}\p{N}])cf\.?(?![\p{L}\p{N}])/gu, "voir"],
  [/(?<![\p{L}\p{N}])(?:svp|SVP|Svp|s\.v\.p\.)(?![\p{L}\p{N}])/gu, "s'il vous plaît"],
  [/(?<![\p{L}\p{N}])ex\.(?!\p{L})/gu, "par exemple"],
  [/(?<![\p{L}\p{N}])av\.(?!\p{L})/gu, "avenue"],
  [/(?<![\p{L}\p{N}])[bB]d\.?(?![\p{L}\p{N}])/gu, "boulevard"],
  [/(?<![\p{L}\p{N}])c\.?-à-d\.?(?![\p{L}\p{N}])/gu, "c'est-à-dire"],
  [word("TTC"), "toutes taxes comprises"],
  [word("HT"), "hors taxes"],
  [word("tjrs|tjs"), "toujours"],
  [word("bcp"), "beaucoup"],
  [/(?<![\p{L}\p{N}])env(?![\p{L}\p{N}.])/gu, "environ"]
]

/** Emoji and symbols: nothing, or a word. */
const SYMBOLS: ReadonlyArray<Rule> = [
  [/[\p{Extended_Pictographic}\u{1F1E6}-\u{1F1FF}\u{1F3FB}-\u{1F3FF}\u200d\ufe0e\ufe0f\u20e3]/gu, ""],
  [/[→⇒➜➔←⟶•·▪◦‣●✓✔✗✘]/gu, " "],
  [/&/g, " et "],
  [/(?<!\S)\+(?!\S)/g, "plus"],
  [/[~≈](?=\s*\d)/g, "environ "],
  [/#(?=\d)/g, "numéro "],
  // Never eats the space before it: that space may already be said (a cut can fall right before any token).
  [/\|/g, ","],
  [/(?<!\S)[-–—](?!\S)|—/g, ","],
  [/[#<>^\\{}[\]~]/g, ""],
  [/€/g, " euros"],
  [/%/g, " pour cent"]
]

export const applyAll = (text: string, rules: ReadonlyArray<Rule>): string =>
  rules.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement as never), text)

/**
 * The rules in the order they apply, each group with what every match of any of its rules contains: a segment
 * without it is left as it is by the whole group, found with one scan instead of one per rule (most of a reply
 * is plain words; on a busy server the rules' scans were a tenth of a turn's CPU). Adding a rule to a group means
 * widening its `mayMatch` to what the new rule needs; test/unit/speech.rules.test.ts checks it.
 */
export const RULE_GROUPS: ReadonlyArray<{ readonly name: string; readonly mayMatch: RegExp; readonly rules: ReadonlyArray<Rule> }> = [
  {
    name: "abbreviations",
    mayMatch: /RDV|Rdv|rdv|M\.|Mr|Mm|Ml|Dr|Pr|[nN][°º]|[Tt]él|etc|env|cf|svp|SVP|Svp|s\.v\.p|ex\.|av\.|[bB]d|c\.?-à-d|TTC|HT|tj|bcp/,
    rules: ABBREVIATIONS
  },
  { name: "structure", mayMatch: /[[<:@.`\-*_=|~]/, rules: STRUCTURE },
  { name: "numbers", mayMatch: /\d/, rules: NUMBERS },
  {
    name: "symbols",
    mayMatch: /[\p{Extended_Pictographic}\u{1F1E6}-\u{1F1FF}\u{1F3FB}-\u{1F3FF}\u200d\ufe0e\ufe0f\u20e3→⇒➜➔←⟶•·▪◦‣●✓✔✗✘&+~≈#|\-–—<>^\\{}[\]€%]/u,
    rules: SYMBOLS
  }
]

/**
 * One segment, rewritten for the ear. `atLineStart`: the segment begins a line (the start of the reply, or
 * right after a line break), so a heading or bullet marker there is dropped.
 */
export const normaliseSegment = (segment: string, atLineStart: boolean): string => {
  const lines = segment.split("\n")
  const marked = lines.map((line, i) => (i > 0 || atLineStart ? applyAll(line, LINE_START) : line)).join("\n")
  return RULE_GROUPS.reduce((text, group) => (group.mayMatch.test(text) ? applyAll(text, group.rules) : text), marked)
}
