import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import { timingSafeEqual } from "node:crypto"
import { AppConfig } from "../config.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import { Tenants } from "../tenants/Tenants.ts"
import { OwnerSessions, sameOriginRequest, sessionToken } from "../web/OwnerSessions.ts"

/** Errors every API route can answer with, each turned into one JSON response shape. */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: 400 | 401 | 403 | 404 | 409 | 429 | 503
  readonly code: string
  readonly message: string
  readonly issues?: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {}

export const badRequest = (message: string, issues?: ReadonlyArray<{ path: string; message: string }>) =>
  new ApiError({ status: 400, code: "bad_request", message, ...(issues ? { issues } : {}) })
export const notFound = (what: string) => new ApiError({ status: 404, code: "not_found", message: `${what} not found` })

/** A Schema failure as a list of `path: message`, so a 400 names the field that is wrong. */
export const issuesOf = (error: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message
  }))

/** Runs a route: API errors become JSON, anything unexpected a 500 without internals. */
export const jsonRoute = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError, R>
) =>
  handler.pipe(
    Effect.catchTag("ApiError", (error) =>
      Effect.succeed(HttpServerResponse.unsafeJson(
        { success: false, error: { code: error.code, message: error.message, ...(error.issues ? { issues: error.issues } : {}) } },
        { status: error.status }
      ))),
    Effect.catchAllDefect((defect) =>
      Effect.zipRight(
        Effect.logError("API route failed", defect),
        Effect.succeed(HttpServerResponse.unsafeJson({ success: false, error: { code: "internal", message: "internal error" } }, { status: 500 }))
      )
    )
  )

const bearer = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const header = request.headers["authorization"] ?? ""
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match ? Option.some(match[1]!.trim()) : Option.none<string>()
})

const sameSecret = (given: string, expected: string) => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const unauthorized = (message: string) => new ApiError({ status: 401, code: "unauthorized", message })

/** The operator: `Authorization: Bearer $ADMIN_TOKEN`. Without ADMIN_TOKEN the admin API is closed. */
export const requireAdmin = Effect.gen(function*() {
  const config = yield* AppConfig
  if (Option.isNone(config.adminToken)) {
    return yield* new ApiError({ status: 503, code: "admin_disabled", message: "the admin API is disabled: set ADMIN_TOKEN" })
  }
  const token = yield* bearer
  if (Option.isNone(token) || !sameSecret(token.value, Redacted.value(config.adminToken.value))) {
    return yield* unauthorized("missing or invalid admin token")
  }
})

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"])

/**
 * The business owner: the tenant is whoever owns the API key, never a parameter of the request.
 * The owner's page sends its session cookie instead; a state change made with the cookie must also
 * pass the same-origin check (CSRF).
 */
export const requireTenant = Effect.gen(function*() {
  const tenants = yield* Tenants
  const key = yield* bearer
  if (Option.isSome(key)) {
    const tenant = yield* tenants.byApiKey(key.value)
    if (Option.isNone(tenant)) return yield* unauthorized("invalid API key")
    return tenant.value satisfies Tenant
  }
  const token = yield* sessionToken
  if (Option.isNone(token)) return yield* unauthorized("missing API key (Authorization: Bearer <key>)")
  const request = yield* HttpServerRequest.HttpServerRequest
  if (!SAFE_METHODS.has(request.method) && !sameOriginRequest(request, (yield* AppConfig).publicUrl)) {
    return yield* new ApiError({ status: 403, code: "forbidden", message: "cross-site request refused" })
  }
  const tenantId = yield* (yield* OwnerSessions).tenantOf(token.value)
  const tenant = Option.isSome(tenantId) ? yield* tenants.byId(tenantId.value) : Option.none<Tenant>()
  if (Option.isNone(tenant)) return yield* unauthorized("session expired or ended: sign in again")
  return tenant.value satisfies Tenant
})

export const jsonBody = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
  Effect.mapError(request.json, () => badRequest("the body must be JSON")))

export const searchParams = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const url = new URL(request.url, "http://local")
  return url.searchParams
})
