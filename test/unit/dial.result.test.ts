import { describe, expect, test } from "../support/test.ts"
import { decideDialOver } from "../../src/carriers/twilio/dialResult.ts"

const facts = { dialCallStatus: "no-answer", callInProgress: true, callEnded: false, messageAlreadyOffered: false } as const

describe("after the transfer's <Dial>", () => {
  test("the business answered: the call ends as transferred, whatever else is true", () => {
    expect(decideDialOver({ ...facts, dialCallStatus: "completed" })._tag).toBe("Transferred")
    expect(decideDialOver({ ...facts, dialCallStatus: "answered", callInProgress: false })._tag).toBe("Transferred")
  })

  test("nobody answered (no-answer, busy, failed, canceled) and the caller waits: a new session takes a message", () => {
    for (const dialCallStatus of ["no-answer", "busy", "failed", "canceled"]) {
      expect(decideDialOver({ ...facts, dialCallStatus })._tag).toBe("TakeMessage")
    }
  })

  test("nobody answered and the caller hung up meanwhile: abandoned, nothing reopened", () => {
    expect(decideDialOver({ ...facts, callInProgress: false })._tag).toBe("Abandoned")
  })

  test("never a loop: a message already offered, or a call already closed, gets an apology and a hang-up", () => {
    expect(decideDialOver({ ...facts, messageAlreadyOffered: true })._tag).toBe("Apologise")
    expect(decideDialOver({ ...facts, callEnded: true })._tag).toBe("Apologise")
  })
})
