import { SqlClient, type SqlError } from "@effect/sql"
import { Effect } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sqliteLayer } from "../../src/storage/Database.ts"
import { runWith } from "../support/effect.ts"
import { afterAll, describe, expect, test } from "../support/test.ts"

const folder = mkdtempSync(join(tmpdir(), "coccinelle-sqlite-thread-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

const sizeOf = (file: string) => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

describe("SQLite on a thread of its own", () => {
  test("this thread keeps running while a statement runs", async () => {
    const seen = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // A timer of this thread: it can only fire while this thread is free.
        let ticks = 0
        const timer = setInterval(() => ticks++, 1)
        try {
          const before = ticks
          // A statement that keeps SQLite busy for a while (a few hundred ms).
          const rows = yield* sql<{ n: number }>`WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 3000000)
            SELECT max(n) AS n FROM counter`
          return { ticksDuring: ticks - before, counted: Number(rows[0]?.n) }
        } finally {
          clearInterval(timer)
        }
      }),
      sqliteLayer(":memory:")
    )
    expect(seen.counted).toBe(3_000_000)
    // On this thread the statement would have held it from start to end: not one tick in between.
    expect(seen.ticksDuring).toBeGreaterThan(5)
  }, 30_000)

  test("SQLite's error codes reach the caller (a taken slot is told from a broken statement by them)", async () => {
    const failure = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("CREATE TABLE slots (starts_at TEXT PRIMARY KEY)")
        yield* sql`INSERT INTO slots (starts_at) VALUES (${"2026-12-03T09:00"})`
        return yield* Effect.flip(sql`INSERT INTO slots (starts_at) VALUES (${"2026-12-03T09:00"})`)
      }),
      sqliteLayer(":memory:")
    )
    const cause = (failure as SqlError.SqlError).cause as { errcode?: unknown; message?: unknown }
    // SQLITE_CONSTRAINT_PRIMARYKEY
    expect(cause.errcode).toBe(1555)
    expect(String(cause.message)).toContain("UNIQUE constraint failed: slots.starts_at")
  })

  test("statements run in the order sent, and a transaction sees only its own writes until it commits", async () => {
    const seen = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe("CREATE TABLE lines (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        // Many fibers at once: every insert lands, none is lost or doubled.
        yield* Effect.forEach(Array.from({ length: 500 }, (_, i) => i), (i) => sql`INSERT INTO lines (seq, body) VALUES (${i}, ${`line ${i}`})`, {
          concurrency: "unbounded",
          discard: true
        })
        // A failed transaction leaves nothing behind.
        yield* sql.withTransaction(
          Effect.zipRight(sql`INSERT INTO lines (seq, body) VALUES (${1000}, ${"rolled back"})`, Effect.fail("no" as const))
        ).pipe(Effect.ignore)
        const rows = yield* sql<{ n: number; total: number }>`SELECT count(*) AS n, sum(seq) AS total FROM lines`
        return { n: Number(rows[0]?.n), total: Number(rows[0]?.total) }
      }),
      sqliteLayer(":memory:")
    )
    expect(seen).toEqual({ n: 500, total: (499 * 500) / 2 })
  })

  test("under steady writes the log is copied into the file and starts over", async () => {
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
        return { largestLog, fileWhileOpen: sizeOf(filename), rows: Number(counted[0]?.rows) }
      }),
      sqliteLayer(filename)
    )
    expect(seen.rows).toBe(6_000)
    // The rows reached the database file while the writes went on…
    expect(seen.fileWhileOpen).toBeGreaterThan(16 * 1024 * 1024)
    // …and the log started over instead of growing with them (without checkpoints it would pass 24 MB).
    expect(seen.largestLog).toBeLessThan(12 * 1024 * 1024)
  }, 30_000)
})
