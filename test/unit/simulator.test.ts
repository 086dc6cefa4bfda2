import { describe, expect, test } from "../support/test.ts"
import { Effect } from "effect"
import { Playback } from "../../src/cli/playback.ts"
import { connectActionForm, onServer, readTwiml } from "../../src/cli/twilioSide.ts"
import { dialTwiml, hangupTwiml, relayTwiml, sayThenHangupTwiml } from "../../src/carriers/twilio/twiml.ts"
import { decodeTenantConfig } from "../../src/tenants/TenantConfig.ts"

/** The simulator's pieces: what the caller has heard of a reply, and reading the TwiML our server answers. */

describe("playback: what the caller has heard", () => {
  test("words are heard at the speaking rate from the first one; a barge-in keeps whole words only", () => {
    let now = 1_000
    const reply = new Playback(10, () => now)
    expect(reply.speaking).toBe(false)
    reply.add("Nous ouvrons ")
    reply.add("à neuf heures.")
    expect(reply.speaking).toBe(true)
    now += 1_500 // 15 characters at 10 a second: "Nous ouvrons à " — the last word is not finished
    expect(reply.heard()).toEqual({ utterance: "Nous ouvrons à", durationMs: 1_500 })
    now += 400
    expect(reply.heard().utterance).toBe("Nous ouvrons à")
    reply.finish()
    now += 10_000
    expect(reply.speaking).toBe(false)
    expect(reply.heard().utterance).toBe("Nous ouvrons à neuf heures.")
  })

  test("speech pauses while the server is silent (a tool running) and resumes with the next words", () => {
    let now = 0
    const reply = new Playback(10, () => now)
    reply.add("Je regarde. ")
    now += 5_000 // everything said; silence while the tool runs
    reply.add("Oui.")
    expect(reply.remainingMs).toBe(400)
    now += 200
    expect(reply.heard().utterance).toBe("Je regarde.")
  })
})

describe("reading our TwiML as Twilio would", () => {
  const tenant = {
    id: "t1",
    config: Effect.runSync(decodeTenantConfig({ name: "Salon", phoneNumbers: ["+33100000000"], greeting: "Bonjour & bienvenue chez « Salon »" }))
  }

  test("the relay answer gives the connect action, the relay URL, the greeting and the parameters", () => {
    const xml = relayTwiml({ publicUrl: "https://c.example", publicWsUrl: "wss://c.example", tenant, callId: "call-1" })
    expect(readTwiml(xml)).toEqual({
      _tag: "Relay",
      connectAction: "https://c.example/webhooks/twilio/connect-action",
      relayUrl: "wss://c.example/webhooks/twilio/conversation",
      greeting: "Bonjour & bienvenue chez « Salon »",
      parameters: { callId: "call-1" }
    })
  })

  test("a dial, a spoken goodbye then a hang-up, a bare hang-up", () => {
    expect(readTwiml(dialTwiml({ transferNumber: "+33612345678", publicUrl: "https://c.example" }))).toEqual({
      _tag: "Dial",
      number: "+33612345678",
      action: "https://c.example/webhooks/twilio/dial-result",
      say: []
    })
    expect(readTwiml(sayThenHangupTwiml("Au revoir."))).toEqual({ _tag: "Hangup", say: ["Au revoir."] })
    expect(readTwiml(hangupTwiml())).toEqual({ _tag: "Hangup", say: [] })
  })

  test("public URLs are reached at the server's real address, path and query kept", () => {
    expect(onServer("wss://c.example/webhooks/twilio/conversation?x=1", "http://127.0.0.1:8080", true)).toBe(
      "ws://127.0.0.1:8080/webhooks/twilio/conversation?x=1"
    )
    expect(onServer("wss://c.example/ws", "https://c.fly.dev", true)).toBe("wss://c.fly.dev/ws")
  })

  test("connect action forms: a caller hang-up is completed, a dropped socket failed with Twilio's error code", () => {
    const call = { callSid: "CA1", accountSid: "AC1", from: "+336", to: "+339" }
    expect(connectActionForm(call, { status: "completed", sessionId: "VX1", durationSeconds: 3 })).toMatchObject({ CallStatus: "completed", SessionStatus: "completed" })
    expect(connectActionForm(call, { status: "failed", sessionId: "VX1", durationSeconds: 3 })).toMatchObject({ CallStatus: "in-progress", ErrorCode: "64105" })
    expect(connectActionForm(call, { status: "ended", sessionId: "VX1", durationSeconds: 3, handoffData: "{}" })).toMatchObject({ HandoffData: "{}" })
  })
})
