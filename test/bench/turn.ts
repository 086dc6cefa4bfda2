/**
 * Side by side: what a turn costs our server against a bare relay (test/bench/turn/bareRelay.ts), each in
 * its own process, both answered by one loopback Claude-format SSE server (turn/claudeSse.ts, answering
 * after 50 ms) in a third; this script is the driver, doing for our server what Twilio does: signed voice
 * webhook, relay URL and <Parameter> read from the TwiML, signed handshake, setup, prompts, hang-up and
 * the final status callback. Prints numbers, asserts nothing.
 *
 *   bun test/bench/turn.ts [--quick]
 *
 * - server CPU per turn: (CPU of N calls × 3 turns − CPU of N calls with no turn) / 3N, from /proc/<pid>/stat
 * - CPU per call apart from its turns: CPU of the N zero-turn calls / N (post-call summaries held back)
 * - RSS per live call: (RSS with N calls live after their turns − RSS before they opened) / N
 * - first-token overhead: prompt sent → first model text frame received, minus the SSE server's 50 ms
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL } from "../support/appServer.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, statusForm, voiceForm } from "../support/twilioClient.ts"
import { FIRST_DELTA } from "./turn/claudeSse.ts"

const quick = process.argv.includes("--quick")
const LEVELS = quick ? [1, 20, 50] : [1, 50, 200]
const TURNS = 3
const SEQUENTIAL_CALLS = quick ? 5 : 10
const ANSWER_AFTER_MS = 50
const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`
const progress = (line: string) => process.stderr.write(`  [${elapsed()}] ${line}\n`)

const freePort = () => {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() })
  const port = probe.port as number
  probe.stop(true)
  return port
}

/** Starts a helper process that prints "listening <port>" on its first line. */
const spawnListening = async (script: string, env: Record<string, string>) => {
  const child = Bun.spawn(["bun", new URL(script, import.meta.url).pathname], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "inherit" })
  const reader = child.stdout.getReader()
  let text = ""
  while (!/listening (\d+)/.test(text)) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`${script} exited before listening`)
    text += new TextDecoder().decode(value)
  }
  return { child, port: Number(/listening (\d+)/.exec(text)![1]) }
}

const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, 10 ms clock ticks
}
const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024
/** Waits until the process has stopped using CPU (finalisations, journals), so phases do not bleed into each other. */
const settle = async (pid: number) => {
  for (let i = 0; i < 40; i++) {
    const before = cpuMs(pid)
    await Bun.sleep(300)
    if (cpuMs(pid) === before) return
  }
}

interface Call {
  readonly ws: RelayClient
  readonly sid: string
}
interface System {
  readonly name: string
  readonly pid: number
  readonly open: (n: number) => Promise<Call>
  readonly hangUp: (call: Call) => Promise<void>
  readonly stop: () => Promise<void>
}

const claude = await spawnListening("./turn/claudeSse.ts", { PORT: "0", ANSWER_AFTER_MS: String(ANSWER_AFTER_MS) })
const claudeUrl = `http://127.0.0.1:${claude.port}`

