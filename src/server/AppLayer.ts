import { Effect, Layer } from "effect"
import { CallRegistry } from "../call/CallRegistry.ts"
import { CallSessions } from "../call/CallSession.ts"
import { AppConfig } from "../config.ts"
import { Knowledge } from "../knowledge/Knowledge.ts"
import { Claude } from "../llm/Claude.ts"
import { Summaries } from "../llm/Summaries.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Scheduling } from "../scheduling/Scheduling.ts"
import { CallsQuery } from "../storage/CallsQuery.ts"
import { CallsRepo } from "../storage/CallsRepo.ts"
import { sqliteFilename, sqliteLayer } from "../storage/Database.ts"
import { seedDemoTenant } from "../tenants/DemoTenant.ts"
import { Tenants } from "../tenants/Tenants.ts"
import { Tools } from "../tools/Tools.ts"
import { BunServer } from "./BunServer.ts"

/** The whole application as one layer graph, composed once here. */

const Database = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => sqliteLayer(sqliteFilename(config.databaseUrl)))
)

const Storage = Layer.mergeAll(CallsRepo.Default, CallsQuery.Default, Scheduling.Default, Knowledge.Default).pipe(
  Layer.provideMerge(Database)
)

const Domain = Layer.mergeAll(Tenants.Default, Claude.DefaultWithoutDependencies).pipe(
  Layer.provideMerge(Storage)
)

const Calls = CallRegistry.Default.pipe(
  Layer.provideMerge(Layer.merge(CallSessions.Default, Summaries.Default)),
  Layer.provideMerge(Tools.Default),
  Layer.provideMerge(Domain)
)

const DemoSeed = Layer.effectDiscard(seedDemoTenant)

/** Loads every tenant's search index in the background, so no caller pays for the first load. */
const WarmKnowledge = Layer.scopedDiscard(
  Effect.gen(function*() {
    const tenants = yield* Tenants
    const knowledge = yield* Knowledge
    yield* Effect.forkScoped(
      Effect.flatMap(tenants.ids, (ids) => Effect.forEach(ids, knowledge.warm, { discard: true })).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("knowledge warm-up failed", cause))
      )
    )
  })
)

/** Everything but the listening socket: tests build servers on top of it. */
export const AppServices = Layer.merge(DemoSeed, WarmKnowledge).pipe(
  Layer.provideMerge(Calls),
  Layer.provideMerge(Metrics.Default),
  Layer.provideMerge(AppConfig.Default)
)

export const AppLive = BunServer.Default.pipe(Layer.provideMerge(AppServices))
