import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { HEARTBEAT_EVERY, INSTANCE_GONE_AFTER } from "./decisions.ts"

/**
 * This process among the instances sharing the database: its id, its heartbeat in `instances` (written every
 * HEARTBEAT_EVERY, deleted when it stops), and whether another instance is up to take its calls during a
 * deploy. On SQLite there is one instance: nobody else ever is.
 */
export class Instance extends Effect.Service<Instance>()("app/Instance", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Behind Fly's proxy a request can be handed to another machine (`fly-replay`).
    const flyMachineId = yield* Config.option(Config.string("FLY_MACHINE_ID"))
    const id = Option.getOrElse(flyMachineId, () => "") + (Option.isSome(flyMachineId) ? "-" : "") + crypto.randomUUID().slice(0, 8)
    const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

    const beat = Effect.gen(function*() {
      const now = yield* nowIso
      yield* sql`INSERT INTO instances (id, started_at, heartbeat_at) VALUES (${id}, ${now}, ${now})
        ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("instance heartbeat not written", cause)))

    yield* beat
    yield* Effect.forkScoped(Effect.repeat(beat, Schedule.spaced(HEARTBEAT_EVERY)))
    yield* Effect.addFinalizer(() =>
      sql`DELETE FROM instances WHERE id = ${id}`.pipe(Effect.catchAllCause((cause) => Effect.logWarning("instance row not deleted", cause)))
    )
    yield* Effect.logInfo("instance registered").pipe(Effect.annotateLogs({ instance: id }))

    const others = SqlSchema.findAll({
      Request: Schema.String,
      Result: Schema.Struct({ id: Schema.String }),
      execute: (since) => sql`SELECT id FROM instances WHERE id <> ${id} AND draining = 0 AND heartbeat_at > ${since}`
    })

    /** How many other instances are up and not draining (they can take this instance's calls). */
    const peersUp = Effect.gen(function*() {
      const since = new Date((yield* Clock.currentTimeMillis) - Duration.toMillis(INSTANCE_GONE_AFTER)).toISOString()
      return (yield* others(since)).length
    }).pipe(Effect.orDie)

    /** Peers stop counting on this instance (it is going away). */
    const startDraining = sql`UPDATE instances SET draining = 1 WHERE id = ${id}`.pipe(Effect.asVoid, Effect.orDie)

    return { id, behindFlyProxy: Option.isSome(flyMachineId), peersUp, startDraining } as const
  })
}) {}
