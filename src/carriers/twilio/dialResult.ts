/**
 * What the dial-result webhook does once the transfer's `<Dial>` is over, as a pure function (unit-tested in
 * test/unit/dial.result.test.ts). A transfer nobody answered is not a successful one: while the caller is still
 * on the line, the call goes on in a new relay session that takes a message — once, never in a loop.
 */
export type DialOver =
  /** The business picked up (the bridged call is over): the call ends as `transferred`. */
  | { readonly _tag: "Transferred" }
  /** Nobody answered and the caller waits: a new relay session offers to take a message. */
  | { readonly _tag: "TakeMessage" }
  /** Nobody answered and the caller is gone: the call ends as `abandoned`, nothing is said. */
  | { readonly _tag: "Abandoned" }
  /** Nobody answered, and a message was already offered (or the call was closed meanwhile): apologise, hang up. */
  | { readonly _tag: "Apologise" }

/** `DialCallStatus` values meaning nobody took the call (Twilio: no-answer, busy, failed, canceled). */
export const dialAnswered = (dialCallStatus: string) => dialCallStatus === "completed" || dialCallStatus === "answered"

export const decideDialOver = (facts: {
  readonly dialCallStatus: string
  readonly callInProgress: boolean
  readonly callEnded: boolean
  /** A session already reopened this call after an unanswered transfer. */
  readonly messageAlreadyOffered: boolean
}): DialOver => {
  if (dialAnswered(facts.dialCallStatus)) return { _tag: "Transferred" }
  if (!facts.callInProgress) return { _tag: "Abandoned" }
  if (facts.callEnded || facts.messageAlreadyOffered) return { _tag: "Apologise" }
  return { _tag: "TakeMessage" }
}
