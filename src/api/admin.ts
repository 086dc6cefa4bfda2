import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
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

/** A 409 that says who holds the number and what to do: often the demo tenant, which took TWILIO_PHONE_NUMBER. */
const numberTaken = (phoneNumber: string) =>
  Effect.gen(function*() {
    const owner = yield* Effect.flatMap(Tenants, (tenants) => tenants.byNumber(phoneNumber))
    const message = Option.match(owner, {
      onNone: () => `${phoneNumber} already belongs to another tenant`,
      onSome: (tenant) =>
        `${phoneNumber} already belongs to tenant ${tenant.id} (${tenant.config.name}): PUT /api/v1/admin/tenants/${tenant.id} with your business to take it over, or give that tenant other phoneNumbers first`
    })
    return yield* new ApiError({ status: 409, code: "number_taken", message })
  })

const createTenant = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const tenants = yield* Tenants
  const { config } = yield* decodeTenantBody
  const created = yield* tenants.create(config).pipe(
    Effect.catchTag("NumberTaken", (error) => numberTaken(error.phoneNumber))
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
      NumberTaken: (error) => numberTaken(error.phoneNumber),
      TenantNotFound: () => Effect.fail(notFound("tenant"))
    })
  )
  return HttpServerResponse.unsafeJson({ id: updated.tenant.id, knowledge: updated.indexed })
}))

const TenantListRow = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  phone_number: Schema.NullOr(Schema.String),
  created_at: Schema.Union(Schema.String, Schema.DateFromSelf)
})

/** Every tenant with its numbers, oldest first: enough to find the demo tenant and who holds which number. */
const listTenants = jsonRoute(Effect.gen(function*() {
  yield* requireAdmin
  const sql = yield* SqlClient.SqlClient
  const rows = yield* SqlSchema.findAll({
    Request: Schema.Void,
    Result: TenantListRow,
    execute: () =>
      sql`SELECT t.id, t.name, n.phone_number, t.created_at FROM tenants t
          LEFT JOIN tenant_numbers n ON n.tenant_id = t.id ORDER BY t.created_at, t.id, n.phone_number`
  })(undefined).pipe(Effect.orDie)
  const tenants = new Map<string, { id: string; name: string; phoneNumbers: Array<string>; createdAt: string }>()
  for (const row of rows) {
    const createdAt = typeof row.created_at === "string" ? row.created_at : row.created_at.toISOString()
    const tenant = tenants.get(row.id) ?? { id: row.id, name: row.name, phoneNumbers: [], createdAt }
    if (row.phone_number !== null) tenant.phoneNumbers.push(row.phone_number)
    tenants.set(row.id, tenant)
  }
  return HttpServerResponse.unsafeJson({ success: true, tenants: [...tenants.values()], count: tenants.size })
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
  HttpRouter.get("/api/v1/admin/tenants", listTenants),
  HttpRouter.get("/api/v1/admin/tenants/:id", getTenant),
  HttpRouter.put("/api/v1/admin/tenants/:id", updateTenant),
  HttpRouter.post("/api/v1/admin/tenants/:id/knowledge", addKnowledge),
  HttpRouter.post("/api/v1/admin/tenants/:id/api-key", rotateKey)
)
