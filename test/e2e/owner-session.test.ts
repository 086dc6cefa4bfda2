import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { createHash } from "node:crypto"
import { sessionCookie } from "../../src/web/OwnerSessions.ts"
import { startApp, type TestApp } from "../support/appServer.ts"
import { callRow } from "../support/rows.ts"
import { createTenant } from "../support/tenants.ts"

/**
 * The owner's page through the real server at the HTTP level: the page and its headers, the session that
 * replaces the API key (cookie flags, expiry, sign-out, sign-in limit), CSRF on state changes, tenant
 * isolation through the cookie, and the trend routes.
 */

const TTL_SECONDS = 3600

let app: TestApp
let origin: string

beforeAll(async () => {
  app = await startApp({ OWNER_SESSION_TTL_SECONDS: String(TTL_SECONDS) })
  origin = app.baseUrl
})
afterAll(async () => {
  await app?.stop()
})

const tenantJson = (name: string, number: string) => ({
  name,
  phoneNumbers: [number],
  timezone: "Europe/Paris",
  language: "fr-FR",
  greeting: `${name}, bonjour !`,
  transferNumber: "+33600000001",
  openingHours: { monday: [["08:00", "18:00"]] },
  closures: [],
  services: [{ type: "coupe", name: "Coupe", durationMinutes: 30 }],
  knowledge: []
})

const newTenant = (name: string, number: string) => createTenant(app, tenantJson(name, number))

/** What the page sends: same origin, its own header, JSON. */
const pageHeaders = (extra: Record<string, string> = {}) => ({
  origin,
  "x-coccinelle-page": "1",
  "content-type": "application/json",
  ...extra
})

const signIn = (apiKey: string, headers: Record<string, string> = pageHeaders()) =>
  fetch(origin + "/api/v1/session", { method: "POST", headers, body: JSON.stringify({ apiKey }) })

const cookieOf = (res: Response) => {
  const header = res.headers.getSetCookie().find((c) => c.startsWith("coccinelle_session="))
  expect(header).toBeDefined()
  return { header: header!, pair: header!.split(";")[0]! }
}

const insertCall = (tenantId: string, createdAt: string, outcome: string | null) => {
  const row = callRow({ tenant_id: tenantId, created_at: createdAt, to_number: "+33100000000", duration: 30, outcome })
  return app.query((s) => s`INSERT INTO calls ${s.insert(row)}`).then(() => row.id)
}

const insertAppointment = (tenantId: string) => {
  const id = crypto.randomUUID()
  const start = new Date(Date.now() + 3 * 86_400_000)
  start.setUTCHours(9, 0, 0, 0)
  return app.query((s) =>
    s`INSERT INTO appointments ${
      s.insert({
        id,
        tenant_id: tenantId,
        call_id: null,
        service_type: "coupe",
        service_name: "Coupe",
        client_name: "Léa",
        client_phone: "+33612345678",
        starts_at: start.toISOString(),
        ends_at: new Date(start.getTime() + 1_800_000).toISOString(),
        time_zone: "Europe/Paris",
        status: "booked",
        idempotency_key: null,
        created_at: new Date().toISOString()
      })
    }`
  ).then(() => id)
}

const appointmentStatus = async (id: string) =>
  (await app.query((s) => s<{ status: string }>`SELECT status FROM appointments WHERE id = ${id}`))[0]?.status

