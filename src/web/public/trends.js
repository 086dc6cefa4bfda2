import { api } from "./api.js"
import { errorBox, focusTitle, h, heading, replaceChildren } from "./dom.js"

let period = "30d"

const CHARTS = [
  ["calls-per-day", "Appels par jour, par issue"],
  ["resolution-rate", "Taux de résolution"],
  ["latency", "Temps de réponse de l'assistante (p50 et p95)"],
  ["busiest-hours", "Heures les plus chargées"]
]

/** A sentence per chart for screen readers (the <img> alt), from the same numbers as the chart. */
const describe = (trends) => {
  const withCalls = trends.days.filter((day) => day.total > 0)
  const busiestDay = withCalls.reduce((best, day) => (best === null || day.total > best.total ? day : best), null)
  const resolved = trends.days.reduce((n, day) => n + day.total - day.byOutcome.abandoned - day.byOutcome.other, 0)
  const p50s = trends.days.map((day) => day.latencyP50Ms).filter((v) => v !== null)
  const busiestHour = trends.hours.indexOf(Math.max(...trends.hours))
  return {
    "calls-per-day": trends.totalCalls === 0
      ? "Aucun appel sur la période."
      : `${trends.totalCalls} appel${trends.totalCalls > 1 ? "s" : ""} sur la période ; le plus chargé : ${busiestDay.total} le ${busiestDay.date.split("-").reverse().join("/")}.`,
    "resolution-rate": trends.totalCalls === 0 ? "Aucun appel sur la période." : `${Math.round((resolved / trends.totalCalls) * 100)} % des appels résolus sur la période.`,
    latency: p50s.length === 0 ? "Pas encore de mesure." : `Temps de réponse médian entre ${Math.round(Math.min(...p50s))} et ${Math.round(Math.max(...p50s))} ms selon les jours.`,
    "busiest-hours": trends.totalCalls === 0 ? "Aucun appel sur la période." : `Le plus d'appels arrivent vers ${busiestHour} h.`
  }
}

export const trendsView = async (main) => {
  const body = h("div", {}, h("p", { class: "loading" }, "Chargement…"))
  const choose = h("select", { id: "trend-period", onchange: (event) => { period = event.target.value; trendsView(main) } },
    [["7d", "7 derniers jours"], ["30d", "30 derniers jours"]].map(([value, text]) => h("option", { value, selected: value === period }, text)))
  replaceChildren(main, heading("Tendances"),
    h("form", { class: "filters", onsubmit: (event) => event.preventDefault() }, h("div", { class: "field" }, h("label", { for: "trend-period" }, "Période"), choose)),
    body)
  focusTitle()
  let trends
  try {
    trends = await api(`/api/v1/trends?period=${period}`)
  } catch (failure) {
    replaceChildren(body, errorBox(failure.message))
    return
  }
  const alts = describe(trends)
  replaceChildren(body, h("div", { class: "charts" }, CHARTS.map(([name, title]) =>
    h("figure", { class: "chart" },
      h("img", { src: `/api/v1/trends/charts/${name}.svg?period=${period}`, alt: alts[name], width: 640, height: 260, loading: "lazy" }),
      h("figcaption", {}, title)))))
}
