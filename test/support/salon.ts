/**
 * The tenant the scheduling tests book into, as its owner would write it: a hair salon in Paris, open Tuesday
 * and Wednesday 9–12 and 14–19 and Saturday 9–17, a women's cut of 45 minutes, booked at least an hour ahead
 * in 15-minute steps up to 60 days out. Each suite adds what it needs through `overrides`.
 *
 * ```ts
 * const config = salonConfig({ closures: ["2026-12-02"] })
 * ```
 */
import { Schema } from "effect"
import { TenantConfig, type TenantConfigInput } from "../../src/tenants/TenantConfig.ts"

/** The salon's hours on a full day: a morning and an afternoon. */
export const FULL_DAY: ReadonlyArray<readonly [string, string]> = [["09:00", "12:00"], ["14:00", "19:00"]]

export const SALON = {
  name: "Salon Lumière",
  phoneNumbers: ["+33939035760"],
  greeting: "Bonjour, Salon Lumière !",
  timezone: "Europe/Paris",
  openingHours: {
    tuesday: FULL_DAY,
    wednesday: FULL_DAY,
    saturday: [["09:00", "17:00"]]
  },
  services: [{ type: "coupe-femme", name: "Coupe femme", durationMinutes: 45 }],
  booking: { minLeadMinutes: 60, slotStepMinutes: 15, horizonDays: 60 }
} satisfies TenantConfigInput

/** `SALON` with `overrides` (each replaces the whole field), decoded as the server decodes a tenant's config. */
export const salonConfig = (overrides: Partial<TenantConfigInput> = {}): TenantConfig =>
  Schema.decodeUnknownSync(TenantConfig)({ ...SALON, ...overrides })
