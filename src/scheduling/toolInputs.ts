import * as Schema from "effect/Schema"

/**
 * Inputs of the scheduling tools, as Claude sends them. These schemas are the single source of truth:
 * the JSON schema the model sees is generated from them with `JSONSchema.make`, so every field carries a
 * precise French description. Fields stay plain strings with patterns (no branded or transformed types)
 * so the generated JSON schema is flat and readable; the calendar checks (does 2026-02-30 exist, is the
 * date in the past, is the slot free) are done by `Scheduling`, which answers with a result the model can
 * read rather than a decoding failure.
 */

const ToolDate = Schema.String.pipe(
  Schema.pattern(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, {
    message: () => "date attendue au format AAAA-MM-JJ, par exemple 2026-12-01"
  })
).annotations({
  title: "Date",
  description:
    "Date du rendez-vous au format AAAA-MM-JJ (par exemple 2026-12-01), dans le fuseau horaire de l'établissement. " +
    "Convertissez les expressions du client (« demain », « mardi prochain », « le 3 », « dans quinze jours ») en date complète avec le calendrier donné avec la date du jour."
})

const ToolServiceType = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(80)).annotations({
  title: "Service",
  description:
    "Identifiant du service demandé, tel qu'indiqué dans la liste des services de l'établissement (par exemple « coupe-femme »). " +
    "Utilisez l'identifiant exact, pas une reformulation."
})

const ToolTime = Schema.String.pipe(
  Schema.pattern(/^([01]\d|2[0-3]):[0-5]\d$/, { message: () => "heure attendue au format HH:MM sur 24 h, par exemple 14:30" })
).annotations({
  title: "Heure",
  description:
    "Heure de début du rendez-vous au format HH:MM sur 24 heures (par exemple 09:30 ou 14:00), heure locale de l'établissement. " +
    "Choisissez une heure renvoyée comme libre par check_availability."
})

const ToolClientName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(120)).annotations({
  title: "Nom du client",
  description: "Nom du client tel qu'il l'a donné (prénom et nom si possible, par exemple « Marie Dupont »)."
})

const ToolClientPhone = Schema.String.pipe(Schema.maxLength(40)).annotations({
  title: "Téléphone du client",
  description:
    "Numéro de téléphone du client, seulement s'il en donne un différent de celui d'où il appelle " +
    "(format français « 06 12 34 56 78 » ou international « +33612345678 »). " +
    "À omettre sinon : le numéro de l'appelant est alors utilisé."
})

const ToolReplacesAppointmentId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)).annotations({
  title: "Rendez-vous à déplacer",
  description:
    "L'appointmentId renvoyé par un book_appointment précédent de cet appel, à donner uniquement quand le client veut DÉPLACER " +
    "ce rendez-vous (il est annulé et remplacé par le nouveau) ; à omettre pour prendre un rendez-vous supplémentaire."
})

export const CheckAvailabilityInput = Schema.Struct({
  date: ToolDate,
  service_type: ToolServiceType
}).annotations({
  description: "Demande des créneaux libres pour un service à une date donnée."
})
export type CheckAvailabilityInput = typeof CheckAvailabilityInput.Type

export const BookAppointmentInput = Schema.Struct({
  date: ToolDate,
  time: ToolTime,
  client_name: ToolClientName,
  client_phone: Schema.optional(ToolClientPhone),
  service_type: ToolServiceType,
  replaces_appointment_id: Schema.optional(ToolReplacesAppointmentId)
}).annotations({
  description:
    "Réserve un rendez-vous sur un créneau libre, après accord explicite du client sur la date, l'heure et le service. " +
    "Chaque réservation sans replaces_appointment_id crée un rendez-vous de plus (deux séances = deux réservations) ; " +
    "avec replaces_appointment_id, ce rendez-vous de l'appel est déplacé (statut « rescheduled » ; si le nouveau créneau n'est pas libre, l'ancien reste réservé)."
})
export type BookAppointmentInput = typeof BookAppointmentInput.Type
