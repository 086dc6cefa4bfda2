import { afterAll, expect, test } from "../support/test.ts"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Child, mainCommand, runtime, spawn } from "../support/runtime.ts"

/**
 * `src/main.ts` as deployed — `bun run start` or `deno task start` — in its own process: it picks this
 * runtime's server adapter, listens where HOST and PORT say, and on SIGTERM drains, stops and exits 0.
 */

const dir = mkdtempSync(join(tmpdir(), "coccinelle-main-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Reads the child's JSON log lines until one has `message`; returns it and everything read so far. */
const readUntil = async (reader: ReadableStreamDefaultReader<Uint8Array>, seen: Array<string>, message: string) => {
  const decoder = new TextDecoder()
  let buffered = ""
  for (;;) {
    const line = seen.find((l) => l.includes(`"message":"${message}"`))
    if (line !== undefined) return JSON.parse(line) as { annotations: Record<string, unknown> }
    const { done, value } = await reader.read()
    if (done) throw new Error(`the server exited before logging "${message}": ${seen.join("\n")}`)
    buffered += decoder.decode(value, { stream: true })
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    seen.push(...lines)
  }
}

test(`the server started as deployed on ${runtime} answers /health, and SIGTERM stops it cleanly`, async () => {
  let child: Child | undefined
  try {
    child = spawn(mainCommand(), {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? dir,
        HOST: "127.0.0.1",
        PORT: "0",
        DATABASE_URL: join(dir, "data", "coccinelle.db"),
        LOG_LEVEL: "info",
        SHUTDOWN_GRACE_MS: "0"
      }
    })
    const reader = child.stdout.getReader()
    const lines: Array<string> = []
    const listening = await readUntil(reader, lines, "listening")
    const port = Number(listening.annotations.port)
    expect(port).toBeGreaterThan(0)

    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: "ok", database: "ok", accepting: true })

    child.kill("SIGTERM")
    await readUntil(reader, lines, "server stopped")
    expect(await child.exited).toBe(0)
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow()
  } finally {
    child?.kill("SIGKILL")
  }
}, 30_000)
