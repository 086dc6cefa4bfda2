import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { CallRegistry } from "../call/CallRegistry.ts"
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "../observability/Metrics.ts"
import { adminRoutes } from "../api/admin.ts"
import { ownerRoutes } from "../api/owner.ts"
import { messageRoutes } from "../messages/api.ts"
import { webRoutes } from "../web/routes.ts"

/** Under the health check's 2 s timeout in fly.toml, so Fly reads our 503 instead of timing out. */
const DATABASE_PROBE_TIMEOUT = "1 second"

/** Ready when the database answers; Fly's check and the README's first command both rely on it. */
const health = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const registry = yield* CallRegistry
  const database = yield* sql`SELECT 1 AS ok`.pipe(
    Effect.timeout(DATABASE_PROBE_TIMEOUT),
    Effect.as("ok" as const),
    Effect.catchAllCause(() => Effect.succeed("unavailable" as const))
  )
  const activeCalls = yield* registry.activeCount
  const healthy = database === "ok" && registry.isAccepting()
  return yield* HttpServerResponse.json(
    { status: healthy ? "ok" : "unavailable", database, accepting: registry.isAccepting(), activeCalls },
    { status: healthy ? 200 : 503 }
  )
})

const metrics = Effect.gen(function*() {
  const registry = yield* Metrics
  const body = yield* registry.render()
  return HttpServerResponse.text(body, { contentType: PROMETHEUS_CONTENT_TYPE })
})

export const appRouter = HttpRouter.empty.pipe(
  HttpRouter.concat(adminRoutes),
  HttpRouter.concat(ownerRoutes),
  HttpRouter.concat(messageRoutes),
  HttpRouter.concat(webRoutes),
  HttpRouter.get("/health", health),
  HttpRouter.get("/metrics", metrics),
  // Every error body is JSON, an unknown route's too.
  HttpRouter.all("*", Effect.succeed(HttpServerResponse.unsafeJson({ success: false, error: { code: "not_found", message: "no such route" } }, { status: 404 })))
)
