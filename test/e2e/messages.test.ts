import { describe, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, PUBLIC_URL } from "../support/appServer.ts"
import { appWithFakeClaude } from "../support/fakeClaudeApp.ts"
import { callTool, lastMessage, lastToolResult, type Reply, sayText, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"
import { createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * take_message end to end: a caller leaves a message through the real call path (signed webhook, relay
 * socket, the real Anthropic SDK against a loopback fake); the owner lists it, marks it handled; another
 * tenant never sees it; the call's outcome, the stats and the summary say a message was taken.
 */

const CALLER = "+33611223344"

const SUMMARY = {
  summary: "Mme Durand a laissé un message pour un devis.",
  intent: "devis",
  sentiment: "neutre",
  outcome: "message_taken",
  // The model forgot: a taken message must still ask for a callback.
  callbackNeeded: false,
  unansweredQuestions: []
} as const

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) return summaryCall(SUMMARY)
  const last = lastMessage(body)
  if (last.toolResult) {
    // Speaks the tool's read-back as the model is told to.
    return sayText(lastToolResult(body).result.readBack)
  }
  if (/message/i.test(last.text)) {
    return callTool("take_message", { caller_name: "Mme Durand", message: "Merci de me rappeler pour un devis." }, { text: "Je note. " })
  }
  return sayText("Très bien.")
}

const served = appWithFakeClaude({ script })

const newTenant = (name: string, number: string) => createTenant(served.app, { name, phoneNumbers: [number], greeting: `${name}, bonjour !` })

const api = async (key: string, path: string, init: RequestInit = {}) => {
  const res = await fetch(served.app.baseUrl + path, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }
  })
  return { status: res.status, body: (await res.json()) as any }
}

describe("take_message end to end", () => {
  test("a caller leaves a message; the owner lists it and marks it handled; another tenant cannot see it", async () => {
    const plumber = await newTenant("Plomberie Durand", "+33100000011")
    const other = await newTenant("Autre", "+33100000012")
    const callSid = "CA" + "7".repeat(32)

    const voice = await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: "+33100000011" }), AUTH_TOKEN)
    const relay = find(parseTwiml(voice.text), "ConversationRelay")!
    const ws = await RelayClient.connect(served.app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    ws.setup({ callSid, from: CALLER, to: "+33100000011", customParameters: parametersOf(relay) })
    ws.prompt("Je voudrais laisser un message pour le patron.")
    const reply = await ws.textUntilLast()
    // The agent reads back what it noted, with the caller's own number.
    expect(reply.text).toContain("madame Durand") // « Mme » as it is said
    expect(reply.text).toContain("Merci de me rappeler pour un devis.")
    expect(reply.text).toContain("06 11 22 33 44")
    await ws.close()

    const call = await waitUntil(async () => {
      const rows = await served.app.query((s) => s<{ id: string; outcome: string | null }>`SELECT id, outcome FROM calls WHERE twilio_call_sid = ${callSid} AND ended_at IS NOT NULL`)
      return rows[0]
    }, "call finalised")
    expect(call.outcome).toBe("message_taken")

    const listed = await api(plumber.apiKey, "/api/v1/messages")
    expect(listed.status).toBe(200)
    expect(listed.body).toMatchObject({ success: true, count: 1, nextCursor: null })
    const message = listed.body.messages[0]
    expect(message).toMatchObject({
      callId: call.id,
      callerName: "Mme Durand",
      callbackNumber: CALLER,
      message: "Merci de me rappeler pour un devis.",
      urgent: false,
      status: "new",
      handledAt: null
    })
    expect(Number.isNaN(Date.parse(message.createdAt))).toBe(false)

    // Another tenant: not in its list, and its key cannot change it.
    expect((await api(other.apiKey, "/api/v1/messages")).body).toMatchObject({ success: true, messages: [], count: 0 })
    const foreign = await api(other.apiKey, `/api/v1/messages/${message.id}`, { method: "PATCH", body: JSON.stringify({ status: "handled" }) })
    expect(foreign.status).toBe(404)
    expect(foreign.body.success).toBe(false)

    const handled = await api(plumber.apiKey, `/api/v1/messages/${message.id}`, { method: "PATCH", body: JSON.stringify({ status: "handled" }) })
    expect(handled.status).toBe(200)
    expect(handled.body.message).toMatchObject({ id: message.id, status: "handled" })
    expect(Number.isNaN(Date.parse(handled.body.message.handledAt))).toBe(false)
    expect((await api(plumber.apiKey, "/api/v1/messages?status=new")).body.count).toBe(0)
    expect((await api(plumber.apiKey, "/api/v1/messages?status=handled")).body.count).toBe(1)
    const reopened = await api(plumber.apiKey, `/api/v1/messages/${message.id}`, { method: "PATCH", body: JSON.stringify({ status: "new" }) })
    expect(reopened.body.message).toMatchObject({ status: "new", handledAt: null })

    const bad = await api(plumber.apiKey, `/api/v1/messages/${message.id}`, { method: "PATCH", body: JSON.stringify({ status: "lu" }) })
    expect(bad.status).toBe(400)
    expect((await api(plumber.apiKey, "/api/v1/messages?status=lu")).status).toBe(400)

    const stats = await api(plumber.apiKey, "/api/v1/twilio/stats")
    expect(stats.body.messagesTaken).toBe(1)
    expect((await api(other.apiKey, "/api/v1/twilio/stats")).body.messagesTaken).toBe(0)

    const detail = await waitUntil(async () => {
      const res = await api(plumber.apiKey, `/api/v1/twilio/calls/${call.id}`)
      return res.body.call?.summary ? res.body.call : undefined
    }, "summary written")
    expect(detail.summary).toMatchObject({ outcome: "message_taken", callbackNeeded: true })
  })

  test("messages page newest first with a cursor, and filter by dates", async () => {
    const shop = await newTenant("Boutique", "+33100000013")
    const insert = (id: string, createdAt: string) =>
      served.app.query((s) =>
        s`INSERT INTO caller_messages ${
          s.insert({ id, tenant_id: shop.id, call_id: null, caller_name: id, callback_number: null, message: "m", urgent: 1, status: "new", created_at: createdAt })
        }`
      )
    await insert("m1", "2026-11-01T09:00:00.000Z")
    await insert("m2", "2026-11-02T09:00:00.000Z")
    await insert("m3", "2026-11-03T09:00:00.000Z")
    const first = await api(shop.apiKey, "/api/v1/messages?limit=2")
    expect(first.body.messages.map((m: any) => m.id)).toEqual(["m3", "m2"])
    expect(first.body.messages[0].urgent).toBe(true)
    const second = await api(shop.apiKey, `/api/v1/messages?limit=2&cursor=${first.body.nextCursor}`)
    expect(second.body).toMatchObject({ count: 1, nextCursor: null })
    expect(second.body.messages[0].id).toBe("m1")
    const ranged = await api(shop.apiKey, "/api/v1/messages?from=2026-11-02&to=2026-11-02")
    expect(ranged.body.messages.map((m: any) => m.id)).toEqual(["m2"])
    expect((await api(shop.apiKey, "/api/v1/messages?cursor=nope")).status).toBe(400)
  })
})
