import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import twilio from "twilio"
import { testWithFixtures, twimlResponses, webhookForms } from "../support/fixtures.ts"
import {
  actionForm,
  find,
  findAll,
  parametersOf,
  parseTwiml,
  parseXml,
  RelayClient,
  RelayHandshakeError,
  relaySignatureUrl,
  signedPost,
  statusForm,
  verbs,
  voiceForm
} from "../support/twilioClient.ts"
import { serve, sleep, type TestServer } from "../support/runtime.ts"

const AUTH_TOKEN = "12345678901234567890123456789012"
const PUBLIC_URL = "https://coccinelle.test"
const WS_PATH = "/webhooks/twilio/conversation"

/**
 * A stand-in for our server that checks signatures the way the real one must (PUBLIC_URL + path, and the
 * `wss://` URL with empty params for the handshake), echoes forms, and scripts relay replies.
 */
type ServerSocketData = { frames: Array<unknown> }
let server: TestServer
let base: string
let wsUrl: string
const serverFrames: Array<unknown> = []

beforeAll(() => {
  server = serve<ServerSocketData>({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      const url = new URL(req.url)
      const signature = req.headers.get("x-twilio-signature")
      if (url.pathname === WS_PATH) {
        const ok = signature !== null && twilio.validateRequest(AUTH_TOKEN, signature, `wss://coccinelle.test${url.pathname}${url.search}`, {})
        if (!ok) return new Response("Forbidden", { status: 403 })
        if (srv.upgrade(req, { data: { frames: [] } })) return undefined
        return new Response("upgrade failed", { status: 400 })
      }
      const params = Object.fromEntries(new URLSearchParams(await req.text()))
      if (signature === null || !twilio.validateRequest(AUTH_TOKEN, signature, PUBLIC_URL + url.pathname + url.search, params)) {
        return new Response("Forbidden", { status: 403 })
      }
      if (url.pathname === "/webhooks/twilio/voice") {
        const response = new twilio.twiml.VoiceResponse()
        const connect = response.connect({ action: `${PUBLIC_URL}/webhooks/twilio/action?t=1&x=2` })
        const relay = connect.conversationRelay({
          url: `wss://coccinelle.test${WS_PATH}`,
          language: "fr-FR",
          welcomeGreeting: "Bonjour, Salon « Lumière » & Cie, que puis-je faire pour vous ?",
          dtmfDetection: true
        })
        relay.parameter({ name: "callSid", value: params.CallSid ?? "" })
        relay.parameter({ name: "note", value: "a<b>\"c\"'d'" })
        return new Response(response.toString(), { headers: { "content-type": "text/xml" } })
      }
      return Response.json(params)
    },
    websocket: {
      message(ws, message) {
        let frame: any
        try {
          frame = JSON.parse(String(message))
        } catch {
          serverFrames.push(String(message))
          return
        }
        serverFrames.push(frame)
        if (frame.type === "setup") ws.send(JSON.stringify({ type: "text", token: "Bonjour", last: true }))
        if (frame.type === "prompt" && frame.last) {
          for (const [token, last] of [["Vous", false], [" avez dit", false], [` « ${frame.voicePrompt} »`, false], ["", true]] as const) {
            ws.send(JSON.stringify({ type: "text", token, last }))
          }
        }
        if (frame.type === "dtmf" && frame.digit === "0") {
          ws.send(JSON.stringify({ type: "end", handoffData: JSON.stringify({ reason: "transfer" }) }))
          ws.close(1000, "Closing websocket session")
        }
        if (frame.type === "info") ws.send("not json")
      }
    }
  })
  base = `http://127.0.0.1:${server.port}`
  wsUrl = `ws://127.0.0.1:${server.port}${WS_PATH}`
})
afterAll(() => server.stop(true))

describe("signedPost", () => {
  test("a correct signature over PUBLIC_URL + path and the form passes", async () => {
    const form = voiceForm({ callSid: "CA01", from: "+33612345678", to: "+33939035760" })
    const res = await signedPost(base, PUBLIC_URL, "/webhooks/twilio/echo?x=1", form, AUTH_TOKEN)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.text)).toEqual(form)
  })

  test("a wrong signature, no signature, or the wrong token is refused", async () => {
    const form = statusForm({ callSid: "CA01", status: "completed", duration: 42, sequence: 3 })
    expect((await signedPost(base, PUBLIC_URL, "/webhooks/twilio/status", form, AUTH_TOKEN, { signature: "bm9wZQ==" })).status).toBe(403)
    expect((await signedPost(base, PUBLIC_URL, "/webhooks/twilio/status", form, AUTH_TOKEN, { signature: null })).status).toBe(403)
    expect((await signedPost(base, PUBLIC_URL, "/webhooks/twilio/status", form, "another-token")).status).toBe(403)
    // signed for a different public host: what a proxy-unaware server would compute
    expect((await signedPost(base, base, "/webhooks/twilio/status", form, AUTH_TOKEN)).status).toBe(403)
  })
})

