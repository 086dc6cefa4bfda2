import * as Effect from "effect/Effect"
import { setImmediate } from "node:timers"

/**
 * Resumes once the event loop has handled the I/O already waiting (not a timer: no time passes by a clock).
 * Work that can wait steps aside with it: what other calls' frames and replies brought runs first.
 */
export const nextTurnOfEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})
