import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { signedPost, statusForm, TEST_ACCOUNT_SID, voiceForm } from "../support/twilioClient.ts"
import { ADMIN_HEADERS as ADMIN } from "../support/tenants.ts"

/**
 * What an operator meets: the tenants list, taking over the demo tenant that holds TWILIO_PHONE_NUMBER,
 * skipping it, JSON error bodies everywhere, and webhooks from another Twilio account refused.
 */

const OTHER_ACCOUNT = "AC" + "1".repeat(32)

let app: TestApp
beforeAll(async () => {
  app = await startApp({ TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID })
})
afterAll(async () => {
  await app?.stop()
})

const listTenants = async (target: TestApp = app) => {
  const res = await fetch(target.baseUrl + "/api/v1/admin/tenants", { headers: ADMIN })
  expect(res.status).toBe(200)
  return (await res.json()) as { tenants: Array<{ id: string; name: string; phoneNumbers: Array<string> }>; count: number }
}

describe("tenants for an operator", () => {
  test("the list shows each tenant's id, name and numbers, and needs the admin token", async () => {
    const listed = await listTenants()
    expect(listed.count).toBe(1)
    expect(listed.tenants[0]).toMatchObject({ name: "Salon Lumière", phoneNumbers: [BUSINESS_NUMBER] })
    expect((await fetch(app.baseUrl + "/api/v1/admin/tenants")).status).toBe(401)
  })

  test("the demo tenant holding TWILIO_PHONE_NUMBER: the 409 says which tenant and how to take it over; the PUT does", async () => {
    const demo = (await listTenants()).tenants[0]!
    const mine = { name: "Plomberie Martin", phoneNumbers: [BUSINESS_NUMBER], greeting: "Plomberie Martin, bonjour !" }
    const refused = await fetch(app.baseUrl + "/api/v1/admin/tenants", { method: "POST", headers: ADMIN, body: JSON.stringify(mine) })
    expect(refused.status).toBe(409)
    const message = ((await refused.json()) as { error: { message: string } }).error.message
    expect(message).toContain(demo.id)
    expect(message).toContain("Salon Lumière")
    expect(message).toContain(`PUT /api/v1/admin/tenants/${demo.id}`)

    const taken = await fetch(`${app.baseUrl}/api/v1/admin/tenants/${demo.id}`, { method: "PUT", headers: ADMIN, body: JSON.stringify(mine) })
    expect(taken.status).toBe(200)
    expect((await listTenants()).tenants).toEqual([expect.objectContaining({ id: demo.id, name: "Plomberie Martin", phoneNumbers: [BUSINESS_NUMBER] })])
  })

  test("DEMO_TENANT=off starts with no tenant at all", async () => {
    const bare = await startApp({ DEMO_TENANT: "off" })
    try {
      expect(await listTenants(bare)).toMatchObject({ tenants: [], count: 0 })
    } finally {
      await bare.stop()
    }
  })
})

describe("error bodies are JSON", () => {
  test("an unknown route, a wrong method, a refused signature", async () => {
    for (const [method, path] of [["GET", "/nope"], ["GET", "/webhooks/twilio/voice"], ["DELETE", "/api/v1/admin/tenants"]] as const) {
      const res = await fetch(app.baseUrl + path, { method })
      expect(res.status).toBe(404)
      expect(res.headers.get("content-type")).toContain("application/json")
      expect(await res.json()).toMatchObject({ success: false, error: { code: "not_found" } })
    }
    const unsigned = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_UNSIGNED", from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN, { signature: "bad" })
    expect(unsigned.status).toBe(403)
    expect(JSON.parse(unsigned.text)).toMatchObject({ success: false })
  })
})

describe("webhooks from another Twilio account", () => {
  const calls = (sid: string) => app.query((s) => s<{ status: string }>`SELECT status FROM calls WHERE twilio_call_sid = ${sid}`)

  test("a correctly signed voice webhook from another AccountSid: 403, no call created; the same from ours is answered", async () => {
    const foreign = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_FOREIGN", from: "+33611111111", to: BUSINESS_NUMBER, accountSid: OTHER_ACCOUNT }), AUTH_TOKEN)
    expect(foreign.status).toBe(403)
    expect(await calls("CA_FOREIGN")).toEqual([])

    const ours = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_OURS", from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
    expect(ours.status).toBe(200)
    expect(await calls("CA_OURS")).toHaveLength(1)
  })

  test("a status callback from another account changes nothing", async () => {
    await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_STATUS", from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
    const foreign = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid: "CA_STATUS", status: "completed", duration: 12, sequence: 3, accountSid: OTHER_ACCOUNT }), AUTH_TOKEN)
    expect(foreign.status).toBe(403)
    expect(await calls("CA_STATUS")).toEqual([{ status: "ringing" }])
  })
})
