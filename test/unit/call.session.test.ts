import { describe, expect, test } from "../support/test.ts"
import { Deferred, Effect, Stream, TestClock } from "effect"
import { callersAwaitingFirstWords } from "../../src/eventLoop.ts"
import { ClaudeError } from "../../src/llm/Claude.ts"
import { eventually, failWith, pause, runCall, say, silence, toolResult, useTool } from "../support/callHarness.ts"

/**
 * One call fiber with a scripted Claude and scripted tools, a real SQLite database and the TestClock:
 * what the caller hears, what is stored, and what time does to a turn.
 */

const TECHNICAL_ISSUE = "Excusez-moi, je rencontre un petit souci technique. Pouvez-vous répéter, s'il vous plaît ?"
const FILLER = "Un instant, s'il vous plaît. "
const TOO_MANY_STEPS = "Excusez-moi, je n'arrive pas à finaliser cela. Voulez-vous que je vous passe un membre de l'équipe ?"

describe("a turn", () => {
  test("the reply goes out as it streams, rewritten for speech; its last words close it with last:true", async () => {
    await runCall({ claude: () => say("Nous ouvrons ", "à 9 h ", "le mardi.") }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous ouvrez à quelle heure ?")
        expect(yield* call.textUntilLast).toBe("Nous ouvrons à 9 heures le mardi.")
        // "9 h" waits for what may complete it; the last word waits for the end of the stream.
        expect(call.frames).toEqual([
          { type: "text", token: "Nous ouvrons ", last: false },
          { type: "text", token: "à ", last: false },
          { type: "text", token: "9 heures le ", last: false },
          { type: "text", token: "mardi.", last: true }
        ])
        const stored = yield* eventually(call.messages, (rows) => rows.length === 2, "user and assistant lines stored")
        expect(stored.map((m) => [m.role, m.content, m.interrupted])).toEqual([
          ["user", "Vous ouvrez à quelle heure ?", 0],
          ["assistant", "Nous ouvrons à 9 heures le mardi.", 0]
        ])
      }))
  })

  test("the system prompt's cached block stays the same for the whole call; its date block follows the clock", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.parse("2026-12-01T09:00:00Z"))
        yield* call.prompt("Bonjour")
        yield* call.textUntilLast
        yield* TestClock.adjust("2 minutes")
        yield* call.prompt("Vous êtes ouverts samedi ?")
        yield* call.textUntilLast
        const first = (yield* call.claudeCall(0)).request.system
        const second = (yield* call.claudeCall(1)).request.system
        if (typeof first === "string" || typeof second === "string") throw new Error("expected system blocks")
        expect(JSON.stringify(second[0])).toBe(JSON.stringify(first[0]))
        expect(second[second.length - 1]!.text).toContain("il est 10 heures 2 (")
        expect(first[first.length - 1]!.text).toContain("il est 10 heures (")
      }))
  })

  test("the system prompt is French and knows today's date in the tenant's time zone", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        // 23:30 UTC on Monday 30 November is already Tuesday 1 December in Paris.
        yield* TestClock.setTime(Date.parse("2026-11-30T23:30:00Z"))
        yield* call.prompt("Quel jour sommes-nous ?")
        yield* call.textUntilLast
        const { request } = yield* call.claudeCall(0)
        const system = typeof request.system === "string" ? request.system : request.system.map((block) => block.text).join("\n")
        expect(system).toContain("Vouvoyez")
        expect(system).toContain("mardi 1er décembre 2026, il est minuit et demi")
        expect(system).toContain("2026-12-01")
        expect(system).toContain("Europe/Paris")
        expect(system).toContain("Bonjour, Salon Lumière") // the greeting the caller already heard
        expect(request.messages).toEqual([{ role: "user", content: [{ type: "text", text: "Quel jour sommes-nous ?" }] }])
      }))
  })

  test("partial transcripts (last:false) wait for the final one", async () => {
    await runCall({ claude: () => say("Oui ?") }, (call) =>
      Effect.gen(function*() {
        yield* call.send({ type: "prompt", voicePrompt: "Je", last: false })
        yield* call.send({ type: "prompt", voicePrompt: "Je voudrais", last: false })
        yield* call.prompt("Je voudrais un rendez-vous")
        yield* call.textUntilLast
        expect(call.claudeCalls).toHaveLength(1)
        expect(call.claudeCalls[0]!.request.messages).toEqual([
          { role: "user", content: [{ type: "text", text: "Je voudrais un rendez-vous" }] }
        ])
      }))
  })
})

