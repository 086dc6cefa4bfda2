import { Chunk, Effect, Layer, Queue, TestClock } from "effect"
import { describe, expect, test } from "../support/test.ts"
import { CallRegistry } from "../../src/call/CallRegistry.ts"
import { CallSessions, type CallChannel } from "../../src/call/CallSession.ts"
import { type Inbound, SOCKET_CLOSED } from "../../src/call/events.ts"
import { LiveCalls } from "../../src/call/LiveCalls.ts"
import { CallOwners } from "../../src/cluster/CallOwners.ts"
import { Instance } from "../../src/cluster/Instance.ts"
import { decodeCallEvent } from "../../src/carriers/twilio/frames.ts"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { testDatabase } from "../support/db.ts"
import { runWith } from "../support/effect.ts"

/**
 * The registry on the TestClock, with a session that only reads its frames until its socket closes: what the
 * registry alone decides about a socket (the call itself is call.lifecycle's).
 */
const readFramesUntilClosed = (inbound: Queue.Dequeue<Inbound>): Effect.Effect<void> =>
  Effect.flatMap(Queue.take(inbound), (frame) => frame === SOCKET_CLOSED ? Effect.void : readFramesUntilClosed(inbound))
const sessionReadingFrames = Layer.succeed(CallSessions, CallSessions.make({
  run: (_socket: CallChannel, inbound: Queue.Dequeue<Inbound>) => readFramesUntilClosed(inbound)
} as unknown as CallSessions))

const registryLayer = CallRegistry.Default.pipe(
  Layer.provide(sessionReadingFrames),
  Layer.provide(LiveCalls.Default),
  Layer.provide(CallOwners.Default),
  Layer.provide(CallsRepo.Default),
  Layer.provideMerge(Instance.Default),
  Layer.provideMerge(testDatabase())
)

/** A socket as the edge hands it over; `closed` is what the server closed it with. */
const fakeSocket = () => {
  const closed: Array<{ code: number; reason: string }> = []
  const socket: CallChannel = { decode: decodeCallEvent, speak: () => {}, end: () => {}, close: (code, reason) => closed.push({ code, reason }) }
  return { socket, closed }
}

/** Moves the TestClock once the registry's check is waiting on it (it starts with the layer, on its own fiber). */
const advance = (millis: number) =>
  Effect.gen(function*() {
    while (Chunk.isEmpty(yield* TestClock.sleeps())) yield* Effect.yieldNow()
    yield* TestClock.adjust(millis)
  })

const SETUP_TIMEOUT_MS = 10_000

describe("the relay sockets the registry holds", () => {
  test("a socket that sends nothing is closed with 1008 once 10 s have passed, and its session ends", async () => {
    const seen = await runWith(Effect.gen(function*() {
      const registry = yield* CallRegistry
      const silent = fakeSocket()
      registry.open("connection-1", silent.socket)
      const afterOpening = yield* registry.activeCount
      yield* advance(SETUP_TIMEOUT_MS - 1_000)
      const closedBefore = [...silent.closed]
      yield* advance(1_000)
      // Its session ends without waiting for the edge's close callback.
      while ((yield* registry.activeCount) > 0) yield* Effect.yieldNow()
      return { afterOpening, closedBefore, closedAfter: silent.closed }
    }), registryLayer, { testClock: true })
    expect(seen.afterOpening).toBe(1)
    expect(seen.closedBefore).toEqual([])
    expect(seen.closedAfter).toEqual([{ code: 1008, reason: "setup expected" }])
  })

  test("control: a socket that sent its first frame in time is never closed by the setup check", async () => {
    const seen = await runWith(Effect.gen(function*() {
      const registry = yield* CallRegistry
      const talking = fakeSocket()
      registry.open("connection-2", talking.socket)
      yield* advance(2_000)
      registry.deliver("connection-2", JSON.stringify({ type: "setup", callSid: "CA1", customParameters: {} }))
      yield* advance(SETUP_TIMEOUT_MS * 3)
      return { closed: talking.closed, active: yield* registry.activeCount }
    }), registryLayer, { testClock: true })
    expect(seen).toEqual({ closed: [], active: 1 })
  })
})
