/**
 * Side by side: what a turn costs our server — on Bun and on Deno — against a bare relay
 * (test/bench/turn/bareRelay.ts, on Bun; when Deno is measured, also on Deno, so that our server on Deno is set
 * against what that runtime itself costs), each in its own process, all answered by one loopback Claude-format SSE
 * server (turn/claudeSse.ts, answering after 50 ms) in another; this script is the driver, doing for our
 * server what Twilio does: signed voice webhook, relay URL and <Parameter> read from the TwiML, signed
 * handshake, setup, prompts, hang-up and the final status callback. Prints numbers, asserts nothing.
 *
 *   bun test/bench/turn.ts [--quick] [--postgres] [--runtime=bun|deno] [--warm-up=<calls>] [--rounds=<n>] [--full-gc]
 *
 * Backend: a fresh SQLite file per server by default; `DATABASE_URL=postgres://…` measures that database;
 * `--postgres` starts a throwaway cluster (test/support/postgres.ts) and stops it at the end.
 *
 * - first, a warm-up of 1,500 calls of one turn each (50 at a time): a fresh Bun server's JIT compiler works
 *   hardest through its first ~1,500 calls, Deno's through ~800; the numbers below are those of a server that has
 *   run a while. The warm-up's first and last calls' CPU is printed. Bun's optimising compiler is not done by then:
 *   its thread still took 0.3–0.7 ms per zero-turn call after 1,500 calls, ~0.3 after 13,000 (2 cores, Dec 2026).
 * - server CPU per turn: (CPU of N calls × 3 turns − CPU of N calls with no turn) / 3N, from /proc/<pid>/stat
 * - CPU per call apart from its turns: CPU of the N zero-turn calls / N (post-call summaries held back), measured
 *   last so that the calls run warm (JIT-compiled) like the calls with turns they are subtracted from
 * - both also for the thread running JavaScript alone (/proc/<pid>/task/<pid>/stat): what is left is the runtime's
 *   own threads (compiler, collector helpers, I/O), which move most from one run to the next
 * - RSS per live call: (RSS with N calls live after their turns − RSS before they opened) / N; and the same
 *   once the server has gone idle with the calls still live (garbage of the turns collected, or not); the RSS once
 *   the calls are open, before their first turn, is printed too (opening N calls at once makes garbage of its own).
 *   With --full-gc, each of our servers is then started once more, with its runtime's inspector (turn/inspector.ts),
 *   warmed up, and runs N calls × 3 turns: RSS read after a full collection before they open and with them live,
 *   which is what the calls hold. Without it, Deno's reading is mostly the turns' garbage: V8 collects it ~10 s after
 *   the load. A server of its own, so that the inspector cannot touch the figures above.
 * - first-token overhead: prompt sent → first model text frame received, minus the SSE server's 50 ms; at the top
 *   level also split into each call's first turn and the later ones. As on a real call, the first prompt comes after
 *   the welcome greeting (GREETING_MS after the setups): Twilio speaks it before the caller can say anything.
 * - targets: each of our servers against the bare relay on its own runtime (what that runtime costs with nothing
 *   else to do); our server on Deno is also set against the relay on Bun, for reference
 */
