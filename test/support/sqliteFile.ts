/**
 * Reading a server's SQLite file from a test, as `bun:sqlite`'s `Database` does (`query(sql).get/all`),
 * on `node:sqlite`, which Bun and Deno both have.
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite"

export class Database {
  readonly #db: DatabaseSync
  constructor(filename: string, options: { readonly readonly?: boolean } = {}) {
    this.#db = new DatabaseSync(filename, { readOnly: options.readonly ?? false })
  }
  query(sql: string) {
    const statement = this.#db.prepare(sql)
    return {
      get: (...params: Array<SQLInputValue>): unknown => statement.get(...params) ?? null,
      all: (...params: Array<SQLInputValue>): Array<unknown> => statement.all(...params)
    }
  }
  close(): void {
    this.#db.close()
  }
}
