/**
 * The turn that work which can wait takes (src/eventLoop.ts): the rest of a reply once its first words are sent, the
 * journal's writes. When it resumes, the frames sent before are on the wire (on Deno a frame is written by a task of
 * its own, which an immediate used to run ahead of). On Bun one waiter resumes per turn of the event loop, so what the
 * network brings in the meantime (Claude's answer to another call) is read between two of them. On Deno the work is
 * held while a caller waits for its first words, for at most FIRST_WORDS_HOLD_MS.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { awaitFirstWords, callersAwaitingFirstWords, deferredTurn, FIRST_WORDS_HOLD_MS } from "../../src/eventLoop.ts"
import { runScoped } from "../support/effect.ts"
import { serve, type TestServer } from "../support/runtime.ts"

const onDeno = "Deno" in globalThis
/** A fiber that, at its turn, writes its name down. */
const waiterNoting = (order: Array<string>, name: string) => Effect.fork(Effect.zipRight(deferredTurn, Effect.sync(() => order.push(name))))
const holdThread = (ms: number) => {
  const until = performance.now() + ms
  while (performance.now() < until) { /* the work a reply's rest does */ }
}

describe("a deferred turn of the event loop", () => {
  let server: TestServer
  let socket: WebSocket

  beforeAll(async () => {
    server = serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, upgrader) =>
        upgrader.upgrade(request, { data: undefined }) ? undefined : new Response("answered"),
      websocket: {}
    })
    socket = new WebSocket(`ws://127.0.0.1:${server.port}/`)
    await new Promise((resolve, reject) => {
      socket.onopen = resolve
      socket.onerror = reject
    })
  })

  afterAll(async () => {
    socket.close()
    await server.stop(true)
  })

  test("a frame sent before it is written to the socket by the time it resumes", async () => {
    for (let frame = 1; frame <= 5; frame++) {
      socket.send(`frame ${frame}: ${"x".repeat(200)}`)
      await runScoped(deferredTurn)
      expect({ frame, buffered: socket.bufferedAmount }).toEqual({ frame, buffered: 0 })
    }
  })

  describe.skipIf(onDeno)("on Bun, one waiter per turn", () => {
    test("waiters resume in the order they came, and an immediate queued meanwhile runs between two of them", async () => {
      const order: Array<string> = []
      await runScoped(Effect.gen(function*() {
        const [first, second, third] = yield* Effect.all(["first", "second", "third"].map((name) => waiterNoting(order, name)))
        yield* Effect.yieldNow()
        setImmediate(() => order.push("immediate"))
        yield* Fiber.joinAll([first!, second!, third!])
      }))
      expect(order).toEqual(["first", "immediate", "second", "third"])
    })

    test("an answer arriving while 40 waiters each hold the thread for 2 ms is read before the last of them", async () => {
      const resumed: Array<number> = []
      let answeredAfter: number | undefined
      await runScoped(Effect.gen(function*() {
        const waiters = yield* Effect.forEach(Array.from({ length: 40 }, (_, index) => index), (index) =>
          Effect.fork(Effect.zipRight(deferredTurn, Effect.sync(() => {
            holdThread(2)
            resumed.push(index)
          }))))
        yield* Effect.yieldNow()
        const answer = fetch(`http://127.0.0.1:${server.port}/`).then((response) => response.text()).then((text) => {
          answeredAfter = resumed.length
          return text
        })
        yield* Fiber.joinAll(waiters)
        expect(yield* Effect.promise(() => answer)).toBe("answered")
      }))
      expect(resumed).toEqual(Array.from({ length: 40 }, (_, index) => index))
      // Read between two waiters: all at once, the answer would wait for all 40 (80 ms).
      expect(answeredAfter).toBeLessThan(40)
    })

    test("an interrupted waiter leaves the queue: the one behind it takes its turn", async () => {
      const order: Array<string> = []
      await runScoped(Effect.gen(function*() {
        const [cut, kept] = yield* Effect.all([waiterNoting(order, "cut"), waiterNoting(order, "kept")])
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(cut)
        const immediate = new Promise<void>((resolve) => setImmediate(() => resolve(void order.push("immediate"))))
        yield* Fiber.join(kept)
        yield* Effect.promise(() => immediate)
      }))
      // Left in the queue, the cut waiter would have taken the first turn, and "kept" the one after the immediate.
      expect(order).toEqual(["kept", "immediate"])
    })
  })

  describe.skipIf(!onDeno)("on Deno, while callers wait for their first words", () => {
    test("work that can wait is held until the last of them has its words (or the hold ends), then resumes", async () => {
      const order: Array<string> = []
      const first = awaitFirstWords()
      const second = awaitFirstWords()
      const started = performance.now()
      let resumedAfterMs = 0
      await runScoped(Effect.gen(function*() {
        const waiter = yield* Effect.fork(Effect.zipRight(deferredTurn, Effect.sync(() => {
          resumedAfterMs = performance.now() - started
          order.push("deferred work")
        })))
        // Turns of the loop and timers go by, shorter than the hold: the work stays held.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        first()
        first() // a turn says it twice (its first words, then its end): counted once
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        order.push("second caller's words")
        second()
        yield* Fiber.join(waiter)
      }))
      // On a machine so busy that the two short timers took longer than the hold, the hold's own timer let it go.
      if (resumedAfterMs < FIRST_WORDS_HOLD_MS - 1) expect(order).toEqual(["second caller's words", "deferred work"])
      else expect(order).toHaveLength(2)
      expect(callersAwaitingFirstWords()).toBe(0)
    })

    test("held at most FIRST_WORDS_HOLD_MS when the words do not come", async () => {
      const silentModel = awaitFirstWords()
      try {
        const started = performance.now()
        await runScoped(deferredTurn)
        // A timer never rings early by more than a millisecond's rounding.
        expect(performance.now() - started).toBeGreaterThanOrEqual(FIRST_WORDS_HOLD_MS - 1)
      } finally {
        silentModel()
      }
    })

    test("an interrupted waiter leaves the held ones: the others still resume", async () => {
      const order: Array<string> = []
      const words = awaitFirstWords()
      await runScoped(Effect.gen(function*() {
        const [cut, kept] = yield* Effect.all([waiterNoting(order, "cut"), waiterNoting(order, "kept")])
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(cut)
        words()
        yield* Fiber.join(kept)
      }))
      expect(order).toEqual(["kept"])
    })
  })
})
