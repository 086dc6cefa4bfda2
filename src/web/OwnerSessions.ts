import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createHash, randomBytes } from "node:crypto"
import { AppConfig } from "../config.ts"

/**
 * Sign-ins on the owner's page: an API key is exchanged once for a random session token held in an
 * HttpOnly cookie. Only the token's hash is stored, in the database so every instance sees it.
 */

export const SESSION_COOKIE = "coccinelle_session"

/** Failed sign-ins allowed per client within the window before answering 429. */
export const MAX_FAILED_SIGNINS = 10
const FAILURE_WINDOW_MS = 15 * 60_000

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex")
const iso = (ms: number) => new Date(ms).toISOString()

const SessionRow = Schema.Struct({ tenant_id: Schema.String })

export class OwnerSessions extends Effect.Service<OwnerSessions>()("app/OwnerSessions", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const config = yield* AppConfig
    const ttlMs = config.ownerSessionTtlSeconds * 1000

    const findSession = SqlSchema.findOne({
      Request: Schema.Struct({ hash: Schema.String, now: Schema.String }),
      Result: SessionRow,
      execute: ({ hash, now }) =>
        sql`SELECT tenant_id FROM owner_sessions WHERE token_hash = ${hash} AND expires_at > ${now}`
    })

    const countFailures = SqlSchema.single({
      Request: Schema.Struct({ client: Schema.String, since: Schema.String }),
      // COUNT(*) is a number on SQLite and a bigint string on Postgres.
      Result: Schema.Struct({ n: Schema.Union(Schema.Number, Schema.NumberFromString) }),
      execute: ({ client, since }) =>
        sql`SELECT COUNT(*) AS n FROM owner_signin_failures WHERE client = ${client} AND created_at > ${since}`
    })

    /** A new session for the tenant; the token is returned once, to be put in the cookie. */
    const open = Effect.fn("OwnerSessions.open")(function*(tenantId: string) {
      const now = yield* Clock.currentTimeMillis
      const token = randomBytes(32).toString("base64url")
      yield* sql`INSERT INTO owner_sessions ${
        sql.insert({ token_hash: hashToken(token), tenant_id: tenantId, created_at: iso(now), expires_at: iso(now + ttlMs) })
      }`
      // Expired sessions are swept on sign-in so the table holds only live ones (plus a few stragglers).
      yield* sql`DELETE FROM owner_sessions WHERE expires_at <= ${iso(now)}`
      return { token, maxAgeSeconds: config.ownerSessionTtlSeconds } as const
    }, Effect.orDie)

    /** The tenant of a live session, or nothing for an unknown, ended or expired token. */
    const tenantOf = Effect.fn("OwnerSessions.tenantOf")(function*(token: string) {
      const now = yield* Clock.currentTimeMillis
      const row = yield* findSession({ hash: hashToken(token), now: iso(now) })
      return Option.map(row, (r) => r.tenant_id)
    }, Effect.orDie)

    const end = Effect.fn("OwnerSessions.end")(function*(token: string) {
      yield* sql`DELETE FROM owner_sessions WHERE token_hash = ${hashToken(token)}`
    }, Effect.orDie)

    const tooManyFailures = Effect.fn("OwnerSessions.tooManyFailures")(function*(client: string) {
      const now = yield* Clock.currentTimeMillis
      const { n } = yield* countFailures({ client, since: iso(now - FAILURE_WINDOW_MS) })
      return n >= MAX_FAILED_SIGNINS
    }, Effect.orDie)

    const recordFailure = Effect.fn("OwnerSessions.recordFailure")(function*(client: string) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`DELETE FROM owner_signin_failures WHERE created_at <= ${iso(now - FAILURE_WINDOW_MS)}`
      yield* sql`INSERT INTO owner_signin_failures ${
        sql.insert({ id: randomBytes(12).toString("base64url"), client, created_at: iso(now) })
      }`
    }, Effect.orDie)

    return { open, tenantOf, end, tooManyFailures, recordFailure } as const
  })
}) {}

/** The session token from the request's cookie, if any. */
export const sessionToken = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  Option.fromNullable(request.cookies[SESSION_COOKIE]).pipe(Option.filter((token) => token.length > 0)))

/** `Secure` everywhere but on a plain-http loopback origin, where browsers would drop such a cookie. */
const isLoopbackHttp = (publicUrl: string) => /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(publicUrl)

export const sessionCookie = (publicUrl: string, token: string, maxAgeSeconds: number) =>
  [
    `${SESSION_COOKIE}=${token}`,
    "Path=/",
    `Max-Age=${maxAgeSeconds}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(isLoopbackHttp(publicUrl) ? [] : ["Secure"])
  ].join("; ")

export const clearedSessionCookie = (publicUrl: string) => sessionCookie(publicUrl, "", 0)

/** The header the page sends on every state change; a cross-site form cannot set it. */
export const PAGE_HEADER = "x-coccinelle-page"

/**
 * CSRF guard for cookie-authenticated state changes: besides SameSite=Strict, the request must come
 * from our own origin (`Origin` equal to the public URL or to the host it was sent to) and carry the
 * page's custom header, which no cross-site form or simple request can add.
 */
export const sameOriginRequest = (request: HttpServerRequest.HttpServerRequest, publicUrl: string): boolean => {
  if (request.headers[PAGE_HEADER] !== "1") return false
  const origin = request.headers["origin"]
  if (origin === undefined) return false
  const host = request.headers["host"]
  const allowed = new Set([new URL(publicUrl).origin])
  if (host !== undefined) {
    allowed.add(`http://${host}`)
    allowed.add(`https://${host}`)
  }
  return allowed.has(origin)
}

/**
 * Who is signing in, for the failure limit: Fly's proxy sets `Fly-Client-IP` (and overwrites any copy sent
 * by the client); elsewhere we cannot tell clients apart through the web handler, so they share one bucket.
 */
export const signinClient = (request: HttpServerRequest.HttpServerRequest): string =>
  request.headers["fly-client-ip"] ?? Option.getOrElse(request.remoteAddress, () => "unknown")
