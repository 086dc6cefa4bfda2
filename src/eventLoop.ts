import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { setImmediate } from "node:timers"

/**
 * Work that can wait (the rest of a reply once its first words are out, the journal's writes) waits its turn: one
 * waiter resumes per turn of the event loop, in the order they came. Between any two, the loop reads what the network
 * brought: Claude's answers that give other callers their first words, prompts, barge-ins. When every waiter took the
 * loop's next turn at once, 200 replies' rests (~0.5 ms of JavaScript each) held the thread in one block while those
 * answers waited: at 200 calls, the first word's p50 went from 55 to 44 ms past the model's 50 (45 waves each).
 *
 * A waiter that is interrupted (a barge-in, a hang-up) leaves the queue.
 */
type Waiter = () => void
const waiting = new Set<Waiter>()
let turnScheduled = false

const resumeNext = () => {
  turnScheduled = false
  const next = waiting.values().next()
  if (next.done) return
  waiting.delete(next.value)
  next.value()
  if (waiting.size > 0) scheduleTurn()
}

const scheduleTurn = () => {
  if (turnScheduled) return
  turnScheduled = true
  setImmediate(resumeNext)
}

const oneWaiterPerTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const waiter = () => resume(Effect.void)
  waiting.add(waiter)
  scheduleTurn()
  return Effect.sync(() => {
    waiting.delete(waiter)
  })
})

/**
 * Deno writes a WebSocket frame in a task of its own, which runs only once the event loop has nothing else ready: an
 * immediate runs before that task (the frame is still buffered when it resumes), and so would the next waiter's work.
 * A zero-delay sleep (the clock's timer) runs after it; chained, such timers are clamped to ~2.5 ms each, too slow
 * for one waiter per turn. So on Deno each waiter sleeps for zero, all at once.
 */
const framesWaitForIdleLoop = "Deno" in globalThis

/** Resumes at this waiter's turn of the event loop (see above); on Deno, after the frames already sent are written. */
export const deferredTurn: Effect.Effect<void> = framesWaitForIdleLoop ? Effect.sleep(Duration.zero) : oneWaiterPerTurn
