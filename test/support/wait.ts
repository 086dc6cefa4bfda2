/**
 * Polling for what the real server does off the caller's path (rows written after a call, metrics, logs,
 * /health while draining). Both poll every 10 ms until their deadline, then throw naming what was awaited.
 *
 * ```ts
 * const rows = await eventually(() => app.query((sql) => sql`…`), (rows) => rows.length === 2, "the exchange stored")
 * const health = await waitUntil(() => draining(app), "/health to answer 503", 5_000)
 * ```
 */

import { sleep } from "./runtime.ts"

const POLL_MS = 10

/** Polls `read` until `done` holds for what it read (up to `ms`), and returns that value. */
export const eventually = async <A>(read: () => Promise<A>, done: (a: A) => boolean, what: string, ms = 3_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${ms} ms`)
    await sleep(POLL_MS)
  }
}

/** Polls `probe` until it gives something other than `undefined`, `null` or `false` (up to `timeoutMs`), and returns it. */
export const waitUntil = async <T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  timeoutMs = 8_000
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== null && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}
