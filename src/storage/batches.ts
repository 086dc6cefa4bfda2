import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"

/**
 * One statement for what many calls ask at the same moment (Postgres): each statement costs a round trip and, on
 * Deno, ~0.2 ms of CPU in the driver and the runtime's sockets, whatever its size. The first request goes out at once,
 * alone; what others ask while it is out waits and goes in the next statement. An idle server adds no wait; 200 calls
 * hanging up together cost a few statements, not 200.
 *
 * `execute` answers each input, in order, or fails the whole batch: then each input is run on its own, so that only
 * a bad one fails (its caller gets its own defect). Two inputs with the same key never share a statement (the second
 * goes in the next one, after the first): a statement updating one row twice would make both think they won.
 */
export interface BatchedStatement<I, O> {
  readonly run: (input: I) => Effect.Effect<O>
}

interface Pending<I, O> {
  readonly input: I
  readonly done: Deferred.Deferred<O>
}

/** A batch's answers in input order, looked up by key in the rows the statement returned (RETURNING has no order). */
export const answersByKey = <I, R>(
  inputs: ReadonlyArray<I>,
  keyOf: (input: I) => string,
  rows: ReadonlyArray<R>,
  rowKey: (row: R) => string
): Array<R | undefined> => {
  const found = new Map(rows.map((row) => [rowKey(row), row]))
  return inputs.map((input) => found.get(keyOf(input)))
}

/** The most inputs one statement takes (what piled up while the previous one ran). */
const MAX_BATCH = 500

export const makeBatchedStatement = <I, O>(options: {
  readonly key: (input: I) => string
  readonly execute: (inputs: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>>
}): Effect.Effect<BatchedStatement<I, O>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending<I, O>>()

    const runAlone = (pending: Pending<I, O>) =>
      Effect.flatMap(Effect.exit(Effect.map(options.execute([pending.input]), (outputs) => outputs[0]!)), (exit) =>
        Deferred.done(pending.done, exit))

    const runTogether = (batch: ReadonlyArray<Pending<I, O>>): Effect.Effect<void> =>
      batch.length === 1
        ? Effect.asVoid(runAlone(batch[0]!))
        : Effect.flatMap(Effect.exit(options.execute(batch.map((pending) => pending.input))), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.sync(() => batch.forEach((pending, i) => Deferred.unsafeDone(pending.done, Exit.succeed(exit.value[i]!))))
            : Effect.forEach(batch, runAlone, { discard: true }))

    /** The taken inputs as statements, in the order queued: each key at most once per statement. */
    const statementsOf = (taken: ReadonlyArray<Pending<I, O>>) => {
      const statements: Array<{ readonly keys: Set<string>; readonly batch: Array<Pending<I, O>> }> = []
      for (const pending of taken) {
        const key = options.key(pending.input)
        // After the last statement holding the key: a later request for a row never overtakes an earlier one.
        let at = statements.length
        while (at > 0 && !statements[at - 1]!.keys.has(key)) at--
        if (at === statements.length) statements.push({ keys: new Set(), batch: [] })
        statements[at]!.keys.add(key)
        statements[at]!.batch.push(pending)
      }
      return statements
    }

    // A statement under way is never interrupted (its callers would wait forever); the worker stops between two.
    const worker = yield* Effect.forkScoped(Effect.forever(Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(Queue.take(queue)), (first) =>
        Effect.flatMap(Queue.takeUpTo(queue, MAX_BATCH - 1), (rest) =>
          Effect.forEach(statementsOf([first, ...Chunk.toReadonlyArray(rest)]), ({ batch }) => runTogether(batch), {
            discard: true
          })))
    )))
    // At shutdown (live calls are drained before), whatever is still queued runs on its own.
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(Fiber.interrupt(worker), Effect.flatMap(Queue.takeAll(queue), (left) => Effect.forEach(left, runAlone, { discard: true })))
    )

    return {
      run: (input) =>
        Effect.flatMap(Deferred.make<O>(), (done) => Effect.zipRight(Queue.offer(queue, { input, done }), Deferred.await(done)))
    }
  })
