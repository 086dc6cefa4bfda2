import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The Postgres edge (`DATABASE_URL=postgres://…`). Repositories see the same `SqlClient` as on SQLite and
 * the same row shapes: the type parsers below make counts numbers, instants ISO strings
 * ("2026-11-25T09:30:00.000Z", as SQLite stores them) and jsonb the JSON text the code parses itself.
 * Code that must differ per backend asks `sql.onDialectOrElse({ pg: …, orElse: … })`. The driver's layer is in
 * `postgresLayer.ts`, loaded only when the URL is a Postgres one.
 */

const MIGRATIONS_DIR = fileURLToPath(new URL("../../sql/postgres", import.meta.url).href)

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url)

// Type OIDs (pg_type) of the columns and aggregates the application reads.
const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  json: 114,
  float4: 700,
  float8: 701,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802
} as const

/** `2026-11-25 09:30:00.123+00` (Postgres' ISO DateStyle) → `2026-11-25T09:30:00.123Z`. */
export const parseTimestamptz = (text: string): string => {
  const iso = text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")
  const ms = Date.parse(iso)
  return Number.isNaN(ms) ? text : new Date(ms).toISOString()
}

const parsers: Record<number, (text: string) => unknown> = {
  [OID.bool]: (text) => text === "t",
  [OID.bytea]: (text) => Buffer.from(text.slice(2), "hex"), // bytea_output = hex: "\x0a0b…"
  // COUNT is int8 and SUM/AVG of integers numeric: numbers as on SQLite (our counts stay far below 2^53)
  [OID.int8]: Number,
  [OID.int2]: Number,
  [OID.int4]: Number,
  [OID.float4]: Number,
  [OID.float8]: Number,
  [OID.numeric]: Number,
  [OID.timestamptz]: parseTimestamptz,
  // JSON stays text: the repositories decode it with Schema, exactly as they do SQLite's TEXT columns
  [OID.json]: (text) => text,
  [OID.jsonb]: (text) => text
}

const identity = (text: string) => text

export const pgTypes = {
  getTypeParser: (oid: number, format?: string) =>
    format === "binary" ? identity : (parsers[oid] ?? identity)
} as never

/** A cluster-wide lock key for boot work (migrations, demo seeding): "coccinelle" in 8 bytes. */
export const BOOT_LOCK_KEY = 0x636f6363696e656cn

/**
 * Runs `effect` in one transaction holding a transaction-scoped advisory lock, so two instances booting
 * at the same moment take turns (the second sees what the first committed). SQLite: the effect as is.
 */
export const withBootLock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        sql.withTransaction(
          Effect.zipRight(sql`SELECT pg_advisory_xact_lock(${BOOT_LOCK_KEY.toString()}::bigint)`, effect)
        ),
      orElse: () => effect
    }))

const loadMigrations = Effect.sync(() => {
  const record: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {}
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort()) {
    const script = readFileSync(join(MIGRATIONS_DIR, file), "utf8")
    // no parameters: node-postgres sends it as one simple query, so a file may hold many statements
    record[file.replace(/\.sql$/, "")] = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(script))
  }
  return record
})

/**
 * Migrations under the boot lock. The Migrator's own `LOCK TABLE` needs its table to exist, and creating
 * it races between instances; created here first, under the lock, the race is gone.
 */
export const runPostgresMigrations = withBootLock(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS effect_sql_migrations (
      migration_id integer primary key,
      created_at timestamp with time zone not null default now(),
      name text not null
    )`
    const record = yield* loadMigrations
    return yield* Migrator.make({})({ loader: Migrator.fromRecord(record) })
  })
)

/** Connections per instance (several instances share the server's max_connections, 100 by default). */
export const POSTGRES_POOL_SIZE = 10
