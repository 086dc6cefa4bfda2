import { afterAll, beforeAll, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { type FakeAnthropic, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"
import { eventually } from "../support/wait.ts"

/**
 * What the caller hears, end to end: the real server and SDK, a loopback model streaming a deliberately messy
 * reply cut mid-word into 3-character chunks, and Twilio's side of the relay socket. The text frames must read
 * as clean spoken French.
 */

const MESSY =
  "**Parfait !** 😊 Votre RDV est noté pour le mardi 1 décembre à 9h30.\n" +
  "- Numéro de rappel : +33611223344\n" +
  "- Tarif : 89,50 €\n" +
  "Plus d'infos sur https://www.salon-lumiere.fr/tarifs, à bientôt !"

const SPOKEN =
  "Parfait ! Votre rendez-vous est noté pour le mardi 1er décembre à 9 heures 30. " +
  "Numéro de rappel : 06 11 22 33 44. " +
  "Tarif : 89 euros 50. " +
  "Plus d'infos sur salon tiret lumiere point f r slash tarifs, à bientôt !"

const chunksOf3 = (text: string) => Array.from({ length: Math.ceil(text.length / 3) }, (_, i) => text.slice(i * 3, i * 3 + 3))

let fake: FakeAnthropic
let app: TestApp
beforeAll(async () => {
  fake = await startFakeAnthropic({ script: () => sayText(...chunksOf3(MESSY)) })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
})
afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

test("a messy model reply, streamed in 3-character chunks, reaches Twilio as clean spoken French", async () => {
  const callSid = "CA_SPEECH_MESSY"
  const res = await signedPost(
    app.baseUrl,
    PUBLIC_URL,
    "/webhooks/twilio/voice",
    voiceForm({ callSid, from: "+33612345678", to: BUSINESS_NUMBER }),
    AUTH_TOKEN
  )
  expect(res.status).toBe(200)
  const params = parametersOf(find(parseTwiml(res.text), "ConversationRelay")!)
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  try {
    ws.setup({ callSid, from: "+33612345678", to: BUSINESS_NUMBER, customParameters: params })
    ws.prompt("Vous pouvez me confirmer mon rendez-vous ?")
    const reply = await ws.textUntilLast()
    // Control: every pattern really is cut across chunks (none arrives whole in one delta).
    for (const pattern of ["**Parfait", "RDV ", "1 décembre", "9h30", "+33611223344", "89,50 €", "https://"]) {
      expect(chunksOf3(MESSY).some((chunk) => chunk.includes(pattern))).toBe(false)
    }
    expect(reply.text).toBe(SPOKEN)
    // Nothing of the written form reaches the caller, in any frame.
    for (const frame of reply.frames) {
      expect(String(frame.token)).not.toMatch(/[*#`_|\[\]<>€]|\p{Extended_Pictographic}|https?:|\+33|\d[hH]\d|RDV/u)
    }
    expect(reply.frames.length).toBeGreaterThan(10) // streamed, not held to the end
    // The transcript keeps what the caller heard.
    const stored = await eventually(
      () => app.query((sql) => sql<{ role: string; content: string }>`
        SELECT m.role, m.content FROM call_messages m JOIN calls c ON c.id = m.call_id
        WHERE c.twilio_call_sid = ${callSid} ORDER BY m.seq`),
      (rows) => rows.some((row) => row.role === "assistant"),
      "the reply stored"
    )
    expect(stored.find((row) => row.role === "assistant")?.content).toBe(SPOKEN)
  } finally {
    await ws.close()
  }
})