import { readFileSync } from "node:fs"
import type { Cluster } from "../support/postgres.ts"
import { type Call, findDeno, playTurn, type Runtime, spawnListening, startBareRelay, startOurs, type System } from "./turn/servers.ts"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const runtimeChoice = args.find((arg) => arg.startsWith("--runtime="))?.slice("--runtime=".length).toLowerCase()
const LEVELS = quick ? [1, 20, 50] : [1, 50, 200]
/** The top level: its calls give the CPU pair, the RSS readings and the ratios to the relay. */
const TOP = LEVELS[LEVELS.length - 1]!
const TURNS = 3
const SEQUENTIAL_CALLS = quick ? 5 : 10
const WARM_UP_BATCH = 50
/** `--warm-up=<calls>`: a server that has run longer (its compiler closer to done); a multiple of the batch. */
const warmUpChoice = args.find((arg) => arg.startsWith("--warm-up="))?.slice("--warm-up=".length)
if (warmUpChoice !== undefined && !(/^\d+$/.test(warmUpChoice) && Number(warmUpChoice) >= WARM_UP_BATCH && Number(warmUpChoice) % WARM_UP_BATCH === 0)) {
  process.stderr.write(`--warm-up takes a number of calls, a multiple of ${WARM_UP_BATCH} (at least ${WARM_UP_BATCH}); got "${warmUpChoice}"\n`)
  process.exit(2)
}
const WARM_UP_CALLS = warmUpChoice !== undefined ? Number(warmUpChoice) : quick ? 300 : 1_500
/**
 * `--rounds=<n>`: the top level's CPU pair (calls with turns, calls without) measured n times; the medians are shown.
 * The top level's first-token figures then pool the turns of every round (the same code's p50 moves by up to 2× from
 * one wave of 200 turns to the next), and each round's own ratio to the relay is printed beside them.
 */
const roundsChoice = args.find((arg) => arg.startsWith("--rounds="))?.slice("--rounds=".length)
if (roundsChoice !== undefined && !(/^\d+$/.test(roundsChoice) && Number(roundsChoice) >= 1 && Number(roundsChoice) <= 20)) {
  process.stderr.write(`--rounds takes a whole number from 1 to 20; got "${roundsChoice}"\n`)
  process.exit(2)
}
const ROUNDS = roundsChoice !== undefined ? Number(roundsChoice) : 1
const ANSWER_AFTER_MS = 50
const FULL_GC = args.includes("--full-gc")
/**
 * Between the setups and the first prompts: Twilio speaks the TwiML's welcome greeting first (seconds of speech),
 * so no caller's first words reach a server right behind its setup. One second is shorter than any greeting.
 */
