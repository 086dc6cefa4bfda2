import { Duration, Effect, Fiber, FiberMap, Queue, Runtime } from "effect"
import { CallSessions, type CallChannel } from "./CallSession.ts"

/**
 * The live relay sockets of this process, one call fiber each. The server adapter opens, feeds
 * and closes them; shutdown drains them. Connection ids are ours (one per socket), not call SIDs.
 */
export class CallRegistry extends Effect.Service<CallRegistry>()("app/CallRegistry", {
  scoped: Effect.gen(function*() {
    const sessions = yield* CallSessions
    const fibers = yield* FiberMap.make<string>()
    const inboxes = new Map<string, Queue.Queue<string>>()
    const sockets = new Map<string, CallChannel>()
    /** Connections whose socket is gone: their session must not try to speak any more. */
    const closedConnections = new Set<string>()
    /** How a call's end was learnt from Twilio rather than from our socket (connect action). */
    const endOverrides = new Map<string, { readonly endReason: "socket_failed"; readonly outcome: "transferred" | "abandoned" }>()
    let draining = false
    /** Set only when the drain limit is reached: calls cut then end with reason `shutdown`. */
    let cutting = false
    /** Call id → the connection whose session owns it: one session per call, and a status callback
     * leaves the finalisation of a live call to its session. */
    const liveCalls = new Map<string, string>()
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)
    const runFork = Runtime.runFork(runtime)

    /** Called from the socket's `open`: starts the call fiber. */
    const open = (connectionId: string, socket: CallChannel): void => {
      const inbox = runSync(Queue.unbounded<string>())
      inboxes.set(connectionId, inbox)
      sockets.set(connectionId, socket)
      runSync(
        FiberMap.run(
          fibers,
          connectionId,
          sessions.run(socket, inbox, {
            shuttingDown: () => cutting,
            claim: (callId) => {
              if (liveCalls.has(callId)) return false
              liveCalls.set(callId, connectionId)
              return true
            },
            onGone: (callId) => {
              if (liveCalls.get(callId) === connectionId) liveCalls.delete(callId)
            },
            socketClosed: () => closedConnections.has(connectionId),
            endOverride: (callId) => endOverrides.get(callId)
          }).pipe(
            Effect.ensuring(Effect.sync(() => {
              inboxes.delete(connectionId)
              sockets.delete(connectionId)
              closedConnections.delete(connectionId)
            }))
          )
        )
      )
    }

    /** Called from the socket's `message`: frames keep their order through the queue. */
    const deliver = (connectionId: string, frame: string): void => {
      const inbox = inboxes.get(connectionId)
      if (inbox) Queue.unsafeOffer(inbox, frame)
    }

    /** Called from the socket's `close`: the hang-up cancels everything the call started. */
    const close = (connectionId: string): void => {
      closedConnections.add(connectionId)
      runFork(FiberMap.remove(fibers, connectionId))
    }

    /**
     * Ends the session serving a call, if this process has one: Twilio told us (connect action) that
     * the session is over while our side may still hold a half-open socket. Waits for its finaliser.
     */
    const endCall = (callId: string, how: { readonly endReason: "socket_failed"; readonly outcome: "transferred" | "abandoned" }) =>
      Effect.suspend(() => {
        const connectionId = liveCalls.get(callId)
        if (connectionId === undefined) return Effect.void
        const socket = sockets.get(connectionId)
        endOverrides.set(callId, how)
        closedConnections.add(connectionId)
        return Effect.zipRight(FiberMap.remove(fibers, connectionId), Effect.sync(() => socket?.close(1001, "session ended"))).pipe(
          Effect.ensuring(Effect.sync(() => endOverrides.delete(callId)))
        )
      })

    const activeCount = Effect.suspend(() => FiberMap.size(fibers))

    /**
     * Stops taking calls, lets live ones finish up to `limit`, then ends the rest (reason `shutdown`).
     * Returns how many calls were live when it began and how many it had to cut.
     */
    const drain = (limit: Duration.DurationInput) =>
      Effect.gen(function*() {
        draining = true
        const active = yield* FiberMap.size(fibers)
        if (active > 0) yield* Effect.logInfo("draining live calls").pipe(Effect.annotateLogs({ active }))
        // The drain runs in a release step, which is uninterruptible: the wait must opt back in
        // to interruption or the timeout could never cut it.
        yield* FiberMap.awaitEmpty(fibers).pipe(Effect.interruptible, Effect.timeout(limit), Effect.ignore)
        const cut = yield* FiberMap.size(fibers)
        cutting = true
        // All at once: each cut call says a sentence before it ends, one after another would not fit
        // in the kill timeout.
        yield* Fiber.interruptAll(Array.from(fibers, ([, fiber]) => fiber))
        yield* FiberMap.clear(fibers)
        return { active, cut }
      })

    const hasCall = (callId: string) => Effect.sync(() => liveCalls.has(callId))

    return { open, deliver, close, endCall, drain, activeCount, hasCall, isAccepting: () => !draining } as const
  })
}) {}
