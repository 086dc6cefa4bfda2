import type { TenantConfig } from "./TenantConfig.ts"

/** A tenant as the domain sees it: its id and its validated configuration. */
export interface Tenant {
  readonly id: string
  readonly config: TenantConfig
}
