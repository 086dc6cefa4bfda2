import { Option } from "effect"

/**
 * A phone number as a caller or the speech-to-text gives it, to E.164.
 *
 * - French national numbers: "06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78" → "+33612345678"
 * - international prefixes: "0033 6 12 34 56 78", "+33 (0)6 12 34 56 78", "+33 6 12 34 56 78"
 * - any other E.164 number ("+44 20 7946 0958") is kept as is.
 *
 * Returns none when the text is not a usable number (too short, letters, "anonymous", a SIP URI…).
 */
export const normalizePhone = (raw: string): Option.Option<string> => {
  const compact = raw.trim().replace(/\(0\)/g, "").replace(/[\s.\-()/\u00a0\u202f]/g, "")
  const international = compact.startsWith("00") ? `+${compact.slice(2)}` : compact
  if (/^0[1-9]\d{8}$/.test(international)) return Option.some(`+33${international.slice(1)}`)
  if (/^33[1-9]\d{8}$/.test(international)) return Option.some(`+${international}`)
  if (international.startsWith("+33")) {
    const national = international.slice(3)
    if (/^[1-9]\d{8}$/.test(national)) return Option.some(`+33${national}`)
    if (/^0[1-9]\d{8}$/.test(national)) return Option.some(`+33${national.slice(1)}`)
    return Option.none()
  }
  return /^\+[1-9]\d{6,14}$/.test(international) ? Option.some(international) : Option.none()
}
