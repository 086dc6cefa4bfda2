import { describe, expect, test } from "../support/test.ts"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Only the edges know their runtime (issue 9). While iterating people run `bun test` alone; a `Bun.spawn`
 * or `bun:sqlite` slipped into shared code would only show under `deno task test`. This names the file
 * and line under either runner. Runtime-specific code belongs in the places listed here.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

/** Files allowed to use one runtime's own API (each picks it at run time, or is only loaded on it). */
const BUN_EDGES = ["src/server/adapters/bun.ts", "test/support/runtime.ts", "test/support/test.ts"]
const DENO_EDGES = ["src/server/adapters/deno.ts", "src/server/adapters/index.ts", "test/support/runtime.ts", "test/support/deno/"]

const sources = (dir: string): Array<string> =>
  readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))

// The suite and what it runs. test/bench/ is left out: the benchmarks are launched by `bun run bench`.
const files = [...sources("src"), ...sources("test").filter((file) => !file.startsWith("test/bench/"))].sort()

/** The code of a file with its comments blanked (comments name `Bun.serve` and `Deno.serve` freely). */
const codeOf = (file: string): Array<string> =>
  readFileSync(join(ROOT, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, " "))
    .split("\n")
    .map((line) => line.replace(/(^|\s)\/\/.*$/, ""))

const offences = (pattern: RegExp, allowed: ReadonlyArray<string>): Array<string> =>
  files
    .filter((file) => !allowed.some((edge) => file === edge || (edge.endsWith("/") && file.startsWith(edge))))
    .flatMap((file) => codeOf(file).flatMap((line, index) => (pattern.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])))

describe("only the edges know their runtime", () => {
  test("the scan sees the suite and the edges themselves", () => {
    expect(files).toContain("src/cli/call.ts")
    expect(files).toContain("test/e2e/simulator.test.ts")
    expect(offences(/\bBun\./, [])).toContainEqual(expect.stringMatching(/^src\/server\/adapters\/bun\.ts:/))
    expect(offences(/\bDeno\./, [])).toContainEqual(expect.stringMatching(/^src\/server\/adapters\/deno\.ts:/))
  })

  test("no Bun global or bun: module outside the Bun edge (node:* or test/support/runtime.ts instead)", () => {
    expect(offences(/\bBun\.|["']bun(:[a-z]+)?["']/, BUN_EDGES)).toEqual([])
  })

  test("no Deno global outside the Deno edge", () => {
    expect(offences(/\bDeno\./, DENO_EDGES)).toEqual([])
  })

  test("no Bun-only import.meta fields (import.meta.dirname and .filename work on both)", () => {
    expect(offences(/import\.meta\.(dir|path|file)\b/, [])).toEqual([])
  })
})

describe("what the server loads", () => {
  const serverFiles = files.filter((file) => file.startsWith("src/"))
  const linesMatching = (pattern: RegExp, except: ReadonlyArray<string> = []) =>
    serverFiles.filter((file) => !except.includes(file)).flatMap((file) =>
      codeOf(file).flatMap((line, index) => pattern.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])
    )

  // A package's root evaluates every module it has, for the few a server uses: the root of @effect/platform is
  // ~60 modules (about 11 MB of heap), twilio's builds its whole REST client (about 3 MB), @effect/sql's brings
  // @effect/experimental and msgpackr (1.5 MB), effect's ~100 modules we never use (0.6 MB): every instance
  // would carry them.
  test("effect, @effect/* and twilio are imported by module, never by their root", () => {
    expect(linesMatching(/^import\s+(?!type\b).*from\s+["'](effect|@effect\/[a-z-]+|twilio)["']/)).toEqual([])
  })

  // node-postgres and @effect/sql-pg are ~1.5 MB of heap a server on SQLite has no use for.
  test("the Postgres driver is imported by postgresLayer.ts alone, and that module only on demand", () => {
    expect(linesMatching(/^import\s+(?!type\b).*from\s+["'](pg|@effect\/sql-pg[^"']*)["']/, ["src/storage/postgresLayer.ts"])).toEqual([])
    expect(linesMatching(/^import\s.*postgresLayer\.ts["']/)).toEqual([])
    expect(linesMatching(/import\(["']\.\/postgresLayer\.ts["']\)/)).toHaveLength(1)
  })
})
