import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { CallOwners } from "../cluster/CallOwners.ts"
import { RENEW_EVERY } from "../cluster/decisions.ts"
import { Instance } from "../cluster/Instance.ts"
import type { EndReason, Outcome } from "./vocabulary.ts"

/**
 * How a call ended when the carrier, not our socket, told us: Twilio's session failed and was put through,
 * or the call is being resumed on a new relay session (perhaps on another instance).
 */
export type ReportedEnd =
  | {
    readonly endReason: Extract<EndReason, "socket_failed">
    readonly outcome: Extract<Outcome, "transferred" | "abandoned">
  }
  | { readonly endReason: "resumed" }

/**
 * What the sessions and the registry (and the webhooks) share about live calls: which connection owns a call
 * (here, and in the database under a lease renewed every RENEW_EVERY, so every instance refuses a second
 * socket), which sockets are gone, what the carrier reported, whether a deploy moves or cuts calls.
 */
export class LiveCalls extends Effect.Service<LiveCalls>()("app/LiveCalls", {
  scoped: Effect.gen(function*() {
    const owners = yield* CallOwners
    const instance = yield* Instance
    const local = new Map<string, string>()
    const goneSockets = new Set<string>()
    /** Sockets that closed without a normal close code (the network dropped them): close code by connection. */
    const droppedSockets = new Map<string, number>()
    const reported = new Map<string, ReportedEnd>()
    const movers = new Set<() => void>()
    let cutting = false
    let moving = false

    yield* Effect.forkScoped(
      Effect.repeat(
        owners.renew(instance.id).pipe(Effect.catchAllCause((cause) => Effect.logWarning("call leases not renewed", cause))),
        Schedule.spaced(RENEW_EVERY)
      )
    )

    return {
      instanceId: instance.id,
      /**
       * The call a relay session names by its SID, taken for this connection when it is `callId` and still open:
       * `held` is false when it was not taken, or another session (on any instance) already has it; `firstSession`
       * when no session had it before (nothing to resume).
       */
      claimBySid: Effect.fnUntraced(function*(callSid: string, callId: string, connectionId: string) {
        const found = yield* owners.findAndClaim(callSid, local.has(callId) ? undefined : callId, instance.id)
        if (Option.isSome(found) && found.value.held) local.set(found.value.call.id, connectionId)
        return found
      }),
      /** The session let go of the call (after its finalisation). */
      release: (callId: string, connectionId: string) =>
        Effect.suspend(() => {
          if (local.get(callId) !== connectionId) return Effect.void
          local.delete(callId)
          return owners.release(callId, instance.id)
        }),
      /** The session finalised the call, which ended its lease: nothing is left to release. */
      finalised: (callId: string, connectionId: string) => {
        if (local.get(callId) === connectionId) local.delete(callId)
      },
      /** The session ended to be resumed elsewhere: any instance may take the call's next socket. */
      handOver: (callId: string, connectionId: string) =>
        Effect.suspend(() => {
          if (local.get(callId) === connectionId) local.delete(callId)
          return owners.handOver(callId, { from: instance.id })
        }),
      /** Whether a session serves the call now, here or on another instance (a status callback then leaves it alone). */
      isLive: (callId: string) => local.has(callId) ? Effect.succeed(true) : owners.isHeld(callId),
      ownerOf: (callId: string): string | undefined => local.get(callId),
      /** The connection's socket is gone (hang-up, or the carrier gave up on it): nothing more can be said. */
      socketGone: (connectionId: string) => {
        goneSockets.add(connectionId)
      },
      isSocketGone: (connectionId: string) => goneSockets.has(connectionId),
      /** The socket closed abnormally (not a hang-up): the call waits for Twilio's connect action to resume it. */
      socketDropped: (connectionId: string, code: number) => {
        droppedSockets.set(connectionId, code)
      },
      droppedWith: (connectionId: string): number | undefined => droppedSockets.get(connectionId),
      forgetConnection: (connectionId: string) => {
        goneSockets.delete(connectionId)
        droppedSockets.delete(connectionId)
      },
      report: (callId: string, end: ReportedEnd) => {
        reported.set(callId, end)
      },
      reportedEnd: (callId: string): ReportedEnd | undefined => reported.get(callId),
      forgetReport: (callId: string) => {
        reported.delete(callId)
      },
      /** A deploy with another instance up: live calls move at their next pause. */
      requestMoves: Effect.sync(() => {
        moving = true
        for (const mover of movers) mover()
        movers.clear()
      }),
      /** Calls `start` when moves are asked for (once); returns how to take it back. */
      whenMovesRequested: (start: () => void): (() => void) => {
        movers.add(start)
        return () => movers.delete(start)
      },
      isMoving: () => moving,
      /** The drain limit was reached: calls cut now end with reason `shutdown`. */
      startCutting: () => {
        cutting = true
      },
      isCutting: () => cutting
    }
  })
}) {}
