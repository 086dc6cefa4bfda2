import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { ApiError, issuesOf, jsonBody, jsonRoute, requireTenant } from "../api/http.ts"
import { AppConfig } from "../config.ts"
import { Tenants } from "../tenants/Tenants.ts"
import {
  clearedSessionCookie,
  OwnerSessions,
  sameOriginRequest,
  sessionCookie,
  sessionToken,
  signinClient
} from "./OwnerSessions.ts"

/**
 * The owner's page: its static files (plain ES modules, no build) and the session routes that
 * exchange the tenant's API key for a cookie. Files are read with node:fs so Bun and Deno serve them alike.
 */

// `.href`: Bun's URL type trips Deno's checker on fileURLToPath(URL).
const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url).href)

/** Scripts, styles and data only from our origin; nothing inline, no framing. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'"
].join("; ")

const SECURITY_HEADERS = {
  "content-security-policy": PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-cache"
} as const

const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ["html", "text/html; charset=utf-8"],
  ["js", "text/javascript; charset=utf-8"],
  ["css", "text/css; charset=utf-8"],
  ["svg", "image/svg+xml"]
])

/** A file of the page by plain name only (no folders, no dots but the extension): no way out of the folder. */
const serveFile = (name: string) =>
  Effect.gen(function*() {
    const match = /^[a-z0-9-]+\.(html|js|css|svg)$/.exec(name)
    const contentType = match ? CONTENT_TYPES.get(match[1]!) : undefined
    if (!match || contentType === undefined) return HttpServerResponse.text("Not found", { status: 404 })
    const body = yield* Effect.tryPromise(() => readFile(PUBLIC_DIR + name)).pipe(Effect.option)
    if (Option.isNone(body)) return HttpServerResponse.text("Not found", { status: 404 })
    return HttpServerResponse.uint8Array(body.value, { contentType, headers: SECURITY_HEADERS })
  })

const index = serveFile("index.html")
const asset = Effect.flatMap(HttpRouter.params, ({ file }) => serveFile(file ?? ""))

const SignIn = Schema.Struct({ apiKey: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512)) })

const forbidden = new ApiError({ status: 403, code: "forbidden", message: "Requête refusée (origine inconnue)." })

/**
 * POST /api/v1/session {apiKey}: the key is read from the body only (never a URL), checked, and never
 * logged. A wrong key gets one French message whatever the reason, and counts towards the client's limit.
 */
const signIn = jsonRoute(Effect.gen(function*() {
  const config = yield* AppConfig
  const sessions = yield* OwnerSessions
  const tenants = yield* Tenants
  const request = yield* HttpServerRequest.HttpServerRequest
  // Login CSRF: another site must not sign a visitor into an account of its choosing.
  if (!sameOriginRequest(request, config.publicUrl)) return yield* forbidden
  const client = signinClient(request)
  if (yield* sessions.tooManyFailures(client)) {
    return yield* new ApiError({
      status: 429,
      code: "too_many_attempts",
      message: "Trop de tentatives de connexion. Réessayez dans quelques minutes."
    })
  }
  const body = yield* Schema.decodeUnknown(SignIn)(yield* jsonBody).pipe(
    Effect.mapError((error) => new ApiError({ status: 400, code: "bad_request", message: "Saisissez votre clé d'accès.", issues: issuesOf(error) }))
  )
  const tenant = yield* tenants.byApiKey(body.apiKey.trim())
  if (Option.isNone(tenant)) {
    yield* sessions.recordFailure(client)
    yield* Effect.logInfo("owner sign-in refused")
    return yield* new ApiError({
      status: 401,
      code: "unauthorized",
      message: "Clé d'accès incorrecte. Vérifiez-la (elle commence par « cocc_ ») et réessayez."
    })
  }
  const session = yield* sessions.open(tenant.value.id)
  yield* Effect.logInfo("owner signed in").pipe(Effect.annotateLogs({ tenantId: tenant.value.id }))
  return HttpServerResponse.unsafeJson(
    { success: true, tenant: { name: tenant.value.config.name, timezone: tenant.value.config.timezone } },
    { headers: { "set-cookie": sessionCookie(config.publicUrl, session.token, session.maxAgeSeconds), "cache-control": "no-store" } }
  )
}))

/** GET /api/v1/session: who is signed in (the page asks on load). */
const whoAmI = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  return HttpServerResponse.unsafeJson(
    { success: true, tenant: { name: tenant.config.name, timezone: tenant.config.timezone } },
    { headers: { "cache-control": "no-store" } }
  )
}))

/** DELETE /api/v1/session: the stored session is deleted, so the cookie is worthless even if kept. */
const signOut = jsonRoute(Effect.gen(function*() {
  const config = yield* AppConfig
  const request = yield* HttpServerRequest.HttpServerRequest
  if (!sameOriginRequest(request, config.publicUrl)) return yield* forbidden
  const token = yield* sessionToken
  if (Option.isSome(token)) yield* (yield* OwnerSessions).end(token.value)
  return HttpServerResponse.unsafeJson(
    { success: true },
    { headers: { "set-cookie": clearedSessionCookie(config.publicUrl), "cache-control": "no-store" } }
  )
}))

export const webRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/", index),
  HttpRouter.get("/app/:file", asset),
  HttpRouter.post("/api/v1/session", signIn),
  HttpRouter.get("/api/v1/session", whoAmI),
  HttpRouter.del("/api/v1/session", signOut)
)