const GREETING_MS = 1_000
const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`
const progress = (line: string) => process.stderr.write(`  [${elapsed()}] ${line}\n`)

/** utime + stime in ms (10 ms clock ticks) of a process (all its threads, ended ones too) or of one thread. */
const ticksMs = (statFile: string) => {
  const fields = readFileSync(statFile, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const cpuMs = (pid: number) => ticksMs(`/proc/${pid}/stat`)
/** The whole process, and its main thread alone: the one running JavaScript (the rest compile, collect, do I/O). */
const cpuSplit = (pid: number) => ({ total: cpuMs(pid), main: ticksMs(`/proc/${pid}/task/${pid}/stat`) })
const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024
/** Waits until the process has stopped using CPU (finalisations, journals), so phases do not bleed into each other. */
const settle = async (pid: number) => {
  for (let i = 0; i < 40; i++) {
    const before = cpuMs(pid)
    await Bun.sleep(300)
    if (cpuMs(pid) === before) return
  }
}

let callCounter = 0
const turn = (call: Call) => playTurn(call, ANSWER_AFTER_MS)

/** `calls` calls live at once, each taking `turns` turns; returns the overheads and the server's CPU. */
const batch = async (system: System, calls: number, turns: number) => {
  await settle(system.pid)
  const cpuBefore = cpuSplit(system.pid)
  const rssBefore = rssBytes(system.pid)
  const live = await Promise.all(Array.from({ length: calls }, () => system.open(++callCounter)))
  if (turns > 0) await Bun.sleep(GREETING_MS)
  const rssOpen = rssBytes(system.pid)
  const overheads: Array<number> = []
  for (let t = 0; t < turns; t++) overheads.push(...await Promise.all(live.map(turn)))
  const rssLive = rssBytes(system.pid)
  // The same calls, still live, once the server has gone idle (its collector has had the chance to run).
  await settle(system.pid)
  const rssIdle = rssBytes(system.pid)
  await Promise.all(live.map(system.hangUp))
  await settle(system.pid)
  const cpuAfter = cpuSplit(system.pid)
  return { overheads, cpu: cpuAfter.total - cpuBefore.total, mainThreadCpu: cpuAfter.main - cpuBefore.main, rss: { before: rssBefore, open: rssOpen, live: rssLive, idle: rssIdle } }
}

const percentile = (values: Array<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** One measurement of the CPU figures, in ms: the whole process, and the thread running JavaScript. */
interface Round {
  readonly perTurn: number
  readonly perCall: number
  readonly mainPerTurn: number
  readonly mainPerCall: number
}

interface Result {
  readonly cpuPerTurn: number
  readonly cpuPerCall: number
  /** The same two, counting only the thread that runs JavaScript. */
  readonly mainThread: { readonly perTurn: number; readonly perCall: number }
  /** Each round's four figures (the four above are their medians). */
  readonly rounds: ReadonlyArray<Round>
  /**
   * The whole process's RSS around the top level's batch: before it, once its calls are open (before their first
   * turn), with them live after their turns, once idle.
   */
  readonly rss: { readonly before: number; readonly open: number; readonly live: number; readonly idle: number }
  readonly overheads: Map<number, Array<number>>
  /** The top level's first-token overheads, round by round (the top level's entry in `overheads` pools them). */
  readonly topRounds: ReadonlyArray<ReadonlyArray<number>>
  /** Server CPU per warm-up call (with its one turn): its first and its last `calls` calls. */
  readonly warm: { readonly first: number; readonly last: number; readonly calls: number }
}

/**
 * Calls of one turn each, WARM_UP_BATCH at a time, until WARM_UP_CALLS have run: JSC keeps compiling (its JITWorker
 * threads) for the first ~1,500 calls of a fresh server, V8 for the first ~800. What a server that has run a while
 * costs is what the numbers below are about; the cost per call of the first and the last batches is kept, to show.
 */
const warmUp = async (system: System, phase: string) => {
  const batches = WARM_UP_CALLS / WARM_UP_BATCH
  const costs: Array<number> = []
  for (let i = 0; i < batches; i++) {
    if (i % 10 === 0) progress(`${phase} ${system.name}: warm-up, calls ${i * WARM_UP_BATCH + 1}–${Math.min(WARM_UP_CALLS, (i + 10) * WARM_UP_BATCH)} of ${WARM_UP_CALLS} (1 turn each)`)
    const cpuBefore = cpuMs(system.pid)
    const live = await Promise.all(Array.from({ length: WARM_UP_BATCH }, () => system.open(++callCounter)))
    await Promise.all(live.map(turn))
    await Promise.all(live.map(system.hangUp))
    costs.push((cpuMs(system.pid) - cpuBefore) / WARM_UP_BATCH)
  }
  const mean = (values: Array<number>) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  const edge = Math.max(1, Math.round(batches / 6))
  return { first: mean(costs.slice(0, edge)), last: mean(costs.slice(-edge)), calls: edge * WARM_UP_BATCH }
}

/**
 * --full-gc: `calls` calls × TURNS turns once more, not counted in the CPU figures; RSS read after a full collection
 * before they open and with them live after their turns.
 */
const heldRss = async (system: System & { readonly collectGarbage: () => Promise<void> }, calls: number) => {
  const collected = async () => {
    await settle(system.pid)
    await system.collectGarbage()
    await settle(system.pid)
    return rssBytes(system.pid)
  }
  const before = await collected()
  const live = await Promise.all(Array.from({ length: calls }, () => system.open(++callCounter)))
  await Bun.sleep(GREETING_MS)
  for (let t = 0; t < TURNS; t++) await Promise.all(live.map(turn))
  const held = await collected()
  await Promise.all(live.map(system.hangUp))
  return { before, live: held }
}

const measure = async (system: System, phase: string): Promise<Result> => {
  const warm = await warmUp(system, phase)
  const overheads = new Map<number, Array<number>>()
  const rounds: Array<Round> = []
  const topRounds: Array<Array<number>> = []
  let rss = { before: 0, open: 0, live: 0, idle: 0 }
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
    if (level === TOP) {
      rss = result.rss
      // Measured after every level: the zero-turn calls then run warm, like the calls they are subtracted from.
      // With --rounds, the pair is measured again: the first-token figures pool every round's, the RSS stays the first's.
      for (let round = 1; round <= ROUNDS; round++) {
        const withTurns = round === 1 ? result : await batch(system, TOP, TURNS)
        topRounds.push(withTurns.overheads)
        progress(`${phase} ${system.name}: ${TOP} calls with no turn (CPU per call)${ROUNDS > 1 ? `, round ${round} of ${ROUNDS}` : ""}`)
        const zero = await batch(system, TOP, 0)
        rounds.push({
          perTurn: (withTurns.cpu - zero.cpu) / (TOP * TURNS),
          perCall: zero.cpu / TOP,
          mainPerTurn: (withTurns.mainThreadCpu - zero.mainThreadCpu) / (TOP * TURNS),
          mainPerCall: zero.mainThreadCpu / TOP
        })
        if (round < ROUNDS) progress(`${phase} ${system.name}: ${TOP} concurrent calls × ${TURNS} turns, round ${round + 1} of ${ROUNDS}`)
      }
    }
  }
  const median = (pick: (round: Round) => number) => {
    const sorted = rounds.map(pick).sort((a, b) => a - b)
    const middle = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  }
  return {
    cpuPerTurn: median((r) => r.perTurn),
    cpuPerCall: median((r) => r.perCall),
    mainThread: { perTurn: median((r) => r.mainPerTurn), perCall: median((r) => r.mainPerCall) },
    rounds,
    rss,
    overheads: new Map([...overheads, [TOP, topRounds.flat()]]),
    topRounds,
    warm
  }
}

// The backend our server runs on.
let cluster: Cluster | undefined
const givenUrl = process.env.DATABASE_URL
let postgresUrl = givenUrl && /^postgres(ql)?:\/\//.test(givenUrl) ? givenUrl : undefined
if (args.includes("--postgres") && postgresUrl === undefined) {
  progress("starting a throwaway Postgres cluster (--postgres)")
  const { startCluster } = await import("../support/postgres.ts")
  cluster = await startCluster()
  postgresUrl = cluster.url
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (cluster?.stop(), process.exit(130)))
}
const backend = postgresUrl === undefined ? "SQLite" : "Postgres"

// The runtimes our server runs on: both by default; Deno is skipped, with a note, where it cannot be found.
const runtimes: Array<Runtime> = runtimeChoice === "bun" ? ["Bun"] : runtimeChoice === "deno" ? ["Deno"] : ["Bun", "Deno"]
const deno = runtimes.includes("Deno") ? findDeno() : undefined
if (runtimes.includes("Deno") && deno === undefined) {
  process.stderr.write(`note: no Deno binary found (set DENO, or let \`npx deno@2.9.6\` install it): Deno is not measured\n`)
  runtimes.splice(runtimes.indexOf("Deno"), 1)
}

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
// Each runtime measured has its bare relay: the reference its targets are set against (Bun's is always run).
const relayRuntimes: Array<Runtime> = runtimes.includes("Deno") ? ["Bun", "Deno"] : ["Bun"]
const systemsCount = relayRuntimes.length + runtimes.length
// What a longer warm-up adds (a warm-up call takes ~3 ms on Bun, ~6 ms on Deno; 2 cores, 50 at a time), and each
// extra round (~5 s per server).
// --full-gc: each of our servers once more, warmed up, and one more batch.
const extraSeconds = Math.max(0, WARM_UP_CALLS - (quick ? 300 : 1_500)) * 0.006 * systemsCount + (ROUNDS - 1) * 5 * systemsCount +
  (FULL_GC ? runtimes.length * (WARM_UP_CALLS * 0.006 + 15) : 0)
