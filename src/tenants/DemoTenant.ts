import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { AppConfig } from "../config.ts"
import { sqliteFilename } from "../storage/Database.ts"
import { isPostgresUrl, withBootLock } from "../storage/postgres.ts"
import { Tenants } from "./Tenants.ts"

/**
 * Where the demo key goes: `DEMO_API_KEY_FILE` when set; else, on SQLite, beside the database file (none for
 * `:memory:`); on Postgres nowhere — a URL is not a folder, so nothing lands in the working directory; the
 * operator rotates the demo tenant's key through the admin API instead.
 */
export const demoKeyFile = (databaseUrl: string, demoApiKeyFile: string): string | null => {
  if (demoApiKeyFile !== "") return demoApiKeyFile
  if (databaseUrl === ":memory:" || isPostgresUrl(databaseUrl)) return null
  return join(dirname(sqliteFilename(databaseUrl)), "demo-api-key.txt")
}

/**
 * On a first start (no tenant yet) the bundled demo business is created and mapped to
 * TWILIO_PHONE_NUMBER, so a fresh install answers calls with nothing configured but API keys.
 * Its API key goes to a 0600 file (`demoKeyFile`), never into a log line. Runs under the boot lock, so
 * instances starting at once on one empty Postgres database create one demo tenant.
 */
export const seedDemoTenant = withBootLock(Effect.gen(function*() {
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
  const keyFile = demoKeyFile(config.databaseUrl, config.demoApiKeyFile)
  if (keyFile) {
    mkdirSync(dirname(keyFile), { recursive: true })
    writeFileSync(keyFile, created.apiKey + "\n", { mode: 0o600 })
    chmodSync(keyFile, 0o600)
  }
  // Its number is often the operator's real one (TWILIO_PHONE_NUMBER): say how to make it their business.
  yield* Effect.logInfo(
    `demo tenant created; to answer as your own business, PUT /api/v1/admin/tenants/${created.tenant.id} (or start with DEMO_TENANT=off)`
  ).pipe(
    Effect.annotateLogs({ tenantId: created.tenant.id, phoneNumbers: phoneNumbers.join(","), writtenTo: keyFile ?? "(not saved: set DEMO_API_KEY_FILE, or rotate the key through the admin API)" })
  )
}))
