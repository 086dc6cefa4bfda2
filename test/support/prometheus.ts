/**
 * Checking a Prometheus exposition as Prometheus would: with `promtool check metrics`, and by its samples.
 *
 * ```ts
 * let promtool = ""
 * beforeAll(() => { promtool = findPromtool() }, 300_000)
 * expect(promtoolCheck(promtool, text)).toEqual({ exitCode: 0, output: "" })
 * ```
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { spawnSync, which } from "./runtime.ts"

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url))
const LOCAL_PROMTOOL = `${REPO_ROOT}.tools/prometheus/usr/bin/promtool`
const INSTALL_SCRIPT = `${REPO_ROOT}.ci/install-promtool.sh`

/**
 * The promtool to run: the one on PATH, else the one unpacked into `.tools/`. Only under CI (`CI` set, or
 * `PROMTOOL_INSTALL=1`) is it fetched when missing (Debian's `prometheus` package through apt, ~95 MB),
 * and there it is required. Elsewhere a missing promtool is said once and its checks are skipped; every
 * other assertion still runs. `bash .ci/install-promtool.sh` fetches it by hand.
 */
export const findPromtool = (): string | null => {
  const onPath = which("promtool")
  if (onPath !== null) return onPath
  if (existsSync(LOCAL_PROMTOOL)) return LOCAL_PROMTOOL
  if (!process.env.CI && !process.env.PROMTOOL_INSTALL) {
    skipVisibly("not installed; run `bash .ci/install-promtool.sh` (downloads Debian's prometheus package, ~95 MB) or set PROMTOOL_INSTALL=1")
    return null
  }
  const install = spawnSync(["bash", INSTALL_SCRIPT], { stdout: "pipe", stderr: "pipe" })
  if (install.exitCode === 0) return install.stdout.toString().trim().split("\n").at(-1) ?? null
  const reason = `install-promtool.sh failed (${install.exitCode}):\n${install.stderr.toString()}`
  if (process.env.CI) throw new Error(reason)
  skipVisibly(reason.split("\n")[0]!)
  return null
}

const skipVisibly = (reason: string) => {
  if (warned) return
  warned = true
  console.warn(`[promtool] skipping the promtool checks: ${reason}`)
}
let warned = false

/** `promtool check metrics` on `text`: its exit code and everything it printed (empty when all is well). */
export const promtoolCheck = (promtool: string, text: string) => {
  const result = spawnSync([promtool, "check", "metrics"], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" })
  return { exitCode: result.exitCode, output: (result.stdout.toString() + result.stderr.toString()).trim() }
}

/** `name{labels}` → value, from the sample lines of an exposition. */
export const samples = (text: string): Map<string, number> => {
  const out = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const cut = line.lastIndexOf(" ")
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return out
}
