import { type CountryCode, parsePhoneNumberFromString, type PhoneNumber } from "libphonenumber-js/max"
import * as Option from "effect/Option"

/**
 * Phone numbers through libphonenumber-js (full metadata, so a number's region is known from its digits).
 *
 * A national number ("06…", "0692…") is French, but the overseas departments share the national format with
 * their own country codes: Réunion's "0692 12 34 56" is +262 692…, Guadeloupe's "0590…" +590 590…. So a
 * national number is tried against the overseas regions first (only a number valid there matches), then
 * mainland France.
 */

const OVERSEAS: ReadonlyArray<CountryCode> = ["RE", "YT", "GP", "MQ", "GF"]
const FRENCH_REGIONS: ReadonlySet<string> = new Set(["FR", ...OVERSEAS])

const cleaned = (raw: string): string =>
  raw.trim().replace(/\(0\)/g, "").replace(/[\s.\-()/\u00a0\u202f]/g, "").replace(/^00/, "+")

const parse = (text: string, region?: CountryCode): PhoneNumber | undefined => {
  // libphonenumber-js throws on nothing here, but returns undefined on garbage; letters are never a number.
  if (!/^\+?\d+$/.test(text)) return undefined
  return parsePhoneNumberFromString(text, region)
}

/** The number as a caller, the speech-to-text or the model gives it, to E.164; none when it is not usable. */
export const parsePhone = (raw: string): Option.Option<PhoneNumber> => {
  const text = cleaned(raw)
  if (text.startsWith("+")) {
    const international = parse(text)
    // A French number written "+33 0 6…" keeps its trunk zero by mistake: drop it.
    const fixed = international === undefined && text.startsWith("+330") ? parse(`+33${text.slice(4)}`) : international
    return Option.fromNullable(fixed).pipe(Option.filter((n) => n.isValid() || (n.isPossible() && n.country === "FR")))
  }
  if (/^33[1-9]\d{8}$/.test(text)) return parsePhone(`+${text}`)
  if (!/^0[1-9]\d{8}$/.test(text)) return Option.none()
  for (const region of OVERSEAS) {
    const overseas = parse(text, region)
    if (overseas?.isValid()) return Option.some(overseas)
  }
  return Option.fromNullable(parse(text, "FR")).pipe(Option.filter((n) => n.isPossible()))
}

/**
 * A phone number to E.164: "06 12 34 56 78" → "+33612345678", "0692 12 34 56" → "+262692123456",
 * "0044 20 7946 0958" → "+442079460958". None for text that is not a usable number.
 */
export const normalizePhone = (raw: string): Option.Option<string> => Option.map(parsePhone(raw), (n) => n.number)

/**
 * How a receptionist reads a number back: French and overseas numbers in their local form, digits in pairs
 * ("06 11 22 33 44", "0692 12 34 56"); a foreign number in its international form ("plus 44 20 7946 0958").
 */
export const spokenPhone = (e164: string): string =>
  Option.match(parsePhone(e164), {
    onNone: () => e164.replace(/^\+/, "plus "),
    onSome: (n) =>
      n.country !== undefined && FRENCH_REGIONS.has(n.country)
        ? n.formatNational()
        : n.formatInternational().replace(/^\+/, "plus ")
  })
