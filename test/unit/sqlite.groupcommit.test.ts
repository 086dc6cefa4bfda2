import { SqlClient } from "@effect/sql"
import { Cause, Effect, Exit, Option } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sqliteLayer } from "../../src/storage/sqlite.ts"
import { runWith } from "../support/effect.ts"
import { Database } from "../support/sqliteFile.ts"
import { afterEach, describe, expect, test } from "../support/test.ts"

/**
 * The SQLite driver's group commit (src/storage/sqlite.ts), on a real file: what a write promises when it
 * completes, what a busy turn costs on disk, and how a refused write or an explicit transaction fits in.
 */

const folders: Array<string> = []
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})
const databaseFile = () => {
  const folder = mkdtempSync(join(tmpdir(), "group-commit-"))
  folders.push(folder)
  return join(folder, "app.db")
}

const WAL_HEADER_BYTES = 32
const WAL_FRAME_BYTES = 4096 + 24
const walFrames = (file: string) => Math.max(0, (statSync(`${file}-wal`).size - WAL_HEADER_BYTES) / WAL_FRAME_BYTES)

const withTable = (file: string) => <A, E>(body: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  runWith(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`
      return yield* body(sql)
    }),
    sqliteLayer(file)
  )

describe("SQLite group commit", () => {
  test("a turn's writes share one commit, and each completes only once another connection can read it", async () => {
    const file = databaseFile()
    const { framesBefore, framesAfter, seenAtCompletion } = await withTable(file)((sql) =>
      Effect.gen(function*() {
        const framesBefore = walFrames(file)
        const reader = new Database(file, { readonly: true })
        const seenAtCompletion = yield* Effect.all(
          Array.from({ length: 100 }, (_, i) =>
            Effect.map(sql`INSERT INTO notes (id, body) VALUES (${`n${i}`}, ${"x".repeat(20)})`, () =>
              reader.query("SELECT count(*) AS n FROM notes WHERE id = ?").get(`n${i}`) as { n: number })),
          { concurrency: "unbounded" }
        )
        reader.close()
        return { framesBefore, framesAfter: walFrames(file), seenAtCompletion: seenAtCompletion.map((row) => row.n) }
      })
    )
    expect(seenAtCompletion).toEqual(Array.from({ length: 100 }, () => 1))
    // One commit writes the table's pages once; a commit per insert would append at least 100 frames.
    expect(framesAfter - framesBefore).toBeGreaterThan(0)
    expect(framesAfter - framesBefore).toBeLessThan(10)
  })

  test("a write refused by a constraint fails alone: the other writes of its turn are kept", async () => {
    const file = databaseFile()
    const exits = await withTable(file)((sql) =>
      Effect.all([
        Effect.exit(sql`INSERT INTO notes (id, body) VALUES ('a', 'first')`),
        Effect.exit(sql`INSERT INTO notes (id, body) VALUES ('a', 'duplicate')`),
        Effect.exit(sql`INSERT INTO notes (id, body) VALUES ('b', 'second')`)
      ], { concurrency: "unbounded" })
    )
    expect(exits.map(Exit.isSuccess)).toEqual([true, false, true])
    const reader = new Database(file, { readonly: true })
    expect(reader.query("SELECT id, body FROM notes ORDER BY id").all()).toEqual([
      { id: "a", body: "first" },
      { id: "b", body: "second" }
    ])
    reader.close()
  })

  test("an explicit transaction commits its turn's earlier writes first; rolling it back leaves them", async () => {
    const file = databaseFile()
    const [kept, rolledBack] = await withTable(file)((sql) =>
      Effect.all([
        Effect.exit(sql`INSERT INTO notes (id, body) VALUES ('kept', 'before the transaction')`),
        Effect.exit(
          Effect.zipRight(sql`INSERT INTO notes (id, body) VALUES ('undone', 'inside')`, Effect.fail("changed my mind" as const)).pipe(
            sql.withTransaction
          )
        )
      ], { concurrency: "unbounded" })
    )
    expect(Exit.isSuccess(kept)).toBe(true)
    expect(Exit.isFailure(rolledBack)).toBe(true)
    const reader = new Database(file, { readonly: true })
    expect(reader.query("SELECT id FROM notes").all()).toEqual([{ id: "kept" }])
    reader.close()
  })

  test("pragmas run outside any group: foreign keys are still enforced", async () => {
    const file = databaseFile()
    const exit = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // call_events.call_id references calls(id): no such call.
        return yield* Effect.exit(sql`INSERT INTO call_events (call_id, type, data, created_at)
          VALUES ('no-such-call', 'setup', '{}', '2026-11-30T09:00:00.000Z')`)
      }),
      sqliteLayer(file)
    )
    const refusal = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    // SQLITE_CONSTRAINT_FOREIGNKEY (a pragma run inside a transaction would have been ignored: no refusal)
    expect(Option.map(refusal, (error) => (error.cause as { errcode?: number }).errcode)).toEqual(Option.some(787))
  })
})
