import type * as PgClient from "@effect/sql-pg/PgClient"
import { Metrics } from "../observability/Metrics.ts"
import { DatabaseBackend } from "../storage/DatabaseBackend.ts"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/**
 * Postgres notifications that survive losing the LISTEN connection (server restart, network blip,
 * `pg_terminate_backend`). sql-pg's `listen` holds one dedicated connection and goes silent when it dies, so
 * a watchdog notifies a probe channel of this process's own and expects to hear it back; when it does not,
 * every LISTEN is torn down (the dead connection goes back to the pool, which drops it) and set up again on
 * a new one, with a capped backoff. A silent probe also catches a half-open TCP link that never errors.
 * Notifications sent while the connection was down are lost: `reconnected` tells listeners to assume that
 * anything may have changed.
 */

/** How often the watchdog checks that the listener still hears, and how long it waits for its probe. */
export const LISTENER_PROBE_EVERY = Duration.seconds(2)
export const LISTENER_PROBE_TIMEOUT = Duration.seconds(2)
/** How long a new connection may take before LISTEN answers its first probe. */
const LISTENER_SETUP_TIMEOUT = Duration.seconds(10)
/** Between attempts: 200 ms doubling, never more than 10 s apart. */
const reconnectSchedule = Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))

class ListenerLost extends Data.TaggedError("ListenerLost")<{ readonly reason: string }> {}

export interface ResilientListener {
  readonly listen: (channel: string) => Stream.Stream<string>
  /** One element each time the connection came back after a loss. */
  readonly reconnected: Stream.Stream<void>
}

interface Notification {
  readonly channel: string
  readonly payload: string
}

export const makeResilientListener = (pg: PgClient.PgClient) =>
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<Notification>(), PubSub.shutdown)
    const reconnects = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
    const probeChannel = `coccinelle_probe_${crypto.randomUUID().replaceAll("-", "")}`
    const channels = yield* SubscriptionRef.make<ReadonlySet<string>>(new Set([probeChannel]))
    // A session ended (even one that never heard its probe): the next one to hear it signals a comeback.
    let lost = false

    // One connection's life: LISTEN on every channel (and on each one added), then probe until silence.
    const session = Effect.scoped(Effect.gen(function*() {
      const probes = yield* Queue.sliding<void>(1)
      // Each channel once, added as listeners come: the LISTENs already set up are never torn down (that would
      // hand the connection back and take another one).
      yield* channels.changes.pipe(
        Stream.mapAccum(new Set<string>(), (listening, names) => {
          const added = [...names].filter((name) => !listening.has(name))
          return [new Set([...listening, ...added]), added] as const
        }),
        Stream.flatMap(
          (added) =>
            Stream.mergeAll(
              added.map((channel) => Stream.map(pg.listen(channel), (payload) => ({ channel, payload }))),
              { concurrency: "unbounded" }
            ),
          { concurrency: "unbounded" }
        ),
        Stream.runForEach((message) =>
          message.channel === probeChannel ? Queue.offer(probes, undefined) : PubSub.publish(hub, message)
        ),
        Effect.catchAllCause((cause) => Effect.logWarning("LISTEN failed", cause)),
        Effect.forkScoped
      )
      const probe = pg`SELECT pg_notify(${probeChannel}, 'probe')`.pipe(
        Effect.mapError(() => new ListenerLost({ reason: "probe not sent" }))
      )
      // LISTEN is set up asynchronously: probe until heard.
      yield* Effect.raceFirst(Queue.take(probes), Effect.repeat(probe, Schedule.spaced("100 millis")).pipe(Effect.zipRight(Effect.never))).pipe(
        Effect.timeoutFail({ duration: LISTENER_SETUP_TIMEOUT, onTimeout: () => new ListenerLost({ reason: "LISTEN not set up" }) })
      )
      if (lost) {
        lost = false
        yield* Effect.logWarning("notifications listener re-established: caches dropped")
        yield* PubSub.publish(reconnects, undefined)
      }
      return yield* Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep(LISTENER_PROBE_EVERY)
        yield* Queue.takeAll(probes)
        yield* probe
        yield* Queue.take(probes).pipe(
          Effect.timeoutFail({ duration: LISTENER_PROBE_TIMEOUT, onTimeout: () => new ListenerLost({ reason: "probe not heard" }) })
        )
      }))
    }))

    // Started by the first listener, not before: a database layer nobody listens on holds no LISTEN connection
    // (and a teardown never races its acquisition, which sql-pg cannot cancel: the pool's end then waits for it).
    const scope = yield* Effect.scope
    const start = yield* Effect.once(session.pipe(
      // Whatever ended the session (a defect too), the listener comes back.
      Effect.catchAllCause((cause) =>
        Effect.fail(Cause.isFailType(cause) ? cause.error : new ListenerLost({ reason: Cause.pretty(cause) }))
      ),
      Effect.tapError((error) =>
        Effect.zipRight(
          Effect.sync(() => {
            lost = true
          }),
          Effect.logWarning(`notifications listener lost (${error.reason}); reconnecting`)
        )
      ),
      Effect.retry(reconnectSchedule),
      // Wall-clock infrastructure: its probes keep real time even when built under a test's TestClock.
      Effect.withClock(Clock.make()),
      Effect.forkIn(scope)
    ))

    return {
      listen: (channel) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(hub)
          yield* start
          yield* SubscriptionRef.update(channels, (names) => (names.has(channel) ? names : new Set([...names, channel])))
          return Stream.fromQueue(subscription).pipe(
            Stream.filter((message) => message.channel === channel),
            Stream.map((message) => message.payload)
          )
        })),
      reconnected: Stream.fromPubSub(reconnects)
    } satisfies ResilientListener
  })

/** Counts the listener's comebacks (`coccinelle_listener_reconnects_total`). */
export const CountListenerReconnects = Layer.scopedDiscard(
  Effect.gen(function*() {
    const backend = yield* DatabaseBackend
    const metrics = yield* Metrics
    yield* Effect.forkScoped(Stream.runForEach(backend.reconnected, () => metrics.listenerReconnected()))
  })
)
