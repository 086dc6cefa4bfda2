import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CallOwners } from "../cluster/CallOwners.ts"
import { RECOVER_EVERY } from "../cluster/decisions.ts"
import { Instance } from "../cluster/Instance.ts"
import { DatabaseBackend } from "../storage/DatabaseBackend.ts"
import { CallRegistry } from "../call/CallRegistry.ts"
import { CallEnd } from "../call/CallEnd.ts"
import { LiveCalls } from "../call/LiveCalls.ts"
import { CallSessions } from "../call/CallSession.ts"
import { Outcome } from "../call/vocabulary.ts"
import { AppConfig } from "../config.ts"
import { Knowledge } from "../knowledge/Knowledge.ts"
import { Messages } from "../messages/Messages.ts"
import { Claude } from "../llm/Claude.ts"
import { Summaries } from "../llm/Summaries.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Scheduling } from "../scheduling/Scheduling.ts"
import { CallsQuery } from "../storage/CallsQuery.ts"
import { CallsRepo } from "../storage/CallsRepo.ts"
import { CountListenerReconnects } from "../cluster/listener.ts"
import { databaseLayer } from "../storage/Database.ts"
import { seedDemoTenant } from "../tenants/DemoTenant.ts"
import { Tenants } from "../tenants/Tenants.ts"
import { Tools } from "../tools/Tools.ts"
import { OwnerSessions } from "../web/OwnerSessions.ts"
import { TrendsQuery } from "../storage/TrendsQuery.ts"
import type { Server, ServerRequirements } from "./edge.ts"

/** The whole application as one layer graph, composed once here. */

const Database = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => databaseLayer(config.databaseUrl))
)

const Storage = Layer.mergeAll(
  CallsRepo.Default,
  CallsQuery.Default,
  TrendsQuery.Default,
  OwnerSessions.Default,
  Scheduling.Default,
  Knowledge.Default,
  Messages.Default,
  // The same CallsRepo layer as above: built once (layers are shared by reference).
  CallOwners.Default.pipe(Layer.provide(CallsRepo.Default)),
  Instance.Default
).pipe(
  Layer.provideMerge(Database)
)

const Domain = Layer.mergeAll(Tenants.Default, Claude.DefaultWithoutDependencies).pipe(
  Layer.provideMerge(Storage)
)

const Calls = CallRegistry.Default.pipe(
  Layer.provideMerge(CallSessions.Default),
  Layer.provideMerge(Layer.merge(CallEnd.Default, LiveCalls.Default)),
  Layer.provideMerge(Summaries.Default),
  Layer.provideMerge(Tools.Default),
  Layer.provideMerge(Domain)
)

const storedOutcome = (value: string | null): Outcome =>
  Option.getOrElse(Schema.decodeUnknownOption(Outcome)(value), () => "abandoned" as const)

const DemoSeed = Layer.effectDiscard(seedDemoTenant)

/**
 * Calls left open by an instance that died (crash, kill) are closed with the reason `server_restart` and get
 * their summary: at start, then every RECOVER_EVERY. Only calls whose owner's lease has expired (or answered
 * long ago and never connected) are touched — never another instance's live calls. On SQLite one instance owns
 * the file, so at start every open call belonged to a process that is gone.
 */
const recoverUnfinished = (atStart: boolean) =>
  Effect.gen(function*() {
    const calls = yield* CallsRepo
    const owners = yield* CallOwners
    const backend = yield* DatabaseBackend
    const callEnd = yield* CallEnd
    const unfinished = atStart && backend.kind === "sqlite" ? yield* calls.unfinished() : yield* owners.abandoned()
    let closed = 0
    for (const call of unfinished) {
      // The outcome stored as the call went (a booking) survives the crash.
      if (yield* callEnd.finalise(call.id, { reason: "server_restart", outcome: storedOutcome(call.outcome) })) closed++
    }
    if (closed > 0) {
      yield* Effect.logWarning("closed calls left open by an instance that stopped").pipe(Effect.annotateLogs({ count: closed }))
    }
  })

const RecoverUnfinishedCalls = Layer.scopedDiscard(
  Effect.gen(function*() {
    yield* recoverUnfinished(true)
    yield* Effect.forkScoped(
      Effect.sleep(RECOVER_EVERY).pipe(
        Effect.zipRight(recoverUnfinished(false)),
        Effect.catchAllCause((cause) => Effect.logWarning("recovery of open calls failed", cause)),
        Effect.forever
      )
    )
  })
)

/** Loads every tenant's search index in the background, so no caller pays for the first load. */
const WarmKnowledge = Layer.scopedDiscard(
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const knowledge = yield* Knowledge
    yield* Effect.forkScoped(
      Effect.flatMap(tenants.ids, (ids) =>
        Effect.forEach(ids, (id) =>
          // Chunks whose embedding failed at ingestion get it now (a no-op without OPENAI_API_KEY).
          Effect.zipRight(knowledge.warm(id), Effect.ignore(knowledge.backfillEmbeddings(id))), { discard: true })).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("knowledge warm-up failed", cause))
      )
    )
  })
)

/** Everything but the listening socket: tests build servers on top of it. */
export const AppServices = Layer.mergeAll(DemoSeed, WarmKnowledge, RecoverUnfinishedCalls, CountListenerReconnects).pipe(
  Layer.provideMerge(Calls),
  Layer.provideMerge(Metrics.Default),
  Layer.provideMerge(AppConfig.Default)
)

/** The application on one runtime's server adapter (`main.ts` and the tests pick it). */
export const appLive = (server: Layer.Layer<Server, never, ServerRequirements>) => server.pipe(Layer.provideMerge(AppServices))
