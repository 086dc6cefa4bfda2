import { describe, expect, test } from "../support/test.ts"
import { busiestHoursChart, callsPerDayChart, latencyChart, niceScale, resolutionRateChart } from "../../src/web/charts.ts"
import { groupTrends } from "../../src/storage/TrendsQuery.ts"

/** Trends grouped by the tenant's local day and hour, and the SVG charts drawn from them. */

describe("groupTrends", () => {
  test("calls are counted on the tenant's local day and hour, not UTC's", () => {
    const trends = groupTrends({
      firstDay: "2026-11-28",
      lastDay: "2026-11-29",
      timeZone: "Europe/Paris",
      // 23:30 UTC on the 28th is 00:30 on the 29th in Paris.
      calls: [
        { createdAt: "2026-11-28T23:30:00.000Z", outcome: "booked" },
        { createdAt: "2026-11-28T09:00:00.000Z", outcome: "abandoned" },
        { createdAt: "2026-11-28T09:10:00.000Z", outcome: null },
        { createdAt: "2026-11-30T09:00:00.000Z", outcome: "booked" } // after the range: ignored
      ],
      latencies: [
        { createdAt: "2026-11-28T23:30:00.000Z", ms: 300 },
        { createdAt: "2026-11-28T23:30:00.000Z", ms: 900 }
      ]
    })
    expect(trends.days.map((d) => [d.date, d.total])).toEqual([["2026-11-28", 2], ["2026-11-29", 1]])
    expect(trends.days[0]!.byOutcome).toMatchObject({ abandoned: 1, other: 1, booked: 0 })
    expect(trends.days[0]!.resolutionRate).toBe(0)
    expect(trends.days[1]!.resolutionRate).toBe(100)
    expect(trends.days[0]!.latencyP50Ms).toBeNull()
    expect([trends.days[1]!.latencyP50Ms, trends.days[1]!.latencyP95Ms]).toEqual([300, 900])
    expect(trends.hours[0]).toBe(1)
    expect(trends.hours[10]).toBe(2)
    expect(trends.totalCalls).toBe(4)
  })

  test("a day without calls is there, empty, with no rate rather than 0 %", () => {
    const trends = groupTrends({ firstDay: "2026-03-28", lastDay: "2026-03-30", timeZone: "Europe/Paris", calls: [], latencies: [] })
    expect(trends.days.map((d) => d.date)).toEqual(["2026-03-28", "2026-03-29", "2026-03-30"])
    expect(trends.days.every((d) => d.total === 0 && d.resolutionRate === null)).toBe(true)
  })
})

describe("charts", () => {
  const trends = {
    from: "2026-11-28T00:00:00.000Z",
    to: "2026-11-30T00:00:00.000Z",
    ...groupTrends({
      firstDay: "2026-11-28",
      lastDay: "2026-11-29",
      timeZone: "UTC",
      calls: [{ createdAt: "2026-11-28T09:00:00.000Z", outcome: "booked" }, { createdAt: "2026-11-29T14:00:00.000Z", outcome: "abandoned" }],
      latencies: [{ createdAt: "2026-11-28T09:00:00.000Z", ms: 420 }]
    })
  }

  test("each chart is a titled SVG with one mark per value", () => {
    const perDay = callsPerDayChart(trends)
    expect(perDay).toStartWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    expect(perDay).toContain("<title id=\"t\">Appels par jour, par issue</title>")
    expect(perDay.match(/<rect x=[^>]*fill="#009E73"><title>/g)).toHaveLength(1)
    expect(perDay.match(/<rect x=[^>]*fill="#D55E00"><title>/g)).toHaveLength(1)
    expect(resolutionRateChart(trends).match(/<circle/g)).toHaveLength(2)
    expect(latencyChart(trends).match(/<circle/g)).toHaveLength(2) // p50 and p95 of the one day with latencies
    expect(busiestHoursChart(trends)).toContain("vers 9 h")
  })

  test("no data says so instead of drawing an empty frame", () => {
    const empty = { ...trends, ...groupTrends({ firstDay: "2026-11-28", lastDay: "2026-11-28", timeZone: "UTC", calls: [], latencies: [] }) }
    expect(callsPerDayChart(empty)).toContain("Aucune donnée sur la période")
    expect(latencyChart(empty)).toContain("Aucune donnée sur la période")
  })

  test("no inline style attribute (the page's CSP forbids it)", () => {
    for (const chart of [callsPerDayChart, resolutionRateChart, latencyChart, busiestHoursChart]) {
      expect(chart(trends)).not.toContain("style=")
    }
  })

  test("y axis maxima are round numbers above the data", () => {
    expect(niceScale(0)).toEqual({ max: 1, step: 1 })
    expect(niceScale(1)).toEqual({ max: 1, step: 1 })
    expect(niceScale(7)).toEqual({ max: 8, step: 2 })
    expect(niceScale(1234)).toEqual({ max: 1500, step: 500 })
  })
})