describe("the page itself", () => {
  test("GET / serves the French page with a strict CSP and no inline script", async () => {
    const res = await fetch(origin + "/")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toContain("text/html")
    const csp = res.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("style-src 'self'")
    expect(csp).not.toContain("unsafe-inline")
    expect(csp).toContain("frame-ancestors 'none'")
    const html = await res.text()
    expect(html).toContain('<html lang="fr">')
    expect(html).toMatch(/<script type="module" src="\/app\/app\.js"><\/script>/)
    // No inline script or style: every <script> has a src, no style attribute or element.
    expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull()
    expect(html).not.toMatch(/<style|style="/)
  })

  test("assets are served by plain name; anything else is 404", async () => {
    const js = await fetch(origin + "/app/app.js")
    expect(js.status).toBe(200)
    expect(js.headers.get("content-type")).toContain("text/javascript")
    expect((await fetch(origin + "/app/app.css")).headers.get("content-type")).toContain("text/css")
    for (const path of ["/app/..%2F..%2Fconfig.ts", "/app/OwnerSessions.ts", "/app/nothing.js", "/app/.env"]) {
      expect((await fetch(origin + path)).status).toBe(404)
    }
  })

  test("the first view (page, styles, scripts) is well under 100 KB", async () => {
    const files = ["/", "/app/app.css", "/app/favicon.svg", "/app/app.js", "/app/api.js", "/app/dom.js", "/app/format.js", "/app/signin.js", "/app/calls.js", "/app/call.js", "/app/appointments.js", "/app/messages.js", "/app/trends.js"]
    let bytes = 0
    for (const file of files) {
      const res = await fetch(origin + file)
      expect(res.status).toBe(200)
      bytes += (await res.arrayBuffer()).byteLength
    }
    expect(bytes).toBeLessThan(100 * 1024)
  })
})

describe("signing in with the API key", () => {
  let tenant: { id: string; apiKey: string }
  beforeAll(async () => {
    tenant = await newTenant("Salon Léa", "+33100000101")
  })

  test("the key is exchanged for an HttpOnly, Secure, SameSite=Strict, expiring cookie that reads the owner API", async () => {
    const res = await signIn(tenant.apiKey)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true, tenant: { name: "Salon Léa", timezone: "Europe/Paris" } })
    const { header, pair } = cookieOf(res)
    const flags = header.split(";").map((part) => part.trim())
    expect(flags).toContain("HttpOnly")
    expect(flags).toContain("Secure")
    expect(flags).toContain("SameSite=Strict")
    expect(flags).toContain("Path=/")
    expect(flags).toContain(`Max-Age=${TTL_SECONDS}`)
    const token = pair.split("=")[1]!
    expect(token.length).toBeGreaterThan(30)
    expect(token).not.toContain(tenant.apiKey)

    const calls = await fetch(origin + "/api/v1/twilio/calls", { headers: { cookie: pair } })
    expect(calls.status).toBe(200)
    const who = await fetch(origin + "/api/v1/session", { headers: { cookie: pair } })
    expect(((await who.json()) as any).tenant.name).toBe("Salon Léa")
    // Neither the key nor the session token is in any log line, and only the token's hash is stored.
    expect(app.logLines.some((line) => line.includes(tenant.apiKey) || line.includes(token))).toBe(false)
    const stored = await app.query((s) => s<{ token_hash: string }>`SELECT token_hash FROM owner_sessions`)
    expect(stored.some((row) => row.token_hash === token)).toBe(false)
    expect(stored.length).toBeGreaterThan(0)
  })

  test("without a cookie or with a made-up one, the owner API answers 401", async () => {
    expect((await fetch(origin + "/api/v1/twilio/calls")).status).toBe(401)
    expect((await fetch(origin + "/api/v1/twilio/calls", { headers: { cookie: "coccinelle_session=made-up" } })).status).toBe(401)
  })

  test("a wrong key gets one French message that names no tenant, and is never logged", async () => {
    const wrong = "cocc_" + "x".repeat(43)
    const res = await signIn(wrong, pageHeaders({ "fly-client-ip": "198.51.100.7" }))
    expect(res.status).toBe(401)
    expect(res.headers.getSetCookie()).toEqual([])
    const body = (await res.json()) as any
    expect(body.error.message).toMatch(/^Clé d'accès incorrecte/)
    expect(JSON.stringify(body)).not.toContain("Salon")
    // Another shape of wrong key gets exactly the same answer.
    const other = (await (await signIn("nothing-like-a-key", pageHeaders({ "fly-client-ip": "198.51.100.7" }))).json()) as any
    expect(other).toEqual(body)
    expect(app.logLines.some((line) => line.includes(wrong))).toBe(false)
  })

  test("after 10 failed attempts a client is refused for a while, even with the right key; other clients are not", async () => {
    const client = pageHeaders({ "fly-client-ip": "203.0.113.9" })
    for (let i = 0; i < 10; i++) expect((await signIn(`wrong-${i}`, client)).status).toBe(401)
    const blocked = await signIn(tenant.apiKey, client)
    expect(blocked.status).toBe(429)
    expect(((await blocked.json()) as any).error.message).toMatch(/Trop de tentatives/)
    expect((await signIn(tenant.apiKey, pageHeaders({ "fly-client-ip": "203.0.113.10" }))).status).toBe(200)
    // The window passing (moved back in the database) lifts the block.
    await app.query((s) => s`UPDATE owner_signin_failures SET created_at = '2000-01-01T00:00:00.000Z' WHERE client = '203.0.113.9'`)
    expect((await signIn(tenant.apiKey, client)).status).toBe(200)
  })

  test("signing in from another site (login CSRF) or without the page's header is refused", async () => {
    expect((await signIn(tenant.apiKey, pageHeaders({ origin: "https://evil.example" }))).status).toBe(403)
    expect((await signIn(tenant.apiKey, { origin, "content-type": "application/json" })).status).toBe(403)
    expect((await signIn(tenant.apiKey, { "x-coccinelle-page": "1", "content-type": "application/json" })).status).toBe(403)
  })

  test("an expired session no longer opens anything", async () => {
    const { pair } = cookieOf(await signIn(tenant.apiKey))
    expect((await fetch(origin + "/api/v1/session", { headers: { cookie: pair } })).status).toBe(200)
    const token = pair.split("=")[1]!
    const hash = createHash("sha256").update(token).digest("hex")
    await app.query((s) => s`UPDATE owner_sessions SET expires_at = ${new Date(Date.now() - 1000).toISOString()} WHERE token_hash = ${hash}`)
    expect((await fetch(origin + "/api/v1/session", { headers: { cookie: pair } })).status).toBe(401)
    expect((await fetch(origin + "/api/v1/twilio/calls", { headers: { cookie: pair } })).status).toBe(401)
  })

  test("signing out ends the session on the server: the same cookie, replayed, is refused", async () => {
    const { pair } = cookieOf(await signIn(tenant.apiKey))
    const out = await fetch(origin + "/api/v1/session", { method: "DELETE", headers: { ...pageHeaders(), cookie: pair } })
    expect(out.status).toBe(200)
    const cleared = cookieOf(out)
    expect(cleared.header).toContain("Max-Age=0")
    expect(cleared.pair).toBe("coccinelle_session=")
    expect((await fetch(origin + "/api/v1/twilio/calls", { headers: { cookie: pair } })).status).toBe(401)
  })

  test("the cookie is Secure except on a plain-http loopback origin", () => {
    expect(sessionCookie("https://coccinelle.fly.dev", "t", 60)).toContain("Secure")
    expect(sessionCookie("http://coccinelle.example", "t", 60)).toContain("Secure")
    expect(sessionCookie("http://localhost:8080", "t", 60)).not.toContain("Secure")
    expect(sessionCookie("http://127.0.0.1:8080", "t", 60)).not.toContain("Secure")
  })
})

