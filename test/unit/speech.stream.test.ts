import { describe, expect, test } from "bun:test"
import { makeSpeechNormaliser } from "../../src/speech/normalise.ts"

/** The streaming contract: what goes out at once, what waits, and for how long. */

describe("the speech normaliser streams", () => {
  test("finished plain words go out at once, with their space", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Bonjour ")).toBe("Bonjour ")
    expect(speech.push("madame, ")).toBe("madame, ")
    expect(speech.flush()).toBe("")
  })

  test("only the word being written waits, until its end is known", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Je reg")).toBe("Je ")
    expect(speech.push("arde")).toBe("")
    expect(speech.push(" vos")).toBe("regarde ")
    expect(speech.flush()).toBe("vos")
  })

  test("a number waits for what may complete it, then goes out rewritten", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Appelez le 06 ")).toBe("Appelez le ")
    expect(speech.push("11 22 ")).toBe("")
    expect(speech.push("33 44 ")).toBe("")
    expect(speech.push("demain ")).toBe("06 11 22 33 44 demain ")
    expect(speech.push("à 9 h ")).toBe("à ")
    expect(speech.push("30 ou ")).toBe("9 heures 30 ou ")
    expect(speech.flush()).toBe("")
  })

  test("a long sentence without numbers is never held back beyond its last word", () => {
    const sentence = "Nous sommes ouverts du mardi au samedi et nous serons ravis de vous accueillir dans notre salon "
    const speech = makeSpeechNormaliser()
    expect(speech.push(sentence + "aprè")).toBe(sentence)
  })

  test("a markdown link waits for its end, then only its words are said", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Voir [notre ")).toBe("Voir ")
    expect(speech.push("site](https://salon")).toBe("")
    expect(speech.push(".fr) ici ")).toBe("notre site ici ")
  })

  test("flush ends a reply: the next one starts afresh (a heading marker is dropped again)", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Voici") + speech.flush()).toBe("Voici")
    expect(speech.push("## Horaires\n") + speech.flush()).toBe("Horaires. ")
  })
})
