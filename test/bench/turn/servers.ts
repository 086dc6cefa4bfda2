/**
 * The systems the turn benchmark drives, each in its own process: the bare relay (on Bun, and on Deno when Deno
 * is measured), and our server on Bun (package.json's `start` script) or on Deno (deno.json's `start` task), each
 * run with the runtime's binary itself so that the pid we read CPU and RSS from is the server's, not a wrapper's.
 * BENCH_BUN_FLAGS / BENCH_DENO_FLAGS add runtime flags (`--smol`, `--inspect=…`) to the server's command line.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL } from "../../support/appServer.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, statusForm, voiceForm } from "../../support/twilioClient.ts"
import { FIRST_DELTA } from "./claudeSse.ts"
import { collectGarbage, inspectFlag } from "./inspector.ts"

export interface Call {
  readonly ws: RelayClient
  readonly sid: string
}
export interface System {
  readonly name: string
  readonly pid: number
  readonly open: (n: number) => Promise<Call>
  readonly hangUp: (call: Call) => Promise<void>
  readonly stop: () => Promise<void>
  /** A full garbage collection in the server; only ours, started with `inspect`. */
  readonly collectGarbage?: () => Promise<void>
}
export type Runtime = "Bun" | "Deno"

/**
 * One turn as Twilio plays it: the final transcript, then the reply read to its `last` frame. Returns the first-token
 * overhead: prompt sent → first model text frame received, minus the loopback Claude's `answerAfterMs`.
 */
export const playTurn = async (call: Call, answerAfterMs: number): Promise<number> => {
  const since = call.ws.frames.length
  const sentAt = performance.now()
  call.ws.prompt("Je voudrais prendre rendez-vous pour une coupe demain.")
  await call.ws.waitFor((frame) => frame.type === "text" && typeof frame.token === "string" && frame.token.startsWith(FIRST_DELTA), 60_000, { since })
  const overhead = performance.now() - sentAt - answerAfterMs
  await call.ws.textUntilLast(60_000)
  return overhead
}

const ROOT = new URL("../../../", import.meta.url).pathname
const DENO_VERSION = "2.9.6"

/** Starts a helper process that prints "listening <port>" on its first line; with Bun unless told another command. */
export const spawnListening = async (script: string, env: Record<string, string>, runtimeCommand: Array<string> = ["bun"]) => {
  const command = [...runtimeCommand, new URL(script, import.meta.url).pathname]
  const child = Bun.spawn(command, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "inherit" })
  const reader = child.stdout.getReader()
  let text = ""
  while (!/listening (\d+)/.test(text)) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`${script} exited before listening`)
    text += new TextDecoder().decode(value)
  }
  return { child, port: Number(/listening (\d+)/.exec(text)![1]) }
}

const freePort = () => {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() })
  const port = probe.port as number
  probe.stop(true)
  return port
}

/**
 * The Deno binary: `$DENO`, the repo's `.tools/deno-<version>`, `deno` on the PATH, or the one
 * `npx deno@<version>` installs (asked for its own path). Undefined when none can be found.
 */
export const findDeno = (): string | undefined => {
  const candidates = [process.env.DENO, join(ROOT, `.tools/deno-${DENO_VERSION}/node_modules/.bin/deno`), Bun.which("deno") ?? undefined]
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate
  const viaNpx = spawnSync("npx", ["--yes", `deno@${DENO_VERSION}`, "eval", "console.log(Deno.execPath())"], { encoding: "utf8", timeout: 120_000 })
  const path = viaNpx.status === 0 ? viaNpx.stdout.trim().split("\n").pop() : undefined
  return path && existsSync(path) ? path : undefined
}

/** Runtime flags for our server from a space-separated variable (none when unset). */
const extraFlags = (variable: string): Array<string> => (process.env[variable] ?? "").split(" ").filter(Boolean)

/**
 * package.json's `start` script, as the server is run in production (the image runs `bun run start`): its leading
 * `NAME=value` settings as environment variables, the rest as an argument list with BENCH_BUN_FLAGS after `bun`.
 * Run here without `bun run` in between, so that the pid we read CPU and RSS from is the server's.
 */
const bunStart = (flags: Array<string>): { readonly env: Record<string, string>; readonly command: Array<string> } => {
  const script = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start
  const words = script.trim().split(/\s+/)
  const env: Record<string, string> = {}
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) {
    const [name, ...value] = words.shift()!.split("=")
    env[name!] = value.join("=")
  }
  const [bun, ...args] = words
  if (bun !== "bun") throw new Error(`package.json's start script does not run bun: ${script}`)
  return { env, command: ["bun", ...flags, ...extraFlags("BENCH_BUN_FLAGS"), ...args] }
}

/** deno.json's `start` task as an argument list, with `deno` replaced by the binary found. */
const denoStart = (deno: string, flags: Array<string>): Array<string> => {
  const task = (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { tasks: { start: string } }).tasks.start
  const [, subcommand, ...args] = task.split(/\s+/)
  return [deno, subcommand!, ...flags, ...extraFlags("BENCH_DENO_FLAGS"), ...args]
}

