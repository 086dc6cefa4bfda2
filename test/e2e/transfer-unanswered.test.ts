import { describe, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, PUBLIC_URL } from "../support/appServer.ts"
import { appWithFakeClaude } from "../support/fakeClaudeApp.ts"
import { callTool, lastMessage, lastToolResult, type Reply, sayText, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { actionForm, find, parametersOf, parseTwiml, RelayClient, signedPost, verbs, voiceForm } from "../support/twilioClient.ts"
import { createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * A transfer nobody answers, end to end and driven as Twilio would (signed webhooks, signed handshakes, the real
 * Anthropic SDK against a loopback fake): transfer → connect action → <Dial> → dial result `no-answer` → a new
 * <Connect> on a new socket → the caller leaves a message → the owner lists it. One call row, one summary.
 */

const CALLER = "+33611223344"
const BUSINESS = "+33100000021"
const TEAM = "+33600000021"
const UNANSWERED = "Personne n'a pu répondre pour le moment. Je peux prendre un message : quel est votre nom ?"

const SUMMARY = {
  summary: "M. Martin voulait parler au patron ; personne n'a répondu, il a laissé un message.",
  intent: "parler au patron",
  sentiment: "neutre",
  outcome: "message_taken",
  callbackNeeded: true,
  unansweredQuestions: []
} as const

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) return summaryCall(SUMMARY)
  const last = lastMessage(body)
  if (last.toolResult) {
    const { name, result } = lastToolResult(body)
    return name === "take_message" ? sayText(result.readBack) : sayText("Très bien.")
  }
  if (/patron/i.test(last.text)) return callTool("transfer_to_human", { reason: "le client veut parler au patron" })
  if (/Martin/.test(last.text)) {
    return callTool("take_message", { caller_name: "Jean Martin", message: "Rappelez-moi pour le devis de la salle de bains." }, { text: "Je note. " })
  }
  return sayText("Très bien.")
}

const served = appWithFakeClaude({ script })

const post = (path: string, form: Record<string, string>) => signedPost(served.app.baseUrl, PUBLIC_URL, path, form, AUTH_TOKEN)
const connect = async (callSid: string, twiml: string) => {
  const relay = find(parseTwiml(twiml), "ConversationRelay")!
  const ws = await RelayClient.connect(served.app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: CALLER, to: BUSINESS, customParameters: parametersOf(relay) })
  return { ws, relay }
}

describe("nobody answers the transfer", () => {
  test("the agent takes a message in a new relay session; the call keeps one row, one transcript, one summary", async () => {
    const tenant = await createTenant(served.app, { name: "Salle de bains Martin", phoneNumbers: [BUSINESS], greeting: "Bonjour !", transferNumber: TEAM })
    const callSid = "CA" + "21".repeat(16)

    const voice = await post("/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS }))
    const first = await connect(callSid, voice.text)
    const callId = parametersOf(first.relay).callId!
    first.ws.prompt("Je voudrais parler au patron.")
    expect((await first.ws.textUntilLast()).text).toContain("Je vous mets en relation")
    // TTS reports the handoff sentence spoken; the session then ends with a transfer handoff.
    first.ws.info("agentSpeaking", "on")
    first.ws.info("agentSpeaking", "off")
    const handoff = await first.ws.waitForType("end")
    await first.ws.close()

    // Twilio: the connect action, whose <Dial> nobody answers.
    const action = await post("/webhooks/twilio/connect-action", actionForm({ callSid, from: CALLER, to: BUSINESS, sessionStatus: "ended", handoffData: String(handoff.handoffData) }))
    expect(find(parseTwiml(action.text), "Number")!.text).toBe(TEAM)
    const dial = await post("/webhooks/twilio/dial-result", { ...actionForm({ callSid, from: CALLER, to: BUSINESS, sessionStatus: "ended" }), DialCallStatus: "no-answer" })
    const resumed = parseTwiml(dial.text)
    expect(verbs(resumed)).toEqual(["Connect"])
    expect(find(resumed, "ConversationRelay")!.attributes.welcomeGreeting).toBe(UNANSWERED)

    // The new socket: the caller gives a name and a message; the agent reads it back.
    const second = await connect(callSid, dial.text)
    expect(parametersOf(second.relay).callId).toBe(callId)
    const before = served.fake.requests.length
    second.ws.prompt("Jean Martin. Rappelez-moi pour le devis, s'il vous plaît.")
    const reply = await second.ws.textUntilLast()
    expect(reply.text).toContain("Jean Martin")
    expect(reply.text).toContain("Rappelez-moi pour le devis de la salle de bains.")
    // The model's request knew why the call came back: what was said, and no transfer offered any more.
    const request = served.fake.requests[before]!.body
    const system = request.system.map((block: any) => block.text).join("\n")
    expect(system).toContain("Aucun transfert vers un humain n'est possible")
    expect(JSON.stringify(request.messages)).toContain("Personne n'a pu répondre pour le moment.")
    // Key 0 no longer transfers: it offers a message, and the session goes on.
    second.ws.dtmf("0")
    expect((await second.ws.textUntilLast()).text).toMatch(/noter un message/)
    expect(second.ws.frames.filter((frame) => frame.type === "end")).toEqual([])
    await second.ws.close()

    const call = await waitUntil(async () => {
      const found = await served.app.query((s) =>
        s<{ id: string; outcome: string; end_reason: string }>`SELECT id, outcome, end_reason FROM calls WHERE twilio_call_sid = ${callSid} AND ended_at IS NOT NULL`)
      return found[0]
    }, "call finalised")
    expect(call).toMatchObject({ id: callId, outcome: "message_taken" })
    expect(await served.app.query((s) => s`SELECT id FROM calls WHERE twilio_call_sid = ${callSid}`)).toHaveLength(1)

    const events = (await served.app.query((s) =>
      s<{ type: string }>`SELECT type, data FROM call_events WHERE call_id = ${callId} ORDER BY id`)).map((e) => e.type)
    const order = ["transfer", "transfer_result", "transfer_unanswered", "resume"].map((type) => events.indexOf(type))
    expect(order.every((at) => at >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    expect(events.filter((type) => type === "setup")).toHaveLength(2)
    expect(events.filter((type) => type === "end")).toHaveLength(1)

    const listed = await fetch(served.app.baseUrl + "/api/v1/messages", { headers: { authorization: `Bearer ${tenant.apiKey}` } })
    const body = (await listed.json()) as any
    expect(body).toMatchObject({ success: true, count: 1 })
    expect(body.messages[0]).toMatchObject({ callId, callerName: "Jean Martin", callbackNumber: CALLER, message: "Rappelez-moi pour le devis de la salle de bains." })

    const summaries = await waitUntil(async () => {
      const found = await served.app.query((s) => s<{ call_id: string }>`SELECT call_id FROM call_summaries WHERE call_id = ${callId}`)
      return found.length > 0 ? found : undefined
    }, "summary written")
    expect(summaries).toHaveLength(1)
  })
})
