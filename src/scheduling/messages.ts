import { spokenDuration } from "../speech/spoken.ts"
import type { TenantConfig } from "../tenants/TenantConfig.ts"
import { spokenPhone } from "./phone.ts"
import { dayLabel, frenchList, lowerFirst, relativeDayLabel, spokenTime, summariseTimes } from "./french.ts"
import type { BookingRefusalReason, CallAppointment, DaySuggestion, UnavailableReason } from "./types.ts"

/** "midi n'est pas…" starts a sentence: "Midi n'est pas…". */
const upperFirst = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)

/**
 * The French sentences the scheduling tools hand to the model: what happened, in spoken form, and what to
 * do next. The model often repeats them aloud, so they read as a receptionist would say them.
 */

export const servicesSentence = (config: TenantConfig): string =>
  frenchList(config.services.map((s) => `${s.name} (identifiant « ${s.type} », ${spokenDuration(s.durationMinutes)})`))

export const suggestionsSentence = (suggestions: ReadonlyArray<DaySuggestion>, today: string, horizonDays: number) =>
  suggestions.length === 0
    ? `Aucun créneau libre n'a été trouvé dans les ${horizonDays} prochains jours : proposez au client de laisser un message ou de rappeler plus tard.`
    : `Prochains jours avec des créneaux libres : ${
      suggestions.map((s) => `${relativeDayLabel(s.date, today)} (${frenchList(s.times.map(spokenTime))})`).join(" ; ")
    }. Proposez l'un de ces jours au client.`

// -- the checks both tools share --

export const unknownServiceMessage = (config: TenantConfig, requested: string): string =>
  config.services.length === 0
    ? `Cet établissement ne prend pas de rendez-vous par téléphone pour le moment : proposez au client de laisser un message ou de parler à quelqu'un.`
    : `Le service « ${requested} » n'existe pas ici. Services proposés : ${
      servicesSentence(config)
    }. Demandez au client lequel il souhaite, puis réessayez avec l'identifiant exact.`

export const invalidDateMessage = (date: string, today: string): string =>
  `« ${date} » n'est pas une date valide. Donnez la date au format AAAA-MM-JJ ; aujourd'hui nous sommes le ${
    dayLabel(today)
  } (${today}).`

export const pastDateMessage = (date: string, today: string): string =>
  `Le ${dayLabel(date, today)} (${date}) est déjà passé : nous sommes le ${
    dayLabel(today)
  } (${today}). Vérifiez la date avec le client ; s'il a cité un jour de la semaine, il s'agit sans doute du prochain.`

export const beyondHorizonMessage = (horizonDays: number, lastBookableDate: string, today: string): string =>
  `Les rendez-vous se prennent au plus ${horizonDays} jours à l'avance, soit jusqu'au ${
    dayLabel(lastBookableDate, today)
  } (${lastBookableDate}). Proposez au client une date plus proche.`

// -- check_availability --

export const availableMessage = (
  serviceLabel: string,
  durationMinutes: number,
  label: string,
  times: ReadonlyArray<string>,
  stepMinutes: number
): string =>
  `Créneaux libres pour ${serviceLabel} (${spokenDuration(durationMinutes)}) le ${label} : ${
    summariseTimes(times, stepMinutes)
  }. Proposez un ou deux de ces horaires au client plutôt que de tout énumérer, puis réservez celui qu'il choisit.`

export const unavailableDayReason = (reason: UnavailableReason, label: string, serviceLabel: string): string =>
  reason === "closed_weekday"
    ? `L'établissement est fermé le ${label}.`
    : reason === "closed_exceptionally"
    ? `L'établissement est exceptionnellement fermé le ${label}.`
    : `Il n'y a plus de créneau libre pour ${serviceLabel} le ${label}.`

// -- book_appointment --

export const invalidTimeMessage = (time: string): string =>
  `« ${time} » n'est pas une heure valide : donnez l'heure de début au format HH:MM sur 24 heures, par exemple 14:30.`

export const INVALID_NAME_MESSAGE = "Le nom du client manque : demandez-lui son nom avant de réserver."

export const invalidPhoneMessage = (givenPhone: string): string =>
  givenPhone !== ""
    ? `« ${givenPhone} » n'est pas un numéro de téléphone valide : demandez au client de le répéter chiffre par chiffre, puis réessayez.`
    : "Le numéro de l'appelant est masqué ou inutilisable : demandez au client un numéro où le joindre, puis réessayez en le donnant dans client_phone."

