/**
 * The test API every test file imports: Bun's own `bun:test` under `bun test`; under `deno task test`,
 * deno.json maps `bun:test` to `./deno/bunTest.ts`, the same API on `Deno.test`. Add an export here
 * only together with its Deno side.
 */
export { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test"
