/**
 * A throwaway Postgres cluster for tests: `initdb` in a temporary folder, its own free port on 127.0.0.1,
 * trust authentication, run as an unprivileged user (initdb refuses root: as root, the `postgres` system
 * user of Debian's package is used, or a `coccinelle-pg` user is created).
 *
 * As a script (used by .ci/run):  bun test/support/postgres.ts start   → prints `URL DIR`
 *                                 bun test/support/postgres.ts stop DIR
 */
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./ports.ts"

export interface Cluster {
  /** superuser URL of the cluster's `postgres` database */
  readonly url: string
  readonly dir: string
  readonly stop: () => void
}

/** The newest installed Postgres server binaries (Debian layout), or undefined. */
export const postgresBinDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin")
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

const runAsUser = (): string | undefined => {
  if (!isRoot()) return undefined
  for (const user of ["postgres", "coccinelle-pg"]) {
    if (spawnSync("id", ["-u", user]).status === 0) return user
  }
  const made = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "coccinelle-pg"])
  if (made.status !== 0) throw new Error(`cannot create an unprivileged user for Postgres: ${made.stderr}`)
  return "coccinelle-pg"
}

const run = (user: string | undefined, command: string, args: Array<string>) => {
  const result = user === undefined
    ? spawnSync(command, args, { encoding: "utf8" })
    : spawnSync("runuser", ["-u", user, "--", command, ...args], { encoding: "utf8" })
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}${result.stdout}`)
  }
  return result.stdout
}

export const startCluster = async (): Promise<Cluster> => {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error("Postgres server binaries not found under /usr/lib/postgresql")
  const user = runAsUser()
  const dir = mkdtempSync(join(tmpdir(), "coccinelle-pg-"))
  chmodSync(dir, 0o777) // the unprivileged user owns the data folder it creates inside
  const data = join(dir, "data")
  if (user !== undefined) run(undefined, "install", ["-d", "-o", user, "-m", "700", data])
  run(user, join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
  const port = await freePort()
  // Durability off (a throwaway cluster). deadlock_timeout low: racing bookings that deadlock on the exclusion
  // constraint are retried (AppointmentsRepo) after it, and the race tests run eight of them within 5 s.
  const options = `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off ` +
    `-c max_connections=300 -c deadlock_timeout=100ms`
  run(user, join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "server.log"), "-w", "start"])
  const stop = () => {
    spawnSync(...stopCommand(user, bin, data))
    rmSync(dir, { recursive: true, force: true })
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dir, stop }
}

const stopCommand = (user: string | undefined, bin: string, data: string): [string, Array<string>] => {
  const args = ["-D", data, "-m", "immediate", "-w", "stop"]
  return user === undefined ? [join(bin, "pg_ctl"), args] : ["runuser", ["-u", user, "--", join(bin, "pg_ctl"), ...args]]
}

export const stopClusterAt = (dir: string) => {
  const bin = postgresBinDir()
  if (bin !== undefined) spawnSync(...stopCommand(isRoot() ? runAsUser() : undefined, bin, join(dir, "data")))
  rmSync(dir, { recursive: true, force: true })
}

if (import.meta.main) {
  const [command, dir] = process.argv.slice(2)
  if (command === "start") {
    const cluster = await startCluster()
    process.stdout.write(`${cluster.url} ${cluster.dir}\n`)
  } else if (command === "stop" && dir !== undefined) {
    stopClusterAt(dir)
  } else {
    process.stderr.write("usage: bun test/support/postgres.ts start | stop DIR\n")
    process.exit(2)
  }
}
