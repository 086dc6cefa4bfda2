import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { nowIso } from "../storage/CallsRepo.ts"

/**
 * Messages the agent took for the team (the `take_message` tool), and the owner's view of them.
 * Rows are decoded with Schema so SQLite (TEXT times, 0/1) and Postgres (timestamptz, boolean) read alike.
 * Every query takes the tenant id first: there is no way to reach another tenant's messages.
 */

export const MESSAGE_STATUSES = ["new", "handled"] as const
export const MessageStatus = Schema.Literal(...MESSAGE_STATUSES)
export type MessageStatus = typeof MessageStatus.Type

/** An instant as ISO text, whether the driver gives text (SQLite) or a Date (Postgres). */
const Instant = Schema.transform(Schema.Union(Schema.String, Schema.DateFromSelf), Schema.String, {
  strict: true,
  decode: (value) => (typeof value === "string" ? value : value.toISOString()),
  encode: (value) => value
})

/** 0/1 (SQLite) or a boolean (Postgres). */
const Flag = Schema.transform(Schema.Union(Schema.Boolean, Schema.Literal(0, 1)), Schema.Boolean, {
  strict: true,
  decode: (value) => value === true || value === 1,
  encode: (value) => value
})

const MessageRow = Schema.Struct({
  id: Schema.String,
  call_id: Schema.NullOr(Schema.String),
  caller_name: Schema.String,
  callback_number: Schema.NullOr(Schema.String),
  message: Schema.String,
  urgent: Flag,
  status: MessageStatus,
  created_at: Instant,
  handled_at: Schema.NullOr(Instant)
})
type MessageRow = typeof MessageRow.Type

/** A message as the owner API returns it. */
export interface TakenMessage {
  readonly id: string
  readonly callId: string | null
  readonly callerName: string
  readonly callbackNumber: string | null
  readonly message: string
  readonly urgent: boolean
  readonly status: MessageStatus
  readonly createdAt: string
  readonly handledAt: string | null
}

const toMessage = (row: MessageRow): TakenMessage => ({
  id: row.id,
  callId: row.call_id,
  callerName: row.caller_name,
  callbackNumber: row.callback_number,
  message: row.message,
  urgent: row.urgent,
  status: row.status,
  createdAt: row.created_at,
  handledAt: row.handled_at
})

/** Keyset cursor on (created_at, id), the same style as the calls list: base64url of a JSON pair. */
const Cursor = Schema.compose(Schema.StringFromBase64Url, Schema.parseJson(Schema.Tuple(Schema.String, Schema.String)))
export const encodeMessageCursor = (message: TakenMessage): string =>
  Schema.encodeSync(Cursor)([message.createdAt, message.id])
export const decodeMessageCursor = (raw: string): Option.Option<{ readonly createdAt: string; readonly id: string }> =>
  Option.map(Schema.decodeUnknownOption(Cursor)(raw), ([createdAt, id]) => ({ createdAt, id }))

export interface NewMessage {
  readonly tenantId: string
  readonly callId: string | null
  readonly callerName: string
  readonly callbackNumber: string | null
  readonly message: string
  readonly urgent: boolean
}

export interface MessageListFilters {
  readonly status?: MessageStatus | undefined
  /** ISO instants; `from` inclusive, `to` exclusive, on the message's creation time. */
  readonly from?: string | undefined
  readonly to?: string | undefined
  readonly limit: number
  readonly cursor?: { readonly createdAt: string; readonly id: string } | undefined
}

const COLUMNS = "id, call_id, caller_name, callback_number, message, urgent, status, created_at, handled_at"

export class Messages extends Effect.Service<Messages>()("app/Messages", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const findOne = SqlSchema.findOne({
      Request: Schema.Struct({ tenantId: Schema.String, id: Schema.String }),
      Result: MessageRow,
      execute: ({ id, tenantId }) =>
        sql`SELECT ${sql.unsafe(COLUMNS)} FROM caller_messages WHERE id = ${id} AND tenant_id = ${tenantId}`
    })

    const take = Effect.fn("Messages.take")(function*(input: NewMessage) {
      const id = crypto.randomUUID()
      yield* sql`INSERT INTO caller_messages ${
        sql.insert({
          id,
          tenant_id: input.tenantId,
          call_id: input.callId,
          caller_name: input.callerName,
          callback_number: input.callbackNumber,
          message: input.message,
          urgent: input.urgent,
          status: "new",
          created_at: yield* nowIso
        })
      }`
      const row = yield* findOne({ tenantId: input.tenantId, id })
      return toMessage(Option.getOrThrow(row))
    }, Effect.orDie)

    /** Newest first, keyset-paginated so pages stay stable while messages arrive. */
    const list = Effect.fn("Messages.list")(function*(tenantId: string, filters: MessageListFilters) {
      const clauses = [sql`tenant_id = ${tenantId}`]
      if (filters.status) clauses.push(sql`status = ${filters.status}`)
      if (filters.from) clauses.push(sql`created_at >= ${filters.from}`)
      if (filters.to) clauses.push(sql`created_at < ${filters.to}`)
      if (filters.cursor) {
        const { createdAt, id } = filters.cursor
        clauses.push(sql`(created_at < ${createdAt} OR (created_at = ${createdAt} AND id < ${id}))`)
      }
      const rows = yield* SqlSchema.findAll({
        Request: Schema.Void,
        Result: MessageRow,
        execute: () =>
          sql`SELECT ${sql.unsafe(COLUMNS)} FROM caller_messages WHERE ${sql.and(clauses)}
              ORDER BY created_at DESC, id DESC LIMIT ${filters.limit + 1}`
      })(undefined)
      const page = rows.slice(0, filters.limit).map(toMessage)
      const last = page[page.length - 1]
      return { messages: page, nextCursor: rows.length > filters.limit && last ? encodeMessageCursor(last) : null }
    }, Effect.orDie)

    /** Marks a message handled (or new again); none when the id is not this tenant's. */
    const setStatus = Effect.fn("Messages.setStatus")(function*(tenantId: string, id: string, status: MessageStatus) {
      const handledAt = status === "handled" ? yield* nowIso : null
      // Marking handled twice keeps the first time it was handled.
      yield* sql`UPDATE caller_messages
                 SET status = ${status}, handled_at = ${handledAt === null ? null : sql`COALESCE(handled_at, ${handledAt})`}
                 WHERE id = ${id} AND tenant_id = ${tenantId}`
      return Option.map(yield* findOne({ tenantId, id }), toMessage)
    }, Effect.orDie)

    /** How many messages were taken during one call (the summary asks for a callback when any). */
    const countForCall = Effect.fn("Messages.countForCall")(function*(callId: string) {
      const rows = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM caller_messages WHERE call_id = ${callId}`
      return Number(rows[0]?.n ?? 0)
    }, Effect.orDie)

    return { take, list, setStatus, countForCall } as const
  })
}) {}
