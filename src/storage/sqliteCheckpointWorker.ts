import { DatabaseSync } from "node:sqlite"

/**
 * A worker thread (Web Worker API: Bun and Deno alike) with its own connection to the SQLite file, whose only job is
 * to copy the write-ahead log into the database (a checkpoint) when `sqliteCheckpoints.ts` asks. Copying a thousand
 * pages takes ~10 ms; done by the writer's own connection, as SQLite does by default, that is 10 ms during which no
 * call's words go out. Messages in: Open, Checkpoint, Close; out: Opened, Checkpointed, Closed, Failed.
 */

/** The Web Worker scope as this file uses it (Bun's and Deno's own typings of `self` differ). */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null
  postMessage: (message: unknown) => void
}

let db: DatabaseSync | undefined

const handle = (request: { readonly _tag?: unknown; readonly filename?: unknown }) => {
  switch (request._tag) {
    case "Open":
      db = new DatabaseSync(String(request.filename))
      return { _tag: "Opened" }
    case "Checkpoint": {
      if (db === undefined) throw new Error("checkpoint asked before the database was opened")
      // PASSIVE: copies what it can without waiting for (or blocking) the writer.
      const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number; checkpointed: number }
      return { _tag: "Checkpointed", log: row.log, checkpointed: row.checkpointed }
    }
    case "Close":
      db?.close()
      db = undefined
      return { _tag: "Closed" }
    default:
      throw new Error(`unknown request ${String(request._tag)}`)
  }
}

scope.onmessage = (event) => {
  try {
    scope.postMessage(handle(event.data ?? {}))
  } catch (cause) {
    scope.postMessage({ _tag: "Failed", message: String(cause).slice(0, 300) })
  }
}
