import { describe, expect, test } from "../support/test.ts"
import { Duration } from "effect"
import { afterDrop, decideSessionOver, leaseExpired, RESUME_AGAIN_AFTER } from "../../src/cluster/decisions.ts"
import { atPause, initialState, startEnding, startMoving } from "../../src/call/state.ts"

const NOW = Date.parse("2026-11-30T10:00:00.000Z")
const ago = (ms: number) => new Date(NOW - ms).toISOString()

const facts = {
  sessionStatus: "failed",
  callInProgress: true,
  handoffReason: null,
  errorCode: "64105",
  callEnded: false,
  hasTransferNumber: true,
  lastDropResumedAt: null,
  nowMs: NOW
} as const

describe("leases", () => {
  test("a lease is over at its instant, not a millisecond before", () => {
    expect(leaseExpired(new Date(NOW + 1).toISOString(), NOW)).toBe(false)
    expect(leaseExpired(new Date(NOW).toISOString(), NOW)).toBe(true)
    expect(leaseExpired(ago(5_000), NOW)).toBe(true)
  })
})

describe("resume or transfer after our socket dropped", () => {
  test("a first drop is resumed; a drop soon after a resume is handed over (no loop); a drop long after is resumed again", () => {
    expect(afterDrop({ lastDropResumedAt: null, nowMs: NOW })).toBe("resume")
    expect(afterDrop({ lastDropResumedAt: ago(5_000), nowMs: NOW })).toBe("hand_over")
    expect(afterDrop({ lastDropResumedAt: ago(Duration.toMillis(RESUME_AGAIN_AFTER) + 1), nowMs: NOW })).toBe("resume")
  })

  test("the connect action: 64105 in progress → resume; again soon → hand over; a call already finalised here → hand over", () => {
    expect(decideSessionOver(facts)).toEqual({ _tag: "Resume", why: "socket_dropped" })
    expect(decideSessionOver({ ...facts, lastDropResumedAt: ago(1_000) })).toEqual({ _tag: "DropHandOver" })
    expect(decideSessionOver({ ...facts, callEnded: true })).toEqual({ _tag: "DropHandOver" })
    // Twilio could not reach us at all (39001): a new session would fail the same way.
    expect(decideSessionOver({ ...facts, errorCode: "39001" })).toEqual({ _tag: "DropHandOver" })
  })

  test("a resume handoff (deploy) is resumed even right after a drop; a transfer dials; the caller gone hangs up", () => {
    const ended = { ...facts, sessionStatus: "ended", errorCode: null }
    expect(decideSessionOver({ ...ended, handoffReason: "resume", lastDropResumedAt: ago(1_000) })).toEqual({ _tag: "Resume", why: "deploy" })
    expect(decideSessionOver({ ...ended, handoffReason: "transfer" })).toEqual({ _tag: "Dial" })
    expect(decideSessionOver({ ...ended, handoffReason: "transfer", hasTransferNumber: false })).toEqual({ _tag: "Hangup" })
    expect(decideSessionOver({ ...ended, handoffReason: "hangup" })).toEqual({ _tag: "Hangup" })
    expect(decideSessionOver({ ...ended, handoffReason: "resume", callInProgress: false })).toEqual({ _tag: "Hangup" })
    expect(decideSessionOver({ ...facts, callInProgress: false })).toEqual({ _tag: "Hangup" })
  })
})

describe("the pause a call moves at", () => {
  test("live, no turn running, the agent silent; never while a turn runs, the agent speaks, or the call is ending", () => {
    const state = initialState()
    expect(atPause({ phase: state.phase, turnRunning: false, agentSpeaking: false })).toBe(true)
    expect(atPause({ phase: state.phase, turnRunning: true, agentSpeaking: false })).toBe(false)
    expect(atPause({ phase: state.phase, turnRunning: false, agentSpeaking: true })).toBe(false)
    startEnding(state, "transfer")
    expect(atPause({ phase: state.phase, turnRunning: false, agentSpeaking: false })).toBe(false)
    const moving = initialState()
    startMoving(moving)
    expect(atPause({ phase: moving.phase, turnRunning: false, agentSpeaking: false })).toBe(false)
  })
})
