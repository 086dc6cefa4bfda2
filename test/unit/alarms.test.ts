/**
 * Alarms (src/alarms.ts): a turn's timers on one sleeping fiber. Each rings on time on the Clock, a cancelled one
 * never does, an earlier one set while the sleeper waits for a later one is not held back, and however many are
 * set, one sleep is pending.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import { describe, expect, test } from "../support/test.ts"
import { makeAlarms } from "../../src/alarms.ts"
import { runScoped } from "../support/effect.ts"

/** Lets the sleeper run until `count` sleeps are pending on the TestClock. */
const sleepsPending = (count: number) =>
  Effect.repeat(Effect.zipRight(Effect.yieldNow(), TestClock.sleeps()), { until: (sleeps) => Chunk.size(sleeps) >= count })

const advance = (ms: number) => Effect.zipRight(sleepsPending(1), TestClock.adjust(ms))

const withAlarms = <A>(
  use: (rung: Array<string>, alarms: Effect.Effect.Success<typeof makeAlarms>) => Effect.Effect<A>,
  logger?: Logger.Logger<unknown, void>
) =>
  runScoped(
    Effect.gen(function*() {
      const alarms = yield* makeAlarms
      const rung: Array<string> = []
      return yield* Effect.ensuring(use(rung, alarms), alarms.stop)
    }),
    { testClock: true, ...(logger ? { logger } : {}) }
  )

describe("alarms", () => {
  test("an alarm rings once its delay has passed on the clock, not a millisecond before", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        alarms.set(1000, () => rung.push("filler"))
        yield* advance(999)
        expect(rung).toEqual([])
        yield* advance(1)
        expect(rung).toEqual(["filler"])
      })
    ))

  test("a cancelled alarm never rings; the others ring in the order they are due", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        const cancelFirst = alarms.set(1000, () => rung.push("cancelled"))
        alarms.set(2000, () => rung.push("late"))
        alarms.set(500, () => rung.push("early"))
        cancelFirst()
        yield* advance(3000)
        expect(rung).toEqual(["early", "late"])
      })
    ))

  test("an earlier alarm set while the sleeper waits for a later one rings on time", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        alarms.set(8000, () => rung.push("deadline"))
        yield* sleepsPending(1)
        alarms.set(1500, () => rung.push("filler"))
        yield* advance(1500)
        expect(rung).toEqual(["filler"])
        yield* advance(6500)
        expect(rung).toEqual(["filler", "deadline"])
      })
    ))

  test("once every alarm was cancelled and dropped, a new one still rings", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        alarms.set(1000, () => rung.push("cancelled"))()
        yield* advance(2000)
        alarms.set(500, () => rung.push("next turn"))
        yield* advance(500)
        expect(rung).toEqual(["next turn"])
      })
    ))

  test("two hundred alarms pending: one sleep on the clock, not one each", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        for (let i = 0; i < 200; i++) alarms.set(1500 + (i % 3) * 3000, () => rung.push("x"))
        yield* sleepsPending(1)
        // The sleeper had every chance to register more sleeps.
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        expect(Chunk.size(yield* TestClock.sleeps())).toBe(1)
        yield* advance(7500)
        expect(rung.length).toBe(200)
      })
    ))

  test("a ring that throws is logged; the alarms after it still ring", async () => {
    const logged: Array<string> = []
    const logger = Logger.make(({ message }) => {
      logged.push(String(message))
    })
    await withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        alarms.set(100, () => {
          throw new Error("broken ring")
        })
        alarms.set(200, () => rung.push("after"))
        yield* advance(100)
        yield* advance(100)
        expect(rung).toEqual(["after"])
      }), logger)
    expect(logged.some((line) => line.includes("an alarm failed"))).toBe(true)
  })

  test("after stop, nothing rings and a new alarm is ignored", () =>
    withAlarms((rung, alarms) =>
      Effect.gen(function*() {
        alarms.set(1000, () => rung.push("pending"))
        yield* sleepsPending(1)
        yield* alarms.stop
        alarms.set(10, () => rung.push("after stop"))
        yield* TestClock.adjust(5000)
        expect(rung).toEqual([])
      })
    ))
})
