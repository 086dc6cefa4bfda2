/**
 * Our own share of a turn's latency: from the final prompt frame leaving "Twilio" to the first text
 * frame coming back, through the real server (its own process, as deployed), the real SDK and a
 * loopback Claude that answers at once. Also the server's memory per live call. Prints numbers only.
 *
 *   bun test/bench/turn.ts [calls=50] [turnsPerCall=10]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL } from "../support/appServer.ts"
import { sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"

const calls = Number(process.argv[2] ?? 50)
const turnsPerCall = Number(process.argv[3] ?? 10)

const fake = await startFakeAnthropic({ script: () => sayText("D'accord, ", "je note. ", "Autre chose ?"), validate: false })
const dir = mkdtempSync(join(tmpdir(), "coccinelle-bench-"))
const port = 20_000 + Math.floor(Math.random() * 20_000)
const server = Bun.spawn(["bun", ...(process.env.BENCH_BUN_FLAGS ?? "").split(" ").filter(Boolean), new URL("../../src/main.ts", import.meta.url).pathname], {
  env: {
    ...process.env,
    PORT: String(port),
    PUBLIC_URL,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_PHONE_NUMBER: BUSINESS_NUMBER,
    ANTHROPIC_API_KEY: "sk-ant-bench",
    ANTHROPIC_BASE_URL: fake.url,
    DATABASE_URL: process.env.DATABASE_URL || join(dir, "bench.db"), // a fresh Postgres database to bench Postgres
    LOG_LEVEL: "warn"
  },
  stdout: "ignore",
  stderr: "inherit"
})
const app = { baseUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/webhooks/twilio/conversation` }
for (let attempt = 0; ; attempt++) {
  const ok = await fetch(`${app.baseUrl}/health`).then((r) => r.ok, () => false)
  if (ok) break
  if (attempt > 200) throw new Error("server did not start")
  await Bun.sleep(50)
}
/** utime + stime of the server process, in ms (clock ticks are 10 ms on Linux). */
const serverCpuMs = () => {
  const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const serverRss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1] ?? 0) * 1024

const percentile = (sorted: Array<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const openCall = async (n: number) => {
  const callSid = `CA_BENCH_${n}`
  const answer = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
  const relay = find(parseTwiml(answer.text), "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: "+33611111111", to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })
  return ws
}

const rssBefore = serverRss()
const sockets = await Promise.all(Array.from({ length: calls }, (_, n) => openCall(n)))

const cpuBefore = serverCpuMs()
const benchCpuBefore = process.cpuUsage()
const firstToken: Array<number> = []
const wholeReply: Array<number> = []
for (let turn = 0; turn < turnsPerCall; turn++) {
  await Promise.all(sockets.map(async (ws) => {
    const start = performance.now()
    const since = ws.frames.length
    ws.prompt("Je voudrais prendre rendez-vous pour une coupe.")
    await ws.waitFor((frame) => frame.type === "text", 10_000, { since })
    firstToken.push(performance.now() - start)
    await ws.textUntilLast(10_000)
    wholeReply.push(performance.now() - start)
  }))
}
const rssLive = serverRss()
const serverCpuPerTurn = (serverCpuMs() - cpuBefore) / (calls * turnsPerCall)
const benchCpu = process.cpuUsage(benchCpuBefore)
const benchCpuPerTurn = (benchCpu.user + benchCpu.system) / 1000 / (calls * turnsPerCall)

for (const ws of sockets) ws.close()
await Promise.all(sockets.map((ws) => ws.closed))
server.kill("SIGTERM")
await server.exited
await fake.stop()
rmSync(dir, { recursive: true, force: true })

firstToken.sort((a, b) => a - b)
wholeReply.sort((a, b) => a - b)
const ms = (n: number) => `${n.toFixed(2)} ms`
console.log(`turns: ${firstToken.length} (${calls} concurrent calls × ${turnsPerCall} turns), loopback Claude answering at once`)
console.log(`prompt → first text frame: p50 ${ms(percentile(firstToken, 50))}, p99 ${ms(percentile(firstToken, 99))}`)
console.log(`prompt → last text frame:  p50 ${ms(percentile(wholeReply, 50))}, p99 ${ms(percentile(wholeReply, 99))}`)
console.log(`CPU per turn: server ${serverCpuPerTurn.toFixed(2)} ms, bench process (fake Claude + Twilio clients) ${benchCpuPerTurn.toFixed(2)} ms`)
console.log(`server RSS: ${(rssBefore / 1048576).toFixed(0)} MiB idle, ${(rssLive / 1048576).toFixed(0)} MiB with ${calls} live calls (${((rssLive - rssBefore) / calls / 1024).toFixed(0)} KiB per call)`)
