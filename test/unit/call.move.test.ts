import { describe, expect, test } from "../support/test.ts"
import { Effect, Option } from "effect"
import { eventually, runCall, say, toolResult, useTool } from "../support/callHarness.ts"

/**
 * A deploy with another instance up moves each live call at its next pause — no turn running (a booking under
 * way completes and is said first), the agent not speaking — by ending the session with a `resume` handoff. The
 * call is not finalised: it is handed over in the database, for the next session on any instance.
 */

const booking = {
  claude: (_: unknown, index: number) => index === 0 ? useTool("book_appointment", { time: "10:00" }) : say("C'est réservé pour mardi."),
  tools: (name: string) =>
    name === "book_appointment"
      ? Effect.as(Effect.sleep("2 seconds"), toolResult({ appointmentId: "apt-1", message: "Rendez-vous confirmé." }))
      : Effect.succeed(toolResult({}))
}

const endFrames = (frames: ReadonlyArray<{ readonly type: string }>) => frames.filter((frame) => frame.type === "end")

describe("moving a call during a deploy", () => {
  test("a booking under way completes and is said first; then `end` says resume, and the call is handed over, not finalised", async () => {
    await runCall(booking, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Réservez mardi 10 h")
        yield* eventually(Effect.sync(() => call.toolRuns.length), (runs) => runs === 1, "the booking to start")
        yield* call.moveToAnotherInstance
        // The booking is still being written: no move yet.
        yield* call.advance("1 second", { sleeps: 2 })
        expect(endFrames(call.frames)).toEqual([])
        yield* call.advance("1 second", { sleeps: 2 })
        expect(yield* call.textUntilLast).toMatch(/C'est réservé pour mardi\.$/)
        expect(endFrames(call.frames)).toEqual([])
        // TTS had time to report it was speaking and did not: the pause has come.
        yield* call.advance("1100 millis")
        const end = yield* call.nextFrame
        expect(end.type).toBe("end")
        expect(JSON.parse(String((end as { handoffData?: string }).handoffData))).toEqual({ reason: "resume", callId: call.callId })
        yield* call.hangUp
        expect((yield* call.callRow).ended_at).toBeNull()
        const owner = yield* call.owner
        expect(Option.map(owner, (row) => ({ moving: row.moving, instance: row.instance_id }))).toEqual(Option.some({ moving: 1, instance: null }))
        const events = yield* eventually(call.events, (events) => events.some((e) => e.type === "moving"), "the moving event")
        expect(events.filter((e) => e.type === "end")).toEqual([])
        expect(call.toolRuns.map((run) => run.name)).toEqual(["book_appointment"])
      }))
  })

  test("while the agent is speaking (TTS says so) the call waits; it moves once the agent stops", async () => {
    await runCall({ claude: () => say("Nous sommes ouverts le mardi.") }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous ouvrez quand ?")
        expect(yield* call.textUntilLast).toBe("Nous sommes ouverts le mardi.")
        yield* call.info("agentSpeaking", "on")
        yield* call.moveToAnotherInstance
        yield* call.advance("3 seconds")
        expect(endFrames(call.frames)).toEqual([])
        yield* call.info("agentSpeaking", "off")
        yield* call.advance("100 millis")
        expect((yield* call.nextFrame).type).toBe("end")
      }))
  })

  test("control: without a deploy the same quiet call never moves, and ends as a hang-up", async () => {
    await runCall({ claude: () => say("Nous sommes ouverts le mardi.") }, (call) =>
      Effect.gen(function*() {
        yield* call.prompt("Vous ouvrez quand ?")
        yield* call.textUntilLast
        yield* call.advance("5 seconds", { sleeps: 0 })
        expect(endFrames(call.frames)).toEqual([])
        yield* call.hangUp
        expect((yield* call.callRow).end_reason).toBe("caller_hangup")
      }))
  })
})