const expected = quick ? `~${Math.round(25 * systemsCount + extraSeconds)} s` : `~${Math.round(35 * systemsCount + extraSeconds)}–${Math.round(50 * systemsCount + extraSeconds)} s`
process.stderr.write(
  `turn benchmark${quick ? " (--quick)" : ""}: ${backend}, ${[...relayRuntimes.map((r) => `bare relay · ${r}`), ...runtimes].join(" / ")}, ` +
    `warm-up ${WARM_UP_CALLS} calls, levels ${LEVELS.join(", ")} × ${TURNS} turns${ROUNDS > 1 ? ` (CPU: ${ROUNDS} rounds, medians)` : ""}, ` +
    `expected ${expected}; load average ${load()}\n`
)

const claude = await spawnListening("./claudeSse.ts", { PORT: "0", ANSWER_AFTER_MS: String(ANSWER_AFTER_MS) })
const claudeUrl = `http://127.0.0.1:${claude.port}`
const starters: Array<() => Promise<System>> = [
  ...relayRuntimes.map((runtime) => () => startBareRelay(claudeUrl, runtime, deno)),
  ...runtimes.map((runtime) => () => startOurs({ runtime, deno, claudeUrl, backend, ...(postgresUrl ? { postgresUrl } : {}) }))
]
const results: Array<[string, Result]> = []
/** --full-gc: each of our servers' RSS after a full collection, before the top level's calls open and with them live. */
const held = new Map<string, { readonly before: number; readonly live: number }>()
try {
  for (const [index, start] of starters.entries()) {
    const system = await start()
    try {
      results.push([system.name, await measure(system, `${index + 1}/${starters.length}`)])
    } finally {
      await system.stop()
    }
  }
  for (const runtime of FULL_GC ? runtimes : []) {
    const system = await startOurs({ runtime, deno, claudeUrl, backend, inspect: true, ...(postgresUrl ? { postgresUrl } : {}) })
    try {
      const phase = `--full-gc`
      await warmUp(system, phase)
      progress(`${phase} ${system.name}: ${TOP} calls × ${TURNS} turns, RSS after a full collection`)
      held.set(system.name, await heldRss({ ...system, collectGarbage: system.collectGarbage! }, TOP))
    } finally {
      await system.stop()
    }
  }
} finally {
  claude.child.kill("SIGTERM")
  await claude.child.exited
  cluster?.stop()
}

