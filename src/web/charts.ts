import type { Outcome } from "../call/vocabulary.ts"
import type { Trends } from "../storage/TrendsQuery.ts"

/**
 * The trend charts, drawn on the server as SVG (no chart code in the page, nothing to run in the
 * browser, loaded as <img> so even a bad label could not script). Pure functions of the trends.
 * Presentation attributes only: the page's CSP forbids inline style.
 */

const WIDTH = 640
const HEIGHT = 260
const PLOT = { left: 48, right: 12, top: 16, bottom: 56 } as const
const INNER_W = WIDTH - PLOT.left - PLOT.right
const INNER_H = HEIGHT - PLOT.top - PLOT.bottom

export const OUTCOME_LABELS: Readonly<Record<Outcome | "other", string>> = {
  booked: "Rendez-vous pris",
  transferred: "Transféré",
  message_taken: "Message pris",
  information_given: "Renseigné",
  abandoned: "Abandonné",
  other: "Autre / en cours"
}

// Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
const OUTCOME_COLOURS: Readonly<Record<Outcome | "other", string>> = {
  booked: "#009E73",
  transferred: "#0072B2",
  message_taken: "#E69F00",
  information_given: "#56B4E9",
  abandoned: "#D55E00",
  other: "#999999"
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;")

const round = (n: number) => Math.round(n * 10) / 10

/** A round maximum for the y axis and its tick step. */
export const niceScale = (max: number): { readonly max: number; readonly step: number } => {
  if (max <= 0) return { max: 1, step: 1 }
  const magnitude = 10 ** Math.floor(Math.log10(max))
  // Whole steps only: the charts count calls and milliseconds.
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= 1 && max / s <= 5) ?? 10 * magnitude
  return { max: Math.ceil(max / step) * step, step }
}

const shortDate = (date: string) => `${date.slice(8, 10)}/${date.slice(5, 7)}`

const svg = (title: string, description: string, body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="12">` +
  `<title id="t">${escapeXml(title)}</title><desc id="d">${escapeXml(description)}</desc>` +
  `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>${body}</svg>`

const yAxis = (max: number, step: number, unit: string) => {
  let out = ""
  for (let value = 0; value <= max; value += step) {
    const y = round(PLOT.top + INNER_H - (value / max) * INNER_H)
    out += `<line x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${y}" y2="${y}" stroke="#e2e2e2"/>`
    out += `<text x="${PLOT.left - 6}" y="${y + 4}" text-anchor="end" fill="#444">${escapeXml(`${value}${unit}`)}</text>`
  }
  return out
}

/** Labels under the x axis, thinned so they never overlap. */
const xLabels = (labels: ReadonlyArray<string>, centre: (i: number) => number) => {
  const every = Math.max(1, Math.ceil(labels.length / 12))
  return labels.map((label, i) =>
    i % every === 0
      ? `<text x="${round(centre(i))}" y="${HEIGHT - PLOT.bottom + 16}" text-anchor="middle" fill="#444">${escapeXml(label)}</text>`
      : ""
  ).join("")
}

const legend = (entries: ReadonlyArray<readonly [string, string]>) => {
  const columnWidth = INNER_W / Math.min(entries.length, 3)
  return entries.map(([label, colour], i) => {
    const x = round(PLOT.left + (i % 3) * columnWidth)
    const y = HEIGHT - 26 + Math.floor(i / 3) * 14
    return `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${colour}"/><text x="${x + 14}" y="${y}" fill="#222">${escapeXml(label)}</text>`
  }).join("")
}

const noData = (title: string) =>
  svg(title, "Aucune donnée sur la période.", `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" fill="#666" font-size="14">Aucune donnée sur la période</text>`)

export const callsPerDayChart = (trends: Trends): string => {
  const title = "Appels par jour, par issue"
  if (trends.totalCalls === 0) return noData(title)
  const { max, step } = niceScale(Math.max(...trends.days.map((d) => d.total)))
  const slot = INNER_W / trends.days.length
  const barWidth = round(Math.max(2, slot * 0.7))
  const order = Object.keys(OUTCOME_LABELS) as Array<Outcome | "other">
  let bars = ""
  trends.days.forEach((day, i) => {
    let base = PLOT.top + INNER_H
    for (const outcome of order) {
      const count = day.byOutcome[outcome]
      if (count === 0) continue
      const height = (count / max) * INNER_H
      base -= height
      bars += `<rect x="${round(PLOT.left + i * slot + (slot - barWidth) / 2)}" y="${round(base)}" width="${barWidth}" height="${round(height)}" fill="${OUTCOME_COLOURS[outcome]}"><title>${escapeXml(`${shortDate(day.date)} : ${count} ${OUTCOME_LABELS[outcome].toLowerCase()}`)}</title></rect>`
    }
  })
  const description = `${trends.totalCalls} appels du ${shortDate(trends.days[0]!.date)} au ${shortDate(trends.days[trends.days.length - 1]!.date)}.`
  return svg(
    title,
    description,
    yAxis(max, step, "") + bars + xLabels(trends.days.map((d) => shortDate(d.date)), (i) => PLOT.left + (i + 0.5) * slot) +
      legend(order.map((o) => [OUTCOME_LABELS[o], OUTCOME_COLOURS[o]] as const))
  )
}