describe("CSRF and isolation with the cookie", () => {
  let a: { id: string; apiKey: string }
  let b: { id: string; apiKey: string }
  let cookieA: string
  beforeAll(async () => {
    a = await newTenant("Garage A", "+33100000201")
    b = await newTenant("Garage B", "+33100000202")
    cookieA = cookieOf(await signIn(a.apiKey)).pair
  })

  const cancel = (id: string, headers: Record<string, string>) =>
    fetch(origin + `/api/v1/appointments/${id}`, { method: "DELETE", headers: { cookie: cookieA, ...headers } })

  test("a cookie-authenticated cancel needs our origin and the page's header; the page's own request works", async () => {
    const id = await insertAppointment(a.id)
    expect((await cancel(id, {})).status).toBe(403)
    expect((await cancel(id, { origin: "https://evil.example", "x-coccinelle-page": "1" })).status).toBe(403)
    expect((await cancel(id, { origin })).status).toBe(403)
    expect(await appointmentStatus(id)).toBe("booked")
    // Control: the same request as the page sends it.
    const ok = await cancel(id, { origin, "x-coccinelle-page": "1" })
    expect(ok.status).toBe(200)
    expect(await appointmentStatus(id)).toBe("cancelled")
  })

  test("the API key keeps working without any of it (scripts are not browsers)", async () => {
    const id = await insertAppointment(a.id)
    const res = await fetch(origin + `/api/v1/appointments/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${a.apiKey}` } })
    expect(res.status).toBe(200)
  })

  test("a session sees only its own tenant's calls and appointments", async () => {
    const mine = await insertCall(a.id, new Date().toISOString(), "booked")
    const theirs = await insertCall(b.id, new Date().toISOString(), "booked")
    const list = (await (await fetch(origin + "/api/v1/twilio/calls", { headers: { cookie: cookieA } })).json()) as any
    expect(list.calls.map((c: any) => c.id)).toContain(mine)
    expect(list.calls.map((c: any) => c.id)).not.toContain(theirs)
    expect((await fetch(origin + `/api/v1/twilio/calls/${theirs}`, { headers: { cookie: cookieA } })).status).toBe(404)
    const theirAppointment = await insertAppointment(b.id)
    expect((await cancel(theirAppointment, { origin, "x-coccinelle-page": "1" })).status).toBe(404)
    expect(await appointmentStatus(theirAppointment)).toBe("booked")
  })
})

