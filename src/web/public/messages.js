import { api, query } from "./api.js"
import { announce, errorBox, focusTitle, h, heading, replaceChildren } from "./dom.js"
import { dateTime, phone, telHref } from "./format.js"

let status = "new"

const messageItem = (message, onHandled) => {
  const actions = h("div", { class: "actions" })
  if (message.status === "new") {
    const button = h("button", { type: "button" }, "Marquer comme traité",
      h("span", { class: "visually-hidden" }, ` (message de ${message.callerName || "l'appelant"})`))
    button.addEventListener("click", async () => {
      button.disabled = true
      try {
        await api(`/api/v1/messages/${encodeURIComponent(message.id)}`, { method: "PATCH", body: { status: "handled" } })
        announce("Message marqué comme traité.")
        onHandled(item)
      } catch (failure) {
        button.disabled = false
        actions.append(errorBox(failure.message))
      }
    })
    actions.append(button)
  }
  const item = h("li", { class: `message${message.urgent ? " urgent" : ""}` },
    h("h2", {}, message.callerName || "Appelant sans nom", message.urgent ? h("span", { class: "badge urgent" }, "Urgent") : null),
    h("p", { class: "meta" },
      h("time", { datetime: message.createdAt }, dateTime(message.createdAt)),
      message.callbackNumber ? [" · Rappeler au ", h("a", { href: telHref(message.callbackNumber) }, phone(message.callbackNumber))] : null),
    h("p", { class: "words" }, message.message),
    message.callId ? h("p", {}, h("a", { href: `#/appels/${encodeURIComponent(message.callId)}` }, "Voir l'appel")) : null,
    message.status === "handled" && message.handledAt ? h("p", { class: "meta" }, `Traité ${dateTime(message.handledAt)}`) : null,
    actions)
  return item
}

/** The inbox of messages taken for the owner; new ones first, a tab for those already handled. */
export const messagesView = async (main) => {
  const list = h("ul", { class: "messages" })
  const problem = h("div")
  const more = h("button", { type: "button", class: "more", hidden: true }, "Afficher plus de messages")
  const count = h("p", { class: "count" })
  let cursor = null
  let shown = 0
  const tab = (value, label) => h("button", {
    type: "button",
    "aria-pressed": String(status === value),
    onclick: () => {
      status = value
      messagesView(main)
    }
  }, label)
  const setCount = () => {
    count.textContent = shown === 0
      ? status === "new" ? "Aucun message à traiter." : "Aucun message traité."
      : `${shown} message${shown > 1 ? "s" : ""}.`
  }
  const load = async () => {
    try {
      const page = await api(`/api/v1/messages${query({ status, limit: 25, cursor })}`)
      for (const message of page.messages) {
        list.append(messageItem(message, (item) => {
          item.remove()
          shown -= 1
          setCount()
        }))
      }
      shown += page.messages.length
      cursor = page.nextCursor
      more.hidden = !cursor
      setCount()
    } catch (failure) {
      replaceChildren(problem, errorBox(failure.status === 404 ? "La messagerie n'est pas encore disponible sur ce serveur." : failure.message))
    }
  }
  more.addEventListener("click", load)
  replaceChildren(main, heading("Messages"),
    h("div", { class: "tabs", role: "group", "aria-label": "Quels messages" }, tab("new", "À traiter"), tab("handled", "Traités")),
    count, problem, list, more)
  focusTitle()
  await load()
}
