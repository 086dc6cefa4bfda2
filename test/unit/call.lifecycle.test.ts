import { describe, expect, test } from "../support/test.ts"
import { Deferred, Effect, Fiber, Option, Stream } from "effect"
import { eventually, pause, runCall, say, silence, toolResult, useTool } from "../support/callHarness.ts"

/**
 * Cancellation and the ends of a call, on one call fiber (scripted Claude and tools, real SQLite, TestClock):
 * barge-in, a new prompt during a turn, side-effecting tools of a cancelled turn, DTMF, hang-up, setup.
 */

const HANDOFF = "Je vous mets en relation avec un membre de l'équipe, ne quittez pas."
const NO_TRANSFER = "Personne ne peut prendre l'appel pour le moment. Je peux noter un message : quels sont votre nom et votre demande ?"
const GOODBYE = "Merci de votre appel, au revoir."

/** A reply that says two things, then keeps the request open (the caller barges in meanwhile). */
const slowReply = Stream.concat(say("Nous sommes ouverts du mardi au samedi. ", "Le parking est gratuit ").pipe(Stream.take(2)), silence)

describe("barge-in", () => {
  test("interrupt: the Claude stream is cancelled, nothing more is sent, the stored reply is cut to what was heard", async () => {
    await runCall({ claude: (_, index) => (index === 0 ? slowReply : say("Oui, rue Vauban.")) }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous êtes ouverts quand ?")
        yield* call.nextFrame
        yield* call.nextFrame
        yield* call.interrupt("Nous sommes ouverts du mardi au samedi. Le parking")
        expect(yield* Deferred.await(call.claudeCalls[0]!.closed)).toBe("cancelled")
        const stored = yield* eventually(call.messages, (rows) => rows.some((m) => m.interrupted === 1), "the cut reply stored")
        expect(stored.filter((m) => m.role === "assistant").map((m) => [m.content, m.interrupted])).toEqual([
          ["Nous sommes ouverts du mardi au samedi. Le parking", 1]
        ])
        expect(call.frames).toHaveLength(2) // no further token, no closing last:true
        const events = yield* eventually(call.events, (rows) => rows.some((e) => e.type === "interrupt"), "an interrupt event")
        expect(events.find((e) => e.type === "interrupt")!.data).toMatchObject({ durationMs: 800 })

        yield* call.prompt("Et le parking ?")
        expect(yield* call.textUntilLast).toBe("Oui, rue Vauban.")
        // The model is told only what the caller heard.
        expect(call.claudeCalls[1]!.request.messages).toEqual([
          { role: "user", content: [{ type: "text", text: "Vous êtes ouverts quand ?" }] },
          { role: "assistant", content: [{ type: "text", text: "Nous sommes ouverts du mardi au samedi. Le parking" }] },
          { role: "user", content: [{ type: "text", text: "Et le parking ?" }] }
        ])
      }))
  })

  test("interrupt after the reply was fully streamed (TTS still playing) still cuts it", async () => {
    await runCall({ claude: () => say("Nous ouvrons à 9 h, ", "et nous fermons à 19 h.") }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Horaires ?")
        yield* call.textUntilLast
        yield* call.interrupt("Nous ouvrons à 9 h,")
        const stored = yield* eventually(call.messages, (rows) => rows.some((m) => m.interrupted === 1), "the cut reply stored")
        expect(stored.at(-1)).toMatchObject({ role: "assistant", content: "Nous ouvrons à 9 h,", interrupted: 1 })
      }))
  })

  test("a new final prompt during a turn cancels it before the new turn starts", async () => {
    await runCall({ claude: (_, index) => (index === 0 ? slowReply : say("D'accord, samedi.")) }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous êtes ouverts quand ?")
        yield* call.nextFrame
        yield* call.prompt("Plutôt samedi")
        const second = yield* call.claudeCall(1)
        // by the time the second request was made, the first was already closed
        expect(second.openWhenMade).toEqual([])
        expect(yield* Deferred.await(call.claudeCalls[0]!.closed)).toBe("cancelled")
        expect(yield* call.textUntilLast).toBe("Le parking est gratuit D'accord, samedi.")
        expect(second.request.messages.map((m) => m.role)).toEqual(["user", "assistant", "user"])
      }))
  })

  test("a side-effecting tool from a cancelled turn never runs", async () => {
    await runCall({
      claude: (_, index) =>
        index === 0
          ? Stream.concat(say("Je réserve. ").pipe(Stream.take(1)), Stream.concat(pause("500 millis"), useTool("book_appointment", { time: "10:00" })))
          : say("Bien sûr.")
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Réservez mardi 10 h")
        yield* call.nextFrame
        yield* call.interrupt("Je réserve.")
        expect(yield* Deferred.await(call.claudeCalls[0]!.closed)).toBe("cancelled")
        yield* call.advance("10 seconds", { sleeps: 0 })
        yield* call.prompt("Non, attendez")
        expect(yield* call.textUntilLast).toBe("Bien sûr.")
        expect(call.toolRuns).toEqual([])
      }))
  })

  test("control: without the barge-in, the same turn does book", async () => {
    await runCall({
      claude: (_, index) =>
        index === 0
          ? Stream.concat(say("Je réserve. ").pipe(Stream.take(1)), Stream.concat(pause("500 millis"), useTool("book_appointment", { time: "10:00" })))
          : say("C'est réservé.")
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Réservez mardi 10 h")
        yield* call.nextFrame
        yield* call.advance("500 millis", { sleeps: 2 })
        expect(yield* call.textUntilLast).toBe("C'est réservé.")
        expect(call.toolRuns.map((r) => r.name)).toEqual(["book_appointment"])
      }))
  })

  test("a booking already under way when the caller barges in completes and is recorded for the next turn", async () => {
    await runCall({
      claude: (_, index) =>
        index === 0 ? Stream.concat(say("Je réserve. ").pipe(Stream.take(1)), useTool("book_appointment", { time: "10:00" })) : say("Autre chose ?"),
      tools: (name) =>
        name === "book_appointment"
          ? Effect.as(Effect.sleep("200 millis"), toolResult({ appointmentId: "apt-1", message: "Rendez-vous confirmé." }))
          : Effect.succeed(toolResult({}))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Réservez mardi 10 h")
        yield* call.nextFrame
        yield* eventually(Effect.sync(() => call.toolRuns.length), (runs) => runs === 1, "the booking to start")
        // The barge-in lands while the booking is being written: it finishes, and its result is kept.
        const interrupted = yield* Effect.fork(call.interrupt("Je réserve."))
        yield* call.advance("200 millis", { sleeps: 2 })
        yield* Fiber.join(interrupted)
        yield* call.prompt("C'est bon ?")
        expect(yield* call.textUntilLast).toBe("Autre chose ?")
        const history = JSON.stringify(call.claudeCalls[1]!.request.messages)
        expect(history).toContain("apt-1")
        expect(history).toContain("book_appointment")
      }))
  })

  test("a transfer asked by a cancelled turn does not happen", async () => {
    await runCall({
      claude: (_, index) =>
        index === 0
          ? Stream.concat(say("Je vous passe ").pipe(Stream.take(1)), Stream.concat(pause("300 millis"), useTool("transfer_to_human", { reason: "demande" })))
          : say("Je vous écoute."),
      tools: (name) => Effect.succeed(name === "transfer_to_human" ? { _tag: "Transfer", reason: "demande" } : toolResult({}))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Je veux parler à quelqu'un")
        yield* call.nextFrame
        yield* call.interrupt("Je vous passe")
        yield* Deferred.await(call.claudeCalls[0]!.closed)
        yield* call.advance("10 seconds", { sleeps: 0 })
        yield* call.prompt("Non, c'est bon")
        expect(yield* call.textUntilLast).toBe("Je vous écoute.")
        expect(call.frames.some((f) => f.type === "end")).toBe(false)
      }))
  })
})

