import { api, query } from "./api.js"
import { announce, errorBox, focusTitle, h, heading, replaceChildren } from "./dom.js"
import { addDays, dayInWords, mondayOf, phone, timeInWords, todayLocal } from "./format.js"

let weekStart = null

/** Asks before cancelling, in a modal dialog (focus stays inside; Échap closes it). Resolves to true or false. */
const confirmCancel = (appointment) => new Promise((resolve) => {
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, "Annuler ce rendez-vous ?"),
    h("p", {}, `${appointment.serviceName} pour ${appointment.clientName}, ${dayInWords(appointment.date)} à ${timeInWords(appointment.time)}. Le créneau redeviendra libre pour d'autres clients.`),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", value: "yes", onclick: () => dialog.close("yes") }, "Oui, annuler le rendez-vous"),
      h("button", { type: "button", value: "no", autofocus: true, onclick: () => dialog.close("no") }, "Non, le garder")))
  dialog.addEventListener("close", () => {
    resolve(dialog.returnValue === "yes")
    dialog.remove()
  })
  document.body.append(dialog)
  dialog.showModal()
})

const appointmentItem = (appointment, onCancelled) => {
  const button = h("button", { type: "button", class: "cancel" }, "Annuler", h("span", { class: "visually-hidden" }, ` le rendez-vous de ${appointment.clientName} à ${timeInWords(appointment.time)}`))
  button.addEventListener("click", async () => {
    if (!(await confirmCancel(appointment))) {
      button.focus()
      return
    }
    button.disabled = true
    try {
      await api(`/api/v1/appointments/${encodeURIComponent(appointment.id)}`, { method: "DELETE" })
      announce(`Rendez-vous de ${appointment.clientName} annulé : le créneau est de nouveau libre.`)
      onCancelled()
    } catch (failure) {
      button.disabled = false
      button.after(errorBox(failure.message))
    }
  })
  return h("li", { class: "appointment" },
    h("span", { class: "time" }, appointment.time.replace(":", " h ")),
    h("span", { class: "service" }, appointment.serviceName),
    h("span", { class: "client" }, appointment.clientName),
    h("a", { class: "phone", href: `tel:${appointment.clientPhone.replace(/[^\d+]/g, "")}` }, phone(appointment.clientPhone)),
    appointment.callId ? h("a", { href: `#/appels/${encodeURIComponent(appointment.callId)}` }, "Voir l'appel") : null,
    button)
}

/** A week (Monday to Sunday): seven columns on a desk, a list of days on a phone (same markup, CSS decides). */
export const appointmentsView = async (main) => {
  weekStart ??= mondayOf(todayLocal())
  const days = Array.from({ length: 7 }, (_, i) => addDays(weekStart, i))
  const go = (days) => () => {
    weekStart = days === 0 ? mondayOf(todayLocal()) : addDays(weekStart, days)
    appointmentsView(main)
  }
  const navigation = h("nav", { class: "week-nav", "aria-label": "Semaines" },
    h("button", { type: "button", onclick: go(-7) }, "← Semaine précédente"),
    h("button", { type: "button", onclick: go(0) }, "Cette semaine"),
    h("button", { type: "button", onclick: go(7) }, "Semaine suivante →"))
  const body = h("div", {}, h("p", { class: "loading" }, "Chargement…"))
  replaceChildren(main, heading("Rendez-vous"), h("p", { class: "week-label" }, `Semaine du ${dayInWords(days[0])} au ${dayInWords(days[6])}`), navigation, body)
  focusTitle()
  let appointments
  try {
    ({ appointments } = await api(`/api/v1/appointments${query({ from: days[0], to: days[6], status: "booked", limit: 200 })}`))
  } catch (failure) {
    replaceChildren(body, errorBox(failure.message))
    return
  }
  const reload = () => appointmentsView(main)
  const today = todayLocal()
  replaceChildren(body, appointments.length === 0 ? h("p", { class: "none" }, "Aucun rendez-vous cette semaine.") : null, h("div", { class: "week" }, days.map((day) => {
    const ofDay = appointments.filter((appointment) => appointment.date === day)
    return h("section", { class: `day${day === today ? " today" : ""}${ofDay.length === 0 ? " empty" : ""}`, "aria-labelledby": `day-${day}` },
      h("h2", { id: `day-${day}` }, dayInWords(day), day === today ? h("span", { class: "badge" }, "aujourd'hui") : null),
      ofDay.length === 0 ? h("p", { class: "none" }, "Aucun rendez-vous") : h("ul", {}, ofDay.map((appointment) => appointmentItem(appointment, reload))))
  })))
}
