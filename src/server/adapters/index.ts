import type { ServerAdapter } from "../edge.ts"

/**
 * The server adapter of the runtime we run on. Imported by a computed path so that neither
 * `tsc` (Bun's types) nor `deno check` (Deno's) reads the other runtime's edge.
 */
export const loadServerAdapter = (): Promise<ServerAdapter> => {
  const path = "Deno" in globalThis ? "./deno.ts" : "./bun.ts"
  return import(path)
}