const startBare = async (): Promise<System> => {
  const relay = await spawnListening("./turn/bareRelay.ts", { PORT: "0", CLAUDE_URL: claudeUrl })
  const wsUrl = `ws://127.0.0.1:${relay.port}/`
  return {
    name: "bare relay",
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

const startOurs = async (): Promise<System> => {
  const dir = mkdtempSync(join(tmpdir(), "coccinelle-bench-"))
  const port = freePort()
  const server = Bun.spawn(["bun", ...(process.env.BENCH_BUN_FLAGS ?? "").split(" ").filter(Boolean), new URL("../../src/main.ts", import.meta.url).pathname], {
    env: {
      ...process.env,
      PORT: String(port),
      PUBLIC_URL,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_PHONE_NUMBER: BUSINESS_NUMBER,
      ANTHROPIC_API_KEY: "sk-ant-bench",
      ANTHROPIC_BASE_URL: claudeUrl,
      DATABASE_URL: join(dir, "bench.db"),
      // Post-call summaries are not part of a call's cost: held back past the end of the run.
      SUMMARY_SETTLE_MS: "3600000",
      LOG_LEVEL: "warn"
    },
    stdout: "ignore",
    stderr: "inherit"
  })
  const baseUrl = `http://127.0.0.1:${port}`
  const wsUrl = `ws://127.0.0.1:${port}/webhooks/twilio/conversation`
  for (let attempt = 0; !(await fetch(`${baseUrl}/health`).then((r) => r.ok, () => false)); attempt++) {
    if (attempt > 400) throw new Error("server did not start")
    await Bun.sleep(50)
  }
  let sequence = 0
  return {
    name: "ours",
    pid: server.pid,
    open: async (n) => {
      const sid = `CA_BENCH_${n}`
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

let callCounter = 0
/** One turn as Twilio plays it: the final transcript, then the reply read to its `last` frame. */
const turn = async (call: Call): Promise<number> => {
  const since = call.ws.frames.length
  const sentAt = performance.now()
  call.ws.prompt("Je voudrais prendre rendez-vous pour une coupe demain.")
  await call.ws.waitFor((frame) => frame.type === "text" && typeof frame.token === "string" && frame.token.startsWith(FIRST_DELTA), 60_000, { since })
  const overhead = performance.now() - sentAt - ANSWER_AFTER_MS
  await call.ws.textUntilLast(60_000)
  return overhead
}

/** `calls` calls live at once, each taking `turns` turns; returns the overheads and the server's CPU. */
const batch = async (system: System, calls: number, turns: number) => {
  await settle(system.pid)
  const cpuBefore = cpuMs(system.pid)
  const rssBefore = rssBytes(system.pid)
  const live = await Promise.all(Array.from({ length: calls }, () => system.open(++callCounter)))
  const overheads: Array<number> = []
  for (let t = 0; t < turns; t++) overheads.push(...await Promise.all(live.map(turn)))
  const rssLive = rssBytes(system.pid)
  await Promise.all(live.map(system.hangUp))
  await settle(system.pid)
  return { overheads, cpu: cpuMs(system.pid) - cpuBefore, rssPerCall: (rssLive - rssBefore) / calls }
}

const percentile = (values: Array<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

interface Result {
  readonly cpuPerTurn: number
  readonly cpuPerCall: number
  readonly rssPerCall: number
  readonly overheads: Map<number, Array<number>>
}

const measure = async (system: System, phase: string): Promise<Result> => {
  const top = LEVELS[LEVELS.length - 1]!
  progress(`${phase} ${system.name}: warm-up (20 calls × 1 turn)`)
  await batch(system, 20, 1)
  progress(`${phase} ${system.name}: ${top} calls with no turn (CPU per call)`)
  const zero = await batch(system, top, 0)
  const overheads = new Map<number, Array<number>>()
  let cpuPerTurn = 0
  let rssPerCall = 0
  for (const level of LEVELS) {
    if (level === 1) {
      progress(`${phase} ${system.name}: ${SEQUENTIAL_CALLS} calls one after another × ${TURNS} turns`)
      const samples: Array<number> = []
      for (let i = 0; i < SEQUENTIAL_CALLS; i++) samples.push(...(await batch(system, 1, TURNS)).overheads)
      overheads.set(1, samples)
      continue
    }
    progress(`${phase} ${system.name}: ${level} concurrent calls × ${TURNS} turns`)
    const result = await batch(system, level, TURNS)
    overheads.set(level, result.overheads)
    if (level === top) {
      cpuPerTurn = (result.cpu - zero.cpu) / (level * TURNS)
      rssPerCall = result.rssPerCall
    }
  }
  return { cpuPerTurn, cpuPerCall: zero.cpu / top, rssPerCall, overheads }
}

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
process.stderr.write(`turn benchmark${quick ? " (--quick)" : ""}: levels ${LEVELS.join(", ")} × ${TURNS} turns, expected ${quick ? "~30 s" : "~1.5–2.5 min"}; load average ${load()}\n`)
const results: Array<[string, Result]> = []
for (const [index, start] of [startBare, startOurs].entries()) {
  const system = await start()
  try {
    results.push([system.name, await measure(system, `${index + 1}/2`)])
  } finally {
    await system.stop()
  }
}
claude.child.kill("SIGTERM")
await claude.child.exited

const ms = (n: number) => `${n.toFixed(2)} ms`
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`
console.log(`\nturn benchmark, ${TURNS} turns per call, loopback Claude answering after ${ANSWER_AFTER_MS} ms; took ${elapsed()}; load average at the end ${load()}`)
console.log(`| | server CPU per turn | CPU per call apart from turns | RSS per live call | ${LEVELS.map((l) => `first-token overhead p50 / p95 / p99 at ${l}`).join(" | ")} |`)
console.log(`|---|---|---|---|${LEVELS.map(() => "---").join("|")}|`)
for (const [name, r] of results) {
  const cells = LEVELS.map((level) => {
    const values = r.overheads.get(level) ?? []
    return `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))} / ${ms(percentile(values, 99))}`
  })
  console.log(`| ${name} | ${ms(r.cpuPerTurn)} | ${ms(r.cpuPerCall)} | ${kib(r.rssPerCall)} | ${cells.join(" | ")} |`)
}
const bare = results[0]![1]
const ours = results[1]![1]
const top = LEVELS[LEVELS.length - 1]!
const ratio = (p: number) => (percentile(ours.overheads.get(top)!, p) / Math.max(0.01, percentile(bare.overheads.get(top)!, p))).toFixed(1)
console.log(`at ${top} calls: ours / bare first-token overhead p50 ×${ratio(50)} (target ≤ 3), p99 ×${ratio(99)} (target ≤ 5)`)
