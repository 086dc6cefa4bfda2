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
 * The promtool to run: the one on PATH, else the one unpacked into `.tools/`, else it unpacks Debian's
 * promtool there first (needs apt and the Debian mirror, which CI has). On a machine without them (a
 * developer's Mac, say) it returns null and says so once: the promtool checks are then skipped visibly,
 * every other assertion still runs. Under CI (`CI` set) promtool is required.
 */
export const findPromtool = (): string | null => {
  const onPath = which("promtool")
  if (onPath !== null) return onPath
  if (existsSync(LOCAL_PROMTOOL)) return LOCAL_PROMTOOL
  const install = spawnSync(["bash", INSTALL_SCRIPT], { stdout: "pipe", stderr: "pipe" })
  if (install.exitCode === 0) return install.stdout.toString().trim().split("\n").at(-1) ?? null
  const reason = `install-promtool.sh failed (${install.exitCode}):\n${install.stderr.toString()}`
  if (process.env.CI) throw new Error(reason)
  if (!warned) {
    warned = true
    console.warn(`[promtool] not available on this machine, skipping the promtool checks (${reason.split("\n")[0]})`)
  }
  return null
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
