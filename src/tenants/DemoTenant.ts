import { Effect, Option } from "effect"
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { AppConfig } from "../config.ts"
import { Tenants } from "./Tenants.ts"

/**
 * On a first start (no tenant yet) the bundled demo business is created and mapped to
 * TWILIO_PHONE_NUMBER, so a fresh install answers calls with nothing configured but API keys.
 * Its API key goes to a 0600 file next to the database, never into a log line.
 */
export const seedDemoTenant = Effect.gen(function*() {
  const config = yield* AppConfig
  const tenants = yield* Tenants
  // Read and checked with the rest of the configuration (DEMO_TENANT_FILE; DEMO_TENANT=off skips it).
  if (Option.isNone(config.demoTenant) || (yield* tenants.count) > 0) return
  const demo = config.demoTenant.value
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
