import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type AppointmentsRepo, isoOf, toAppointment } from "./AppointmentsRepo.ts"
import { addDays, parseLocalDate, startOfLocalDay } from "./slots.ts"
import { AppointmentNotFound, type AppointmentPage, InvalidListQuery, type ListAppointmentsOptions } from "./types.ts"

/** The owner's side: list appointments page by page (keyset cursor), cancel one. */

const LIST_DEFAULT_LIMIT = 50
const LIST_MAX_LIMIT = 200

const CursorJson = Schema.parseJson(Schema.Tuple(Schema.String, Schema.String))
const decodeCursorJson = Schema.decodeUnknownOption(CursorJson)
const safeAtob = Option.liftThrowable((text: string) => atob(text))

const encodeCursor = (row: { readonly starts_at: string; readonly id: string }): string =>
  btoa(JSON.stringify([row.starts_at, row.id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

const decodeCursor = (cursor: string) =>
  safeAtob(cursor.replace(/-/g, "+").replace(/_/g, "/")).pipe(
    Option.flatMap(decodeCursorJson),
    Option.filter(([startsAt]) => Option.isSome(DateTime.make(startsAt)))
  )

/** A date-only bound is read in `timeZone` (UTC by default); `endOfDay` moves it to the next midnight. */
const parseBound = (
  value: string,
  field: "from" | "to",
  timeZone: string | undefined
): Effect.Effect<string, InvalidListQuery> => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    if (Option.isNone(parseLocalDate(value))) {
      return Effect.fail(new InvalidListQuery({ field, reason: "not a calendar date" }))
    }
    const date = field === "to" ? addDays(value, 1) : value
    return Effect.succeed(isoOf(startOfLocalDay(date, timeZone ?? "UTC")))
  }
  return Option.match(DateTime.make(value), {
    onNone: () => Effect.fail(new InvalidListQuery({ field, reason: "expected an ISO date or date-time" })),
    onSome: (dt) => Effect.succeed(DateTime.formatIso(dt))
  })
}

export const makeOwnerAppointments = (repo: AppointmentsRepo) => {
  const listAppointments = Effect.fn("Scheduling.listAppointments")(
    function*(tenantId: string, options: ListAppointmentsOptions = {}) {
      const limitRaw = options.limit ?? LIST_DEFAULT_LIMIT
      if (!Number.isFinite(limitRaw)) {
        return yield* new InvalidListQuery({ field: "limit", reason: "expected a number" })
      }
      const limit = Math.min(LIST_MAX_LIMIT, Math.max(1, Math.floor(limitRaw)))
      const from = options.from === undefined ? undefined : yield* parseBound(options.from, "from", options.timeZone)
      const to = options.to === undefined ? undefined : yield* parseBound(options.to, "to", options.timeZone)
      let after: readonly [string, string] | undefined
      if (options.cursor !== undefined) {
        const cursor = decodeCursor(options.cursor)
        if (Option.isNone(cursor)) {
          return yield* new InvalidListQuery({ field: "cursor", reason: "not a cursor returned by this API" })
        }
        after = cursor.value
      }
      const rows = yield* repo.list({ tenantId, from, to, status: options.status, after, limit: limit + 1 })
      const page = rows.slice(0, limit)
      const last = page[page.length - 1]
      return {
        appointments: page.map(toAppointment),
        nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null
      } satisfies AppointmentPage as AppointmentPage
    }
  )

  const cancel = Effect.fn("Scheduling.cancel")(function*(tenantId: string, appointmentId: string) {
    const now = isoOf(yield* Clock.currentTimeMillis)
    const row = yield* repo.cancel(tenantId, appointmentId, now)
    if (Option.isNone(row)) return yield* new AppointmentNotFound({ tenantId, appointmentId })
    return toAppointment(row.value)
  })

  return { listAppointments, cancel } as const
}
