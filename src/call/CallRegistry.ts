import { Duration, Effect, Fiber, FiberMap, Queue, Runtime } from "effect"
import { CallSessions, type CallChannel } from "./CallSession.ts"
import { LiveCalls, type ReportedEnd } from "./LiveCalls.ts"

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
    const live = yield* LiveCalls
    let draining = false
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
          sessions.run(socket, inbox, connectionId).pipe(
            Effect.ensuring(Effect.sync(() => {
              inboxes.delete(connectionId)
              sockets.delete(connectionId)
              live.forgetConnection(connectionId)
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
      live.socketGone(connectionId)
      runFork(FiberMap.remove(fibers, connectionId))
    }

    /**
     * Ends the session serving a call, if this process has one: Twilio told us (connect action) that
     * the session is over while our side may still hold a half-open socket. Waits for its finaliser.
     */
    const endCall = (callId: string, how: ReportedEnd) =>
      Effect.suspend(() => {
        const connectionId = live.ownerOf(callId)
        if (connectionId === undefined) return Effect.void
        const socket = sockets.get(connectionId)
        live.report(callId, how)
        live.socketGone(connectionId)
        return Effect.zipRight(FiberMap.remove(fibers, connectionId), Effect.sync(() => socket?.close(1001, "session ended"))).pipe(
          Effect.ensuring(Effect.sync(() => live.forgetReport(callId)))
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
        live.startCutting()
        // All at once: each cut call says a sentence before it ends, one after another would not fit
        // in the kill timeout.
        yield* Fiber.interruptAll(Array.from(fibers, ([, fiber]) => fiber))
        yield* FiberMap.clear(fibers)
        return { active, cut }
      })

    const hasCall = live.isLive

    return { open, deliver, close, endCall, drain, activeCount, hasCall, isAccepting: () => !draining } as const
  })
}) {}
