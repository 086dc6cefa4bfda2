import { SqlClient, SqlError } from "@effect/sql"
import { Effect, Either } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sqliteLayer } from "../../src/storage/Database.ts"
import { runWith } from "../support/effect.ts"
import { Database } from "../support/sqliteFile.ts"
import { afterAll, describe, expect, test } from "../support/test.ts"

/**
 * SQLite's write groups (src/storage/sqlite.ts): writes made in the same turn of the event loop share one commit, and
 * each caller goes on only once its own write is stored. "Stored" is checked the way another process would see it:
 * through a connection of its own to the same file.
 */

const folder = mkdtempSync(join(tmpdir(), "coccinelle-groups-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))
let files = 0

/** A fresh database file, its `notes` table made; `reader` is another connection to it. */
const withDatabase = <A>(run: (sql: SqlClient.SqlClient, reader: Database, filename: string) => Effect.Effect<A, unknown>) => {
  const filename = join(folder, `groups-${++files}.db`)
  return runWith(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)")
      const reader = new Database(filename)
      return yield* Effect.ensuring(run(sql, reader, filename), Effect.sync(() => reader.close()))
    }),
    sqliteLayer(filename)
  )
}

const storedBodies = (reader: Database) =>
  (reader.query("SELECT body FROM notes ORDER BY body").all() as Array<{ body: string }>).map((row) => row.body)

const insert = (sql: SqlClient.SqlClient, body: string) => sql`INSERT INTO notes (body) VALUES (${body})`

/** The log's size in frames (a page and its header each); a commit adds at least one. */
const logFrames = (filename: string) => Math.floor(statSync(`${filename}-wal`).size / (4096 + 24))

/**
 * Copies the whole log into the file and empties it, waiting for the checkpoint worker if it is at work. From there
 * the log only grows by what is written: once the worker had copied it all, the next write would start it over in
 * place, and its size would not move (seen once on CI).
 */
const emptyLog = (reader: Database) => {
  reader.query("PRAGMA busy_timeout = 5000").get()
  const { busy } = reader.query("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number }
  if (busy !== 0) throw new Error("the log could not be emptied")
}

describe("SQLite write groups", () => {
  test("writes made at once are committed together, and each caller goes on only once its write is stored", async () => {
    const seen = await withDatabase((sql, reader, filename) =>
      Effect.gen(function*() {
        emptyLog(reader)
        const framesBefore = logFrames(filename)
        const bodies = Array.from({ length: 100 }, (_, i) => `note ${String(i).padStart(3, "0")}`)
        const storedWhenDone = yield* Effect.forEach(
          bodies,
          (body) =>
            Effect.map(
              insert(sql, body),
              () => reader.query("SELECT count(*) AS n FROM notes WHERE body = ?").get(body) as { n: number }
            ),
          { concurrency: "unbounded" }
        )
        return { storedWhenDone: storedWhenDone.map((row) => Number(row.n)), framesAdded: logFrames(filename) - framesBefore, bodies }
      })
    )
    // Every caller found its note stored (seen from another connection) when its insert returned.
    expect(seen.storedWhenDone).toEqual(seen.bodies.map(() => 1))
    // One commit for the hundred (a few pages), not a hundred commits of at least a page each.
    expect(seen.framesAdded).toBeGreaterThan(0)
    expect(seen.framesAdded).toBeLessThan(10)
  })

  test("a write that fails fails alone: the others of its group are stored", async () => {
    const seen = await withDatabase((sql, reader) =>
      Effect.gen(function*() {
        yield* insert(sql, "taken")
        const results = yield* Effect.all([insert(sql, "first"), Effect.either(insert(sql, "taken")), insert(sql, "last")], {
          concurrency: "unbounded"
        })
        return { duplicate: results[1], stored: storedBodies(reader) }
      })
    )
    expect(Either.isLeft(seen.duplicate)).toBe(true)
    if (Either.isLeft(seen.duplicate)) expect(seen.duplicate.left).toBeInstanceOf(SqlError.SqlError)
    expect(seen.stored).toEqual(["first", "last", "taken"])
  })

  test("a group whose commit fails stores none of its writes, tells each of its callers, and the next write goes through", async () => {
    const seen = await withDatabase((sql, reader) =>
      Effect.gen(function*() {
        // A deferred foreign key is checked at COMMIT: an orphan makes the whole group's commit fail.
        yield* sql.unsafe("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
        yield* sql.unsafe("CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
        const results = yield* Effect.all([
          Effect.either(insert(sql, "lost with its group")),
          Effect.either(sql`INSERT INTO children (parent) VALUES (${999})`)
        ], { concurrency: "unbounded" })
        const storedAfterFailure = storedBodies(reader)
        yield* insert(sql, "later")
        return { results, storedAfterFailure, storedAtEnd: storedBodies(reader) }
      })
    )
    expect(seen.results.map(Either.isLeft)).toEqual([true, true])
    expect(seen.storedAfterFailure).toEqual([])
    expect(seen.storedAtEnd).toEqual(["later"])
  })

  test("a transaction begun while a group is open commits the group first; both are stored", async () => {
    const seen = await withDatabase((sql, reader) =>
      Effect.gen(function*() {
        yield* Effect.all([
          insert(sql, "grouped"),
          sql.withTransaction(Effect.zipRight(insert(sql, "in a transaction, 1"), insert(sql, "in a transaction, 2")))
        ], { concurrency: "unbounded" })
        return storedBodies(reader)
      })
    )
    expect(seen).toEqual(["grouped", "in a transaction, 1", "in a transaction, 2"])
  })
})
