import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { Knowledge } from "../knowledge/Knowledge.ts"
import { decodeTenantConfig, KnowledgeEntry } from "../tenants/TenantConfig.ts"
import { Tenants } from "../tenants/Tenants.ts"
import { ApiError, badRequest, issuesOf, jsonBody, jsonRoute, notFound, requireAdmin } from "./http.ts"

/** The operator's API: create and update tenants, add knowledge, rotate keys. */

const tenantIdParam = Effect.map(HttpRouter.params, (params) => params["id"] ?? "")

const decodeTenantBody = Effect.flatMap(jsonBody, (body) =>
  Effect.mapError(decodeTenantConfig(body), (error) => badRequest("invalid tenant", issuesOf(error))).pipe(
    Effect.map((config) => ({ config, hasKnowledge: typeof body === "object" && body !== null && "knowledge" in body }))
  ))

const numberTaken = (phoneNumber: string) =>
  new ApiError({ status: 409, code: "number_taken", message: `${phoneNumber} already belongs to another tenant` })

const createTenant = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const { config } = yield* decodeTenantBody
  const created = yield* tenants.create(config).pipe(
    Effect.catchTag("NumberTaken", (error) => Effect.fail(numberTaken(error.phoneNumber)))
  )
  yield* Effect.logInfo("tenant created").pipe(Effect.annotateLogs({ tenantId: created.tenant.id }))
  return HttpServerResponse.unsafeJson(
    { id: created.tenant.id, apiKey: created.apiKey, knowledge: created.indexed },
    { status: 201 }
  )
}))

const updateTenant = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const id = yield* tenantIdParam
  const { config, hasKnowledge } = yield* decodeTenantBody
  const updated = yield* tenants.update(id, config, { replaceKnowledge: hasKnowledge }).pipe(
    Effect.catchTags({
      NumberTaken: (error) => Effect.fail(numberTaken(error.phoneNumber)),
      TenantNotFound: () => Effect.fail(notFound("tenant"))
    })
  )
  return HttpServerResponse.unsafeJson({ id: updated.tenant.id, knowledge: updated.indexed })
}))

const getTenant = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const tenant = yield* Effect.flatMap(tenantIdParam, tenants.byId)
  if (Option.isNone(tenant)) return yield* notFound("tenant")
  return HttpServerResponse.unsafeJson({ id: tenant.value.id, ...tenant.value.config })
}))

/** One document or several: `{title, content}` or `{documents: [{title, content}, …]}`. */
const KnowledgeBody = Schema.Union(
  Schema.Struct({ documents: Schema.Array(KnowledgeEntry).pipe(Schema.minItems(1), Schema.maxItems(500)) }),
  KnowledgeEntry
)
const decodeKnowledgeBody = Schema.decodeUnknown(KnowledgeBody, { onExcessProperty: "error", errors: "all" })

const addKnowledge = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const knowledge = yield* Knowledge
  const id = yield* tenantIdParam
  const body = yield* Effect.flatMap(jsonBody, (raw) =>
    Effect.mapError(decodeKnowledgeBody(raw), (error) => badRequest("invalid knowledge documents", issuesOf(error))))
  if (Option.isNone(yield* tenants.byId(id))) return yield* notFound("tenant")
  const documents = "documents" in body ? body.documents : [body]
  const indexed = yield* knowledge.addDocuments(id, documents)
  return HttpServerResponse.unsafeJson({ tenantId: id, ...indexed }, { status: 201 })
}))

const rotateKey = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const id = yield* tenantIdParam
  const apiKey = yield* tenants.rotateApiKey(id).pipe(Effect.catchTag("TenantNotFound", () => Effect.fail(notFound("tenant"))))
  yield* Effect.logInfo("tenant API key rotated").pipe(Effect.annotateLogs({ tenantId: id }))
  return HttpServerResponse.unsafeJson({ id, apiKey })
}))

export const adminRoutes = HttpRouter.empty.pipe(
  HttpRouter.post("/api/v1/admin/tenants", createTenant),
  HttpRouter.get("/api/v1/admin/tenants/:id", getTenant),
  HttpRouter.put("/api/v1/admin/tenants/:id", updateTenant),
  HttpRouter.post("/api/v1/admin/tenants/:id/knowledge", addKnowledge),
  HttpRouter.post("/api/v1/admin/tenants/:id/api-key", rotateKey)
)
