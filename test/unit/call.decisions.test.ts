import { describe, expect, test } from "../support/test.ts"
import { decideEndReason, initialState, noteOutcome, startEnding, turnFailed, turnSucceeded } from "../../src/call/state.ts"
import { decideOutcome } from "../../src/call/vocabulary.ts"

/** The call's decisions, as pure functions: which outcome, which end reason, when to hand over. */

describe("which outcome", () => {
  test("nothing achieved: abandoned", () => {
    expect(decideOutcome(new Set())).toBe("abandoned")
  })
  test("the best of what was achieved: transferred over booked over information given", () => {
    expect(decideOutcome(new Set(["information_given"]))).toBe("information_given")
    expect(decideOutcome(new Set(["information_given", "booked"]))).toBe("booked")
    expect(decideOutcome(new Set(["booked", "transferred", "information_given"]))).toBe("transferred")
    expect(decideOutcome(new Set(["message_taken", "information_given"]))).toBe("message_taken")
  })
})

describe("which end reason", () => {
  const live = initialState().phase
  test("a socket that closes on a live call: the caller hung up", () => {
    expect(decideEndReason({ phase: live, shuttingDown: false, failed: false })).toBe("caller_hangup")
  })
  test("a session that died on a defect: error; cut by a deploy: shutdown", () => {
    expect(decideEndReason({ phase: live, shuttingDown: false, failed: true })).toBe("error")
    expect(decideEndReason({ phase: live, shuttingDown: true, failed: false })).toBe("shutdown")
  })
  test("a call already ending keeps why it was ending, even when the deploy cuts it", () => {
    const state = initialState()
    startEnding(state, "transfer")
    expect(decideEndReason({ phase: state.phase, shuttingDown: true, failed: false })).toBe("transfer")
    startEnding(state, "agent_hangup")
    expect(decideEndReason({ phase: state.phase, shuttingDown: false, failed: false })).toBe("agent_hangup")
  })
  test("what the carrier reported wins over everything", () => {
    const state = initialState()
    startEnding(state, "transfer")
    expect(decideEndReason({ phase: state.phase, reportedByCarrier: "socket_failed", shuttingDown: true, failed: true })).toBe("socket_failed")
  })
})

describe("transitions", () => {
  test("the second failed turn in a row hands over; a good turn in between resets the count", () => {
    const state = initialState()
    expect(turnFailed(state)).toBe(false)
    turnSucceeded(state)
    expect(turnFailed(state)).toBe(false)
    expect(turnFailed(state)).toBe(true)
  })
  test("an outcome is new once (then it is not stored again)", () => {
    const state = initialState()
    expect(noteOutcome(state, "booked")).toBe(true)
    expect(noteOutcome(state, "booked")).toBe(false)
    expect(decideOutcome(state.outcomes)).toBe("booked")
  })
})
