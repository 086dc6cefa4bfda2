import type * as Either from "effect/Either"

/**
 * What a call hears from the caller's carrier, whatever the carrier: the seam between a carrier folder
 * (src/carriers/twilio for ConversationRelay) and the call core. A second ConversationRelay-style carrier
 * decodes its own frames into these and implements CallChannel; nothing in src/call changes.
 */
export type CallEvent =
  | {
    readonly _tag: "SessionStarted"
    readonly callSid: string
    readonly sessionId: string
    readonly callStatus: string
    /** What we put in the answer to the incoming call (our call id), echoed by the carrier. */
    readonly parameters: Readonly<Record<string, string>>
  }
  | { readonly _tag: "CallerSaid"; readonly text: string; readonly final: boolean; readonly lang?: string | undefined }
  | { readonly _tag: "CallerInterrupted"; readonly heard: string; readonly durationMs?: number | undefined }
  | { readonly _tag: "KeyPressed"; readonly digit: string }
  | { readonly _tag: "AgentSpeech"; readonly speaking: boolean }
  | { readonly _tag: "CarrierError"; readonly description: string }
  /** A frame with nothing in it for the call (an `info` event we do not use). */
  | { readonly _tag: "Nothing" }

/** One frame, decoded: the event, and the frame's own type name for the metrics. */
export interface DecodedFrame {
  readonly event: CallEvent
  readonly frameType: string
}

export interface UndecodableFrame {
  readonly _tag: "UndecodableFrame"
  /** The frame's `type` when it was JSON with one, for metrics and call events. */
  readonly type: string
  readonly reason: string
}

/**
 * What the session says to the carrier, and how it reads the carrier's frames. Plain synchronous functions:
 * `speak` is on the hot path.
 */
export interface CallChannel {
  readonly decode: (raw: string) => Either.Either<DecodedFrame, UndecodableFrame>
  /** Says `text` (a token of a reply, or a whole sentence); `last` closes the reply. */
  readonly speak: (text: string, last: boolean) => void
  /** Ends the session; the carrier then asks us what to do (dial the business or hang up). */
  readonly end: (handoff: Handoff) => void
  readonly close: (code: number, reason: string) => void
}

/**
 * What a session's inbox holds: the carrier's frames as received, then — when the socket closes — this marker, so
 * that a hang-up ends the session through its frame loop (nothing to interrupt, nothing to unwind). A frame is a
 * string: no caller can send the marker.
 */
export const SOCKET_CLOSED: unique symbol = Symbol("socket closed")
export type Inbound = string | typeof SOCKET_CLOSED

export interface Handoff {
  /** `resume`: the call goes on on a new relay session (the connect action answers a new <Connect>). */
  readonly reason: "transfer" | "hangup" | "unknown_call" | "resume"
  readonly callId?: string
}
