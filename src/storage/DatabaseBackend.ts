import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"

/**
 * What differs per backend beyond SQL text (which repositories switch with `sql.onDialectOrElse`): the
 * backend's name, and notifications between instances. On Postgres `notify` is `SELECT pg_notify(…)`
 * (sent when the surrounding transaction commits; `PgClient.notify` of sql-pg 0.50 sends `NOTIFY chan, $1`,
 * which Postgres refuses) and `listen` is `LISTEN` on a dedicated connection, so every instance hears it; that connection is
 * watched and re-established when lost (src/cluster/listener.ts).
 * On SQLite there is one instance: the same calls deliver within the process.
 */
export class DatabaseBackend extends Context.Tag("app/DatabaseBackend")<DatabaseBackend, {
  readonly kind: "sqlite" | "postgres"
  readonly notify: (channel: string, payload: string) => Effect.Effect<void>
  readonly listen: (channel: string) => Stream.Stream<string>
  /**
   * One element each time the LISTEN connection came back after a loss (Postgres): what was notified
   * meanwhile is lost, so a cache fed by notifications should assume anything may have changed.
   */
  readonly reconnected: Stream.Stream<void>
}>() {}

/** One process, one database: notifications go through an in-process PubSub. */
export const inProcessBackend = Layer.scoped(
  DatabaseBackend,
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(
      PubSub.unbounded<{ readonly channel: string; readonly payload: string }>(),
      PubSub.shutdown
    )
    return DatabaseBackend.of({
      kind: "sqlite",
      notify: (channel, payload) => Effect.asVoid(PubSub.publish(hub, { channel, payload })),
      listen: (channel) =>
        Stream.fromPubSub(hub).pipe(
          Stream.filter((message) => message.channel === channel),
          Stream.map((message) => message.payload)
        ),
      reconnected: Stream.empty
    })
  })
)
