import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"

/**
 * SQLite's own thread (a Web Worker: Bun and Deno alike). `node:sqlite` is synchronous: on the thread that speaks
 * to callers, every statement, commit and checkpoint was time during which no call's words went out (~16 % of that
 * thread's time under load, Dec 2026). Here the database's only connection runs them instead, one after another in
 * the order they were sent; `sqlite.ts` is the other end. SQLite's own checkpoints run here too, so they stall no one.
 *
 * Messages in: `{ id, kind: "open", filename }`, `{ id, kind: "run", sql, params, safeIntegers }`, `{ id, kind: "close" }`.
 * Each is answered with `{ id, rows }` (run), `{ id }` (open, close) or `{ id, error }`: SQLite's message and codes,
 * which callers read (a constraint's `errcode` tells a taken slot from a broken statement).
 */

/** The Web Worker scope as this file uses it (Bun's and Deno's own typings of `self` differ). */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null
  postMessage: (message: unknown) => void
}

// Prepared statements are reused: the same few dozen statements serve every call.
const STATEMENT_CACHE_SIZE = 256

let db: DatabaseSync | undefined
const statements = new Map<string, StatementSync>()

const prepare = (database: DatabaseSync, sql: string): StatementSync => {
  const cached = statements.get(sql)
  if (cached !== undefined) return cached
  if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!)
  const statement = database.prepare(sql)
  statements.set(sql, statement)
  return statement
}

interface Request {
  readonly id: number
  readonly kind: "open" | "run" | "close"
  readonly filename?: string
  readonly sql?: string
  readonly params?: ReadonlyArray<SQLInputValue>
  readonly safeIntegers?: boolean
}

const handle = (request: Request): unknown => {
  switch (request.kind) {
    case "open":
      db = new DatabaseSync(String(request.filename))
      db.exec("PRAGMA journal_mode = WAL;")
      return { id: request.id }
    case "run": {
      if (db === undefined) throw new Error("a statement was sent before the database was opened")
      const statement = prepare(db, String(request.sql))
      statement.setReadBigInts(request.safeIntegers === true)
      return { id: request.id, rows: statement.all(...(request.params ?? [])) }
    }
    case "close":
      statements.clear()
      db?.close()
      db = undefined
      return { id: request.id }
    default:
      throw new Error(`unknown request ${String((request as { kind?: unknown }).kind)}`)
  }
}

/** What callers may read of SQLite's error: node:sqlite puts the extended result code in `errcode`. */
const describe = (cause: unknown) => {
  const error = cause as { message?: unknown; code?: unknown; errcode?: unknown; errstr?: unknown }
  return {
    message: String(error?.message ?? cause),
    ...(error?.code !== undefined ? { code: error.code } : {}),
    ...(typeof error?.errcode === "number" ? { errcode: error.errcode } : {}),
    ...(typeof error?.errstr === "string" ? { errstr: error.errstr } : {})
  }
}

scope.onmessage = (event) => {
  const request = event.data as Request
  try {
    scope.postMessage(handle(request))
  } catch (cause) {
    scope.postMessage({ id: request.id, error: describe(cause) })
  }
}