describe("forms", () => {
  test("voice, status and action forms carry Twilio's fields", () => {
    const voice = voiceForm({ callSid: "CA01", from: "+33612345678", to: "+33939035760", forwardedFrom: "+33100000000" })
    expect(voice).toMatchObject({
      AccountSid: expect.stringMatching(/^AC/),
      ApiVersion: "2010-04-01",
      CallSid: "CA01",
      CallStatus: "ringing",
      Called: "+33939035760",
      Caller: "+33612345678",
      Direction: "inbound",
      From: "+33612345678",
      To: "+33939035760",
      ForwardedFrom: "+33100000000",
      FromCountry: "FR"
    })
    const status = statusForm({ callSid: "CA01", status: "completed", duration: 75, sequence: 2 })
    expect(status).toMatchObject({ CallStatus: "completed", CallDuration: "75", Duration: "2", SequenceNumber: "2", CallbackSource: "call-progress-events" })
    expect(status.Timestamp).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/)
    expect(statusForm({ callSid: "CA01", status: "ringing", sequence: 0 })).not.toHaveProperty("CallDuration")

    expect(actionForm({ callSid: "CA01", sessionStatus: "ended", handoffData: "{\"reason\":\"transfer\"}" })).toMatchObject({
      SessionStatus: "ended",
      CallStatus: "in-progress",
      HandoffData: "{\"reason\":\"transfer\"}",
      SessionId: expect.stringMatching(/^VX/)
    })
    expect(actionForm({ callSid: "CA01", sessionStatus: "completed" })).toMatchObject({ CallStatus: "completed" })
    expect(actionForm({ callSid: "CA01", sessionStatus: "completed" })).not.toHaveProperty("HandoffData")
    expect(actionForm({ callSid: "CA01", sessionStatus: "failed" })).toMatchObject({ ErrorCode: "64105", ErrorMessage: "Websocket ended", CallStatus: "in-progress" })
  })

  testWithFixtures("have the same field names as the recorded webhooks", () => {
    const optional = new Set(["ForwardedFrom", "CallerName", "StirStatus", "SipResponseCode", "HandoffData", "ErrorCode", "ErrorMessage"])
    const check = (ours: Record<string, string>, recorded: Readonly<Record<string, string>>) => {
      const required = Object.keys(recorded).filter((k) => !optional.has(k))
      expect(Object.keys(ours).filter((k) => !optional.has(k)).sort()).toEqual(required.sort())
    }
    check(voiceForm({ callSid: "CA01", from: "+33612345678", to: "+33939035760" }), webhookForms("interrupt", "/voice")[0]!.form)
    const completed = webhookForms("end-then-say-hangup", "/status").find((f) => f.form.CallStatus === "completed")!.form
    check(statusForm({ callSid: "CA01", status: "completed", duration: 15, sequence: 0 }), completed)
    check(actionForm({ callSid: "CA01", sessionStatus: "ended", handoffData: "{}" }), webhookForms("end-then-say-hangup", "/action")[0]!.form)
    check(actionForm({ callSid: "CA01", sessionStatus: "failed" }), webhookForms("socket-drop", "/action")[0]!.form)
  })
})

