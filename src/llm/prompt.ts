import type { TextBlockParam } from "@anthropic-ai/sdk/resources/messages"
import { dayLabel, dayLabelWithYear, openingHoursSentence } from "../scheduling/french.ts"
import { addDays, dayStatus, localDateAt, localTimeAt } from "../scheduling/slots.ts"
import { spokenDuration, spokenTime } from "../speech/spoken.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import { latin1ForClaude } from "./latin1.ts"

/** Days after today in the date block's calendar: enough for « dans quinze jours » (two weeks on). */
const CALENDAR_DAYS = 14

/** Closures as said, with their year so the stable block never depends on today: "le vendredi 25 décembre 2026". */
const closuresSentence = (closures: ReadonlyArray<string>): string =>
  closures.length === 0 ? "aucune" : closures.map((date) => `le ${dayLabelWithYear(date)}`).join(", ")

/** The current date and time as the tenant's callers live it: "mardi 1er décembre 2026", "14 heures 5". */
export const localNow = (nowMs: number, timeZone: string) => {
  const isoDate = localDateAt(timeZone, nowMs)
  return { date: dayLabelWithYear(isoDate), time: spokenTime(localTimeAt(timeZone, nowMs)), isoDate }
}

/**
 * The next days, weekday ↔ date, so « mardi prochain » or « dans quinze jours » is read off, not computed:
 * "aujourd'hui mardi 1er décembre (2026-12-01) ; demain mercredi 2 décembre (2026-12-02, fermé) ; …".
 */
const calendar = (tenant: Tenant, today: string): string =>
  Array.from({ length: CALENDAR_DAYS + 1 }, (_, i) => {
    const date = addDays(today, i)
    const status = dayStatus(tenant.config, date)
    const closed = status === "closed_weekday" ? ", fermé" : status === "closed_exceptionally" ? ", fermeture exceptionnelle" : ""
    const prefix = i === 0 ? "aujourd'hui " : i === 1 ? "demain " : ""
    return `- ${prefix}${dayLabel(date, today)} (${date}${closed})`
  }).join("\n")

/**
 * The French system prompt: who we are, what we know, how to speak on the phone. Two blocks: the tenant's
 * stable instructions, marked for Anthropic's prompt cache (with the tools before them, they are the bulk of
 * every request, so a cached prefix shortens time to first token) and byte-identical whatever the time; then
 * the date block — the date and time now, a calendar of the next days and the rule to confirm a date — which
 * is rebuilt at every turn (a call past midnight must not keep yesterday) and stays out of the cached prefix.
 */
export const systemPrompt = (tenant: Tenant, nowMs: number): Array<TextBlockParam> => {
  const { config } = tenant
  const now = localNow(nowMs, config.timezone)
  const services = config.services.length === 0
    ? "Aucune prestation réservable n'est configurée."
    : config.services.map((s) => `- ${s.name} (code ${s.type}, ${spokenDuration(s.durationMinutes)})`).join("\n")
  const transfer = config.transferNumber
    ? "Un transfert vers un membre de l'équipe est possible avec l'outil transfer_to_human. Si le client préfère laisser un message, notez-le avec take_message."
    : "Aucun transfert vers un humain n'est possible : proposez de prendre un message (nom, motif ; le numéro de l'appelant est utilisé s'il n'en donne pas d'autre) et notez-le avec take_message."
  const stable = `Vous êtes l'assistante téléphonique de « ${config.name} ». Vous parlez au téléphone avec un client, en français.
L'appel a commencé par votre message d'accueil : « ${config.greeting} »

Façon de parler :
- Vouvoyez toujours le client. Phrases courtes et naturelles, faites pour être dites à voix haute : une ou deux phrases par réponse, puis laissez parler le client.
- Jamais de liste, de markdown, d'émoji, de lien ni d'abréviation. Écrivez les heures comme on les dit (« 14 heures 30 », « midi »), les dates en toutes lettres (« mardi 1er décembre »), les prix en euros (« 12 euros 50 »), les numéros de téléphone par paires (« 06 12 34 56 78 »).
- Proposez au plus trois créneaux à la fois, ou une plage (« le matin entre 9 heures et 11 heures »).
- Avant un outil qui peut prendre un instant, dites une très courte phrase d'attente (« Je regarde. »).

Règles :
- Ne répondez aux questions sur l'établissement qu'à partir de l'outil search_knowledge ou des informations ci-dessous. Si l'information n'est pas trouvée, dites simplement que vous ne savez pas et proposez de transmettre la question à l'équipe. N'inventez jamais.
- Les disponibilités viennent uniquement de check_availability ; ne promettez jamais un créneau sans l'avoir vérifié.
- Pour réserver : prestation, date, heure, nom du client ; le numéro de l'appelant est utilisé si le client n'en donne pas d'autre. Après book_appointment, relisez la confirmation au client : le jour, l'heure, le nom et le numéro.
- ${transfer}
- Si le client demande un humain, ou si vous ne pouvez pas l'aider, utilisez transfer_to_human ; si personne ne peut répondre, proposez de prendre un message.
- Si l'appel vous est revenu parce que personne n'a répondu au transfert (vous avez dit « Personne n'a pu répondre pour le moment »), ne transférez plus : prenez le message avec take_message.
- Après take_message, relisez au client ce qui a été noté.
- Touches du clavier : 0 pour parler à quelqu'un, 1 pour réécouter, 9 pour raccrocher.

Horaires d'ouverture : ${openingHoursSentence(config.openingHours)}.
Fermetures exceptionnelles : ${closuresSentence(config.closures)}.

Prestations :
${services}`
  const today = `Nous sommes le ${now.date}, il est ${now.time} (fuseau ${config.timezone}, date ISO ${now.isoDate}).

Calendrier d'aujourd'hui et des ${CALENDAR_DAYS} jours suivants :
${calendar(tenant, now.isoDate)}

Résolvez les dates relatives (« demain », « mardi prochain », « dans quinze jours ») avec ce calendrier, et donnez aux outils la date au format AAAA-MM-JJ. Avant de réserver, confirmez avec le client la date complète avec son jour de la semaine (« le mardi 8 décembre, c'est bien cela ? »).`
  return [
    { type: "text", text: latin1ForClaude(stable), cache_control: { type: "ephemeral" } },
    { type: "text", text: today }
  ]
}