describe("DTMF", () => {
  test("0: the handoff sentence, then (once TTS has said it) end with handoffData reason transfer", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("0")
        expect(yield* call.nextFrame).toEqual({ type: "text", token: HANDOFF, last: true })
        yield* call.info("agentSpeaking", "on")
        yield* call.info("agentSpeaking", "off")
        const end = yield* call.nextFrame
        expect(end.type).toBe("end")
        if (end.type !== "end") return
        expect(JSON.parse(end.handoffData!)).toEqual({ reason: "transfer", callId: call.callId })
        // after the end, a prompt is not answered (the session is closing)
        yield* call.prompt("Allô ?")
        yield* call.hangUp
        // Not the end of the call: it stays open while the business's phone rings (the dial result ends it),
        // free for the next relay session should nobody answer.
        expect(yield* call.callRow).toMatchObject({ ended_at: null, outcome: "transferred" })
        expect(Option.map(yield* call.owner, (row) => row.moving)).toEqual(Option.some(1))
        expect((yield* call.events).filter((e) => e.type === "end")).toEqual([])
        expect(call.claudeCalls).toHaveLength(0)
      }))
  })

  test("0 without speaker events: end is sent once the sentence's estimated duration has passed", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("0")
        yield* call.nextFrame
        yield* call.advance("5 seconds")
        expect(call.frames).toHaveLength(1)
        yield* call.advance("2 seconds")
        expect((yield* call.nextFrame).type).toBe("end")
      }))
  })

  test("0 with no transfer number: the agent offers to take a message and the call goes on", async () => {
    await runCall({ tenant: { transferNumber: undefined }, claude: () => say("Votre nom ?") }, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("0")
        expect(yield* call.textUntilLast).toBe(NO_TRANSFER)
        yield* call.prompt("Oui, je laisse un message")
        expect(yield* call.textUntilLast).toBe("Votre nom ?")
        expect(call.frames.some((f) => f.type === "end")).toBe(false)
      }))
  })

  test("1: the last assistant message is spoken again (the greeting when nothing was said yet)", async () => {
    await runCall({ claude: () => say("Nous ouvrons ", "à 9 h.") }, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("1")
        expect(yield* call.textUntilLast).toBe(call.tenant.config.greeting)
        yield* call.prompt("Horaires ?")
        yield* call.textUntilLast
        yield* call.dtmf("1")
        expect(yield* call.nextFrame).toEqual({ type: "text", token: "Nous ouvrons à 9 heures.", last: true })
      }))
  })

  test("1 then a barge-in on the repeat: the reply heard whole the first time stays whole", async () => {
    await runCall({ claude: () => say("Nous ouvrons à 9 h.") }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Horaires ?")
        yield* call.textUntilLast
        yield* call.dtmf("1")
        yield* call.textUntilLast
        yield* call.interrupt("Nous ouvrons")
        yield* eventually(call.events, (rows) => rows.some((e) => e.type === "interrupt"), "the interrupt handled")
        yield* call.prompt("Merci")
        yield* call.textUntilLast
        expect(call.claudeCalls[1]!.request.messages[1]).toEqual({ role: "assistant", content: [{ type: "text", text: "Nous ouvrons à 9 heures." }] })
      }))
  })

  test("9: goodbye, then end with reason hangup; the call ends as an agent hang-up", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("9")
        expect(yield* call.nextFrame).toEqual({ type: "text", token: GOODBYE, last: true })
        yield* call.info("agentSpeaking", "on")
        yield* call.info("agentSpeaking", "off")
        const end = yield* call.nextFrame
        if (end.type !== "end") throw new Error(`expected end, got ${JSON.stringify(end)}`)
        expect(JSON.parse(end.handoffData!)).toMatchObject({ reason: "hangup" })
        yield* call.hangUp
        const row = yield* eventually(call.callRow, (r) => r.ended_at !== null, "the call finalised")
        expect(row.end_reason).toBe("agent_hangup")
      }))
  })

  test("a key pressed during a reply cancels it first", async () => {
    await runCall({ claude: () => slowReply }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous êtes ouverts quand ?")
        yield* call.nextFrame
        yield* call.dtmf("9")
        expect(yield* Deferred.await(call.claudeCalls[0]!.closed)).toBe("cancelled")
        expect(yield* call.textUntilLast).toBe("Le parking est gratuit " + GOODBYE)
      }))
  })

  test("other keys are recorded and otherwise ignored", async () => {
    await runCall({}, (call) =>
      Effect.gen(function*() {
        yield* call.dtmf("5")
        const events = yield* eventually(call.events, (rows) => rows.some((e) => e.type === "dtmf"), "the dtmf event")
        expect(events.find((e) => e.type === "dtmf")!.data).toEqual({ digit: "5" })
        expect(call.frames).toEqual([])
      }))
  })
})

