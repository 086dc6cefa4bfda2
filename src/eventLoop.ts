import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { clearTimeout, setImmediate, setTimeout } from "node:timers"

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

/** Waits in `waiters` until called from there; an interrupted waiter leaves the set. */
const waitIn = (waiters: Set<Waiter>, afterJoining: () => void): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const waiter = () => resume(Effect.void)
    waiters.add(waiter)
    afterJoining()
    return Effect.sync(() => {
      waiters.delete(waiter)
    })
  })

const oneWaiterPerTurn = waitIn(waiting, scheduleTurn)

/**
 * Deno writes a WebSocket frame in a task of its own, which runs only once the event loop has nothing else ready: an
 * immediate runs before that task (the frame is still buffered when it resumes), and so would the next waiter's work.
 * A zero-delay sleep (the clock's timer) runs after it; chained, such timers are clamped to ~2.5 ms each, too slow
 * for one waiter per turn. So on Deno each waiter sleeps for zero, all at once.
 */
const framesWaitForIdleLoop = "Deno" in globalThis

/**
 * While callers wait for their first words, Deno holds work that can wait a little. Deno reads the network on the
 * thread that runs JavaScript, between two of its tasks; when 200 prompts come at once, 200 answers from Claude come
 * back over ~100 ms, and the rest of a reply already begun, run between two of them, delays every caller still waiting
 * for a first word. So while any turn's request is out with nothing said yet, deferred work is held, for at most
 * FIRST_WORDS_HOLD_MS: the rest of a reply reaches a caller who is already hearing its first words, and the journal's
 * writes come a little later, in bigger batches. With real models (first words after ~0.5–1 s) a reply's rest is held
 * at most this long, well within the gaps between a model's own tokens. On Bun, whose one waiter per turn already lets
 * the answers in between, a hold measured no better (a little worse), so Bun does not hold.
 */
export const FIRST_WORDS_HOLD_MS = 25
let awaitingFirstWords = 0
const held = new Set<Waiter>()
/** Held waiters are released together: when no caller waits any more, or when the hold's timer rings. */
let holdTimer: ReturnType<typeof setTimeout> | undefined

const releaseHeld = () => {
  if (holdTimer !== undefined) clearTimeout(holdTimer)
  holdTimer = undefined
  const released = [...held]
  held.clear()
  for (const waiter of released) waiter()
}

/**
 * A turn's request to Claude is out: work that can wait holds back until the function returned is called (at its
 * first words, or when the request ends without any). Calling it more than once counts once.
 */
export const awaitFirstWords = (): () => void => {
  awaitingFirstWords++
  let said = false
  return () => {
    if (said) return
    said = true
    awaitingFirstWords--
    if (awaitingFirstWords === 0 && held.size > 0) releaseHeld()
  }
}

/** How many turns' requests are out with nothing said yet (a turn that ended must never be counted). */
export const callersAwaitingFirstWords = (): number => awaitingFirstWords

/**
 * Event-loop time, not business time: a real timer, like the immediates above, so that a test's clock never holds the
 * journal's writes.
 */
const armHoldTimer = () => {
  holdTimer ??= setTimeout(releaseHeld, FIRST_WORDS_HOLD_MS)
}

const untilFirstWords = waitIn(held, armHoldTimer)

const zeroSleep = Effect.sleep(Duration.zero)

/**
 * Resumes at this waiter's turn of the event loop (see above). On Deno, after the frames already sent are written, and
 * once no caller waits for a first word (or after FIRST_WORDS_HOLD_MS).
 */
export const deferredTurn: Effect.Effect<void> = framesWaitForIdleLoop
  ? Effect.suspend(() => awaitingFirstWords === 0 ? zeroSleep : Effect.zipRight(untilFirstWords, zeroSleep))
  : oneWaiterPerTurn
