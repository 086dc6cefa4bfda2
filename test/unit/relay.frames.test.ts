import { describe, expect, test } from "../support/test.ts"
import { Either } from "effect"
import { Schema } from "effect"
import {
  decodeHotFrame,
  decodeInbound,
  encodeOutbound,
  encodeText,
  end,
  InboundFrame as InboundFrameSchema,
  type InboundFrame,
  type OutboundFrame,
  text
} from "../../src/carriers/twilio/frames.ts"
import { freshFixture, freshInboundFrames } from "../support/callHarness.ts"
import { describeWithFixtures, fixtureNames } from "../support/fixtures.ts"

/** The ConversationRelay codec: what Twilio sends must decode, what we send must be what Twilio accepts. */

const decoded = (frame: unknown): InboundFrame => {
  const result = decodeInbound(typeof frame === "string" ? frame : JSON.stringify(frame))
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(frame)} to decode: ${result.left.reason}`)
  return result.right
}
const rejected = (raw: string) => {
  const result = decodeInbound(raw)
  if (Either.isRight(result)) throw new Error(`expected ${raw} to be rejected, got ${JSON.stringify(result.right)}`)
  return result.left
}

describe("inbound frames", () => {
  test("setup: the documented fields, with defaults for those Twilio may leave out", () => {
    const setup = decoded({ type: "setup", sessionId: "VX1", callSid: "CA1" })
    expect(setup).toEqual({
      type: "setup",
      sessionId: "VX1",
      callSid: "CA1",
      accountSid: "",
      parentCallSid: "",
      from: "",
      to: "",
      forwardedFrom: "",
      callerName: "",
      direction: "",
      callType: "",
      callStatus: "",
      customParameters: {}
    })
    const full = decoded({
      type: "setup",
      sessionId: "VX1",
      callSid: "CA1",
      from: "+33612345678",
      to: "+33939035760",
      customParameters: { callId: "abc" },
      applicationSid: "AP1" // seen in one sample, not documented: tolerated
    })
    expect(full).toMatchObject({ from: "+33612345678", customParameters: { callId: "abc" } })
    expect("applicationSid" in full).toBe(false)
  })

  test("interrupt: durationUntilInterruptMs as a number, a numeric string or a decimal", () => {
    expect(decoded({ type: "interrupt", utteranceUntilInterrupt: "Bonjour", durationUntilInterruptMs: 460 })).toEqual({
      type: "interrupt",
      utteranceUntilInterrupt: "Bonjour",
      durationUntilInterruptMs: 460
    })
    expect(decoded({ type: "interrupt", utteranceUntilInterrupt: "Bon", durationUntilInterruptMs: "460" })).toMatchObject({
      durationUntilInterruptMs: 460
    })
    expect(decoded({ type: "interrupt", utteranceUntilInterrupt: "", durationUntilInterruptMs: 12.5 })).toMatchObject({
      durationUntilInterruptMs: 12.5
    })
    // "possibly empty": a barge-in before the first word was heard
    expect(decoded({ type: "interrupt" })).toEqual({ type: "interrupt", utteranceUntilInterrupt: "" })
    expect(rejected(JSON.stringify({ type: "interrupt", utteranceUntilInterrupt: "x", durationUntilInterruptMs: "soon" })).type).toBe(
      "interrupt"
    )
  })

  test("prompt: last defaults to true; partials keep last:false; unknown fields are ignored", () => {
    expect(decoded({ type: "prompt", voicePrompt: "Bonjour", lang: "fr-FR" })).toEqual({
      type: "prompt",
      voicePrompt: "Bonjour",
      lang: "fr-FR",
      last: true
    })
    expect(decoded({ type: "prompt", voicePrompt: "Bon", last: false, confidence: 0.9, agentSpeaking: "on" })).toEqual({
      type: "prompt",
      voicePrompt: "Bon",
      last: false
    })
  })

  test("dtmf, info and error frames", () => {
    expect(decoded({ type: "dtmf", digit: "0" })).toEqual({ type: "dtmf", digit: "0" })
    expect(decoded({ type: "info", name: "agentSpeaking", value: "on" })).toEqual({ type: "info", name: "agentSpeaking", value: "on" })
    expect(decoded({ type: "info", name: "roundTripDelayMs", value: 312 })).toMatchObject({ value: 312 })
    expect(decoded({ type: "error", description: "Invalid message received, code: 64107, x" })).toEqual({
      type: "error",
      description: "Invalid message received, code: 64107, x"
    })
  })

  test("malformed frames come back as values naming what they were, never as thrown errors", () => {
    expect(rejected("this is not json")).toMatchObject({ _tag: "UndecodableFrame", type: "not-json" })
    expect(rejected("[1,2,3]").type).toBe("not-an-object")
    expect(rejected("null").type).toBe("not-an-object")
    expect(rejected(JSON.stringify({ voicePrompt: "no type" })).type).toBe("not-an-object")
    const unknown = rejected(JSON.stringify({ type: "connected", streamSid: "MZ1" }))
    expect(unknown.type).toBe("connected")
    expect(unknown.reason.length).toBeGreaterThan(0)
    expect(rejected(JSON.stringify({ type: "prompt", voicePrompt: 42 })).type).toBe("prompt")
    expect(rejected(JSON.stringify({ type: "prompt", voicePrompt: "x", last: "yes" })).type).toBe("prompt")
    expect(rejected(JSON.stringify({ type: "dtmf" })).type).toBe("dtmf")
    expect(rejected(JSON.stringify({ type: "setup", callSid: "CA1" })).type).toBe("setup")
  })
})

describe("outbound frames", () => {
  test("text tokens keep their spacing; end carries handoffData as a JSON string", () => {
    expect(JSON.parse(encodeOutbound(text(" de 9 h ", false)))).toEqual({ type: "text", token: " de 9 h ", last: false })
    expect(JSON.parse(encodeOutbound(text("", true)))).toEqual({ type: "text", token: "", last: true })
    const frame = JSON.parse(encodeOutbound(end({ reason: "transfer", callId: "c1" })))
    expect(frame.type).toBe("end")
    expect(typeof frame.handoffData).toBe("string")
    expect(JSON.parse(frame.handoffData)).toEqual({ reason: "transfer", callId: "c1" })
    expect(JSON.parse(encodeOutbound(end()))).toEqual({ type: "end" })
  })

  test("an invalid outbound frame is refused before it reaches Twilio (which would drop it with 64107)", () => {
    expect(() => encodeOutbound({ type: "sendDigits", digits: "12a" })).toThrow()
    expect(JSON.parse(encodeOutbound({ type: "sendDigits", digits: "0w1#" }))).toEqual({ type: "sendDigits", digits: "0w1#" })
  })
})

/** The Schema alone, as the reference the plain-code hot path must match. */
const bySchema = Schema.decodeUnknownEither(InboundFrameSchema, { onExcessProperty: "ignore" })

describe("the hot path's plain code agrees with the Schema", () => {
  const hot = [
    { type: "prompt", voicePrompt: "Bonjour", lang: "fr-FR", last: true },
    { type: "prompt", voicePrompt: "Bon", last: false },
    { type: "prompt", voicePrompt: "Sans last ni langue" },
    { type: "prompt", voicePrompt: "", lang: "fr-FR", last: true, extra: { ignored: 1 } },
    { type: "interrupt", utteranceUntilInterrupt: "Sentence 2 of", durationUntilInterruptMs: 684 },
    { type: "interrupt", utteranceUntilInterrupt: "Nous ouvrons", durationUntilInterruptMs: 1234.5 },
    { type: "interrupt" },
    { type: "interrupt", utteranceUntilInterrupt: "x", durationUntilInterruptMs: "900" }
  ]
  test("prompt and interrupt frames decode to exactly what the Schema gives", () => {
    for (const frame of hot) {
      const reference = bySchema(frame)
      if (Either.isLeft(reference)) throw new Error(`the Schema refuses ${JSON.stringify(frame)}`)
      expect(decoded(frame)).toEqual(reference.right)
    }
  })
  test("setup frames decode by the plain code exactly as by the Schema, defaults included", () => {
    const setups: Array<Record<string, unknown>> = [
      { type: "setup", sessionId: "VX1", callSid: "CA1" },
      { type: "setup", sessionId: "VX1", callSid: "CA1", from: "+33611111111", to: "+33100000000", direction: "inbound", extra: 1 },
      { type: "setup", sessionId: "VX1", callSid: "CA1", customParameters: { callId: "c1", tenant: "t" }, callStatus: "IN-PROGRESS" }
    ]
    for (const frame of setups) {
      const reference = bySchema(frame)
      if (Either.isLeft(reference)) throw new Error(`the Schema refuses ${JSON.stringify(frame)}`)
      expect(decodeHotFrame(frame)).toEqual(reference.right)
    }
    expect(decodeHotFrame({ type: "setup", sessionId: "VX1", callSid: "CA1", customParameters: { n: 1 } })).toBeUndefined()
    expect(decodeHotFrame({ type: "setup", sessionId: "VX1", callSid: "CA1", from: 33 })).toBeUndefined()
  })
  test("what the plain code does not handle is left to the Schema, never guessed", () => {
    expect(decodeHotFrame({ type: "prompt", voicePrompt: 42 })).toBeUndefined()
    expect(decodeHotFrame({ type: "prompt", voicePrompt: "a", last: "yes" })).toBeUndefined()
    expect(decodeHotFrame({ type: "interrupt", durationUntilInterruptMs: "900" })).toBeUndefined()
    expect(decodeHotFrame({ type: "setup" })).toBeUndefined()
    expect(rejected(JSON.stringify({ type: "prompt", voicePrompt: 42 })).type).toBe("prompt")
  })
  test("a text frame written by hand is the Schema's encoding, whatever the token", () => {
    for (const token of ["", "Bonjour, ", "guillemets \" et \\ barres", "ligne\nsuivante", "émoji 🐞 et « français »"]) {
      for (const last of [true, false]) expect(encodeText(token, last)).toBe(encodeOutbound(text(token, last)))
    }
  })
})

describeWithFixtures("recorded ConversationRelay calls", () => {
  test("every inbound frame of every recording decodes, to the type it says", () => {
    const all = fixtureNames().flatMap((fixture) => freshInboundFrames(fixture).map((frame, index) => ({ fixture, index, frame })))
    expect(all.length).toBeGreaterThan(100)
    const failures: Array<string> = []
    for (const { fixture, index, frame } of all) {
      const result = decodeInbound(JSON.stringify(frame))
      if (Either.isLeft(result)) failures.push(`${fixture}#${index} ${JSON.stringify(frame)}: ${result.left.reason}`)
      else if (result.right.type !== frame.type) failures.push(`${fixture}#${index} decoded as ${result.right.type}`)
    }
    expect(failures).toEqual([])
    expect(new Set(all.map((f) => f.frame.type))).toEqual(new Set(["setup", "prompt", "interrupt", "dtmf", "info", "error"]))
  })

  test("the recorded setup and interrupt keep their values through the codec", () => {
    for (const name of fixtureNames()) {
      const setup = decoded(freshInboundFrames(name)[0])
      if (setup.type !== "setup") throw new Error(`${name}: first frame is ${setup.type}`)
      expect(setup.callSid).toMatch(/^CA/)
      expect(setup.sessionId).toMatch(/^VX/)
    }
    const interrupt = decoded(freshInboundFrames("interrupt").find((f) => f.type === "interrupt"))
    expect(interrupt).toEqual({ type: "interrupt", utteranceUntilInterrupt: "Sentence 2 of", durationUntilInterruptMs: 684 })
  })

  test("every frame the recorder sent (and Twilio accepted) passes our outbound schema unchanged", () => {
    const sent = fixtureNames().flatMap((name) =>
      freshFixture(name).flatMap((e) => (e.dir === "out" && e.frame !== undefined ? [e.frame] : []))
    )
    expect(new Set(sent.map((f) => f.type))).toEqual(new Set(["text", "end"]))
    expect(sent.some((f) => f.type === "text" && f.preemptible === true)).toBe(true)
    for (const frame of sent) expect(JSON.parse(encodeOutbound(frame as OutboundFrame))).toEqual(frame)
  })

  test("every recorded setup, prompt and interrupt decodes by the plain code exactly as by the Schema", () => {
    const frames = fixtureNames().flatMap((name) => freshInboundFrames(name))
      .filter((f) => f.type === "prompt" || f.type === "interrupt" || f.type === "setup")
    expect(frames.length).toBeGreaterThan(5)
    for (const frame of frames) {
      const reference = bySchema(frame)
      if (Either.isLeft(reference)) throw new Error(`the Schema refuses ${JSON.stringify(frame)}`)
      const fast = decodeHotFrame(frame)
      expect(fast ?? reference.right).toEqual(reference.right)
    }
  })

})