describe("trends", () => {
  let tenant: { id: string; apiKey: string }
  const auth = () => ({ authorization: `Bearer ${tenant.apiKey}` })
  beforeAll(async () => {
    tenant = await newTenant("Boulangerie", "+33100000301")
    const today = new Date()
    const call = await insertCall(tenant.id, today.toISOString(), "booked")
    await insertCall(tenant.id, today.toISOString(), "abandoned")
    await insertCall(tenant.id, new Date(Date.now() - 2 * 86_400_000).toISOString(), "information_given")
    await insertCall(tenant.id, new Date(Date.now() - 40 * 86_400_000).toISOString(), "booked")
    for (const ms of [400, 500, 600, 2000]) {
      await app.query((s) => s`INSERT INTO call_events ${s.insert({ call_id: call, type: "turn_latency", data: JSON.stringify({ turn: 1, ms }), created_at: today.toISOString() })}`)
    }
  })

  test("calls per day by outcome, resolution rate, latency percentiles and hours over the last 30 days", async () => {
    const res = await fetch(origin + "/api/v1/trends", { headers: auth() })
    expect(res.status).toBe(200)
    const body = (await res.json()) as any
    expect(body.days).toHaveLength(30)
    expect(body.totalCalls).toBe(3)
    const last = body.days[body.days.length - 1]
    expect(last.total).toBe(2)
    expect(last.byOutcome.booked).toBe(1)
    expect(last.byOutcome.abandoned).toBe(1)
    expect(last.resolutionRate).toBe(50)
    expect(last.latencyP50Ms).toBe(500)
    expect(last.latencyP95Ms).toBe(2000)
    expect(body.hours.reduce((a: number, b: number) => a + b, 0)).toBe(3)
    const week = (await (await fetch(origin + "/api/v1/trends?period=7d", { headers: auth() })).json()) as any
    expect(week.days).toHaveLength(7)
  })

  test("each chart is an SVG with a title; an unknown chart is 404", async () => {
    for (const chart of ["calls-per-day", "resolution-rate", "latency", "busiest-hours"]) {
      const res = await fetch(origin + `/api/v1/trends/charts/${chart}.svg?period=7d`, { headers: auth() })
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type")).toContain("image/svg+xml")
      const svg = await res.text()
      expect(svg).toStartWith("<svg")
      expect(svg).toContain("<title")
      expect(svg).not.toContain("Aucune donnée")
    }
    expect((await fetch(origin + "/api/v1/trends/charts/pie.svg", { headers: auth() })).status).toBe(404)
    expect((await fetch(origin + "/api/v1/trends/charts/latency.svg")).status).toBe(401)
  })

  test("the 'à rappeler' filter lists only calls whose summary asks for a call back", async () => {
    const callback = await insertCall(tenant.id, new Date().toISOString(), "information_given")
    await app.query((s) =>
      s`INSERT INTO call_summaries ${s.insert({ call_id: callback, summary: "Rappeler Mme Durand.", intent: null, sentiment: null, outcome: null, callback_needed: 1, unanswered: "[]", created_at: new Date().toISOString() })}`
    )
    const all = (await (await fetch(origin + "/api/v1/twilio/calls", { headers: auth() })).json()) as any
    expect(all.calls.length).toBeGreaterThan(1)
    const filtered = (await (await fetch(origin + "/api/v1/twilio/calls?callback=1", { headers: auth() })).json()) as any
    expect(filtered.calls.map((c: any) => c.id)).toEqual([callback])
    expect(filtered.calls[0].callback_needed).toBe(true)
  })
})
