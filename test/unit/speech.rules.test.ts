import { describe, expect, test } from "../support/test.ts"
import { applyAll, normaliseSegment, RULE_GROUPS } from "../../src/speech/rules.ts"
import { seeded } from "../support/seeded.ts"

/**
 * The normaliser skips a group of rules when the segment lacks what every match of the group needs
 * (`mayMatch`). That is only right if no rule of the group could have changed such a segment: checked here for
 * every single character, in the contexts the rules look for, and for seeded random mixes of the pieces they
 * rewrite (a rule added without widening its group's `mayMatch` fails here).
 */

const contexts = (c: string) => [`a ${c} b`, `${c}${c}${c}`, ` ${c} `, `10 ${c} 30`, `x${c}y.fr`, `${c}.`]

/** A code point's text, every plane the rules care about (BMP, emoji, flags, skin tones). */
const codePoints = function*() {
  for (let cp = 0x20; cp <= 0xffff; cp++) if (cp < 0xd800 || cp > 0xdfff) yield String.fromCodePoint(cp)
  for (let cp = 0x1f000; cp <= 0x1faff; cp++) yield String.fromCodePoint(cp)
}

const PIECES = [
  "RDV", "rdv", "Rdv", "M.", "MM.", "Mr", "Mme", "Mlle", "Dr", "Pr.", "n°", "Tél.", "tél", "etc", "etc.", "env", "env.",
  "cf.", "svp", "s.v.p.", "ex.", "av.", "bd", "c-à-d", "c.-à-d.", "TTC", "HT", "tjrs", "bcp", "mardi", "coupe", "le",
  "10", "9", "h", "30", "06", "11", "22", "+33", "2026-12-01", "01/12/2026", "€", "euros", "%", "km", "min", "°",
  "https://", "www.", "salon", ".fr", "@", "mailto:", "[", "]", "(", ")", "**", "__", "~~", "`", "#", "|", "-", "—", "&",
  "+", "~", "→", "😊", "👍🏽", "🇫🇷", "\u200d", "ℹ", "™", ",", ":", "!", "?", "'", "\n", " ", "  "
]

describe("speech rules: groups skipped by their filter", () => {
  test("every group's filter rejects only text its rules leave as it is, for every character", () => {
    const wrong: Array<string> = []
    for (const c of codePoints()) {
      for (const text of contexts(c)) {
        for (const group of RULE_GROUPS) {
          if (!group.mayMatch.test(text) && applyAll(text, group.rules) !== text) wrong.push(`${group.name}: ${JSON.stringify(text)}`)
        }
      }
    }
    expect(wrong).toEqual([])
  })

  test("every group's filter rejects only text its rules leave as it is, for random mixes of what they rewrite", () => {
    const next = seeded(7)
    const wrong: Array<string> = []
    for (let i = 0; i < 4_000; i++) {
      const length = 1 + Math.floor(next() * 6)
      const text = Array.from({ length }, () => PIECES[Math.floor(next() * PIECES.length)]!).join(next() < 0.7 ? " " : "")
      for (const group of RULE_GROUPS) {
        if (!group.mayMatch.test(text) && applyAll(text, group.rules) !== text) wrong.push(`${group.name}: ${JSON.stringify(text)}`)
      }
    }
    expect(wrong).toEqual([])
  })

  test("the filters pass what the rules rewrite (a control: the checks above are not vacuous)", () => {
    const byName = new Map(RULE_GROUPS.map((group) => [group.name, group]))
    const samples: Array<readonly [string, string]> = [
      ["abbreviations", "un RDV mardi"],
      ["structure", "**mardi**"],
      ["numbers", "à 9 h 30"],
      ["symbols", "merci 😊"]
    ]
    for (const [name, text] of samples) {
      const group = byName.get(name)!
      expect(group.mayMatch.test(text)).toBe(true)
      expect(applyAll(text, group.rules)).not.toBe(text)
    }
    // Plain words go through untouched, every group skipped.
    expect(RULE_GROUPS.some((group) => group.mayMatch.test("je regarde les créneaux libres "))).toBe(false)
    expect(normaliseSegment("je regarde les créneaux libres ", false)).toBe("je regarde les créneaux libres ")
  })
})
