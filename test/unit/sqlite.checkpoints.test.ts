import { SqlClient } from "@effect/sql"
import { Effect, List, Logger } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sqliteLayer } from "../../src/storage/Database.ts"
import { checkpointOffThread } from "../../src/storage/sqliteCheckpoints.ts"
import { runWith } from "../support/effect.ts"
import { afterAll, describe, expect, test } from "../support/test.ts"

const folder = mkdtempSync(join(tmpdir(), "coccinelle-checkpoints-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

const sizeOf = (file: string) => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

const autocheckpointOf = (sql: SqlClient.SqlClient) =>
  Effect.map(sql.unsafe<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint"), (rows) => Number(rows[0]?.wal_autocheckpoint))

describe("SQLite checkpoints off the thread that speaks to callers", () => {
  test("under steady writes the log is copied into the file by another thread, and still starts over", async () => {
    const filename = join(folder, "steady.db")
    const page = "é".repeat(2_000) // about one 4 KB page per row
    const seen = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("CREATE TABLE writes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        let largestLog = 0
        // ~24 MB written over ~1.5 s, a little at a time, as live calls write their journals.
        for (let batch = 0; batch < 300; batch++) {
          yield* sql.withTransaction(Effect.forEach(Array.from({ length: 20 }), () => sql`INSERT INTO writes (body) VALUES (${page})`))
          largestLog = Math.max(largestLog, sizeOf(`${filename}-wal`))
          yield* Effect.sleep("5 millis")
        }
        const counted = yield* sql<{ rows: number }>`SELECT count(*) AS rows FROM writes`
        return { largestLog, fileWhileOpen: sizeOf(filename), rows: Number(counted[0]?.rows), writerCheckpoints: yield* autocheckpointOf(sql) }
      }),
      sqliteLayer(filename)
    )
    expect(seen.rows).toBe(6_000)
    // The writer's connection no longer copies the log on its own (SQLite's default is every 1,000 pages).
    expect(seen.writerCheckpoints).toBe(0)
    // Yet the rows reached the database file while the writes went on…
    expect(seen.fileWhileOpen).toBeGreaterThan(16 * 1024 * 1024)
    // …and the log started over instead of growing with them (without a rewind it would pass 24 MB).
    expect(seen.largestLog).toBeLessThan(12 * 1024 * 1024)
  }, 30_000)

  test("a checkpoint worker that cannot open the file gives the copying back to SQLite, with a warning", async () => {
    const warnings: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel.label === "WARN") warnings.push(List.isList(message) ? List.toArray(message).join(" ") : Array.isArray(message) ? message.join(" ") : String(message))
    })
    const writerCheckpoints = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("PRAGMA wal_autocheckpoint = 0")
        // Not a file the worker can open: a folder.
        yield* checkpointOffThread(folder)
        return yield* autocheckpointOf(sql)
      }),
      sqliteLayer(":memory:"),
      { logger: capture }
    )
    expect(writerCheckpoints).toBe(1_000)
    expect(warnings).toEqual(["SQLite checkpoints are back on the writer's thread"])
  }, 30_000)
})
