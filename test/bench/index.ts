/**
 * `bun run bench [--quick] [--postgres]`: runs every benchmark script in turn and prints their numbers.
 * Each script is standalone (`bun test/bench/<name>.ts`) and stops by itself. `DATABASE_URL=postgres://…`
 * runs them on that database; `--postgres` starts a throwaway cluster for the run (test/support/postgres.ts).
 */
import { emptyPostgresDatabase } from "../support/db.ts"
import type { Cluster } from "../support/postgres.ts"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const postgres = args.includes("--postgres") || /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? "")
/** Each script with what it is passed and about how long it takes on a 2-core machine. */
const BENCHES: Array<{ name: string; args: Array<string>; expectedSeconds: number }> = [
  { name: "search.ts", args: [], expectedSeconds: postgres ? 45 : 20 },
  { name: "booking.ts", args: [], expectedSeconds: 6 },
  { name: "speech.ts", args: [], expectedSeconds: 1 },
  { name: "turn.ts", args: [...(quick ? ["--quick"] : []), ...(args.includes("--full-gc") ? ["--full-gc"] : [])], expectedSeconds: quick ? 90 : 170 }
]

const started = performance.now()
const seconds = () => ((performance.now() - started) / 1000).toFixed(0)
let cluster: Cluster | undefined
const env: Record<string, string | undefined> = { ...process.env }
if (args.includes("--postgres") && !/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? "")) {
  process.stderr.write("starting a throwaway Postgres cluster (--postgres)\n")
  const { startCluster } = await import("../support/postgres.ts")
  cluster = await startCluster()
  env.DATABASE_URL = cluster.url
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (cluster?.stop(), process.exit(130)))
}
const total = BENCHES.reduce((sum, bench) => sum + bench.expectedSeconds, 0)
process.stderr.write(`benchmarks on ${env.DATABASE_URL?.startsWith("postgres") ? "Postgres" : "SQLite"}: expected ~${Math.ceil(total / 60 + 0.5)} min in all\n`)

let failed = 0
try {
  for (const bench of BENCHES) {
    const path = new URL(`./${bench.name}`, import.meta.url).pathname
    if (!(await Bun.file(path).exists())) continue
    process.stdout.write(`\n=== ${bench.name} (started at ${seconds()} s, expected ~${bench.expectedSeconds} s)\n`)
    // Each script gets an empty database of its own on the throwaway cluster, as it gets a fresh SQLite file.
    const database = cluster === undefined ? {} : { DATABASE_URL: await emptyPostgresDatabase(cluster.url, "bench") }
    const child = Bun.spawn(["bun", path, ...bench.args], { env: { ...env, ...database }, stdout: "inherit", stderr: "inherit" })
    const code = await child.exited
    if (code !== 0) {
      process.stderr.write(`${bench.name} exited with ${code}\n`)
      failed = code
      break
    }
  }
} finally {
  cluster?.stop()
}
process.stderr.write(`\nbenchmarks took ${seconds()} s\n`)
process.exit(failed)
