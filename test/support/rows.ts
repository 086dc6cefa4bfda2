/**
 * Rows the tests seed directly, when how a call got there is not what they test. Each builder gives a row as
 * the call path writes it; the test passes what it cares about.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { CallRow } from "../../src/storage/CallsRepo.ts"

export interface TenantSeed {
  /** Stored as `name` (the id by default). */
  readonly name?: string
  /** The tenant's config as JSON text stores it (the encoded TenantConfig); `{ name }` by default. */
  readonly config?: unknown
  /** created_at and updated_at. */
  readonly at?: string
}

/** Inserts a `tenants` row with the given id into the test's database. */
export const insertTenant = (id: string, seed: TenantSeed = {}) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const name = seed.name ?? id
    const at = seed.at ?? "2026-01-01T00:00:00.000Z"
    return sql`INSERT INTO tenants ${
      sql.insert({ id, name, config: JSON.stringify(seed.config ?? { name }), created_at: at, updated_at: at })
    }`
  })

type CallInsert = Omit<CallRow, "status_sequence">

/**
 * An inbound `calls` row for `tenant_id`, created, started and ended at `created_at` by the caller hanging up,
 * without an outcome; a new random id and a Twilio SID derived from it unless given.
 */
export const callRow = (row: Partial<CallInsert> & Pick<CallInsert, "tenant_id" | "created_at">): CallInsert => {
  const id = row.id ?? crypto.randomUUID()
  return {
    id,
    twilio_call_sid: `CA${id.replace(/-/g, "")}`,
    from_number: "+33612345678",
    to_number: "+33939035760",
    forwarded_from: null,
    direction: "inbound",
    status: "completed",
    duration: 60,
    started_at: row.created_at,
    ended_at: row.created_at,
    end_reason: "caller_hangup",
    outcome: null,
    ...row
  }
}