describe("start and end of a session", () => {
  test("hang-up mid-reply: the Claude stream is cancelled, what was said is stored, the call finalised once", async () => {
    await runCall({ claude: () => slowReply }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous êtes ouverts quand ?")
        yield* call.nextFrame
        yield* call.nextFrame
        yield* call.hangUp
        expect(yield* Deferred.await(call.claudeCalls[0]!.closed)).toBe("cancelled")
        yield* Deferred.await(call.finalised)
        expect(yield* call.callRow).toMatchObject({ end_reason: "caller_hangup", outcome: "abandoned" })
        const messages = yield* call.messages
        expect(messages.map((m) => [m.role, m.content])).toEqual([
          ["user", "Vous êtes ouverts quand ?"],
          ["assistant", "Nous sommes ouverts du mardi au samedi. Le parking est gratuit "]
        ])
        const events = yield* call.events
        expect(events.filter((e) => e.type === "end")).toEqual([{ type: "end", data: { reason: "caller_hangup", outcome: "abandoned" } }])
        // Its lease ended with it: no instance holds a finished call (the heartbeat's renewal no longer touches it).
        expect(Option.getOrThrow(yield* call.owner)).toMatchObject({ instance_id: null, moving: 0 })
      }))
  })

  test("setup for a call we never answered: an apology and end, nothing trusted from the frame", async () => {
    await runCall({ setup: false }, (call) =>
      Effect.gen(function*() {
        yield* call.send({ type: "setup", sessionId: "VX1", callSid: "CA_NOBODY_KNOWS", customParameters: { callId: call.callId } })
        expect((yield* call.nextFrame).type).toBe("text")
        const end = yield* call.nextFrame
        if (end.type !== "end") throw new Error(`expected end, got ${JSON.stringify(end)}`)
        expect(JSON.parse(end.handoffData!)).toEqual({ reason: "unknown_call" })
        // then the socket is closed: a replayed handshake cannot hold it open until the idle timeout
        expect(yield* Deferred.await(call.serverClosed)).toEqual({ code: 1000, reason: "unknown call" })
        // the real call, named in customParameters, was not touched
        expect(yield* call.events).toEqual([])
      }))
  })

  test("an outcome is stored as it happens: a booking shows on the live call's row (a crash would keep it)", async () => {
    await runCall({
      claude: (_, index) => (index === 0 ? useTool("book_appointment", {}) : say("C'est noté.")),
      tools: () => Effect.succeed({ _tag: "Result", content: { appointmentId: "a1" }, isError: false, callOutcome: "booked" })
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Mardi à 10 h, c'est parfait.")
        expect(yield* call.textUntilLast).toBe("C'est noté.")
        const row = yield* eventually(call.callRow, (r) => r.outcome !== null, "the outcome stored")
        expect(row).toMatchObject({ ended_at: null, outcome: "booked" })
      }))
  })

  test("control: a tool result without an outcome leaves the live call's outcome empty", async () => {
    await runCall({
      claude: (_, index) => (index === 0 ? useTool("check_availability", {}) : say("Mardi est libre.")),
      tools: () => Effect.succeed(toolResult({ slots: [] }))
    }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Mardi ?")
        expect(yield* call.textUntilLast).toBe("Mardi est libre.")
        yield* eventually(call.messages, (rows) => rows.length === 4, "the turn stored")
        expect((yield* call.callRow).outcome).toBeNull()
      }))
  })

  test("a first frame that is not a setup closes the socket", async () => {
    await runCall({ setup: false }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Bonjour")
        expect(yield* Deferred.await(call.serverClosed)).toEqual({ code: 1008, reason: "setup expected" })
      }))
  })

  test("malformed frames are stored as call events and the call goes on", async () => {
    await runCall({ claude: () => say("Je vous écoute.") }, (call) =>
      Effect.gen(function*() {
        yield* call.send("this is not json")
        yield* call.send({ type: "connected", streamSid: "MZ1" })
        yield* call.send({ type: "prompt", voicePrompt: 42 })
        yield* call.prompt("Allô ?")
        expect(yield* call.textUntilLast).toBe("Je vous écoute.")
        const events = yield* eventually(call.events, (rows) => rows.filter((e) => e.type === "malformed_frame").length === 3, "three malformed_frame events")
        expect(events.filter((e) => e.type === "malformed_frame").map((e) => e.data.type)).toEqual(["not-json", "connected", "prompt"])
      }))
  })
})
