import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Outcome, OUTCOMES } from "../call/vocabulary.ts"
import { addDays, localDateAt, parseLocalDate, startOfLocalDay } from "../scheduling/slots.ts"
import { Scheduling } from "../scheduling/Scheduling.ts"
import { CallsQuery, decodeCallCursor } from "../storage/CallsQuery.ts"
import { TrendsQuery } from "../storage/TrendsQuery.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import { CHARTS } from "../web/charts.ts"
import { badRequest, jsonRoute, notFound, requireTenant, searchParams } from "./http.ts"

/** The business owner's API. The tenant is always the API key's owner. */

const DEFAULT_LIMIT = 50
const MAX_LIMIT = 200

export const limitParam = (params: URLSearchParams) => {
  const raw = params.get("limit")
  if (raw === null || raw === "") return Effect.succeed(DEFAULT_LIMIT)
  const limit = Number(raw)
  return Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT
    ? Effect.succeed(limit)
    : Effect.fail(badRequest(`limit: expected an integer from 1 to ${MAX_LIMIT}`))
}

/**
 * `from`/`to` as an ISO instant, or a date read in the tenant's time zone (`to` then covers that
 * whole day). Returns UTC ISO instants.
 */
const boundParam = (params: URLSearchParams, name: "from" | "to", tenant: Tenant) => {
  const raw = params.get(name)
  if (raw === null || raw === "") return Effect.succeed(undefined)
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    // addDays throws on a day that does not exist (2026-02-30): refuse it here as a 400.
    if (Option.isNone(parseLocalDate(raw))) return Effect.fail(badRequest(`${name}: not a valid date`))
    const day = name === "to" ? addDays(raw, 1) : raw
    // The day's first instant, even where DST skips midnight (America/Santiago: 00:00 → 01:00).
    return Effect.succeed(new Date(startOfLocalDay(day, tenant.config.timezone)).toISOString())
  }
  const ms = Date.parse(raw)
  return Number.isNaN(ms)
    ? Effect.fail(badRequest(`${name}: expected a date (YYYY-MM-DD) or an ISO instant`))
    : Effect.succeed(new Date(ms).toISOString())
}

/** Days before today that a period starts. */
const PERIOD_DAYS: ReadonlyMap<string, number> = new Map([["today", 0], ["7d", 6], ["30d", 29]])

/** `period=today|7d|30d` for the usual dashboards; explicit `from`/`to` win. */
export const periodParams = (params: URLSearchParams, tenant: Tenant) =>
  Effect.gen(function*() {
    const from = yield* boundParam(params, "from", tenant)
    const to = yield* boundParam(params, "to", tenant)
    const period = params.get("period")
    if (period === null || period === "" || from !== undefined) return { from, to, period: period ?? null }
    // A Map, not an object literal: `period=toString` must not find Object.prototype's members.
    const days = PERIOD_DAYS.get(period)
    if (days === undefined) return yield* badRequest("period: expected today, 7d or 30d")
    const today = localDateAt(tenant.config.timezone, yield* Clock.currentTimeMillis)
    const start = startOfLocalDay(addDays(today, -days), tenant.config.timezone)
    return { from: new Date(start).toISOString(), to, period }
  })

const isOutcome = Schema.is(Outcome)

const listCalls = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const query = yield* CallsQuery
  const params = yield* searchParams
  const limit = yield* limitParam(params)
  const { from, to } = yield* periodParams(params, tenant)
  const outcome = params.get("outcome") ?? undefined
  if (outcome !== undefined && !isOutcome(outcome)) {
    return yield* badRequest(`outcome: expected one of ${OUTCOMES.join(", ")}`)
  }
  const callback = params.get("callback")
  if (callback !== null && callback !== "" && callback !== "1") return yield* badRequest("callback: expected 1")
  const rawCursor = params.get("cursor")
  const cursor = rawCursor ? decodeCallCursor(rawCursor) : Option.none()
  if (rawCursor && Option.isNone(cursor)) return yield* badRequest("cursor: not a cursor returned by this API")
  const page = yield* query.list(tenant.id, {
    limit,
    from,
    to,
    status: params.get("status") ?? undefined,
    outcome,
    callbackNeeded: callback === "1",
    cursor: Option.getOrUndefined(cursor)
  })
  return HttpServerResponse.unsafeJson({ success: true, calls: page.calls, count: page.calls.length, nextCursor: page.nextCursor })
}))

