import { api } from "./api.js"
import { errorBox, focusTitle, h, heading, replaceChildren } from "./dom.js"
import { clockTime, duration, endReason, eventText, longDateTime, outcome, phone, telHref, toolText } from "./format.js"

const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)]

/** The conversation in order: the caller's and the agent's words, with the agent's actions between them. */
const conversation = (call) => {
  const entries = [
    ...call.transcript.map((line) => ({ seq: line.seq, line })),
    ...call.toolCalls.map((tool) => ({ seq: tool.seq, tool }))
  ].sort((a, b) => a.seq - b.seq)
  if (entries.length === 0) return h("p", {}, "Aucune parole enregistrée pour cet appel.")
  return h("ol", { class: "transcript" }, entries.map(({ line, tool }) => {
    if (tool) return h("li", { class: "tool" }, h("span", { class: "visually-hidden" }, "Action : "), toolText(tool))
    const caller = line.role === "caller"
    return h("li", { class: caller ? "caller" : "agent" },
      h("span", { class: "speaker" }, caller ? "Appelant" : "Assistante"),
      h("p", { class: "words" }, line.text),
      line.interrupted ? h("span", { class: "badge cut" }, "Coupée — l'appelant a parlé par-dessus") : null,
      h("span", { class: "time" }, clockTime(line.at)))
  }))
}

const summarySection = (summary) => {
  if (!summary) return h("section", {}, h("h2", {}, "Résumé"), h("p", {}, "Le résumé n'est pas encore prêt."))
  const questions = Array.isArray(summary.unansweredQuestions) ? summary.unansweredQuestions : []
  return h("section", { class: "summary" },
    h("h2", {}, "Résumé"),
    h("p", {}, summary.summary),
    h("dl", { class: "facts" },
      fact("Ressenti", summary.sentiment ?? "—"),
      fact("Motif", summary.intent ?? "—"),
      fact("À rappeler", summary.callbackNeeded ? "Oui" : "Non")),
    h("h3", {}, "Questions restées sans réponse"),
    questions.length === 0 ? h("p", {}, "Aucune.") : h("ul", {}, questions.map((question) => h("li", {}, String(question)))))
}

export const callView = async (main, id) => {
  replaceChildren(main, h("p", { class: "loading" }, "Chargement de l'appel…"))
  let call
  try {
    ({ call } = await api(`/api/v1/twilio/calls/${encodeURIComponent(id)}`))
  } catch (failure) {
    replaceChildren(main, heading("Appel"), errorBox(failure.status === 404 ? "Cet appel n'existe pas." : failure.message),
      h("p", {}, h("a", { href: "#/appels" }, "Revenir aux appels")))
    focusTitle()
    return
  }
  replaceChildren(main,
    h("p", { class: "back" }, h("a", { href: "#/appels" }, "← Tous les appels")),
    heading(`Appel du ${longDateTime(call.created_at)}`),
    h("dl", { class: "facts" },
      fact("Appelant", call.from_number ? h("a", { href: telHref(call.from_number) }, phone(call.from_number)) : "Numéro masqué"),
      fact("Durée", duration(call.duration)),
      fact("Issue", outcome(call.outcome)),
      fact("Fin", endReason(call.end_reason))),
    summarySection(call.summary),
    h("section", {}, h("h2", {}, "Conversation"), conversation(call)),
    h("section", {}, h("h2", {}, "Chronologie"),
      call.events.length === 0
        ? h("p", {}, "Aucun événement.")
        : h("ol", { class: "timeline" }, call.events.map((event) =>
          h("li", {}, h("time", { datetime: event.at }, clockTime(event.at)), " ", eventText(event))))))
  focusTitle()
}
