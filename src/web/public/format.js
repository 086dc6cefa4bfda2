// French wording and formats for what the API returns. Dates are shown in the business's time zone.

let timeZone = "Europe/Paris"
export const setTimeZone = (zone) => { timeZone = zone }
export const currentTimeZone = () => timeZone

const formatter = (options) => new Intl.DateTimeFormat("fr-FR", { timeZone, ...options })

export const dateTime = (iso) =>
  formatter({ weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }).format(new Date(iso))
export const longDateTime = (iso) =>
  formatter({ weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(iso))
export const clockTime = (iso) => formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso))

/** A local calendar date "YYYY-MM-DD" in words: "mardi 8 décembre". */
export const dayInWords = (date) =>
  !/^\d{4}-\d{2}-\d{2}$/.test(date) ? String(date) : new Intl.DateTimeFormat("fr-FR", { timeZone: "UTC", weekday: "long", day: "numeric", month: "long" }).format(new Date(`${date}T12:00:00Z`))

/** "09:00" → "9 heures", "14:30" → "14 h 30". */
export const timeInWords = (time) => {
  const [hours, minutes] = time.split(":").map(Number)
  return minutes === 0 ? `${hours} heure${hours > 1 ? "s" : ""}` : `${hours} h ${String(minutes).padStart(2, "0")}`
}

/** Today's date "YYYY-MM-DD" in the business's zone. */
export const todayLocal = () => new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date())

export const addDays = (date, days) => {
  const d = new Date(`${date}T12:00:00Z`)
  d.setUTCDate(d.getUTCDate() + days)
  return d.toISOString().slice(0, 10)
}

/** The Monday of the week holding `date`. */
export const mondayOf = (date) => addDays(date, -((new Date(`${date}T12:00:00Z`).getUTCDay() + 6) % 7))

export const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return "—"
  const minutes = Math.floor(seconds / 60)
  const rest = seconds % 60
  return minutes === 0 ? `${rest} s` : `${minutes} min ${String(rest).padStart(2, "0")} s`
}

/** "+33612345678" → "06 12 34 56 78"; other numbers as given. */
export const phone = (number) => {
  if (typeof number !== "string" || number === "") return "Numéro masqué"
  const french = /^\+33([1-9])(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(number)
  return french ? `0${french.slice(1).join(" ")}` : number
}

/** Only digits and a leading +, for a tel: link. */
export const telHref = (number) => `tel:${String(number).replace(/[^\d+]/g, "")}`

export const OUTCOMES = {
  booked: "Rendez-vous pris",
  transferred: "Transféré",
  message_taken: "Message pris",
  information_given: "Renseigné",
  abandoned: "Abandonné"
}
export const outcome = (value) => OUTCOMES[value] ?? (value ? value : "En cours")

const END_REASONS = {
  caller_hangup: "L'appelant a raccroché",
  agent_hangup: "L'assistante a terminé l'appel",
  transfer: "Transféré à un humain",
  error: "Erreur",
  shutdown: "Redémarrage du service",
  server_restart: "Redémarrage du service",
  socket_failed: "Connexion perdue"
}
export const endReason = (value) => END_REASONS[value] ?? value ?? "—"

/** The first sentence of a summary, for the list. */
export const firstSentence = (text) => {
  if (!text) return ""
  const match = /^.+?[.!?…](?=\s|$)/s.exec(text.trim())
  return match ? match[0] : text.trim()
}

const EVENTS = {
  setup: "Appel décroché par l'assistante",
  prompt: "L'appelant parle",
  interrupt: "L'appelant coupe la parole",
  dtmf: "Touche du clavier",
  turn: "Réponse de l'assistante",
  turn_latency: "Temps de réponse",
  tool_call: "Action de l'assistante",
  tool_result: "Résultat de l'action",
  ending: "Fin de l'appel annoncée",
  end: "Fin de l'appel",
  session_end: "Fin de la session vocale",
  transfer_result: "Résultat du transfert",
  transfer_unavailable: "Transfert impossible",
  error: "Erreur",
  relay_error: "Erreur de la ligne",
  socket_failed: "Connexion perdue",
  server_restart: "Redémarrage du service",
  malformed_frame: "Message illisible reçu",
  tool_rounds_exhausted: "Trop d'actions enchaînées"
}

const TOOLS = {
  book_appointment: "réservation",
  check_availability: "disponibilités",
  search_knowledge: "recherche d'information",
  transfer_to_human: "transfert",
  take_message: "message"
}

/** One event of the timeline in words; details only where they are short and useful. */
export const eventText = (event) => {
  const label = EVENTS[event.type] ?? event.type
  const data = event.data && typeof event.data === "object" ? event.data : {}
  if (event.type === "turn_latency" && typeof data.ms === "number") return `${label} : ${Math.round(data.ms)} ms`
  if ((event.type === "end" || event.type === "ending") && typeof data.reason === "string") return `${label} (${endReason(data.reason)})`
  if ((event.type === "tool_call" || event.type === "tool_result") && typeof data.name === "string") return `${label} : ${TOOLS[data.name] ?? data.name}`
  if (event.type === "dtmf" && typeof data.digit === "string") return `${label} : ${data.digit}`
  return label
}

const when = (result) =>
  typeof result?.date === "string" && typeof result?.time === "string" ? `${dayInWords(result.date)}, ${timeInWords(result.time)}` : ""

/** A tool call as a short sentence, e.g. "Rendez-vous réservé — mardi 8 décembre, 9 heures". */
export const toolText = (call) => {
  const input = call.input && typeof call.input === "object" ? call.input : {}
  const result = call.result && typeof call.result === "object" ? call.result : {}
  switch (call.name) {
    case "book_appointment":
      if (result.status === "booked") return `Rendez-vous réservé — ${when(result)}`
      if (result.status === "rescheduled") return `Rendez-vous déplacé — ${when(result)} (au lieu de ${when(result.previous)})`
      if (result.status === "slot_taken") return `Créneau déjà pris — ${when(result)}`
      return "Réservation refusée"
    case "check_availability":
      return typeof input.date === "string" ? `Disponibilités consultées — ${dayInWords(input.date)}` : "Disponibilités consultées"
    case "search_knowledge":
      return typeof input.query === "string" ? `Recherche dans vos informations : « ${input.query} »` : "Recherche dans vos informations"
    case "transfer_to_human":
      return "Transfert vers un humain demandé"
    case "take_message":
      return "Message pris pour vous"
    default:
      return `Action : ${call.name ?? "inconnue"}`
  }
}
