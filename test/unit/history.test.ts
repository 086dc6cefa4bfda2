import { describe, expect, test } from "../support/test.ts"
import { cutToHeard, type Line, toMessageParams } from "../../src/call/history.ts"
import { validateMessagesBody } from "../support/fakeAnthropic.ts"
import { freshFixture, freshInboundFrames } from "../support/callHarness.ts"
import { describeWithFixtures } from "../support/fixtures.ts"

/** The call's transcript as Claude sees it, and what a barge-in does to it. */

let seq = 0
const line = (role: Line["role"], content: string, extra: Partial<Line> = {}): Line => ({
  seq: seq++,
  role,
  content,
  turn: 1,
  interrupted: false,
  ...extra
})
const user = (content: string) => line("user", content)
const assistant = (content: string) => line("assistant", content)
const toolUse = (id: string, name: string, input: unknown) =>
  line("tool_use", JSON.stringify(input), { toolUseId: id, toolName: name })
const toolResult = (id: string, name: string, content: unknown) =>
  line("tool_result", JSON.stringify(content), { toolUseId: id, toolName: name })

/** The checks the real API makes (the fake's validator): a history it would refuse is a bug. */
const expectAcceptedByApi = (messages: ReturnType<typeof toMessageParams>) =>
  expect(validateMessagesBody({ model: "m", max_tokens: 10, messages })).toBeUndefined()

describe("toMessageParams", () => {
  test("the history goes to Claude in Latin-1 typography; the transcript keeps what was said and written", () => {
    const lines = [
      user("C’est pour un soin du visage… combien ça coûte ?"),
      toolUse("t1", "search_knowledge", { query: "prix d’un soin" }),
      toolResult("t1", "search_knowledge", { passages: ["Soin « éclat » – 45 € ; la sœur de l’esthéticienne"] }),
      assistant("Le soin coûte 45 euros, c’est une heure.")
    ]
    const messages = toMessageParams(lines)
    expectAcceptedByApi(messages)
    const body = JSON.stringify(messages)
    expect([...body].filter((char) => char.codePointAt(0)! > 0xff)).toEqual([])
    expect(body).toContain("C'est pour un soin du visage... combien ça coûte ?")
    expect(body).toContain("Soin « éclat » - 45 EUR ; la soeur de l'esthéticienne")
    expect(messages[1]!.content).toContainEqual({ type: "tool_use", id: "t1", name: "search_knowledge", input: { query: "prix d'un soin" } })
    expect(lines[0]!.content).toBe("C’est pour un soin du visage… combien ça coûte ?")
  })

  test("a plain exchange becomes alternating user/assistant messages", () => {
    const messages = toMessageParams([user("Bonjour"), assistant("Bonjour, que puis-je faire ?"), user("Un rendez-vous")])
    expect(messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Bonjour" }] },
      { role: "assistant", content: [{ type: "text", text: "Bonjour, que puis-je faire ?" }] },
      { role: "user", content: [{ type: "text", text: "Un rendez-vous" }] }
    ])
    expectAcceptedByApi(messages)
  })

  test("consecutive lines of one side merge into one message, in order", () => {
    const messages = toMessageParams([user("Bonjour"), user("je voudrais"), assistant("Je regarde."), assistant("Mardi ?")])
    expect(messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Bonjour" }, { type: "text", text: "je voudrais" }] },
      { role: "assistant", content: [{ type: "text", text: "Je regarde." }, { type: "text", text: "Mardi ?" }] }
    ])
  })

  test("several tool calls in one assistant message: each tool_use is answered by its tool_result in the next message", () => {
    const messages = toMessageParams([
      user("Vous êtes ouverts samedi ? Et il y a un parking ?"),
      assistant("Je regarde."),
      toolUse("toolu_1", "search_knowledge", { query: "horaires samedi" }),
      toolUse("toolu_2", "search_knowledge", { query: "parking" }),
      toolResult("toolu_1", "search_knowledge", { found: true }),
      toolResult("toolu_2", "search_knowledge", { found: false }),
      assistant("Oui, de 9 h à 17 h.")
    ])
    expect(messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Vous êtes ouverts samedi ? Et il y a un parking ?" }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Je regarde." },
          { type: "tool_use", id: "toolu_1", name: "search_knowledge", input: { query: "horaires samedi" } },
          { type: "tool_use", id: "toolu_2", name: "search_knowledge", input: { query: "parking" } }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: "{\"found\":true}" },
          { type: "tool_result", tool_use_id: "toolu_2", content: "{\"found\":false}" }
        ]
      },
      { role: "assistant", content: [{ type: "text", text: "Oui, de 9 h à 17 h." }] }
    ])
    expectAcceptedByApi([...messages, { role: "user", content: [{ type: "text", text: "Merci" }] }])
  })

  test("a leading assistant line (a greeting, a resumed call) is dropped: the conversation opens with the caller", () => {
    const messages = toMessageParams([assistant("Bonjour, Salon Lumière."), assistant("Que puis-je faire ?"), user("Bonjour")])
    expect(messages).toEqual([{ role: "user", content: [{ type: "text", text: "Bonjour" }] }])
    expect(toMessageParams([assistant("Bonjour")])).toEqual([])
  })

  test("empty text (a reply cut before any word was heard) is dropped, and the lines around it merge", () => {
    const messages = toMessageParams([
      user("Bonjour"),
      line("assistant", "", { interrupted: true }),
      line("assistant", "   ", { interrupted: true }),
      user("Vous m'entendez ?")
    ])
    expect(messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Bonjour" }, { type: "text", text: "Vous m'entendez ?" }] }
    ])
    expectAcceptedByApi(messages)
  })

  test("a cut reply after a tool round keeps the tool pairing valid for the next request", () => {
    const messages = toMessageParams([
      user("Un parking ?"),
      assistant("Je regarde."),
      toolUse("toolu_9", "search_knowledge", { query: "parking" }),
      toolResult("toolu_9", "search_knowledge", { found: true }),
      line("assistant", "", { interrupted: true }),
      user("Merci, au revoir")
    ])
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "user"])
    expect(messages[2]!.content).toEqual([
      { type: "tool_result", tool_use_id: "toolu_9", content: "{\"found\":true}" },
      { type: "text", text: "Merci, au revoir" }
    ])
    expectAcceptedByApi(messages)
  })

  test("a stored tool input that is not JSON becomes an empty object rather than breaking the call", () => {
    const messages = toMessageParams([
      user("x"),
      line("tool_use", "{not json", { toolUseId: "toolu_x", toolName: "search_knowledge" }),
      toolResult("toolu_x", "search_knowledge", { found: false })
    ])
    expect(messages[1]!.content).toEqual([{ type: "tool_use", id: "toolu_x", name: "search_knowledge", input: {} }])
  })
})

