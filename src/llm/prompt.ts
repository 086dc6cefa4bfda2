import type { TextBlockParam } from "@anthropic-ai/sdk/resources/messages"
import type { Tenant } from "../tenants/Tenant.ts"
import { spokenTime, WEEKDAY_FR } from "../scheduling/french.ts"
import { WEEKDAYS } from "../tenants/TenantConfig.ts"

const openingHoursText = (tenant: Tenant): string =>
  WEEKDAYS.map((day) => {
    const ranges = tenant.config.openingHours[day] ?? []
    return ranges.length === 0
      ? `${WEEKDAY_FR[day]} : fermé`
      : `${WEEKDAY_FR[day]} : ${ranges.map(([from, to]) => `${spokenTime(from)} à ${spokenTime(to)}`).join(" et ")}`
  }).join("\n")

// Building an Intl formatter costs far more than using one: one pair per time zone, kept.
const formatters = new Map<string, { spoken: Intl.DateTimeFormat; iso: Intl.DateTimeFormat }>()
const formattersFor = (timeZone: string) => {
  let pair = formatters.get(timeZone)
  if (!pair) {
    pair = {
      spoken: new Intl.DateTimeFormat("fr-FR", {
        timeZone,
        weekday: "long",
        day: "numeric",
        month: "long",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23"
      }),
      iso: new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    }
    formatters.set(timeZone, pair)
  }
  return pair
}

/** Today's date and time as the tenant's callers live it, e.g. "mardi 1 décembre 2026, 14 h 05". */
export const localNow = (nowMs: number, timeZone: string) => {
  const { iso, spoken } = formattersFor(timeZone)
  const parts = spoken.formatToParts(new Date(nowMs))
  const get = (type: string) => parts.find((part) => part.type === type)?.value ?? ""
  const isoDate = iso.format(new Date(nowMs))
  return {
    spoken: `${get("weekday")} ${get("day")} ${get("month")} ${get("year")}, ${Number(get("hour"))} h ${get("minute")}`,
    isoDate
  }
}

/**
 * The French system prompt: who we are, what we know, how to speak on the phone. Two blocks: the
 * tenant's stable instructions, marked for Anthropic's prompt cache (with the tools before them, they
 * are the bulk of every request, so a cached prefix shortens time to first token), then the date and
 * time the call began, which differ from call to call and stay out of that shared prefix.
 */
export const systemPrompt = (tenant: Tenant, nowMs: number): Array<TextBlockParam> => {
  const { config } = tenant
  const now = localNow(nowMs, config.timezone)
  const services = config.services.length === 0
    ? "Aucune prestation réservable n'est configurée."
    : config.services.map((s) => `- ${s.name} (code ${s.type}, ${s.durationMinutes} minutes)`).join("\n")
  const closures = config.closures.length === 0 ? "aucune" : config.closures.join(", ")
  const transfer = config.transferNumber
    ? "Un transfert vers un membre de l'équipe est possible avec l'outil transfer_to_human. Si le client préfère laisser un message, notez-le avec take_message."
    : "Aucun transfert vers un humain n'est possible : proposez de prendre un message (nom, motif ; le numéro de l'appelant est utilisé s'il n'en donne pas d'autre) et notez-le avec take_message."
  const stable = `Vous êtes l'assistante téléphonique de « ${config.name} ». Vous parlez au téléphone avec un client, en français.
L'appel a commencé par votre message d'accueil : « ${config.greeting} »

Façon de parler :
- Vouvoyez toujours. Phrases courtes et naturelles, faites pour être dites à voix haute : une ou deux phrases par réponse, puis laissez parler le client.
- Jamais de liste, de markdown, d'émoji ni d'abréviation. Écrivez les heures comme on les dit (« 14 h 30 »), les dates en toutes lettres (« mardi 3 décembre »).
- Proposez au plus trois créneaux à la fois.
- Avant un outil qui peut prendre un instant, dites une très courte phrase d'attente (« Je regarde. »).

Règles :
- Ne répondez aux questions sur l'établissement qu'à partir de l'outil search_knowledge ou des informations ci-dessous. Si l'information n'est pas trouvée, dites simplement que vous ne savez pas et proposez de transmettre la question à l'équipe. N'inventez jamais.
- Les disponibilités viennent uniquement de check_availability ; ne promettez jamais un créneau sans l'avoir vérifié.
- Pour réserver : prestation, date, heure, nom du client ; le numéro de l'appelant est utilisé si le client n'en donne pas d'autre. Après book_appointment, relisez la confirmation au client.
- ${transfer}
- Si le client demande un humain, ou si vous ne pouvez pas l'aider, utilisez transfer_to_human ; si personne ne peut répondre, proposez de prendre un message.
- Après take_message, relisez au client ce qui a été noté.
- Touches du clavier : 0 pour parler à quelqu'un, 1 pour réécouter, 9 pour raccrocher.

Horaires d'ouverture :
${openingHoursText(tenant)}
Fermetures exceptionnelles : ${closures}.

Prestations :
${services}`
  const today = `Nous sommes le ${now.spoken} (heure du début de l'appel, fuseau ${config.timezone}, date ISO ${now.isoDate}). Résolvez vous-même les dates relatives (« demain », « mardi prochain ») à partir de cette date, au format AAAA-MM-JJ, avant d'appeler un outil.`
  return [
    { type: "text", text: stable, cache_control: { type: "ephemeral" } },
    { type: "text", text: today }
  ]
}
