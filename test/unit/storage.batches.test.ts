import { describe, expect, test } from "../support/test.ts"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { makeBatchedStatement } from "../../src/storage/batches.ts"
import { runScoped } from "../support/effect.ts"

/**
 * Statements batched across calls (what Postgres runs for every call's creation, claim, end and status): a request
 * that finds nothing under way goes out alone at once; what comes while a statement is out goes in the next one; each
 * caller gets its own answer; a bad input fails only its own caller; nothing queued is lost at shutdown.
 */

interface Input {
  readonly key: string
  readonly value: number
}

/** A statement that doubles values, records each batch it was given, and holds its first batch until `release`. */
const fakeStatement = Effect.gen(function*() {
  const batches: Array<Array<number>> = []
  const firstStarted = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const execute = (inputs: ReadonlyArray<Input>) =>
    Effect.gen(function*() {
      batches.push(inputs.map((input) => input.value))
      if (batches.length === 1) {
        yield* Deferred.succeed(firstStarted, undefined)
        yield* Deferred.await(release)
      }
      if (inputs.some((input) => input.value < 0)) return yield* Effect.die(new Error("a bad row fails the statement"))
      return inputs.map((input) => input.value * 2)
    })
  const statement = yield* makeBatchedStatement({ key: (input: Input) => input.key, execute })
  return { statement, batches, firstStarted, release }
})

/** Yields until every fiber waits (its request queued behind the statement under way). */
const allWaiting = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
  Effect.gen(function*() {
    for (let tries = 0; tries < 10_000; tries++) {
      const statuses = yield* Effect.forEach(fibers, (fiber) => fiber.status)
      if (statuses.every((status) => status._tag === "Suspended")) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.die(new Error("the requests never queued"))
  })

describe("statements batched across calls", () => {
  test("a lone request goes out at once; the 50 that come while it is out share the next statement, each with its own answer", async () => {
    const result = await runScoped(Effect.gen(function*() {
      const { batches, firstStarted, release, statement } = yield* fakeStatement
      const first = yield* Effect.fork(statement.run({ key: "call-0", value: 0 }))
      yield* Deferred.await(firstStarted)
      const rest = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i + 1), (value) =>
        Effect.fork(statement.run({ key: `call-${value}`, value })))
      yield* allWaiting(rest)
      yield* Deferred.succeed(release, undefined)
      const answers = [yield* Fiber.join(first), ...(yield* Effect.forEach(rest, Fiber.join))]
      return { answers, batches }
    }))
    expect(result.batches).toEqual([[0], Array.from({ length: 50 }, (_, i) => i + 1)])
    expect(result.answers).toEqual(Array.from({ length: 51 }, (_, i) => i * 2))
  })

  test("two requests for the same row never share a statement, and the later runs after the earlier", async () => {
    const batches = await runScoped(Effect.gen(function*() {
      const { batches, firstStarted, release, statement } = yield* fakeStatement
      const first = yield* Effect.fork(statement.run({ key: "held", value: 0 }))
      yield* Deferred.await(firstStarted)
      const queued = yield* Effect.forEach(
        [{ key: "a", value: 1 }, { key: "b", value: 2 }, { key: "a", value: 3 }, { key: "c", value: 4 }, { key: "a", value: 5 }],
        (input) => Effect.fork(statement.run(input))
      )
      yield* allWaiting(queued)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      expect(yield* Effect.forEach(queued, Fiber.join)).toEqual([2, 4, 6, 8, 10])
      return batches
    }))
    expect(batches).toEqual([[0], [1, 2, 4], [3], [5]])
  })

  test("a statement that fails is replayed one request at a time: only the bad one's caller fails", async () => {
    const result = await runScoped(Effect.gen(function*() {
      const { batches, firstStarted, release, statement } = yield* fakeStatement
      const first = yield* Effect.fork(statement.run({ key: "held", value: 0 }))
      yield* Deferred.await(firstStarted)
      const queued = yield* Effect.forEach([1, -2, 3], (value) => Effect.fork(statement.run({ key: `call${value}`, value })))
      yield* allWaiting(queued)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      const exits = yield* Effect.forEach(queued, Fiber.await)
      return { exits, batches }
    }))
    expect(result.batches).toEqual([[0], [1, -2, 3], [1], [-2], [3]])
    expect(result.exits.map((exit) => Exit.isSuccess(exit) ? exit.value : "failed")).toEqual([2, "failed", 6])
  })

  test("requests still queued when the server stops are run, not dropped", async () => {
    const result = await runScoped(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { batches, firstStarted, release, statement } = yield* Scope.extend(fakeStatement, scope)
      const first = yield* Effect.fork(statement.run({ key: "held", value: 0 }))
      yield* Deferred.await(firstStarted)
      const queued = yield* Effect.forEach([1, 2], (value) => Effect.fork(statement.run({ key: `call${value}`, value })))
      yield* allWaiting(queued)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(closing)
      return { answers: [yield* Fiber.join(first), ...(yield* Effect.forEach(queued, Fiber.join))], batches }
    }))
    expect(result.answers).toEqual([0, 2, 4])
    // The worker may take them together before it stops, or the shutdown runs each alone: none is lost either way.
    expect(result.batches.slice(1).flat().sort()).toEqual([1, 2])
  })
})
