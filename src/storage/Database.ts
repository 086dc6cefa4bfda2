import { Migrator, SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The SQLite edge: the only place that knows the driver. Everything else asks for `SqlClient`,
 * so the planned Postgres backend is a different layer here, not a change in the domain.
 */

// `.href`: Bun's type definitions redefine `URL`, which `deno check` refuses in `fileURLToPath`.
const MIGRATIONS_DIR = fileURLToPath(new URL("../../sql", import.meta.url).href)

/** SQLite prepares one statement per query, so a migration file is split into statements (triggers kept whole). */
export const splitStatements = (script: string): Array<string> => {
  const statements: Array<string> = []
  let current = ""
  for (const line of script.split("\n")) {
    const code = line.replace(/--.*$/, "")
    if (current === "" && code.trim() === "") continue
    current += line + "\n"
    const trimmed = code.trim()
    if (!trimmed.endsWith(";")) continue
    const inTrigger = /CREATE\s+TRIGGER/i.test(current)
    if (inTrigger && !/\bEND\s*;$/i.test(trimmed)) continue
    statements.push(current.trim())
    current = ""
  }
  if (current.trim() !== "") statements.push(current.trim())
  return statements
}

const loadMigrations = Effect.sync(() => {
  const record: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {}
  for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort()) {
    const script = readFileSync(join(MIGRATIONS_DIR, file), "utf8")
    record[file.replace(/\.sql$/, "")] = Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.forEach(splitStatements(script), (statement) => sql.unsafe(statement), { discard: true })
    )
  }
  return record
})

export const runMigrations = Effect.flatMap(loadMigrations, (record) =>
  Migrator.make({})({ loader: Migrator.fromRecord(record) })
)

/** `DATABASE_URL` as a SQLite file path, `sqlite:` URL, or `:memory:`. */
export const sqliteFilename = (url: string): string => {
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    throw new Error("DATABASE_URL: the Postgres backend is planned but not built yet; use a SQLite path")
  }
  return url.replace(/^sqlite:(\/\/)?/, "")
}

/** The driver layer lives in `sqlite.ts`; re-exported because tests and the app layer build it from here. */
export { sqliteLayer } from "./sqlite.ts"
