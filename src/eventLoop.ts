import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { clearImmediate, setImmediate } from "node:timers"

/**
 * Deno writes a WebSocket frame in a task of its own, which runs only once the event loop has nothing else ready:
 * an immediate runs before that task (the frame is still buffered when it resumes), a zero-delay sleep (the
 * clock's timer) after it. Bun writes a frame as it is sent, so an immediate is enough there.
 */
const framesWaitForIdleLoop = "Deno" in globalThis

/**
 * Resumes once the event loop has handled the I/O already waiting (not a timer by intent: nothing waits for a
 * time). Work that can wait steps aside with it: what other calls' frames and replies brought runs first, and the
 * frames already sent are on the wire.
 */
export const nextTurnOfEventLoop: Effect.Effect<void> = framesWaitForIdleLoop
  ? Effect.sleep(Duration.zero)
  : Effect.async<void>((resume) => {
    const immediate = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(immediate))
  })
