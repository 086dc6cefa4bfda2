import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"

/**
 * Timers that cost no fiber each. A turn needs three (the filler, the first-token deadline, an attempt's stall) and
 * almost never lets one ring: the first word comes long before. A sleeping fiber forked and interrupted per timer cost
 * ~50 µs of CPU each (200 concurrent turns, the timer itself ~1 µs); with alarms instead, the server's CPU per turn
 * went from ~1.54 to ~1.28 ms on Bun (50 calls × 6 turns). One fiber sleeps on the Clock until the earliest alarm of
 * many; setting or cancelling one is a plain function call. Being on the Clock, alarms follow the TestClock in tests.
 */
export interface Alarms {
  /** `ring` runs once `afterMs` have passed on the clock, unless the function returned was called first. */
  readonly set: (afterMs: number, ring: () => void) => () => void
  /** No alarm rings any more; the sleeping fiber stops. */
  readonly stop: Effect.Effect<void>
}

interface Alarm {
  readonly due: number
  /** Cleared once rung or cancelled. */
  ring: (() => void) | undefined
}

/**
 * Alarms on the clock (and with the log annotations) of the fiber that makes them. The sleeping fiber starts with the
 * first alarm: what never sets one costs nothing.
 */
export const makeAlarms: Effect.Effect<Alarms> = Effect.zipWith(Effect.clock, Effect.runtime<never>(), (clock, runtime) => {
  const runFork = Runtime.runFork(runtime)
  /** By due time. Alarms of one kind are set with one delay, so a new one almost always goes last. */
  const pending: Array<Alarm> = []
  let sleeper: Fiber.RuntimeFiber<void> | undefined
  /** Which sleeper is the current one: one that was replaced stops at its next step. */
  let generation = 0
  /** When the sleeper wakes next: Infinity while it waits for an alarm, -Infinity while it is about to look. */
  let wakesAt = Infinity
  /** Resumes the sleeper while it waits for an alarm. */
  let wake: (() => void) | undefined
  let stopped = false

  /** Rings what is due, drops what was cancelled; returns what a ring threw. */
  const ringDue = (now: number): Array<unknown> => {
    const failures: Array<unknown> = []
    while (pending.length > 0 && (pending[0]!.ring === undefined || pending[0]!.due <= now)) {
      const alarm = pending.shift()!
      const ring = alarm.ring
      alarm.ring = undefined
      if (ring === undefined) continue
      try {
        ring()
      } catch (error) {
        failures.push(error)
      }
    }
    return failures
  }

  const untilSet = Effect.async<void>((resume) => {
    const mine = () => {
      wake = undefined
      wakesAt = -Infinity
      resume(Effect.void)
    }
    wake = mine
    return Effect.sync(() => {
      if (wake === mine) wake = undefined
    })
  })

  const sleep = (generationOf: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (generationOf !== generation) return Effect.void
      wakesAt = -Infinity
      const now = clock.unsafeCurrentTimeMillis()
      const failures = ringDue(now)
      wakesAt = pending.length === 0 ? Infinity : pending[0]!.due
      const next = pending.length === 0 ? untilSet : Effect.sleep(Duration.millis(wakesAt - now))
      const logged = failures.length === 0
        ? next
        : Effect.zipRight(Effect.logError("an alarm failed", Cause.die(failures[0])), next)
      return Effect.zipRight(logged, sleep(generationOf))
    })

  const startSleeper = () => {
    wakesAt = -Infinity
    sleeper = runFork(sleep(++generation))
  }

  return {
    set: (afterMs, ring) => {
      if (stopped) return () => {}
      const alarm: Alarm = { due: clock.unsafeCurrentTimeMillis() + afterMs, ring }
      let at = pending.length
      while (at > 0 && pending[at - 1]!.due > alarm.due) at--
      pending.splice(at, 0, alarm)
      if (sleeper === undefined) startSleeper()
      else if (wake !== undefined) wake()
      else if (alarm.due < wakesAt) {
        // Earlier than the sleeper's wake-up (rare: a filler while only a long deadline was pending): a new
        // sleeper takes over, the old one is interrupted.
        const late = sleeper
        startSleeper()
        runFork(Fiber.interrupt(late))
      }
      return () => {
        alarm.ring = undefined
      }
    },
    stop: Effect.suspend(() => {
      stopped = true
      generation++
      pending.length = 0
      const running = sleeper
      sleeper = undefined
      return running === undefined ? Effect.void : Fiber.interrupt(running)
    })
  }
})

/** Runs `effect` with an alarm set: `ring` after `afterMs`, unless `effect` ended first, however it ended. */
export const withAlarm = (alarms: Alarms, afterMs: number, ring: () => void) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const cancel = alarms.set(afterMs, ring)
      return Effect.ensuring(restore(effect), Effect.sync(cancel))
    })
  )
