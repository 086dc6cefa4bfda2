import { Effect } from "effect"
import type { EndReason, Outcome } from "./vocabulary.ts"

/** How a call ended when the carrier, not our socket, told us (Twilio's session failed and was put through). */
export interface ReportedEnd {
  readonly endReason: Extract<EndReason, "socket_failed">
  readonly outcome: Extract<Outcome, "transferred" | "abandoned">
}

/**
 * What the sessions and the registry (and the webhooks) share about live calls: which connection owns a call,
 * which sockets are gone, what the carrier reported, whether a deploy is cutting calls. One small service, so
 * ownership can move into the database (a lease per call, for several instances) without touching either side.
 * This process's implementation: memory, one owner per call.
 */
export class LiveCalls extends Effect.Service<LiveCalls>()("app/LiveCalls", {
  sync: () => {
    const owners = new Map<string, string>()
    const goneSockets = new Set<string>()
    const reported = new Map<string, ReportedEnd>()
    let cutting = false
    return {
      /** Takes the call for this connection; false when another session already has it. */
      claim: (callId: string, connectionId: string) =>
        Effect.sync(() => {
          if (owners.has(callId)) return false
          owners.set(callId, connectionId)
          return true
        }),
      /** The session let go of the call (after its finalisation). */
      release: (callId: string, connectionId: string) =>
        Effect.sync(() => {
          if (owners.get(callId) === connectionId) owners.delete(callId)
        }),
      /** Whether a session serves the call now (a status callback then leaves its end to the session). */
      isLive: (callId: string) => Effect.sync(() => owners.has(callId)),
      ownerOf: (callId: string): string | undefined => owners.get(callId),
      /** The connection's socket is gone (hang-up, or the carrier gave up on it): nothing more can be said. */
      socketGone: (connectionId: string) => {
        goneSockets.add(connectionId)
      },
      isSocketGone: (connectionId: string) => goneSockets.has(connectionId),
      forgetConnection: (connectionId: string) => {
        goneSockets.delete(connectionId)
      },
      report: (callId: string, end: ReportedEnd) => {
        reported.set(callId, end)
      },
      reportedEnd: (callId: string): ReportedEnd | undefined => reported.get(callId),
      forgetReport: (callId: string) => {
        reported.delete(callId)
      },
      /** The drain limit was reached: calls cut now end with reason `shutdown`. */
      startCutting: () => {
        cutting = true
      },
      isCutting: () => cutting
    }
  }
}) {}
