/**
 * Tenants made the way an operator makes them: through the admin API of a server a test started
 * (`startApp`), the only place the tenant's API key is ever shown.
 */
import { expect } from "./test.ts"

/** The ADMIN_TOKEN `startApp` configures. */
export const ADMIN_TOKEN = "admin-secret-token"
export const ADMIN_HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }

export interface CreatedTenant {
  readonly id: string
  readonly apiKey: string
}

/** POST /api/v1/admin/tenants with `tenant` (the tenant's JSON); expects 201 and returns its id and API key. */
export const createTenant = async (app: { readonly baseUrl: string }, tenant: Record<string, unknown>): Promise<CreatedTenant> => {
  const res = await fetch(app.baseUrl + "/api/v1/admin/tenants", { method: "POST", headers: ADMIN_HEADERS, body: JSON.stringify(tenant) })
  expect(res.status).toBe(201)
  const { id, apiKey } = (await res.json()) as CreatedTenant
  return { id, apiKey }
}
