/**
 * Several instances on one Postgres database: two real server processes (`bun src/main.ts`) started at the
 * same moment on one EMPTY database both come up (migrations and demo seeding take turns under the boot
 * lock), and a `postgres://` DATABASE_URL writes no file where the process runs.
 *
 * Runs on every `bun test` where Postgres is available: the cluster of the Postgres run (TEST_POSTGRES_URL),
 * or a throwaway one started here. Without Postgres binaries it is skipped with a note (a failure under CI).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { Effect, ManagedRuntime, Redacted } from "effect"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { emptyPostgresDatabase, testPostgresUrl } from "../support/db.ts"
import { pgTypes } from "../../src/storage/postgres.ts"
import { type Cluster, postgresBinDir, startCluster } from "../support/postgres.ts"
import { freePort } from "../support/ports.ts"
import { mainCommand, spawn } from "../support/runtime.ts"
import { waitUntil } from "../support/wait.ts"

const REPO = fileURLToPath(new URL("../..", import.meta.url).href)
const available = testPostgresUrl !== undefined || postgresBinDir() !== undefined

if (!available) {
  const note = "Postgres tests SKIPPED: no Postgres server binaries (apt-get install postgresql) and no TEST_POSTGRES_URL"
  if (process.env.CI === "true") throw new Error(`${note} — required under CI=true`)
  console.warn(`\n  NOTE: ${note}\n`)
}

const health = (port: number) =>
  fetch(`http://127.0.0.1:${port}/health`).then((r) => (r.status === 200 ? r : false), () => false)

describe.skipIf(!available)("two instances on one Postgres database", () => {
  let cluster: Cluster | undefined
  let clusterUrl = ""
  beforeAll(async () => {
    if (testPostgresUrl !== undefined) clusterUrl = testPostgresUrl
    else clusterUrl = (cluster = await startCluster()).url
  })
  afterAll(() => cluster?.stop())

  test("started at the same moment on an empty database, both come up with one schema and one demo tenant, and write no file", async () => {
    const databaseUrl = await emptyPostgresDatabase(clusterUrl, "instances")
    const cwd = mkdtempSync(join(tmpdir(), "coccinelle-instance-"))
    const ports = [await freePort(), await freePort()]
    const repoEntriesBefore = readdirSync(REPO).sort()
    const instances = ports.map((port) =>
      spawn(mainCommand(), {
        cwd,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? cwd,
          PORT: String(port),
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          DATABASE_URL: databaseUrl,
          TWILIO_PHONE_NUMBER: "+33939035760",
          ADMIN_TOKEN: "admin-secret-token",
          ANTHROPIC_API_KEY: "sk-ant-test-key",
          ANTHROPIC_BASE_URL: "http://127.0.0.1:9" // never called: no call is placed
        }
      })
    )
    const db = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 1, types: pgTypes }))
    try {
      const exited = Promise.race(instances.map(async (p, i) => {
        const code = await p.exited
        return `instance ${i} exited with ${code}: ${await new Response(p.stderr).text()}${await new Response(p.stdout).text()}`
      }))
      const up = Promise.all(ports.map((port) => waitUntil(() => health(port), `instance on ${port} healthy`, 20_000)))
      const outcome = await Promise.race([up.then(() => "up"), exited])
      expect(outcome).toBe("up")

      const state = await db.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.all({
          migrations: sql<{ migration_id: number }>`SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id`,
          tenants: sql<{ n: number }>`SELECT count(*) AS n FROM tenants`,
          numbers: sql<{ phone_number: string }>`SELECT phone_number FROM tenant_numbers`,
          chunks: sql<{ n: number }>`SELECT count(*) AS n FROM knowledge_chunks`
        })))
      // Every Postgres migration, applied exactly once.
      const expected = readdirSync(new URL("../../sql/postgres", import.meta.url)).filter((f) => /^\d{4}_.+\.sql$/.test(f))
        .map((f) => Number(f.slice(0, 4))).sort((a, b) => a - b)
      expect(state.migrations.map((m) => m.migration_id)).toEqual(expected)
      expect(state.tenants).toEqual([{ n: 1 }])
      expect(state.numbers).toEqual([{ phone_number: "+33939035760" }])
      expect(state.chunks[0]!.n).toBeGreaterThan(0)

      // Nothing written where the processes run, nor in the checkout (a URL taken for a folder would be).
      expect(readdirSync(cwd)).toEqual([])
      expect(readdirSync(REPO).sort()).toEqual(repoEntriesBefore)
      expect(existsSync(join(REPO, "postgres:"))).toBe(false)
    } finally {
      for (const p of instances) p.kill("SIGTERM")
      await Promise.all(instances.map((p) => p.exited))
      await db.dispose()
      rmSync(cwd, { recursive: true, force: true })
    }
  }, 40_000)

  test("control: a SQLite path does write the demo key beside its database", async () => {
    // Guards the test above against passing vacuously (an instance that writes no key file at all).
    const cwd = mkdtempSync(join(tmpdir(), "coccinelle-instance-"))
    const port = await freePort()
    const instance = spawn(mainCommand(), {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? cwd,
        PORT: String(port),
        DATABASE_URL: "./data/app.db",
        TWILIO_PHONE_NUMBER: "+33939035760"
      }
    })
    try {
      await waitUntil(() => health(port), "SQLite instance healthy", 20_000)
      expect(existsSync(join(cwd, "data", "demo-api-key.txt"))).toBe(true)
    } finally {
      instance.kill("SIGTERM")
      await instance.exited
      rmSync(cwd, { recursive: true, force: true })
    }
  }, 30_000)
})
