import type { EndReason, Outcome } from "./vocabulary.ts"

/**
 * A call's state, one value owned by its session and changed only by the transitions below. (The transcript
 * lives in transcript.ts; what is running — a turn, the journal — in the session's fibers.)
 */
export type Phase =
  /** Taking prompts, barge-ins and keys. */
  | { readonly _tag: "Live" }
  /** Saying its last sentence before `end` (a transfer or a goodbye): prompts and barge-ins no longer cancel it. */
  | { readonly _tag: "Ending"; readonly reason: "transfer" | "agent_hangup"; readonly endSent: boolean }
  /** Sent `end` to be resumed on a new relay session (another instance, during a deploy): not finalised here. */
  | { readonly _tag: "Moving"; readonly why: "deploy" }

export interface CallState {
  phase: Phase
  /** Turns in a row that ended in an apology: the second one hands over instead. */
  failedTurns: number
  /** Everything the call achieved so far; the outcome is decided from it (decideOutcome). */
  readonly outcomes: Set<Outcome>
}

export const MAX_FAILED_TURNS = 2

export const initialState = (): CallState => ({ phase: { _tag: "Live" }, failedTurns: 0, outcomes: new Set() })

export const isLive = (state: CallState) => state.phase._tag === "Live"

/** The session goes on to its end: from now on it only finishes what it is saying. */
export const startEnding = (state: CallState, reason: "transfer" | "agent_hangup") => {
  state.phase = { _tag: "Ending", reason, endSent: false }
}

export const endSent = (state: CallState) => {
  if (state.phase._tag === "Ending") state.phase = { ...state.phase, endSent: true }
}

/** At a pause (nothing said or running), the call leaves this instance; the new session goes on from the transcript. */
export const startMoving = (state: CallState) => {
  state.phase = { _tag: "Moving", why: "deploy" }
}

/** Whether the session may move now: live, no turn running (a booking under way completes first), the agent silent. */
export const atPause = (facts: { readonly phase: Phase; readonly turnRunning: boolean; readonly agentSpeaking: boolean }) =>
  facts.phase._tag === "Live" && !facts.turnRunning && !facts.agentSpeaking

/** A turn ended in an apology; returns whether the caller should now be handed over (or said goodbye to). */
export const turnFailed = (state: CallState): boolean => ++state.failedTurns >= MAX_FAILED_TURNS

export const turnSucceeded = (state: CallState) => {
  state.failedTurns = 0
}

/** Returns whether the outcome is new (and so worth storing now). */
export const noteOutcome = (state: CallState, outcome: Outcome): boolean => {
  if (state.outcomes.has(outcome)) return false
  state.outcomes.add(outcome)
  return true
}

/** Which end reason a finished session records: what the carrier reported, else what the session was doing. */
export const decideEndReason = (facts: {
  readonly phase: Phase
  /** Twilio told us (connect action) that its session failed: that wins. */
  readonly reportedByCarrier?: EndReason | undefined
  readonly shuttingDown: boolean
  /** The session stopped on a defect, not an interruption. */
  readonly failed: boolean
}): EndReason =>
  facts.reportedByCarrier ??
    (facts.phase._tag === "Ending"
      ? facts.phase.reason
      : facts.shuttingDown
      ? "shutdown"
      : facts.failed
      ? "error"
      : "caller_hangup")
