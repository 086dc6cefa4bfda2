import { Effect, Option } from "effect"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { AppConfig } from "../config.ts"
import { sqliteFilename } from "../storage/Database.ts"
import { isPostgresUrl, withBootLock } from "../storage/postgres.ts"
import { decodeTenantConfig } from "./TenantConfig.ts"
import { Tenants } from "./Tenants.ts"

const BUNDLED_DEMO = fileURLToPath(new URL("./demo-tenant.json", import.meta.url))

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
  if ((yield* tenants.count) > 0) return
  const file = config.demoTenantFile || BUNDLED_DEMO
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"))
  const demo = yield* decodeTenantConfig(parsed).pipe(Effect.orDie)
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
  yield* Effect.logInfo("demo tenant created").pipe(
    Effect.annotateLogs({ tenantId: created.tenant.id, phoneNumbers: phoneNumbers.join(","), writtenTo: keyFile ?? "(not saved: set DEMO_API_KEY_FILE, or rotate the key through the admin API)" })
  )
}))