const callDetail = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const query = yield* CallsQuery
  const { id } = yield* HttpRouter.params
  const call = yield* query.detail(tenant.id, id ?? "")
  if (Option.isNone(call)) return yield* notFound("call")
  return HttpServerResponse.unsafeJson({ success: true, call: call.value })
}))

const stats = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const query = yield* CallsQuery
  const params = yield* searchParams
  const period = yield* periodParams(params, tenant)
  const result = yield* query.stats(tenant.id, period)
  return HttpServerResponse.unsafeJson({ success: true, ...result, period: { from: period.from ?? null, to: period.to ?? null } })
}))

const listAppointments = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const scheduling = yield* Scheduling
  const params = yield* searchParams
  const limit = yield* limitParam(params)
  const status = params.get("status")
  if (status !== null && status !== "booked" && status !== "cancelled") {
    return yield* badRequest("status: expected booked or cancelled")
  }
  const page = yield* scheduling.listAppointments(tenant.id, {
    from: params.get("from") ?? undefined,
    to: params.get("to") ?? undefined,
    status: status ?? undefined,
    limit,
    cursor: params.get("cursor") ?? undefined,
    timeZone: tenant.config.timezone
  }).pipe(Effect.catchTag("InvalidListQuery", (error) => Effect.fail(badRequest(error.message))))
  return HttpServerResponse.unsafeJson({
    success: true,
    appointments: page.appointments,
    count: page.appointments.length,
    nextCursor: page.nextCursor
  })
}))

/** Cancelling frees the slot at once for the next caller. */
const cancelAppointment = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const scheduling = yield* Scheduling
  const { id } = yield* HttpRouter.params
  const appointment = yield* scheduling.cancel(tenant.id, id ?? "").pipe(
    Effect.catchTag("AppointmentNotFound", () => Effect.fail(notFound("appointment")))
  )
  return HttpServerResponse.unsafeJson({ success: true, appointment })
}))

/** Trends over `period`/`from`/`to` (30 days by default), up to the end of today. */
const trendsOf = Effect.gen(function*() {
  const tenant = yield* requireTenant
  const trends = yield* TrendsQuery
  const params = yield* searchParams
  const explicit = params.get("period") || params.get("from")
  const period = yield* periodParams(explicit ? params : new URLSearchParams({ period: "30d" }), tenant)
  const timeZone = tenant.config.timezone
  const today = localDateAt(timeZone, yield* Clock.currentTimeMillis)
  const to = period.to ?? new Date(startOfLocalDay(addDays(today, 1), timeZone)).toISOString()
  const from = period.from ?? new Date(startOfLocalDay(addDays(today, -29), timeZone)).toISOString()
  if (from >= to) return yield* badRequest("from: must be before to")
  if (Date.parse(to) - Date.parse(from) > 400 * 86_400_000) return yield* badRequest("period: at most 400 days")
  return yield* trends.trends(tenant.id, { from, to, timeZone })
})

const trends = jsonRoute(Effect.map(trendsOf, (result) => HttpServerResponse.unsafeJson({ success: true, ...result })))

/** One trend chart as SVG, for an <img> on the owner's page. */
const trendChart = jsonRoute(Effect.gen(function*() {
  const { chart } = yield* HttpRouter.params
  const draw = CHARTS.get((chart ?? "").replace(/\.svg$/, ""))
  if (draw === undefined) return yield* notFound("chart")
  const result = yield* trendsOf
  return HttpServerResponse.text(draw(result), {
    contentType: "image/svg+xml; charset=utf-8",
    headers: { "cache-control": "private, no-store", "content-security-policy": "default-src 'none'", "x-content-type-options": "nosniff" }
  })
}))

export const ownerRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/twilio/calls", listCalls),
  HttpRouter.get("/api/v1/twilio/calls/:id", callDetail),
  HttpRouter.get("/api/v1/twilio/stats", stats),
  HttpRouter.get("/api/v1/trends", trends),
  HttpRouter.get("/api/v1/trends/charts/:chart", trendChart),
  HttpRouter.get("/api/v1/appointments", listAppointments),
  HttpRouter.del("/api/v1/appointments/:id", cancelAppointment)
)
