import * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"
import { Knowledge } from "../knowledge/Knowledge.ts"
import { nowIso } from "../storage/CallsRepo.ts"
import { DatabaseBackend } from "../storage/DatabaseBackend.ts"
import type { Tenant } from "./Tenant.ts"
import { TenantConfig } from "./TenantConfig.ts"

export class TenantNotFound extends Data.TaggedError("TenantNotFound")<{ readonly id: string }> {}
export class NumberTaken extends Data.TaggedError("NumberTaken")<{ readonly phoneNumber: string }> {}

/** API keys are long random strings, so a plain SHA-256 is the right hash: no salt or slow KDF needed. */
export const hashApiKey = (key: string): string => createHash("sha256").update(key).digest("hex")
const newApiKey = (): string => `cocc_${randomBytes(32).toString("base64url")}`

const decodeStoredConfig = Schema.decodeUnknownSync(Schema.parseJson(TenantConfig))
const encodeConfig = Schema.encodeSync(Schema.parseJson(TenantConfig))

interface TenantRow {
  readonly id: string
  readonly config: string
}
const toTenant = (row: TenantRow): Tenant => ({ id: row.id, config: decodeStoredConfig(row.config) })

/**
 * Tenants and the numbers they own. A tenant is only ever found from something the server
 * trusts: the called number of a signed webhook, or the hash of an API key.
 */
/** A tenant was created or changed: every instance drops its cached tenants. */
export const TENANTS_CHANNEL = "coccinelle_tenants_changed"