const ms = (n: number) => `${n.toFixed(2)} ms`
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`
console.log(`\nturn benchmark, ${backend}, ${TURNS} turns per call, loopback Claude answering after ${ANSWER_AFTER_MS} ms; took ${elapsed()}; load average at the end ${load()}`)
console.log(`| | server CPU per turn | CPU per call apart from turns | RSS per live call (after its turns / once idle${FULL_GC ? " / after a full collection" : ""}) | ${LEVELS.map((l) => `first-token overhead p50 / p95 / p99 at ${l}`).join(" | ")} |`)
console.log(`|---|---|---|---|${LEVELS.map(() => "---").join("|")}|`)
/** RSS per live call: what the process grew by with the top level's calls live, over their number. */
const perCall = (r: Result, reading: "live" | "idle") => kib((r.rss[reading] - r.rss.before) / TOP)
const heldPerCall = (name: string) => {
  const readings = held.get(name)
  return readings === undefined ? "–" : kib((readings.live - readings.before) / TOP)
}
for (const [name, r] of results) {
  const cells = LEVELS.map((level) => {
    const values = r.overheads.get(level) ?? []
    return `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))} / ${ms(percentile(values, 99))}`
  })
  console.log(`| ${name} | ${ms(r.cpuPerTurn)} | ${ms(r.cpuPerCall)} | ${perCall(r, "live")} / ${perCall(r, "idle")}${FULL_GC ? ` / ${heldPerCall(name)}` : ""} | ${cells.join(" | ")} |`)
}
const relayOn = (runtime: Runtime) => results.find(([name]) => name === `bare relay · ${runtime}`)?.[1]
for (const [name, ours] of results.filter(([name]) => name.startsWith("ours"))) {
  const ratio = (relay: Result, p: number) =>
    (percentile(ours.overheads.get(TOP)!, p) / Math.max(0.01, percentile(relay.overheads.get(TOP)!, p))).toFixed(1)
  // The targets are set against the relay on the same runtime: Deno's fetch, streams and collector cost more than
  // Bun's even with nothing else to do, which is not our code's overhead. Against Bun's relay too, for reference.
  const runtime: Runtime = name.includes("Deno") ? "Deno" : "Bun"
  const own = relayOn(runtime)!
  console.log(`${name} at ${TOP} calls: first-token overhead / the bare relay on ${runtime}'s p50 ×${ratio(own, 50)} (target ≤ 3), p99 ×${ratio(own, 99)} (target ≤ 5)`)
  if (runtime === "Deno") console.log(`${name} at ${TOP} calls: against the bare relay on Bun p50 ×${ratio(relayOn("Bun")!, 50)}, p99 ×${ratio(relayOn("Bun")!, 99)}`)
  if (ROUNDS > 1) {
    const each = ours.topRounds.map((values, round) => {
      const relayValues = own.topRounds[round] ?? own.topRounds[0]!
      const roundRatio = (p: number) => (percentile([...values], p) / Math.max(0.01, percentile([...relayValues], p))).toFixed(1)
      return `×${roundRatio(50)} / ×${roundRatio(99)}`
    })
    console.log(`${name} at ${TOP} calls: the same, p50 / p99, round by round (the line above pools them): ${each.join(", ")}`)
  }
}
// Where the tail comes from: each call's first turn also opens its first connection to Claude, and follows the
// greeting by a second only; the later turns follow the previous reply at once.
for (const [name, r] of results) {
  const spread = (part: Array<number>) => `p50 ${ms(percentile(part, 50))}, p99 ${ms(percentile(part, 99))}`
  const firstTurns = r.topRounds.flatMap((round) => round.slice(0, TOP))
  const laterTurns = r.topRounds.flatMap((round) => round.slice(TOP))
  console.log(`${name} at ${TOP} calls: first turns ${spread(firstTurns)}; later turns ${spread(laterTurns)}`)
}
// The CPU above is the whole process's. The thread running JavaScript is what our code costs directly; the others
// are the runtime's own (its optimising compiler still at work after the warm-up, the collector's helpers, I/O).
for (const [name, r] of results) {
  const others = (total: number, main: number) => ms(Math.max(0, total - main))
  console.log(
    `${name}: of the CPU per turn, the JavaScript thread ${ms(r.mainThread.perTurn)}, other threads ${others(r.cpuPerTurn, r.mainThread.perTurn)}; ` +
      `of the CPU per call, ${ms(r.mainThread.perCall)} and ${others(r.cpuPerCall, r.mainThread.perCall)}`
  )
}
// With --rounds, how far the CPU figures of one server moved between its rounds (the table shows their medians).
if (ROUNDS > 1) {
  for (const [name, r] of results) {
    const list = (pick: (round: Round) => number) => r.rounds.map((round) => pick(round).toFixed(2)).join(", ")
    console.log(`${name}: ${ROUNDS} rounds, CPU per turn ${list((x) => x.perTurn)} ms; CPU per call ${list((x) => x.perCall)} ms`)
  }
}
// A fresh server first pays for compiling its code: what the warm-up calls cost at its start and at its end.
for (const [name, r] of results) {
  console.log(`${name}: warm-up, server CPU per call with one turn: first ${r.warm.calls} calls ${ms(r.warm.first)}, last ${r.warm.calls} ${ms(r.warm.last)}`)
}
// RSS per call is a difference of two readings of the whole process: the readings themselves, to size a machine.
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`
for (const [name, r] of results) {
  console.log(
    `${name}: whole process RSS ${mib(r.rss.before)} before the ${TOP} calls, ${mib(r.rss.open)} once they are open ` +
      `(${kib((r.rss.open - r.rss.before) / TOP)} per call before any turn), ${mib(r.rss.live)} with them live after their turns, ${mib(r.rss.idle)} once idle`
  )
}
for (const [name, readings] of held) {
  console.log(
    `${name}: after a full collection (a server of its own, with its inspector), whole process RSS ${mib(readings.before)} before ` +
      `${TOP} calls, ${mib(readings.live)} with them live after their turns: ${heldPerCall(name)} per live call ` +
      `(what the calls hold; the readings above also count their turns' garbage)`
  )
}
