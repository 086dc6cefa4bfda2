import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DatabaseBackend, inProcessBackend } from "./DatabaseBackend.ts"
import { isPostgresUrl } from "./postgres.ts"

/**
 * The SQLite edge, and the backend chooser (`databaseLayer`). Everything else asks for `SqlClient`;
 * the Postgres layer is in `postgres.ts`.
 */

// `.href`: Bun's type definitions redefine `URL`, which `deno check` refuses in `fileURLToPath`.
const MIGRATIONS_DIR = fileURLToPath(new URL("../../sql/sqlite", import.meta.url).href)

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
export const sqliteFilename = (url: string): string => url.replace(/^sqlite:(\/\/)?/, "")

/** The driver layer lives in `sqlite.ts`; re-exported because tests and the app layer build it from here. */
import { sqliteLayer } from "./sqlite.ts"
export { sqliteLayer }

/** The backend chooser: `postgres://…` / `postgresql://…` selects Postgres, anything else is SQLite. */
export const databaseLayer = (url: string): Layer.Layer<SqlClient.SqlClient | DatabaseBackend> =>
  isPostgresUrl(url)
    ? Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./postgresLayer.ts")), (driver) => driver.postgresLayer(url)))
    : Layer.merge(sqliteLayer(sqliteFilename(url)), inProcessBackend).pipe(Layer.orDie)