/** The bare relay on Bun, or on Deno (given its binary) to set our server on Deno against that runtime's own cost. */
export const startBareRelay = async (claudeUrl: string, runtime: Runtime = "Bun", deno?: string): Promise<System> => {
  const command = runtime === "Bun" ? ["bun"] : [deno!, "run", "--allow-net", "--allow-env"]
  const relay = await spawnListening("./bareRelay.ts", { PORT: "0", CLAUDE_URL: claudeUrl }, command)
  const wsUrl = `ws://127.0.0.1:${relay.port}/`
  return {
    name: `bare relay · ${runtime}`,
    pid: relay.child.pid,
    open: async (n) => {
      const sid = `CA_BARE_${n}`
      const ws = await RelayClient.connect(wsUrl)
      ws.setup({ callSid: sid, from: "+33611111111", to: BUSINESS_NUMBER })
      return { ws, sid }
    },
    hangUp: async (call) => {
      await call.ws.close()
    },
    stop: async () => {
      relay.child.kill("SIGTERM")
      await relay.child.exited
    }
  }
}

/** The server's stderr, less the lines its inspector prints when it starts and when the benchmark connects. */
const forwardWithoutInspectorBanner = async (stderr: ReadableStream<Uint8Array>) => {
  const banner = /Bun Inspector|Inspect in browser|debug\.bun\.sh|^Listening:|^\s*ws:\/\/127\.0\.0\.1|^Debugger |chrome:\/\/inspect/
  const decoder = new TextDecoder()
  let pending = ""
  const reader = stderr.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const lines = (pending + decoder.decode(read.value, { stream: true })).split("\n")
    pending = lines.pop()!
    const kept = lines.filter((line) => line.trim() !== "" && !banner.test(line))
    if (kept.length > 0) process.stderr.write(kept.join("\n") + "\n")
  }
  if (pending.trim() !== "" && !banner.test(pending)) process.stderr.write(pending + "\n")
}

export interface OursOptions {
  readonly runtime: Runtime
  readonly deno?: string
  readonly claudeUrl: string
  /** A `postgres://` URL; a fresh SQLite file otherwise. */
  readonly postgresUrl?: string
  readonly backend: string
  /** Start the server with its runtime's inspector, for `collectGarbage` (`--full-gc`). */
  readonly inspect?: boolean
}

export const startOurs = async (options: OursOptions): Promise<System> => {
  const dir = mkdtempSync(join(tmpdir(), "coccinelle-bench-"))
  const port = freePort()
  const inspectPort = options.inspect ? freePort() : undefined
  const inspect = inspectPort === undefined ? [] : [inspectFlag(options.runtime, inspectPort)]
  const { env: startEnv, command } = options.runtime === "Bun" ? bunStart(inspect) : { env: {}, command: denoStart(options.deno!, inspect) }
  const server = Bun.spawn(command, {
    cwd: ROOT,
    env: {
      // What the start script sets gives way to what the benchmark's own environment says (to compare settings).
      ...startEnv,
      ...process.env,
      PORT: String(port),
      PUBLIC_URL,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_PHONE_NUMBER: BUSINESS_NUMBER,
      ANTHROPIC_API_KEY: "sk-ant-bench",
      ANTHROPIC_BASE_URL: options.claudeUrl,
      DATABASE_URL: options.postgresUrl ?? join(dir, "bench.db"),
      // The demo key file lands in the temporary folder, never in the checkout (a postgres:// URL has no folder).
      DEMO_API_KEY_FILE: join(dir, "demo-key.txt"),
      // Post-call summaries are not part of a call's cost: held back past the end of the run.
      SUMMARY_SETTLE_MS: "3600000",
      LOG_LEVEL: "warn"
    },
    stdout: "ignore",
    stderr: options.inspect ? "pipe" : "inherit"
  })
  if (options.inspect) void forwardWithoutInspectorBanner(server.stderr as ReadableStream<Uint8Array>)
  const baseUrl = `http://127.0.0.1:${port}`
  const wsUrl = `ws://127.0.0.1:${port}/webhooks/twilio/conversation`
  for (let attempt = 0; !(await fetch(`${baseUrl}/health`).then((r) => r.ok, () => false)); attempt++) {
    if (attempt > 600 || server.exitCode !== null) throw new Error(`our server on ${options.runtime} did not start`)
    await Bun.sleep(50)
  }
  // Call SIDs unique per run: a Postgres database may outlive the run, or serve the other runtime after us.
  const run = `${options.runtime.toUpperCase()}_${Date.now().toString(36)}`
  let sequence = 0
  return {
    name: `ours · ${options.runtime} · ${options.backend}`,
    pid: server.pid,
    ...(inspectPort === undefined ? {} : { collectGarbage: () => collectGarbage(options.runtime, inspectPort) }),
    open: async (n) => {
      const sid = `CA_${run}_${n}`
      const answer = await signedPost(baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: sid, from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
      const relay = find(parseTwiml(answer.text), "ConversationRelay")
      if (!relay) throw new Error(`no <ConversationRelay> in ${answer.text}`)
      const relayUrl = relay.attributes["url"] ?? ""
      const ws = await RelayClient.connect(wsUrl, { authToken: AUTH_TOKEN, publicUrl: relayUrl })
      ws.setup({ callSid: sid, from: "+33611111111", to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })
      return { ws, sid }
    },
    hangUp: async (call) => {
      await call.ws.close()
      const form = statusForm({ callSid: call.sid, from: "+33611111111", to: BUSINESS_NUMBER, status: "completed", sequence: ++sequence, duration: 30 })
      await signedPost(baseUrl, PUBLIC_URL, "/webhooks/twilio/status", form, AUTH_TOKEN)
    },
    stop: async () => {
      if (process.env.BENCH_DUMP_METRICS) {
        const text = await fetch(`${baseUrl}/metrics`).then((r) => r.text())
        process.stderr.write(text.split("\n").filter((line) => /^coccinelle_.* [1-9][0-9]{2,}/.test(line)).join("\n") + "\n")
      }
      server.kill("SIGTERM")
      await server.exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
