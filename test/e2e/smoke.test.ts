import { afterAll, beforeAll, expect, test } from "../support/test.ts"
import { callTool, type FakeAnthropic, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"

let fake: FakeAnthropic
let app: TestApp

beforeAll(async () => {
  fake = await startFakeAnthropic({
    script: ({ index }) =>
      index === 0
        ? [...sayText("Je regarde. "), ...callTool("search_knowledge", { query: "parking" })]
        : sayText("Un parking ", "gratuit se trouve ", "rue Vauban.")
  })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
})
afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

test("smoke: a call is answered, a question goes through Claude and a tool", async () => {
  const res = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA1", from: "+33612345678", to: BUSINESS_NUMBER }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const twiml = parseTwiml(res.text)
  const relay = find(twiml, "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid: "CA1", from: "+33612345678", to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })
  ws.prompt("Est-ce qu'il y a un parking ?")
  const reply = await ws.textUntilLast(5000)
  expect(reply.text).toContain("rue Vauban")
  expect(reply.tokens.length).toBeGreaterThan(2)
  ws.close()
})
