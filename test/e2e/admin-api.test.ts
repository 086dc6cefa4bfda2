import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { startApp, type TestApp } from "../support/appServer.ts"
import { ADMIN_HEADERS as ADMIN } from "../support/tenants.ts"

const tenantJson = (overrides: Record<string, unknown> = {}) => ({
  name: "Garage du Centre",
  phoneNumbers: ["+33478000001"],
  timezone: "Europe/Paris",
  language: "fr-FR",
  greeting: "Garage du Centre, bonjour !",
  transferNumber: "+33600000001",
  openingHours: { monday: [["08:00", "12:00"], ["14:00", "18:00"]] },
  closures: ["2026-12-25"],
  services: [{ type: "vidange", name: "Vidange", durationMinutes: 60 }],
  knowledge: [{ title: "Pneus", content: "Nous montons les pneus d'hiver sur rendez-vous, comptez une heure." }],
  ...overrides
})

let app: TestApp
beforeAll(async () => {
  app = await startApp()
})
afterAll(async () => {
  await app?.stop()
})

const post = (path: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  fetch(app.baseUrl + path, { method: "POST", headers, body: JSON.stringify(body) })

describe("admin API", () => {
  test("creates a tenant: 201 with an id and an API key shown once, stored hashed", async () => {
    const res = await post("/api/v1/admin/tenants", tenantJson())
    expect(res.status).toBe(201)
    const body = (await res.json()) as { id: string; apiKey: string }
    expect(body.id).toMatch(/[0-9a-f-]{36}/)
    expect(body.apiKey).toStartWith("cocc_")
    const me = await fetch(app.baseUrl + "/api/v1/twilio/stats", { headers: { authorization: `Bearer ${body.apiKey}` } })
    expect(me.status).toBe(200)
    const rows = await app.query((sql) => sql<{ api_key_hash: string; config: string }>`SELECT api_key_hash, config FROM tenants WHERE id = ${body.id}`)
    expect(rows[0]!.api_key_hash).not.toContain(body.apiKey)
    expect(rows[0]!.api_key_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(rows)).not.toContain(body.apiKey)
  })

  test("an unknown field or a bad value is a 400 that names the field", async () => {
    const res = await post("/api/v1/admin/tenants", tenantJson({ phoneNumbers: ["+33478000002"], colour: "red", openingHours: { monday: [["18:00", "08:00"]] } }))
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { issues: Array<{ path: string; message: string }> } }
    const paths = body.error.issues.map((issue) => issue.path)
    expect(paths).toContain("colour")
    expect(paths.some((path) => path.startsWith("openingHours.monday.0"))).toBe(true)
  })

  test("a number already owned by another tenant is a 409", async () => {
    const res = await post("/api/v1/admin/tenants", tenantJson({ name: "Autre", phoneNumbers: ["+33478000001"] }))
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("number_taken")
  })

  test("without the admin token: 401; the wrong token: 401", async () => {
    expect((await post("/api/v1/admin/tenants", tenantJson(), { "content-type": "application/json" })).status).toBe(401)
    expect((await post("/api/v1/admin/tenants", tenantJson(), { authorization: "Bearer nope", "content-type": "application/json" })).status).toBe(401)
  })

  test("update, add knowledge, rotate the key (the old key stops working)", async () => {
    const created = (await (await post("/api/v1/admin/tenants", tenantJson({ phoneNumbers: ["+33478000003"] }))).json()) as { id: string; apiKey: string }
    const put = await fetch(`${app.baseUrl}/api/v1/admin/tenants/${created.id}`, {
      method: "PUT",
      headers: ADMIN,
      body: JSON.stringify(tenantJson({ name: "Garage du Centre-Ville", phoneNumbers: ["+33478000003"] }))
    })
    expect(put.status).toBe(200)
    const added = await post(`/api/v1/admin/tenants/${created.id}/knowledge`, { documents: [{ title: "Carte grise", content: "Nous ne faisons pas les cartes grises." }] })
    expect(added.status).toBe(201)
    expect(((await added.json()) as { chunks: number }).chunks).toBeGreaterThan(0)
    const rotated = await post(`/api/v1/admin/tenants/${created.id}/api-key`, {})
    const { apiKey } = (await rotated.json()) as { apiKey: string }
    expect(apiKey).not.toBe(created.apiKey)
    const withOld = await fetch(app.baseUrl + "/api/v1/twilio/calls", { headers: { authorization: `Bearer ${created.apiKey}` } })
    expect(withOld.status).toBe(401)
    const withNew = await fetch(app.baseUrl + "/api/v1/twilio/calls", { headers: { authorization: `Bearer ${apiKey}` } })
    expect(withNew.status).toBe(200)
  })
})
