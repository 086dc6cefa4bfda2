/**
 * Sustained load: `--calls` calls live at once, each taking turns one after another (a pause of 0–40 ms between two,
 * a new call after 8 turns) for `--seconds`, against our server and the loopback Claude of the turn benchmark
 * (answering after 50 ms). Prints the first-token overhead's percentiles down to the slowest turn, and the server's
 * CPU per turn. The turn benchmark (turn.ts) sends its prompts in waves of up to 200 at once; here the load is
 * steady, which is where a pause of the server's only JavaScript thread (a collection, a database checkpoint) shows:
 * in the slowest turns. Prints numbers, asserts nothing.
 *
 *   bun test/bench/steady.ts [--runtime=bun|deno] [--calls=60] [--seconds=60]
 *
 * Backend: a fresh SQLite file; `DATABASE_URL=postgres://…` measures that database.
 */
import { readFileSync } from "node:fs"
import { type Call, findDeno, playTurn, spawnListening, startOurs } from "./turn/servers.ts"

const option = (name: string, fallback: number) => {
  const given = process.argv.slice(2).find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  if (given === undefined) return fallback
  if (!/^\d+$/.test(given) || Number(given) < 1) {
    process.stderr.write(`--${name} takes a whole number, at least 1; got "${given}"\n`)
    process.exit(2)
  }
  return Number(given)
}
const CALLS = option("calls", 60)
const SECONDS = option("seconds", 60)
const runtime = process.argv.includes("--runtime=deno") ? "Deno" : "Bun"
const TURNS_PER_CALL = 8
const ANSWER_AFTER_MS = 50
const WARM_UP_CALLS = 1_000

const deno = runtime === "Deno" ? findDeno() : undefined
if (runtime === "Deno" && deno === undefined) {
  process.stderr.write("no Deno binary found (set DENO, or let `npx deno@2.9.6` install it)\n")
  process.exit(2)
}
const postgresUrl = /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? "") ? process.env.DATABASE_URL : undefined
const started = performance.now()
const progress = (line: string) => process.stderr.write(`  [${((performance.now() - started) / 1000).toFixed(0)} s] ${line}\n`)
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

process.stderr.write(
  `steady benchmark: ours · ${runtime} · ${postgresUrl ? "Postgres" : "SQLite"}, ${CALLS} calls taking turns for ${SECONDS} s after a ` +
    `warm-up of ${WARM_UP_CALLS} calls; expected ~${SECONDS + 25} s\n`
)
const claude = await spawnListening("./claudeSse.ts", { PORT: "0", ANSWER_AFTER_MS: String(ANSWER_AFTER_MS) })
const ours = await startOurs({
  runtime,
  deno,
  claudeUrl: `http://127.0.0.1:${claude.port}`,
  backend: postgresUrl ? "Postgres" : "SQLite",
  ...(postgresUrl ? { postgresUrl } : {})
})

let opened = 0
const turn = (call: Call) => playTurn(call, ANSWER_AFTER_MS)

try {
  for (let batch = 0; batch < WARM_UP_CALLS / 50; batch++) {
    if (batch % 5 === 0) progress(`warm-up, calls ${batch * 50 + 1}–${Math.min(WARM_UP_CALLS, batch * 50 + 250)} of ${WARM_UP_CALLS}`)
    const live = await Promise.all(Array.from({ length: 50 }, () => ours.open(++opened)))
    await Promise.all(live.map(turn))
    await Promise.all(live.map(ours.hangUp))
  }
  const overheads: Array<number> = []
  const cpuBefore = cpuMs(ours.pid)
  const until = performance.now() + SECONDS * 1_000
  const ticker = setInterval(() => progress(`${overheads.length} turns so far`), 10_000)
  await Promise.all(Array.from({ length: CALLS }, async () => {
    while (performance.now() < until) {
      const call = await ours.open(++opened)
      for (let t = 0; t < TURNS_PER_CALL && performance.now() < until; t++) {
        overheads.push(await turn(call))
        await Bun.sleep(Math.random() * 40)
      }
      await ours.hangUp(call)
    }
  }))
  clearInterval(ticker)
  // Calls and their hang-ups are in the CPU too: a steady server does both.
  const cpuPerTurn = (cpuMs(ours.pid) - cpuBefore) / overheads.length
  overheads.sort((a, b) => a - b)
  const at = (q: number) => `${overheads[Math.min(overheads.length - 1, Math.floor(q * overheads.length))]!.toFixed(1)} ms`
  console.log(
    `ours · ${runtime} · ${postgresUrl ? "Postgres" : "SQLite"}, ${CALLS} calls for ${SECONDS} s: ${overheads.length} turns, ` +
      `server CPU ${cpuPerTurn.toFixed(2)} ms per turn (its calls' own cost included)`
  )
  console.log(`first-token overhead p50 ${at(0.5)}, p90 ${at(0.9)}, p99 ${at(0.99)}, p99.9 ${at(0.999)}, slowest ${at(1)}`)
} finally {
  await ours.stop()
  claude.child.kill()
}
