import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { makeResilientListener } from "../cluster/listener.ts"
import { DatabaseBackend } from "./DatabaseBackend.ts"
import { pgTypes, POSTGRES_POOL_SIZE, runPostgresMigrations } from "./postgres.ts"

/**
 * The Postgres driver's layer: node-postgres and @effect/sql-pg (~1.5 MB of heap), imported by `databaseLayer` only
 * when `DATABASE_URL` is a Postgres URL, so a server on SQLite never loads them.
 */
export const postgresLayer = (url: string) => {
  const client = PgClient.layer({
    url: Redacted.make(url),
    // One more, held for the process's life by LISTEN (notifications between instances): queries keep their ten.
    maxConnections: POSTGRES_POOL_SIZE + 1,
    types: pgTypes,
    applicationName: "coccinelle"
  })
  const prepare = Layer.effectDiscard(Effect.orDie(runPostgresMigrations))
  const backend = Layer.scoped(
    DatabaseBackend,
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const listener = yield* makeResilientListener(pg)
      return DatabaseBackend.of({
        kind: "postgres",
        notify: (channel, payload) => Effect.orDie(pg`SELECT pg_notify(${channel}, ${payload})`),
        listen: listener.listen,
        reconnected: listener.reconnected
      })
    })
  )
  return Layer.merge(prepare, backend).pipe(Layer.provideMerge(client), Layer.orDie)
}