export const replacementErrorMessage = (
  code: "unknown_appointment" | "appointment_cancelled",
  appointmentId: string,
  appointmentsInCall: ReadonlyArray<CallAppointment>
): string => {
  const why = code === "unknown_appointment"
    ? `« ${appointmentId} » n'est pas l'identifiant d'un rendez-vous pris pendant cet appel : rien n'a été modifié.`
    : `Le rendez-vous « ${appointmentId} » n'est plus réservé (il a déjà été déplacé ou annulé) : rien n'a été modifié.`
  const next = appointmentsInCall.length === 0
    ? "Aucun rendez-vous n'est réservé dans cet appel : pour en prendre un, rappelez book_appointment sans replaces_appointment_id."
    : `Rendez-vous réservés dans cet appel : ${
      appointmentsInCall.map((a) =>
        `${lowerFirst(a.serviceName)} le ${a.dayLabel} à ${spokenTime(a.time)} au nom de ${a.clientName} (appointmentId « ${a.appointmentId} »)`
      ).join(" ; ")
    }. Pour déplacer l'un d'eux, réessayez avec son appointmentId dans replaces_appointment_id ; pour un rendez-vous supplémentaire, omettez ce champ.`
  return `${why} ${next}`
}

/** Said when a refused move leaves the earlier appointment booked. */
export const keptSentence = (keptDayLabel: string, keptTime: string): string =>
  `Le rendez-vous déjà pris du ${keptDayLabel} à ${spokenTime(keptTime)} est conservé tel quel. `

export interface ReadBack {
  readonly serviceName: string
  readonly dayLabel: string
  readonly time: string
  readonly clientName: string
  readonly clientPhone: string
}

/** The read-back: the day (with "1er"), the time as said, the name, the phone number in pairs. */
export const bookedMessage = (booked: ReadBack): string =>
  `Rendez-vous confirmé : ${lowerFirst(booked.serviceName)} le ${booked.dayLabel} à ${
    spokenTime(booked.time)
  }, au nom de ${booked.clientName}, numéro de téléphone ${spokenPhone(booked.clientPhone)}.`

export const rescheduledMessage = (moved: ReadBack, previous: { readonly dayLabel: string; readonly time: string }) =>
  `C'est noté : votre rendez-vous ${lowerFirst(moved.serviceName)} est déplacé du ${previous.dayLabel} à ${
    spokenTime(previous.time)
  } au ${moved.dayLabel} à ${spokenTime(moved.time)}, au nom de ${moved.clientName}.`

export const slotTakenMessage = (
  time: string,
  label: string,
  kept: string,
  serviceLabel: string,
  alternatives: ReadonlyArray<string>,
  otherDays: string
): string =>
  `Le créneau de ${spokenTime(time)} le ${label} n'est plus libre. ${kept}${
    alternatives.length > 0
      ? `Créneaux encore libres ce jour-là pour ${serviceLabel} : ${
        frenchList(alternatives.map(spokenTime))
      }. Proposez-en un au client.`
      : otherDays
  }`

export const refusalReason = (
  reason: BookingRefusalReason,
  time: string,
  label: string,
  serviceLabel: string,
  minLeadMinutes: number
): string =>
  reason === "closed_weekday"
    ? `L'établissement est fermé le ${label}.`
    : reason === "closed_exceptionally"
    ? `L'établissement est exceptionnellement fermé le ${label}.`
    : reason === "past_time"
    ? `${upperFirst(spokenTime(time))} le ${label} est déjà passé.`
    : reason === "too_soon"
    ? `${upperFirst(spokenTime(time))} le ${label} est trop proche : les rendez-vous se prennent au moins ${spokenDuration(minLeadMinutes)} à l'avance.`
    : `${upperFirst(spokenTime(time))} n'est pas un horaire proposé pour ${serviceLabel} le ${label} (hors des heures d'ouverture ou entre deux créneaux).`

/** A time the clocks jump over that night (spring forward): it does not exist, so it cannot be booked. */
export const skippedTimeReason = (time: string, label: string, gapFrom: string, gapTo: string): string =>
  `${upperFirst(spokenTime(time))} n'existe pas le ${label} : cette nuit-là, on passe à l'heure d'été et les horloges sautent de ${
    spokenTime(gapFrom)
  } à ${spokenTime(gapTo)}. Expliquez-le au client et proposez un autre horaire.`

export const refusedMessage = (why: string, kept: string, alternatives: ReadonlyArray<string>, otherDays: string): string =>
  `${why} ${kept}${
    alternatives.length > 0
      ? `Horaires libres ce jour-là : ${frenchList(alternatives.map(spokenTime))}. Proposez-en un au client.`
      : otherDays
  }`
