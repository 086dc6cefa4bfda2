import * as Duration from "effect/Duration"

/**
 * The timing rules of several instances on one database, and the decisions taken from them, as pure functions
 * (unit-tested in test/unit/cluster.decisions.test.ts).
 */

/** A live call's lease: renewed every RENEW_EVERY by the instance holding its socket. */
export const LEASE = Duration.seconds(6)
export const RENEW_EVERY = Duration.seconds(2)
/** Instances write a heartbeat this often; one silent for INSTANCE_GONE_AFTER is gone. */
export const HEARTBEAT_EVERY = Duration.seconds(2)
export const INSTANCE_GONE_AFTER = Duration.seconds(8)
/** A call between two relay sessions (being resumed) is left alone this long before recovery may close it. */
export const MOVE_GRACE = Duration.seconds(30)
/** A call answered but never connected (no owner yet) is left alone this long. */
export const CONNECT_GRACE = Duration.seconds(60)
/** A call whose socket dropped again this soon after a resume is handed over, so it can never loop. */
export const RESUME_AGAIN_AFTER = Duration.seconds(60)
/** How often calls left open by a dead instance are looked for. */
export const RECOVER_EVERY = Duration.seconds(30)
/** A claimed post-call summary (renewed at each attempt): one Claude request and the backoff before the next. */
export const SUMMARY_CLAIM = Duration.minutes(3)

export const isoAfter = (nowMs: number, duration: Duration.Duration) => new Date(nowMs + Duration.toMillis(duration)).toISOString()

/** Whether a lease written as an ISO instant is over at `nowMs`. */
export const leaseExpired = (leaseUntil: string, nowMs: number): boolean => Date.parse(leaseUntil) <= nowMs

/**
 * Our socket dropped (Twilio's connect action: `SessionStatus=failed`, call still in progress): resume the call
 * on a new relay session, unless it was already resumed after a drop a short while ago (then hand it over).
 */
export const afterDrop = (facts: { readonly lastDropResumedAt: string | null; readonly nowMs: number }): "resume" | "hand_over" =>
  facts.lastDropResumedAt !== null && facts.nowMs - Date.parse(facts.lastDropResumedAt) < Duration.toMillis(RESUME_AGAIN_AFTER)
    ? "hand_over"
    : "resume"

/** Twilio's error code when the relay WebSocket it had with us ended without an `end` (our socket dropped). */
export const SOCKET_DROPPED = "64105"

/** What the connect action does once the relay session is over. */
export type SessionOver =
  | { readonly _tag: "Resume"; readonly why: "deploy" | "socket_dropped" }
  | { readonly _tag: "Dial" }
  | { readonly _tag: "DropHandOver" }
  | { readonly _tag: "Hangup" }

export const decideSessionOver = (facts: {
  readonly sessionStatus: string
  readonly callInProgress: boolean
  readonly handoffReason: string | null
  readonly errorCode: string | null
  readonly callEnded: boolean
  readonly hasTransferNumber: boolean
  readonly lastDropResumedAt: string | null
  readonly nowMs: number
}): SessionOver => {
  if (!facts.callInProgress) return { _tag: "Hangup" }
  if (facts.sessionStatus === "ended" && facts.handoffReason === "resume" && !facts.callEnded) {
    return { _tag: "Resume", why: "deploy" }
  }
  if (facts.sessionStatus === "ended" && facts.handoffReason === "transfer" && facts.hasTransferNumber) return { _tag: "Dial" }
  if (facts.sessionStatus === "failed") {
    // Only our socket dropping (64105 "Websocket ended") is resumed: after another failure (39001, Twilio could
    // not reach us at all; 64107, a frame it refused) a new session would most likely fail the same way. A call
    // already finalised here (our side took the drop for a hang-up) is not reopened either: it is put through.
    if (facts.callEnded || facts.errorCode !== SOCKET_DROPPED) return { _tag: "DropHandOver" }
    return afterDrop(facts) === "resume" ? { _tag: "Resume", why: "socket_dropped" } : { _tag: "DropHandOver" }
  }
  return { _tag: "Hangup" }
}
