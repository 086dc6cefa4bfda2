import { describe, expect, test } from "../support/test.ts"
import { resolve } from "node:path"
import {
  allInboundFrames,
  defaultFixturesDir,
  repoRoot,
  closes,
  describeWithFixtures,
  fixtureNames,
  fixturesAvailable,
  fixturesDir,
  inboundFrames,
  loadFixture,
  skipNote,
  twimlResponses,
  webhookForms
} from "../support/fixtures.ts"

describe("fixtures locator", () => {
  test("points at ../shared/fixtures/conversationrelay beside the repository", () => {
    expect(defaultFixturesDir).toBe(resolve(repoRoot, "../shared/fixtures/conversationrelay"))
    expect(repoRoot).toBe(resolve(import.meta.dirname, "../.."))
    // Either present, or a note says why replay tests are skipped.
    if (fixturesAvailable()) expect(skipNote()).toBeUndefined()
    else expect(skipNote()).toContain(`fixtures not found at ${fixturesDir}`)
  })
})

describeWithFixtures("recorded ConversationRelay calls", () => {
  test("every file loads, every line is an event with a known dir", () => {
    const names = fixtureNames()
    expect(names.length).toBeGreaterThanOrEqual(10)
    expect(names).toContain("interrupt")
    for (const name of names) {
      const events = loadFixture(name)
      expect(events.length).toBeGreaterThan(0)
      for (const e of events) {
        expect(["http", "ws", "in", "out", "note"]).toContain(e.dir)
        expect(typeof e.ms).toBe("number")
      }
      expect(loadFixture(`${name}.jsonl`)).toEqual(events)
    }
  })

  test("finds setup, prompt, interrupt, dtmf, info and error frames with their real fields", () => {
    const all = allInboundFrames()
    const byType = new Map<string, Array<(typeof all)[number]>>()
    for (const f of all) byType.set(f.frame.type, [...(byType.get(f.frame.type) ?? []), f])
    for (const type of ["setup", "prompt", "interrupt", "dtmf", "info", "error"]) {
      expect(byType.get(type)?.length ?? 0).toBeGreaterThan(0)
    }
    // one setup per session, always the first inbound frame of a session
    for (const name of fixtureNames()) expect(inboundFrames(name)[0]?.type).toBe("setup")
    const setup = byType.get("setup")![0]!.frame
    expect(setup).toMatchObject({ sessionId: expect.stringMatching(/^VX/), callSid: expect.stringMatching(/^CA/), customParameters: {} })
    const interrupt = byType.get("interrupt")![0]!.frame
    expect(Object.keys(interrupt).sort()).toEqual(["durationUntilInterruptMs", "type", "utteranceUntilInterrupt"])
    expect(byType.get("dtmf")![0]!.frame).toMatchObject({ digit: expect.stringMatching(/^[0-9*#]$/) })
    expect(byType.get("error")![0]!.frame.description).toContain("64107")
    const prompts = byType.get("prompt")!.map((p) => p.frame)
    expect(prompts.some((p) => p.last === false)).toBe(true) // cumulative partials
    expect(prompts.some((p) => p.last === true)).toBe(true)
    const infoNames = new Set(byType.get("info")!.map((i) => i.frame.name))
    expect(infoNames).toContain("agentSpeaking")
    expect(infoNames).toContain("tokensPlayed")
  })

  test("webhook forms, TwiML answers and closes are reachable", () => {
    const action = webhookForms("socket-drop", "/action")
    expect(action).toHaveLength(1)
    expect(action[0]!.form).toMatchObject({ SessionStatus: "failed", ErrorCode: "64105" })
    expect(webhookForms("end-then-say-hangup", "/action")[0]!.form.HandoffData).toBeDefined()
    expect(twimlResponses("end-then-say-hangup").map((r) => r.path)).toEqual(["/voice", "/action"])
    expect(closes("malformed-frames")[0]).toMatchObject({ code: 1007 })
  })

  test("an unknown fixture name says which ones exist", () => {
    expect(() => loadFixture("nope")).toThrow("interrupt")
  })
})
