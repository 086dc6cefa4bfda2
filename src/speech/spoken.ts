/**
 * Spoken French forms, shared by the speech normaliser and by every sentence we write ourselves (tool results,
 * the prompt, fixed sentences): what a receptionist would say, in a form a French TTS engine reads right.
 * Digits stay digits where engines read them well ("9 heures 30"); words where they do not ("une heure",
 * "vingt et une heures": engines say "un heures", "vingt et un heures").
 */

/** Hours as said before "heure(s)": feminine where the digit would be read masculine. */
const hourWords = (hours: number): string =>
  hours === 1 ? "une heure" : hours === 21 ? "vingt et une heures" : `${hours} heures`

/** 9:00 → "9 heures", 9:30 → "9 heures 30", 12:00 → "midi", 0:00 and 24:00 → "minuit", 21:05 → "vingt et une heures 5". */
export const spokenClock = (hours: number, minutes: number): string => {
  const base = hours === 12 ? "midi" : hours === 0 || hours === 24 ? "minuit" : hourWords(hours)
  if (minutes === 0) return base
  if ((hours === 12 || hours === 0 || hours === 24) && minutes === 30) return `${base} et demi`
  return `${base} ${minutes}`
}

/** "14:00" → "14 heures", "09:30" → "9 heures 30", "12:00" → "midi". */
export const spokenTime = (time: string): string => spokenClock(Number(time.slice(0, 2)), Number(time.slice(3, 5)))

/** A duration in minutes: "45 minutes", "une heure", "une heure 30", "2 heures". */
export const spokenDuration = (minutes: number): string => {
  const hours = Math.floor(minutes / 60)
  const rest = minutes % 60
  if (hours === 0) return minutes === 1 ? "une minute" : `${minutes} minutes`
  return rest === 0 ? hourWords(hours) : `${hourWords(hours)} ${rest}`
}

export const MONTHS_FR = [
  "janvier",
  "février",
  "mars",
  "avril",
  "mai",
  "juin",
  "juillet",
  "août",
  "septembre",
  "octobre",
  "novembre",
  "décembre"
] as const

/** The day of the month as said: "1er", "2", … */
export const spokenDayOfMonth = (day: number): string => (day === 1 ? "1er" : String(day))

/** "2026-12-01" → "1er décembre 2026" (no weekday: see `dayLabel` for that). */
export const spokenIsoDate = (year: number, month: number, day: number): string =>
  `${spokenDayOfMonth(day)} ${MONTHS_FR[month - 1] ?? ""} ${year}`

/** 89 → "89 euros", 12.5 → "12 euros 50", 0.5 → "50 centimes", 1 → "1 euro". Amount in cents. */
export const spokenPrice = (cents: number): string => {
  const euros = Math.floor(cents / 100)
  const rest = cents % 100
  if (euros === 0) return rest === 1 ? "1 centime" : `${rest} centimes`
  const unit = euros === 1 ? "1 euro" : `${euros} euros`
  return rest === 0 ? unit : `${unit} ${rest}`
}

/** Two-letter domains are spelt ("f r"); the usual words are said. */
const spokenLabel = (label: string, isTld: boolean): string =>
  isTld && /^[a-z]{2}$/i.test(label) ? label.toLowerCase().split("").join(" ") : label.replace(/-/g, " tiret ")

/** "www.salon-lumiere.fr" → "salon tiret lumiere point f r". */
export const spokenDomain = (domain: string): string => {
  const labels = domain.replace(/^www\./i, "").replace(/\.$/, "").split(".")
  return labels.map((label, i) => spokenLabel(label, i === labels.length - 1 && labels.length > 1)).join(" point ")
}

/** A short path is read ("slash rendez-vous"); a long one (query strings, ids) is not something to dictate. */
const spokenPath = (path: string): string => {
  const segments = path.split(/[?#]/)[0]!.split("/").filter((s) => s !== "")
  if (path.includes("?") || segments.length > 2 || segments.some((s) => !/^[\p{L}\d-]{1,24}$/u.test(s))) return ""
  return segments.map((s) => ` slash ${s.replace(/-/g, " tiret ")}`).join("")
}

/** "https://www.salon-lumiere.fr/tarifs" → "salon tiret lumiere point f r slash tarifs". */
export const spokenUrl = (url: string): string => {
  const bare = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
  const slash = bare.search(/[/?#]/)
  const domain = slash === -1 ? bare : bare.slice(0, slash)
  const path = slash === -1 ? "" : bare.slice(slash)
  return spokenDomain(domain.replace(/:\d+$/, "")) + spokenPath(path)
}

/** "prise.rdv@salon-lumiere.fr" → "prise point rdv arobase salon tiret lumiere point f r". */
export const spokenEmail = (email: string): string => {
  const at = email.lastIndexOf("@")
  const local = email.slice(0, at).replace(/\./g, " point ").replace(/-/g, " tiret ").replace(/_/g, " tiret bas ")
  return `${local} arobase ${spokenDomain(email.slice(at + 1))}`
}