describe("parseTwiml", () => {
  test("reads <Connect action>, <ConversationRelay> attributes and <Parameter>s with entities decoded", async () => {
    const res = await signedPost(base, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA77", from: "+33612345678", to: "+33939035760" }), AUTH_TOKEN)
    expect(res.status).toBe(200)
    const twiml = parseTwiml(res.text)
    expect(verbs(twiml)).toEqual(["Connect"])
    expect(find(twiml, "Connect")!.attributes.action).toBe("https://coccinelle.test/webhooks/twilio/action?t=1&x=2")
    const relay = find(twiml, "ConversationRelay")!
    expect(relay.attributes).toMatchObject({
      url: "wss://coccinelle.test/webhooks/twilio/conversation",
      language: "fr-FR",
      dtmfDetection: "true",
      welcomeGreeting: "Bonjour, Salon « Lumière » & Cie, que puis-je faire pour vous ?"
    })
    expect(parametersOf(relay)).toEqual({ callSid: "CA77", note: "a<b>\"c\"'d'" })
  })

  test("reads <Dial>, <Say> text and <Hangup/>", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!-- comment -->
<Response>
  <Say language='fr-FR'>Je vous transf&#232;re &amp; vous mets en attente&#x2026;</Say>
  <Dial callerId="+33939035760" timeout="30"><Number>+33612345678</Number></Dial>
  <Say><![CDATA[Au revoir <3]]></Say>
  <Hangup/>
</Response>`
    const twiml = parseTwiml(xml)
    expect(verbs(twiml)).toEqual(["Say", "Dial", "Say", "Hangup"])
    const says = findAll(twiml, "Say")
    expect(says[0]!.text).toBe("Je vous transfère & vous mets en attente…")
    expect(says[0]!.attributes.language).toBe("fr-FR")
    expect(says[1]!.text).toBe("Au revoir <3")
    expect(find(twiml, "Dial")!.attributes).toEqual({ callerId: "+33939035760", timeout: "30" })
    expect(find(find(twiml, "Dial")!, "Number")!.text).toBe("+33612345678")
    expect(parseTwiml("<Response/>").children).toEqual([])
  })

  test("rejects malformed XML and a non-Response root", () => {
    expect(() => parseXml("<Response><Say>hi</Response>")).toThrow("does not close")
    expect(() => parseXml("<Response a=1/>")).toThrow("quoted")
    expect(() => parseXml("<Response>&nbsp;</Response>")).toThrow("unknown entity")
    expect(() => parseXml("<Response/><Response/>")).toThrow("after the root")
    expect(() => parseXml("<Response>")).toThrow("unclosed")
    expect(() => parseTwiml("<Other/>")).toThrow("expected <Response>")
  })

  testWithFixtures("parses every TwiML answer in the recordings", () => {
    const names = ["end-then-say-hangup", "end-then-reconnect", "socket-drop", "interrupt"]
    for (const name of names) {
      for (const { twiml } of twimlResponses(name)) {
        const doc = parseTwiml(twiml)
        expect(doc.children.length).toBeGreaterThan(0)
      }
    }
    const [voice, action] = twimlResponses("end-then-say-hangup")
    expect(find(parseTwiml(voice!.twiml), "ConversationRelay")!.attributes.events).toBe("speaker-events tokens-played")
    expect(verbs(parseTwiml(action!.twiml))).toEqual(["Say", "Hangup"])
  })
})

describe("RelayClient", () => {
  test("signature URL: public origin + local path, or a full wss:// URL as given", () => {
    expect(relaySignatureUrl("https://coccinelle.test", "ws://127.0.0.1:1234/webhooks/twilio/conversation?a=1")).toBe(
      "wss://coccinelle.test/webhooks/twilio/conversation?a=1"
    )
    expect(relaySignatureUrl("wss://x.test/relay", "ws://127.0.0.1:1/ignored")).toBe("wss://x.test/relay")
  })

  test("connects with a valid signature, sends Twilio-shaped frames, collects streamed text", async () => {
    const client = await RelayClient.connect(wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    try {
      const setup = client.setup({ callSid: "CA01", from: "+33612345678", to: "+33939035760", customParameters: { tenant: "t1" } })
      expect(setup).toMatchObject({ type: "setup", callStatus: "RINGING", direction: "inbound", callType: "PSTN", parentCallSid: "" })
      expect(Object.keys(setup).sort()).toEqual(
        ["accountSid", "callSid", "callStatus", "callType", "callerName", "customParameters", "direction", "forwardedFrom", "from", "parentCallSid", "sessionId", "to", "type"]
      )
      expect((await client.textUntilLast()).text).toBe("Bonjour")

      client.speak("je voudrais un rendez-vous")
      const turn = await client.textUntilLast()
      expect(turn.tokens).toEqual(["Vous", " avez dit", " « je voudrais un rendez-vous »", ""])
      expect(turn.text).toBe("Vous avez dit « je voudrais un rendez-vous »")
      const prompts = serverFrames.filter((f: any) => f.type === "prompt") as Array<{ voicePrompt: string; last: boolean }>
      expect(prompts.map((p) => p.last)).toEqual([false, false, false, true])
      expect(prompts[1]!.voicePrompt).toBe("je voudrais")

      client.prompt("encore")
      expect((await client.textUntilLast()).text).toContain("encore")

      client.interrupt("Vous avez", 460)
      await sleep(20)
      expect(serverFrames.at(-1)).toEqual({ type: "interrupt", utteranceUntilInterrupt: "Vous avez", durationUntilInterruptMs: 460 })

      client.info("agentSpeaking", "off")
      await sleep(50)
      expect(client.invalid).toEqual(["not json"])

      client.dtmf("0")
      const end = await client.waitForType("end")
      expect(JSON.parse(end.handoffData as string)).toEqual({ reason: "transfer" })
      expect(await client.closed).toEqual({ code: 1000, reason: "Closing websocket session", wasClean: true })
      await expect(client.waitForType("text", 200, { since: client.frames.length })).rejects.toThrow("socket closed")
    } finally {
      await client.close()
    }
  })

  test("a bad or missing signature surfaces as a rejected connect with status 403", async () => {
    for (const options of [{ signature: "bm9wZQ==" }, { signature: null }, { authToken: "wrong-token", publicUrl: PUBLIC_URL }, { authToken: AUTH_TOKEN }]) {
      const error = await RelayClient.connect(wsUrl, options).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(RelayHandshakeError)
      expect((error as RelayHandshakeError).status).toBe(403)
    }
  })

  test("waitFor times out with the frames it saw", async () => {
    const client = await RelayClient.connect(wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    try {
      client.setup({ callSid: "CA02", from: "+33612345678", to: "+33939035760" })
      await expect(client.waitForType("play", 150)).rejects.toThrow(/no matching frame after 150 ms; 1 frame\(s\) received: \[\{"type":"text"/)
      client.sendRaw("{not json")
      expect(client.sent.at(-1)).toBe("{not json")
      await sleep(20)
      expect(serverFrames.at(-1)).toBe("{not json")
    } finally {
      const closed = await client.close(1000)
      expect(closed.code).toBe(1000)
    }
  })
})
