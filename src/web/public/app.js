// The owner's page: a hash router over a few views, all data from the owner API with the session cookie.
import { api, whenSignedOut } from "./api.js"
import { appointmentsView } from "./appointments.js"
import { callView } from "./call.js"
import { callsView } from "./calls.js"
import { announce, focusTitle } from "./dom.js"
import { setTimeZone } from "./format.js"
import { messagesView } from "./messages.js"
import { signInView } from "./signin.js"
import { trendsView } from "./trends.js"

const main = document.getElementById("main")
const nav = document.getElementById("nav")
const business = document.getElementById("business")
let leaveView = () => {}
let signedIn = false

const route = () => {
  if (!signedIn) return
  leaveView()
  leaveView = () => {}
  const [section, id] = location.hash.replace(/^#\/?/, "").split("/")
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.route === (section || "appels")) link.setAttribute("aria-current", "page")
    else link.removeAttribute("aria-current")
  }
  if (section === "appels" && id) return callView(main, decodeURIComponent(id))
  if (section === "rendez-vous") return appointmentsView(main)
  if (section === "messages") return messagesView(main)
  if (section === "tendances") return trendsView(main)
  leaveView = callsView(main)
  focusTitle()
}

const enter = (tenant) => {
  signedIn = true
  setTimeZone(tenant.timezone)
  business.textContent = ` · ${tenant.name}`
  nav.hidden = false
  route()
}

const showSignIn = () => {
  signedIn = false
  leaveView()
  nav.hidden = true
  business.textContent = ""
  signInView(main, (tenant) => {
    announce(`Connecté : ${tenant.name}.`)
    enter(tenant)
  })
}

whenSignedOut(showSignIn)
window.addEventListener("hashchange", route)

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api("/api/v1/session", { method: "DELETE" })
  } finally {
    showSignIn()
    announce("Vous êtes déconnecté.")
  }
})

api("/api/v1/session").then((session) => enter(session.tenant), showSignIn)