interface Series {
  readonly label: string
  readonly colour: string
  readonly values: ReadonlyArray<number | null>
  readonly dashed?: boolean
}

/** Lines over the days; a day without a value breaks the line instead of drawing it at zero. */
const lineChart = (title: string, description: string, labels: ReadonlyArray<string>, series: ReadonlyArray<Series>, unit: string, fixedMax?: number) => {
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== null))
  if (values.length === 0) return noData(title)
  const { max, step } = fixedMax !== undefined ? { max: fixedMax, step: fixedMax / 4 } : niceScale(Math.max(...values))
  const x = (i: number) => PLOT.left + (labels.length === 1 ? INNER_W / 2 : (i / (labels.length - 1)) * INNER_W)
  const y = (v: number) => PLOT.top + INNER_H - (v / max) * INNER_H
  let body = yAxis(max, step, unit)
  for (const s of series) {
    let path = ""
    let pen = false
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = false
        return
      }
      path += `${pen ? "L" : "M"}${round(x(i))} ${round(y(v))} `
      pen = true
      body += `<circle cx="${round(x(i))}" cy="${round(y(v))}" r="3" fill="${s.colour}"><title>${escapeXml(`${labels[i]} : ${Math.round(v)}${unit}`)}</title></circle>`
    })
    body += `<path d="${path.trim()}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6 4"` : ""}/>`
  }
  body += xLabels(labels, x) + legend(series.map((s) => [s.label, s.colour] as const))
  return svg(title, description, body)
}

export const resolutionRateChart = (trends: Trends): string =>
  lineChart(
    "Taux de résolution par jour",
    "Part des appels traités (rendez-vous, transfert, message ou renseignement), par jour.",
    trends.days.map((d) => shortDate(d.date)),
    [{ label: "Appels résolus (%)", colour: "#009E73", values: trends.days.map((d) => d.resolutionRate) }],
    " %",
    100
  )

export const latencyChart = (trends: Trends): string =>
  lineChart(
    "Temps de réponse de l'assistante",
    "Délai entre la fin de la phrase de l'appelant et le début de la réponse : médiane (p50) et 95e centile (p95), par jour.",
    trends.days.map((d) => shortDate(d.date)),
    [
      { label: "Médiane (p50)", colour: "#0072B2", values: trends.days.map((d) => d.latencyP50Ms) },
      { label: "95e centile (p95)", colour: "#D55E00", values: trends.days.map((d) => d.latencyP95Ms), dashed: true }
    ],
    " ms"
  )

export const busiestHoursChart = (trends: Trends): string => {
  const title = "Heures les plus chargées"
  if (trends.totalCalls === 0) return noData(title)
  const { max, step } = niceScale(Math.max(...trends.hours))
  const slot = INNER_W / 24
  const bars = trends.hours.map((count, hour) => {
    const height = (count / max) * INNER_H
    return `<rect x="${round(PLOT.left + hour * slot + slot * 0.15)}" y="${round(PLOT.top + INNER_H - height)}" width="${round(slot * 0.7)}" height="${round(height)}" fill="#0072B2"><title>${hour} h : ${count} appel${count > 1 ? "s" : ""}</title></rect>`
  }).join("")
  const busiest = trends.hours.indexOf(Math.max(...trends.hours))
  return svg(
    title,
    `Appels par heure de la journée ; le plus d'appels arrivent vers ${busiest} h.`,
    yAxis(max, step, "") + bars + xLabels(trends.hours.map((_, h) => `${h} h`), (i) => PLOT.left + (i + 0.5) * slot)
  )
}

export const CHARTS: ReadonlyMap<string, (trends: Trends) => string> = new Map([
  ["calls-per-day", callsPerDayChart],
  ["resolution-rate", resolutionRateChart],
  ["latency", latencyChart],
  ["busiest-hours", busiestHoursChart]
])