describe("cutToHeard", () => {
  const reply = (...texts: Array<string>) => texts.map((text) => assistant(text))

  test("the caller heard the start of the reply (cumulative form): the rest is cut, the cut line marked", () => {
    const segments = reply("Je regarde. ", "Un parking gratuit se trouve rue Vauban.")
    const changed = cutToHeard(segments, "Je regarde. Un parking gratuit")
    expect(segments.map((s) => [s.content, s.interrupted])).toEqual([
      ["Je regarde. ", false],
      ["Un parking gratuit", true]
    ])
    expect(changed).toEqual([segments[1]!])
  })

  test("heard to the end of a segment: later segments become empty", () => {
    const segments = reply("Je regarde.", "Mardi à 10 h ?")
    cutToHeard(segments, "Je regarde.")
    expect(segments.map((s) => [s.content, s.interrupted])).toEqual([
      ["Je regarde.", true],
      ["", true]
    ])
  })

  test("nothing heard: every segment becomes empty and is dropped from the next request", () => {
    const segments = reply("Bonjour, ", "que puis-je faire ?")
    const changed = cutToHeard(segments, "")
    expect(segments.map((s) => s.content)).toEqual(["", ""])
    expect(changed).toHaveLength(2)
    expect(toMessageParams([user("Allô"), ...segments])).toEqual([{ role: "user", content: [{ type: "text", text: "Allô" }] }])
  })

  test("spacing differences between what was sent and what Twilio reports do not matter", () => {
    const segments = reply("Bonjour,  madame.\nNous ouvrons à 9 h.")
    cutToHeard(segments, "Bonjour, madame. Nous ouvrons")
    expect(segments[0]!.content).toBe("Bonjour, madame. Nous ouvrons")
  })

  test("the heard text only covers the sentence being spoken (as Twilio really reports it): earlier sentences stay", () => {
    const segments = reply("Nous sommes ouverts du mardi au samedi. Le parking est gratuit derrière le salon, rue Vauban.")
    cutToHeard(segments, "Le parking est")
    expect(segments[0]!.content).toBe("Nous sommes ouverts du mardi au samedi. Le parking est")
    expect(segments[0]!.interrupted).toBe(true)
  })

  test("heard text that cannot be found in the reply is what gets stored (never more than was heard)", () => {
    const segments = reply("Nous ouvrons à 9 h.", "Et nous fermons à 19 h.")
    cutToHeard(segments, "Nous ouvrons à neuf heures")
    expect(segments.map((s) => s.content)).toEqual(["Nous ouvrons à neuf heures", ""])
  })

  test("cutting again with the same heard text changes nothing", () => {
    const segments = reply("Je regarde. ", "Un parking gratuit se trouve rue Vauban.")
    cutToHeard(segments, "Je regarde. Un parking")
    expect(cutToHeard(segments, "Je regarde. Un parking")).toEqual([])
  })
})

describeWithFixtures("cutToHeard against the recorded barge-in (interrupt.jsonl)", () => {
  test("the reply the recorder streamed, cut where the caller really interrupted, keeps sentence 1", () => {
    const events = freshFixture("interrupt")
    const interruptAt = events.findIndex((e) => e.dir === "in" && e.frame.type === "interrupt")
    // Everything the recorder streamed in that talk cycle, token by token, as our call fiber would store it.
    const streamed = events
      .slice(0, interruptAt)
      .flatMap((e) => (e.dir === "out" && e.frame?.type === "text" ? [String(e.frame.token)] : []))
      .join("")
    const heard = freshInboundFrames("interrupt").find((f) => f.type === "interrupt")!.utteranceUntilInterrupt as string
    expect(heard).toBe("Sentence 2 of")
    const played = events.slice(0, interruptAt).flatMap((e) =>
      e.dir === "in" && e.frame.type === "info" && e.frame.name === "tokensPlayed" && e.ms > 13_000 ? [String(e.frame.value)] : []
    )
    // What the caller heard: the whole of sentence 1 (tokensPlayed), then "Sentence 2 of".
    expect(played.join("")).toBe(
      "Sentence 1 of twelve: the quick brown fox jumps over the lazy dog while the spike keeps talking so you can interrupt it.Sentence 2 of"
    )
    const segments = [assistant(streamed)]
    cutToHeard(segments, heard)
    expect(segments[0]!.content).toBe(
      "Sentence 1 of twelve: the quick brown fox jumps over the lazy dog while the spike keeps talking so you can interrupt it. Sentence 2 of"
    )
  })
})
