import { describe, expect, test } from "../support/test.ts"
import { makeSpeechNormaliser } from "../../src/speech/normalise.ts"

/** The streaming contract: what goes out at once, what waits, and for how long. */

describe("the speech normaliser streams", () => {
  test("finished plain words go out at once, with their space", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Bonjour ")).toBe("Bonjour ")
    expect(speech.push("madame, ")).toBe("madame, ")
    expect(speech.flush()).toBe("")
  })

  test("a plain word goes out as it is written", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Je reg")).toBe("Je reg")
    expect(speech.push("arde")).toBe("arde")
    expect(speech.push(" vos")).toBe(" vos")
    expect(speech.flush()).toBe("")
  })

  test("a word that may still become an abbreviation or an address waits for its end", () => {
    const speech = makeSpeechNormaliser()
    expect(speech.push("Votre R")).toBe("Votre ")
    expect(speech.push("DV")).toBe("")
    expect(speech.push(" est")).toBe("rendez-vous est")
    expect(speech.push(" sur ww")).toBe(" sur ")
    expect(speech.push("w.salon.fr ")).toBe("salon point f r ")
    // A plain word already said, then what makes it an address: the rest is said as part of the address.
    expect(speech.push("ou contact")).toBe("ou contact")
    expect(speech.push("@salon.fr ")).toBe(" arobase salon point f r ")
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
    expect(speech.push(sentence + "aprè")).toBe(sentence + "aprè")
    expect(speech.push("s 9")).toBe("s ")
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
