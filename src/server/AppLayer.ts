import { Effect, Layer, Option, Schema } from "effect"
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
  Messages.Default
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
 * Calls left open by a process that died (crash, kill) are closed at start with the reason
 * `server_restart` and get their summary. One instance owns the SQLite file, so at this point no
 * call of that database can still be live; the Postgres backend will need an owner per call.
 */
const RecoverUnfinishedCalls = Layer.effectDiscard(
  Effect.gen(function*() {
    const calls = yield* CallsRepo
    const callEnd = yield* CallEnd
    const unfinished = yield* calls.unfinished()
    for (const call of unfinished) {
      // The outcome stored as the call went (a booking) survives the crash.
      yield* callEnd.finalise(call.id, { reason: "server_restart", outcome: storedOutcome(call.outcome) })
    }
    if (unfinished.length > 0) {
      yield* Effect.logWarning("closed calls left open by the previous process").pipe(Effect.annotateLogs({ count: unfinished.length }))
    }
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
export const AppServices = Layer.mergeAll(DemoSeed, WarmKnowledge, RecoverUnfinishedCalls).pipe(
  Layer.provideMerge(Calls),
  Layer.provideMerge(Metrics.Default),
  Layer.provideMerge(AppConfig.Default)
)

/** The application on one runtime's server adapter (`main.ts` and the tests pick it). */
export const appLive = (server: Layer.Layer<Server, never, ServerRequirements>) => server.pipe(Layer.provideMerge(AppServices))
