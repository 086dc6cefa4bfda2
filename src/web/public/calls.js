import { api, query } from "./api.js"
import { announce, errorBox, h, heading, replaceChildren } from "./dom.js"
import { dateTime, duration, firstSentence, OUTCOMES, outcome, phone } from "./format.js"

const PAGE_SIZE = 25
// Filters survive going into a call and back.
const filters = { period: "7d", outcome: "", callback: false }

const select = (id, label, options, value, onChange) =>
  h("div", { class: "field" },
    h("label", { for: id }, label),
    h("select", { id, onchange: (event) => onChange(event.target.value) },
      options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text))))

const callItem = (call) =>
  h("li", { class: "call" },
    h("a", { href: `#/appels/${encodeURIComponent(call.id)}` },
      h("span", { class: "when" }, dateTime(call.created_at)),
      h("span", { class: "who" }, phone(call.from_number)),
      h("span", { class: "length" }, duration(call.duration)),
      h("span", { class: "badges" },
        h("span", { class: `badge outcome-${call.outcome ?? "none"}` }, outcome(call.outcome)),
        call.callback_needed ? h("span", { class: "badge callback" }, "À rappeler") : null),
      h("span", { class: "excerpt" }, firstSentence(call.summary_excerpt) || "Pas encore de résumé.")))

/** Calls, newest first, with filters; more as the owner scrolls (the API's cursor). */
export const callsView = (main) => {
  const list = h("ul", { class: "calls", "aria-describedby": "calls-count" })
  const count = h("p", { id: "calls-count", class: "count" })
  const more = h("button", { type: "button", class: "more", hidden: true }, "Afficher plus d'appels")
  const problem = h("div")
  let cursor = null
  let loading = false
  let generation = 0
  let shown = 0

  const load = async (reset) => {
    if (loading && !reset) return
    const mine = reset ? ++generation : generation
    loading = true
    if (reset) {
      cursor = null
      shown = 0
    }
    try {
      const page = await api(`/api/v1/twilio/calls${query({
        limit: PAGE_SIZE,
        period: filters.period === "all" ? "" : filters.period,
        outcome: filters.outcome,
        callback: filters.callback ? "1" : "",
        cursor
      })}`)
      if (mine !== generation) return
      if (reset) replaceChildren(list)
      replaceChildren(problem)
      for (const call of page.calls) list.append(callItem(call))
      shown += page.calls.length
      cursor = page.nextCursor
      more.hidden = cursor === null
      count.textContent = shown === 0 ? "Aucun appel pour ces filtres." : `${shown} appel${shown > 1 ? "s" : ""} affiché${shown > 1 ? "s" : ""}${cursor ? " (faites défiler pour voir la suite)" : ""}.`
      if (!reset) announce(`${page.calls.length} appels de plus.`)
    } catch (failure) {
      if (mine === generation) replaceChildren(problem, errorBox(failure.message))
    } finally {
      if (mine === generation) loading = false
    }
  }

  more.addEventListener("click", () => load(false))
  // Infinite scroll: the "more" button doubles as the sentinel, and stays usable from the keyboard.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && cursor !== null) load(false)
  }, { rootMargin: "200px" })
  observer.observe(more)

  const update = (key) => (value) => {
    filters[key] = value
    load(true)
  }
  const callbackBox = h("input", { id: "filter-callback", type: "checkbox", checked: filters.callback, onchange: (event) => update("callback")(event.target.checked) })
  const form = h("form", { class: "filters", "aria-label": "Filtres", onsubmit: (event) => event.preventDefault() },
    select("filter-period", "Période", [["today", "Aujourd'hui"], ["7d", "7 derniers jours"], ["30d", "30 derniers jours"], ["all", "Tout"]], filters.period, update("period")),
    select("filter-outcome", "Issue", [["", "Toutes"], ...Object.entries(OUTCOMES)], filters.outcome, update("outcome")),
    h("div", { class: "field check" }, callbackBox, h("label", { for: "filter-callback" }, "À rappeler")))

  replaceChildren(main, heading("Appels"), form, count, problem, list, more)
  load(true)
  return () => observer.disconnect()
}
