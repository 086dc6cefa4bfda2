import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Instance } from "../cluster/Instance.ts"
import { DatabaseBackend } from "../storage/DatabaseBackend.ts"
import { CallSessions, type CallChannel } from "./CallSession.ts"
import { type Inbound, SOCKET_CLOSED } from "./events.ts"
import { LiveCalls, type ReportedEnd } from "./LiveCalls.ts"

/** Instances tell each other "end your session of this call" here (Postgres LISTEN/NOTIFY; SQLite in-process). */
export const CALL_END_CHANNEL = "coccinelle_call_end"
const CallEndNotice = Schema.Struct({
  callId: Schema.String,
  /** The instance whose session is over; a new session of the call, elsewhere or begun since, is left alone. */
  holder: Schema.String,
  end: Schema.Union(
    Schema.Struct({ endReason: Schema.Literal("socket_failed"), outcome: Schema.Literal("transferred", "abandoned") }),
    Schema.Struct({ endReason: Schema.Literal("resumed") })
  )
})
/** A relay socket must send its setup frame within this time, or it is closed (checked every SETUP_CHECK_EVERY). */
const SETUP_TIMEOUT = Duration.seconds(10)
const SETUP_CHECK_EVERY = Duration.seconds(1)
/** Closes that are someone's decision: a hang-up or our `end` (1000), ours (1001 stopping, 1008 refused, 1009 too large). */
const DELIBERATE_CLOSE_CODES = new Set([1000, 1001, 1005, 1008, 1009])

const decodeNotice = Schema.decodeUnknownOption(Schema.parseJson(CallEndNotice))
const encodeNotice = Schema.encodeSync(Schema.parseJson(CallEndNotice))

/**
 * The live relay sockets of this process, one call fiber each. The server adapter opens, feeds
 * and closes them; the registry closes those that never send a frame; shutdown drains them. Connection ids are
 * ours (one per socket), not call SIDs.
 */
export class CallRegistry extends Effect.Service<CallRegistry>()("app/CallRegistry", {
  scoped: Effect.gen(function*() {
    const sessions = yield* CallSessions
    const fibers = yield* FiberMap.make<string>()
    const inboxes = new Map<string, Queue.Queue<Inbound>>()
    const sockets = new Map<string, CallChannel>()
    /** Connections whose socket is gone: their session must not try to speak any more. */
    const live = yield* LiveCalls
    const instance = yield* Instance
    const backend = yield* DatabaseBackend
    let draining = false
    const runtime = yield* Effect.runtime<never>()
    const runSync = Runtime.runSync(runtime)
    const runFork = Runtime.runFork(runtime)
    const clock = yield* Effect.clock
    /** Sockets that have not sent a frame yet, with when they opened. */
    const silentSince = new Map<string, number>()

    /** Called from the socket's `open`: starts the call fiber. */
    const open = (connectionId: string, socket: CallChannel): void => {
      const inbox = runSync(Queue.unbounded<Inbound>())
      inboxes.set(connectionId, inbox)
      sockets.set(connectionId, socket)
      silentSince.set(connectionId, clock.unsafeCurrentTimeMillis())
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
      silentSince.delete(connectionId)
      const inbox = inboxes.get(connectionId)
      if (inbox) Queue.unsafeOffer(inbox, frame)
    }

    /**
     * Called from the socket's `close`: the hang-up cancels everything the call started. Twilio closes with 1000
     * (a hang-up, or after our `end`); a code outside DELIBERATE_CLOSE_CODES means the connection dropped.
     */
    const close = (connectionId: string, code?: number): void => {
      silentSince.delete(connectionId)
      if (code !== undefined && !DELIBERATE_CLOSE_CODES.has(code)) live.socketDropped(connectionId, code)
      live.socketGone(connectionId)
      const inbox = inboxes.get(connectionId)
      // The session reads that its socket is gone and ends on its own, however far it got (its setup included).
      if (inbox !== undefined) Queue.unsafeOffer(inbox, SOCKET_CLOSED)
      else runFork(FiberMap.remove(fibers, connectionId))
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

    /**
     * Ends the call's session wherever it runs: here, or on the instance holding it (told through the database),
     * which then finalises it — or hands it over, for a resume — as `how` says. Does not wait for another instance.
     */
    const endCallAnywhere = (callId: string, how: ReportedEnd, holder: Option.Option<string>) =>
      live.ownerOf(callId) !== undefined
        ? endCall(callId, how)
        : Option.isSome(holder) && holder.value !== instance.id
        ? backend.notify(CALL_END_CHANNEL, encodeNotice({ callId, holder: holder.value, end: how }))
        : Effect.void

    // One timer for every socket: a session waits for its first frame without a race of its own, and a socket
    // that never sends one (a replayed handshake) cannot hold a connection open until the idle timeout. Its session
    // ends as on any hang-up, without waiting for the edge to report the close.
    const closeSilentSockets = Effect.suspend(() => {
      const openedBefore = clock.unsafeCurrentTimeMillis() - Duration.toMillis(SETUP_TIMEOUT)
      const silent = Array.from(silentSince).filter(([, openedAt]) => openedAt <= openedBefore)
      for (const [connectionId] of silent) {
        sockets.get(connectionId)?.close(1008, "setup expected")
        close(connectionId)
      }
      return silent.length === 0
        ? Effect.void
        : Effect.logWarning("relay sockets sent no setup frame; closed").pipe(Effect.annotateLogs("sockets", silent.length))
    })
    yield* Effect.forkScoped(Effect.repeat(closeSilentSockets, Schedule.spaced(SETUP_CHECK_EVERY)))

    yield* Effect.forkScoped(
      backend.listen(CALL_END_CHANNEL).pipe(
        Stream.runForEach((payload) =>
          Option.match(decodeNotice(payload), {
            onNone: () => Effect.logWarning("undecodable call-end notice"),
            // Every instance hears every notice, its sender too: only the holder's session is over.
            onSome: (notice) => notice.holder === instance.id ? endCall(notice.callId, notice.end) : Effect.void
          })
        ),
        Effect.catchAllCause((cause) => Effect.logError("call-end notices no longer heard", cause))
      )
    )

    const activeCount = Effect.suspend(() => FiberMap.size(fibers))

    /**
     * Stops taking calls, lets live ones finish up to `limit`, then ends the rest (reason `shutdown`).
     * Returns how many calls were live when it began and how many it had to cut.
     */
    const drain = (limit: Duration.DurationInput) =>
      Effect.gen(function*() {
        draining = true
        yield* instance.startDraining
        const active = yield* FiberMap.size(fibers)
        if (active > 0) {
          // Another instance is up: each live call moves there at its next pause instead of waiting here.
          const peers = yield* instance.peersUp
          if (peers > 0) yield* live.requestMoves
          yield* Effect.logInfo(peers > 0 ? "moving live calls to another instance" : "draining live calls").pipe(
            Effect.annotateLogs({ active, peers })
          )
        }
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

    return {
      open,
      deliver,
      close,
      endCall,
      endCallAnywhere,
      drain,
      activeCount,
      hasCall,
      isAccepting: () => !draining,
      behindFlyProxy: instance.behindFlyProxy,
      instanceId: instance.id
    } as const
  })
}) {}
