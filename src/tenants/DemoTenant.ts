import { Effect, Option } from "effect"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { AppConfig } from "../config.ts"
import { decodeTenantConfig } from "./TenantConfig.ts"
import { Tenants } from "./Tenants.ts"

const BUNDLED_DEMO = fileURLToPath(new URL("./demo-tenant.json", import.meta.url))

/**
 * On a first start (no tenant yet) the bundled demo business is created and mapped to
 * TWILIO_PHONE_NUMBER, so a fresh install answers calls with nothing configured but API keys.
 * Its API key goes to a 0600 file next to the database, never into a log line.
 */
export const seedDemoTenant = Effect.gen(function*() {
  const config = yield* AppConfig
  const tenants = yield* Tenants
  if ((yield* tenants.count) > 0) return
  const file = config.demoTenantFile || BUNDLED_DEMO
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"))
  const demo = yield* decodeTenantConfig(parsed).pipe(Effect.orDie)
  const phoneNumbers = Option.match(config.twilioPhoneNumber, {
    onNone: () => demo.phoneNumbers,
    onSome: (number) => [number]
  })
  const created = yield* tenants.create({ ...demo, phoneNumbers }).pipe(Effect.orDie)
  const keyFile = config.databaseUrl === ":memory:"
    ? null
    : join(dirname(config.databaseUrl.replace(/^sqlite:(\/\/)?/, "")), "demo-api-key.txt")
  if (keyFile) {
    mkdirSync(dirname(keyFile), { recursive: true })
    writeFileSync(keyFile, created.apiKey + "\n", { mode: 0o600 })
    chmodSync(keyFile, 0o600)
  }
  yield* Effect.logInfo("demo tenant created").pipe(
    Effect.annotateLogs({ tenantId: created.tenant.id, phoneNumbers: phoneNumbers.join(","), writtenTo: keyFile ?? "(in-memory database: key not saved)" })
  )
})