describe("time budget (TestClock)", () => {
  test("no first token within FIRST_TOKEN_TIMEOUT_MS: the request is dropped and the caller hears an apology", async () => {
    await runCall({ claude: () => silence, env: { FILLER_AFTER_MS: "60000" } }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Allô ?")
        const request = yield* call.claudeCall(0)
        yield* call.advance("7999 millis")
        expect(call.frames).toEqual([])
        yield* call.advance("1 millis")
        expect(yield* call.nextFrame).toEqual({ type: "text", token: TECHNICAL_ISSUE, last: true })
        expect(yield* Deferred.await(request.closed)).toBe("cancelled")
        const events = yield* eventually(call.events, (rows) => rows.some((e) => e.type === "error"), "an error event")
        expect(events.find((e) => e.type === "error")!.data.kind).toBe("turn")
        const stored = yield* eventually(call.messages, (rows) => rows.length === 2, "the apology stored")
        expect(stored[1]!.content).toBe(TECHNICAL_ISSUE)
        // The abandoned request no longer holds back other calls' work.
        expect(callersAwaitingFirstWords()).toBe(0)
      }))
  })

  test("Claude slow to start: a filler sentence after FILLER_AFTER_MS, then the reply; the filler is not in the transcript", async () => {
    await runCall({ claude: () => Stream.concat(pause("2500 millis"), say("Mardi à 10 h.")) }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Un rendez-vous mardi ?")
        yield* call.claudeCall(0)
        // two timers pending: the filler (1.5 s) and the scripted delay (2.5 s)
        yield* call.advance("1500 millis", { sleeps: 2 })
        expect(yield* call.nextFrame).toEqual({ type: "text", token: FILLER, last: false })
        yield* call.advance("1000 millis")
        expect(yield* call.textUntilLast).toBe("Mardi à 10 heures.")
        const stored = yield* eventually(call.messages, (rows) => rows.length === 2, "the reply stored")
        expect(stored[1]!.content).toBe("Mardi à 10 heures.")
      }))
  })

  test("Claude quick: no filler at all", async () => {
    await runCall({ claude: (_, index) => (index === 0 ? Stream.concat(pause("1499 millis"), say("Bonjour.")) : say("Au revoir.")) }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Bonjour")
        yield* call.claudeCall(0)
        yield* call.advance("1499 millis", { sleeps: 2 })
        expect(yield* call.textUntilLast).toBe("Bonjour.")
        yield* call.advance("10 seconds", { sleeps: 0 })
        // Time passes after the turn: nothing is said until the next prompt's reply.
        yield* call.prompt("Merci")
        expect(yield* call.textUntilLast).toBe("Au revoir.")
        expect(call.frames.some((f) => f.type === "text" && f.token === FILLER)).toBe(false)
      }))
  })

  test("a slow tool gets the filler too, once per turn", async () => {
    await runCall({
      claude: (_, index) => (index === 0 ? useTool("check_availability", { date: "2026-12-01" }) : say("Mardi à 10 h.")),
      tools: () => Effect.as(Effect.sleep("3 seconds"), toolResult({ times: ["10:00"] }))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Mardi ?")
        yield* call.claudeCall(0)
        yield* eventually(Effect.sync(() => call.toolRuns.length), (n) => n === 1, "the tool started")
        yield* call.advance("1500 millis", { sleeps: 2 })
        expect(yield* call.nextFrame).toEqual({ type: "text", token: FILLER, last: false })
        yield* call.advance("1500 millis")
        expect(yield* call.textUntilLast).toBe("Mardi à 10 heures.")
      }))
  })
})