export class Tenants extends Effect.Service<Tenants>()("app/Tenants", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const backend = yield* DatabaseBackend
    const knowledge = yield* Knowledge

    /**
     * Decoded tenants, by id and by number: every call reads its tenant twice (webhook, setup) and decoding
     * the stored config is costly. Only found tenants are kept (a stranger's numbers must not grow it);
     * `create` and `update` — the only writers, through the admin API — empty it.
     */
    const cachedById = new Map<string, Tenant>()
    const cachedByNumber = new Map<string, Tenant>()
    const remember = (tenant: Option.Option<Tenant>, phoneNumber?: string) => {
      if (Option.isSome(tenant)) {
        cachedById.set(tenant.value.id, tenant.value)
        if (phoneNumber !== undefined) cachedByNumber.set(phoneNumber, tenant.value)
      }
      return tenant
    }
    const forgetHere = Effect.sync(() => {
      cachedById.clear()
      cachedByNumber.clear()
    })
    /** Here at once, and on every other instance (through the database): a change is seen everywhere, no restart. */
    const forget = Effect.zipRight(
      forgetHere,
      backend.notify(TENANTS_CHANNEL, "changed").pipe(Effect.catchAllCause((cause) => Effect.logWarning("tenant change not announced", cause)))
    )
    yield* Effect.forkScoped(
      backend.listen(TENANTS_CHANNEL).pipe(
        Stream.runForEach(() => forgetHere),
        Effect.catchAllCause((cause) => Effect.logError("tenant changes no longer heard", cause))
      )
    )
    // Changes notified while the listener was down were missed: forget everything once.
    yield* Effect.forkScoped(Stream.runForEach(backend.reconnected, () => forgetHere))

    const byId = (id: string) =>
      Effect.suspend(() => {
        const cached = cachedById.get(id)
        return cached ? Effect.succeed(Option.some(cached)) : loadById(id)
      })
    const loadById = Effect.fn("Tenants.byId")(function*(id: string) {
      const rows = yield* sql<TenantRow>`SELECT id, config FROM tenants WHERE id = ${id}`
      return remember(Option.map(Option.fromNullable(rows[0]), toTenant))
    }, Effect.orDie)

    const byNumber = (phoneNumber: string) =>
      Effect.suspend(() => {
        const cached = cachedByNumber.get(phoneNumber)
        return cached ? Effect.succeed(Option.some(cached)) : loadByNumber(phoneNumber)
      })
    const loadByNumber = Effect.fn("Tenants.byNumber")(function*(phoneNumber: string) {
      const rows = yield* sql<TenantRow>`SELECT t.id, t.config FROM tenants t
        JOIN tenant_numbers n ON n.tenant_id = t.id WHERE n.phone_number = ${phoneNumber}`
      return remember(Option.map(Option.fromNullable(rows[0]), toTenant), phoneNumber)
    }, Effect.orDie)

    const byApiKey = Effect.fn("Tenants.byApiKey")(function*(apiKey: string) {
      const rows = yield* sql<TenantRow>`SELECT id, config FROM tenants WHERE api_key_hash = ${hashApiKey(apiKey)}`
      return Option.map(Option.fromNullable(rows[0]), toTenant)
    }, Effect.orDie)

    const ids = Effect.map(
      Effect.orDie(sql<{ id: string }>`SELECT id FROM tenants ORDER BY created_at`),
      (rows) => rows.map((row) => row.id)
    )

    const count = Effect.map(
      Effect.orDie(sql<{ n: number }>`SELECT COUNT(*) AS n FROM tenants`),
      (rows) => rows[0]?.n ?? 0
    )

    const claimNumbers = (tenantId: string, numbers: ReadonlyArray<string>) =>
      Effect.forEach(numbers, (phoneNumber) =>
        Effect.gen(function*() {
          const owner = yield* sql<{ tenant_id: string }>`SELECT tenant_id FROM tenant_numbers
            WHERE phone_number = ${phoneNumber}`
          if (owner[0] && owner[0].tenant_id !== tenantId) return yield* new NumberTaken({ phoneNumber })
          if (!owner[0]) yield* sql`INSERT INTO tenant_numbers ${sql.insert({ phone_number: phoneNumber, tenant_id: tenantId })}`
        }), { discard: true })

    /** Creates a tenant; the API key is returned once and only its hash is kept. */
    const create = Effect.fn("Tenants.create")(function*(config: TenantConfig) {
      const id = crypto.randomUUID()
      const apiKey = newApiKey()
      const now = yield* nowIso
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO tenants ${
          sql.insert({
            id,
            name: config.name,
            config: encodeConfig(config),
            api_key_hash: hashApiKey(apiKey),
            created_at: now,
            updated_at: now
          })
        }`
        yield* claimNumbers(id, config.phoneNumbers)
      })).pipe(Effect.catchTag("SqlError", Effect.die), Effect.ensuring(forget))
      // The key is shown only once: if indexing fails, the tenant is removed so a retry can start clean.
      const indexed = yield* knowledge.replaceAll(id, config.knowledge).pipe(
        Effect.onError(() => Effect.zipRight(Effect.orDie(sql`DELETE FROM tenants WHERE id = ${id}`), forget))
      )
      return { tenant: { id, config } satisfies Tenant, apiKey, indexed }
    })

    /** Replaces a tenant's configuration; its knowledge is replaced only when the update carries some. */
    const update = Effect.fn("Tenants.update")(function*(
      id: string,
      config: TenantConfig,
      options: { readonly replaceKnowledge: boolean }
    ) {
      const now = yield* nowIso
      yield* sql.withTransaction(Effect.gen(function*() {
        const updated = yield* sql<{ id: string }>`UPDATE tenants
          SET name = ${config.name}, config = ${encodeConfig(config)}, updated_at = ${now}
          WHERE id = ${id} RETURNING id`
        if (updated.length === 0) return yield* new TenantNotFound({ id })
        yield* sql`DELETE FROM tenant_numbers WHERE tenant_id = ${id}`
        yield* claimNumbers(id, config.phoneNumbers)
      })).pipe(Effect.catchTag("SqlError", Effect.die), Effect.ensuring(forget))
      const indexed = options.replaceKnowledge ? yield* knowledge.replaceAll(id, config.knowledge) : null
      return { tenant: { id, config } satisfies Tenant, indexed }
    })

    /** A new key replaces the old one, which stops working at once. */
    const rotateApiKey = Effect.fn("Tenants.rotateApiKey")(function*(id: string) {
      const apiKey = newApiKey()
      const rows = yield* sql<{ id: string }>`UPDATE tenants SET api_key_hash = ${hashApiKey(apiKey)}
        WHERE id = ${id} RETURNING id`.pipe(Effect.orDie)
      if (rows.length === 0) return yield* new TenantNotFound({ id })
      return apiKey
    })

    return { byId, byNumber, byApiKey, ids, count, create, update, rotateApiKey } as const
  })
}) {}
