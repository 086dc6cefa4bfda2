import { afterAll, describe, expect, test } from "../support/test.ts"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { environmentProvider, readConfig } from "../../src/config.ts"
import { mainCommand, runtime, spawn, spawnSync } from "../support/runtime.ts"

/**
 * `src/main.ts` (`bun run start`, `deno task start`) with a bad environment: one line on stderr naming the variable, its value (secrets
 * masked) and what is expected; exit code 1; nothing created (no database file, no demo key).
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "coccinelle-startup-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let counter = 0
const start = (env: Record<string, string>) => {
  const database = join(dir, `db-${++counter}`, "coccinelle.db")
  const child = spawnSync(mainCommand(), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATABASE_URL: database, ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 10_000
  })
  return {
    code: child.exitCode,
    stdout: child.stdout.toString(),
    stderr: child.stderr.toString(),
    databaseCreated: existsSync(join(dir, `db-${counter}`))
  }
}

const expectRefused = (env: Record<string, string>, variable: string, ...mentions: Array<string>) => {
  const result = start(env)
  expect(result.code).toBe(1)
  expect(result.stdout).toBe("")
  const lines = result.stderr.trimEnd().split("\n")
  expect(lines).toHaveLength(1)
  expect(lines[0]!).toStartWith(`configuration error: ${variable}=`)
  for (const mention of mentions) expect(lines[0]!).toContain(mention)
  expect(result.databaseCreated).toBe(false)
  return lines[0]!
}

describe("start-up errors", () => {
  test("PORT not a number, or out of range", () => {
    expectRefused({ PORT: "http" }, "PORT", '"http"', "integer from 0 to 65535")
    expectRefused({ PORT: "99999" }, "PORT", '"99999"')
  })

  test("LOG_LEVEL unknown names the accepted levels", () => {
    expectRefused({ LOG_LEVEL: "verbose" }, "LOG_LEVEL", '"verbose"', "debug", "info")
  })

  test("TWILIO_PHONE_NUMBER not E.164", () => {
    expectRefused({ TWILIO_PHONE_NUMBER: "06 12 34 56 78" }, "TWILIO_PHONE_NUMBER", '"06 12 34 56 78"', "E.164")
  })

  test("PUBLIC_URL without a scheme", () => {
    expectRefused({ PUBLIC_URL: "coccinelle.fly.dev" }, "PUBLIC_URL", '"coccinelle.fly.dev"', "https://")
  })

  test("DATABASE_URL pointing at a directory names the path", () => {
    const folder = join(dir, "a-folder")
    mkdirSync(folder)
    expectRefused({ DATABASE_URL: folder }, "DATABASE_URL", folder, "is a directory")
  })

  test("a malformed DEMO_TENANT_FILE names the file and the field", () => {
    const file = join(dir, "demo.json")
    writeFileSync(file, JSON.stringify({ name: "Salon", phoneNumbers: ["0612"], greeting: "Bonjour" }))
    expectRefused({ DEMO_TENANT_FILE: file }, "DEMO_TENANT_FILE", file, "phoneNumbers.0")
    const broken = join(dir, "broken.json")
    writeFileSync(broken, "{ not json")
    expectRefused({ DEMO_TENANT_FILE: broken }, "DEMO_TENANT_FILE", broken)
    expectRefused({ DEMO_TENANT_FILE: join(dir, "missing.json") }, "DEMO_TENANT_FILE", "missing.json")
  })

  test("a secret in a bad value is masked (a Postgres URL's password)", () => {
    const line = expectRefused({ DATABASE_URL: "postgres://coccinelle:hunter2@db/app", PORT: "x" }, "PORT")
    expect(line).not.toContain("hunter2")
  })

  test("an empty PORT is the default port, not a random one", async () => {
    const config = await Effect.runPromise(readConfig.pipe(Effect.withConfigProvider(environmentProvider({ PORT: "", DATABASE_URL: ":memory:" }))))
    expect(config.port).toBe(8080)
  })

  test("control: empty values count as unset, and the server starts", async () => {
    const database = join(dir, "ok", "coccinelle.db")
    const child = spawn(mainCommand(), {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        DATABASE_URL: database,
        PORT: "0",
        LOG_LEVEL: "",
        TWILIO_PHONE_NUMBER: "",
        PUBLIC_URL: "",
        HOST: "127.0.0.1",
        LOG_FORMAT: "json",
        SHUTDOWN_GRACE_MS: "0" // no call to let finish: stop at once
      },
      stdout: "pipe",
      stderr: "pipe"
    })
    try {
      const reader = child.stdout.getReader()
      let out = ""
      while (!out.includes('"listening"')) {
        const { done, value } = await reader.read()
        if (done) break
        out += new TextDecoder().decode(value)
      }
      const listening = out.split("\n").find((line) => line.includes('"listening"'))
      expect(listening).toBeDefined()
      expect(JSON.parse(listening!).annotations.port).toBeGreaterThan(0)
      expect(existsSync(database)).toBe(true)
    } finally {
      child.kill()
      await child.exited
    }
  }, 20_000)
})