describe("tools", () => {
  test("several tool calls in one message: all run, in order, and every tool_use gets its tool_result", async () => {
    await runCall({
      claude: (_, index) =>
        index === 0
          ? Stream.concat(say("Je regarde. "), Stream.concat(useTool("search_knowledge", { query: "parking" }, "toolu_1"), useTool("search_knowledge", { query: "horaires" }, "toolu_2")))
          : say("Un parking gratuit, et nous ouvrons à 9 h."),
      tools: (_, input: any) => Effect.succeed(toolResult({ found: true, about: input.query }))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Parking et horaires ?")
        expect(yield* call.textUntilLast).toBe("Je regarde. Un parking gratuit, et nous ouvrons à 9 heures.")
        expect(call.toolRuns.map((r) => r.input)).toEqual([{ query: "parking" }, { query: "horaires" }])
        const second = call.claudeCalls[1]!.request.messages
        expect(second.slice(1)).toEqual([
          {
            role: "assistant",
            content: [
              { type: "text", text: "Je regarde. " },
              { type: "tool_use", id: "toolu_1", name: "search_knowledge", input: { query: "parking" } },
              { type: "tool_use", id: "toolu_2", name: "search_knowledge", input: { query: "horaires" } }
            ]
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: JSON.stringify({ found: true, about: "parking" }) },
              { type: "tool_result", tool_use_id: "toolu_2", content: JSON.stringify({ found: true, about: "horaires" }) }
            ]
          }
        ])
      }))
  })

  test("the cap on tool rounds: at most MAX_TOOL_ROUNDS rounds run, then a spoken sentence ends the turn", async () => {
    await runCall({
      env: { MAX_TOOL_ROUNDS: "2" },
      claude: (_, index) => useTool("book_appointment", { time: `1${index}:00` })
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Réservez-moi quelque chose")
        expect(yield* call.textUntilLast).toBe(TOO_MANY_STEPS)
        // Two rounds of tools ran; the model's third request for a tool is not executed, since its result
        // would never be read — and a booking made there would contradict the sentence the caller hears.
        expect(call.toolRuns.map((r) => r.input)).toEqual([{ time: "10:00" }, { time: "11:00" }])
        expect(call.claudeCalls).toHaveLength(3)
        const stored = yield* eventually(call.messages, (rows) => rows.at(-1)?.content === TOO_MANY_STEPS, "the closing sentence stored")
        expect(stored.filter((m) => m.role === "tool_use")).toHaveLength(2)
        expect(stored.filter((m) => m.role === "tool_result")).toHaveLength(2)
      }))
  })
})

describe("failures", () => {
  test("Claude fails after some words: what was said stays in the transcript, then the apology", async () => {
    await runCall({
      claude: (_, index) => (index === 0 ? Stream.concat(say("Nous sommes ouverts ").pipe(Stream.take(1)), failWith(undefined)) : say("Du mardi au samedi."))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous êtes ouverts quand ?")
        expect(yield* call.textUntilLast).toBe("Nous sommes ouverts " + TECHNICAL_ISSUE)
        const stored = yield* eventually(call.messages, (rows) => rows.length === 3, "three lines stored")
        expect(stored.map((m) => [m.role, m.content])).toEqual([
          ["user", "Vous êtes ouverts quand ?"],
          ["assistant", "Nous sommes ouverts "],
          ["assistant", TECHNICAL_ISSUE]
        ])
        yield* call.prompt("Pardon ?")
        yield* call.textUntilLast
        expect(call.claudeCalls[1]!.request.messages[1]).toEqual({
          role: "assistant",
          content: [{ type: "text", text: "Nous sommes ouverts " }, { type: "text", text: TECHNICAL_ISSUE }]
        })
      }))
  })

  test("a turn that fails does not end the call: the next prompt gets a reply", async () => {
    await runCall({
      claude: (_, index) => (index === 0 ? Stream.fail(new ClaudeError({ status: 400, transient: false, message: "bad" })) : say("Je vous écoute."))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Allô")
        expect(yield* call.textUntilLast).toBe(TECHNICAL_ISSUE)
        yield* call.prompt("Allô ?")
        expect(yield* call.textUntilLast).toBe("Je vous écoute.")
      }))
  })
})

describe("callers waiting for their first words (src/eventLoop.ts)", () => {
  test("a turn waits only until its first words; a barge-in, a failure or a hang-up ends its wait too", async () => {
    const bad = new ClaudeError({ status: 400, transient: false, message: "bad" })
    await runCall({ claude: (_, index) => (index === 0 || index === 3 ? silence : index === 1 ? Stream.fail(bad) : say("Bonjour.")) }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Allô ?")
        yield* call.claudeCall(0)
        expect(callersAwaitingFirstWords()).toBe(1)
        yield* call.interrupt("")
        yield* eventually(Effect.sync(callersAwaitingFirstWords), (count) => count === 0, "the cut turn no longer waiting")
        yield* call.prompt("Vous m'entendez ?")
        expect(yield* call.textUntilLast).toBe(TECHNICAL_ISSUE)
        expect(callersAwaitingFirstWords()).toBe(0)
        yield* call.prompt("Bonjour")
        expect(yield* call.textUntilLast).toBe("Bonjour.")
        expect(callersAwaitingFirstWords()).toBe(0)
        yield* call.prompt("Vous êtes là ?")
        yield* call.claudeCall(3)
        expect(callersAwaitingFirstWords()).toBe(1)
        yield* call.hangUp
        yield* eventually(Effect.sync(callersAwaitingFirstWords), (count) => count === 0, "the hung-up turn no longer waiting")
      }))
  })
})
