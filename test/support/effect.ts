/**
 * The one way tests run an Effect (what @effect/vitest does): provide the layer, drop the default logger
 * (or put the test's own in its place), optionally the TestContext (TestClock), run to an Exit and rethrow
 * a failure as a readable error.
 */
import { Cause, Effect, Exit, Layer, Logger, type Scope, TestContext } from "effect"

export interface RunOptions {
  /** Provide TestContext, so time is the TestClock's (advance it instead of sleeping). */
  readonly testClock?: boolean
  /** Receives what the default logger would have printed (a test reading its log lines). */
  readonly logger?: Logger.Logger<unknown, void>
}

/** Runs `effect` with `layer` to its Exit. */
export const runExit = <A, E, R, LE>(effect: Effect.Effect<A, E, R>, layer: Layer.Layer<R, LE>, options: RunOptions = {}) => {
  let program: Effect.Effect<A, E | LE> = effect.pipe(Effect.provide(layer), Effect.provide(
    options.logger ? Logger.replace(Logger.defaultLogger, options.logger) : Logger.remove(Logger.defaultLogger)
  ))
  if (options.testClock) program = program.pipe(Effect.provide(TestContext.TestContext))
  return Effect.runPromiseExit(program)
}

/** Runs `effect` with `layer`; a failure or defect rejects with the pretty-printed cause. */
export const runWith = async <A, E, R, LE>(effect: Effect.Effect<A, E, R>, layer: Layer.Layer<R, LE>, options: RunOptions = {}): Promise<A> => {
  const exit = await runExit(effect, layer, options)
  if (Exit.isFailure(exit)) {
    const failure = Cause.squash(exit.cause)
    throw failure instanceof Error && !Cause.isFailType(exit.cause) ? failure : new Error(Cause.pretty(exit.cause))
  }
  return exit.value
}

/** Runs an effect that needs no service; a scope it asks for is closed when it ends. */
export const runScoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, options: RunOptions = {}): Promise<A> =>
  runWith(Effect.scoped(effect), Layer.empty, options)
