/**
 * `bun run bench`: runs every benchmark script in turn and prints their numbers.
 * Each script is standalone (`bun test/bench/<name>.ts`) and stops by itself.
 */
const BENCHES = ["search.ts", "booking.ts", "speech.ts", "turn.ts"]

for (const name of BENCHES) {
  const path = new URL(`./${name}`, import.meta.url).pathname
  if (!(await Bun.file(path).exists())) continue
  process.stdout.write(`\n=== ${name}\n`)
  const child = Bun.spawn(["bun", path], { stdout: "inherit", stderr: "inherit" })
  const code = await child.exited
  if (code !== 0) {
    process.stderr.write(`${name} exited with ${code}\n`)
    process.exit(code)
  }
}
