import { api } from "./api.js"
import { errorBox, h, heading, replaceChildren } from "./dom.js"

/** The sign-in form. The key goes to the server in a POST body and is forgotten: never stored in the page. */
export const signInView = (main, onSignedIn) => {
  const input = h("input", {
    id: "api-key",
    name: "apiKey",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
    "aria-describedby": "api-key-help"
  })
  const message = h("div", { id: "signin-message" })
  const button = h("button", { type: "submit" }, "Se connecter")
  const form = h(
    "form",
    { class: "signin", novalidate: true },
    h("label", { for: "api-key" }, "Clé d'accès"),
    input,
    h("p", { id: "api-key-help", class: "hint" }, "La clé reçue à l'ouverture de votre compte (elle commence par « cocc_ »)."),
    message,
    button
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const apiKey = input.value.trim()
    if (apiKey === "") {
      replaceChildren(message, errorBox("Saisissez votre clé d'accès."))
      input.focus()
      return
    }
    button.disabled = true
    replaceChildren(message)
    try {
      const session = await api("/api/v1/session", { method: "POST", body: { apiKey }, serverMessage: true })
      input.value = ""
      onSignedIn(session.tenant)
    } catch (failure) {
      replaceChildren(message, errorBox(failure.message))
      input.select()
    } finally {
      button.disabled = false
    }
  })
  replaceChildren(main, h("section", { class: "card narrow" }, heading("Connexion"), h("p", {}, "Consultez vos appels, rendez-vous et messages."), form))
  input.focus()
}
