import { afterAll, beforeAll, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { callTool, type FakeAnthropic, lastMessage, lastToolResult, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { createTenant } from "../support/tenants.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"

/**
 * Knowledge search with embeddings, end to end: the real server with OPENAI_API_KEY set and the real
 * `openai` SDK against a loopback fake of the embeddings endpoint. Chunks are embedded once, in
 * batches, when the operator adds the knowledge; a call only embeds its question (once, then cached).
 */

const GARAGE = "+33478000099"
const OTHER = "+33478000098"

let openai: FakeOpenAI
let claude: FakeAnthropic
let app: TestApp
/** What the scripted model searches for. */
let searchQuery = "pneus hiver montage"

beforeAll(async () => {
  openai = startFakeOpenAI()
  claude = await startFakeAnthropic({
    script: ({ body }) => {
      if (typeof body.system === "string") return sayText("{}") // post-call summaries: not this test's concern
      if (lastMessage(body).toolResult) return sayText(lastToolResult(body).result.found ? "Oui, c'est indiqué." : "Je ne sais pas.")
      return callTool("search_knowledge", { query: searchQuery })
    }
  })
  app = await startApp({ ANTHROPIC_BASE_URL: claude.url, OPENAI_API_KEY: "sk-test-fake", OPENAI_BASE_URL: openai.url })
})
afterAll(async () => {
  await app?.stop()
  await claude?.stop()
  await openai?.stop()
})

const newTenant = (name: string, number: string, knowledge: Array<{ title: string; content: string }>) =>
  createTenant(app, { name, phoneNumbers: [number], greeting: `${name}, bonjour.`, knowledge })

test("chunks are embedded once at ingestion, in batches; a call embeds only its question, once", async () => {
  const tyres = Array.from({ length: 120 }, (_, i) => ({
    title: `Fiche ${i}`,
    content: i === 7
      ? "Montage des pneus hiver : sur rendez-vous, comptez une heure, équilibrage compris."
      : `Information numéro ${i} sur la vidange, les freins et la climatisation du véhicule.`
  }))
  const before = openai.requests
  await newTenant("Garage du Centre", GARAGE, tyres)
  await newTenant("Autre Garage", OTHER, [{ title: "Pneus", content: "Chez nous les pneus hiver se montent sans rendez-vous." }])
  const ingestion = openai.log.slice(before)
  const chunkInputs = ingestion.reduce((n, request) => n + request.input.length, 0)
  expect(chunkInputs).toBeGreaterThanOrEqual(121)
  expect(ingestion.length).toBeLessThan(chunkInputs) // batched, not one request per chunk
  expect(ingestion.every((request) => request.model === "text-embedding-3-small")).toBe(true)

  const ask = async (callSid: string) => {
    const answer = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: "+33611111111", to: GARAGE }), AUTH_TOKEN)
    const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    ws.setup({ callSid, from: "+33611111111", to: GARAGE, customParameters: parametersOf(find(parseTwiml(answer.text), "ConversationRelay")!) })
    ws.prompt("Vous montez les pneus hiver ?")
    const reply = await ws.textUntilLast()
    await ws.close()
    return reply.text
  }

  const beforeCall = openai.requests
  expect(await ask("CA_EMBED_1")).toBe("Oui, c'est indiqué.")
  expect(openai.log.slice(beforeCall).map((request) => request.input)).toEqual([["pneus hiver montage"]])
  const { result } = lastToolResult(claude.requests.findLast((r) => typeof r.body.system !== "string")!.body)
  expect(result.passages[0]!.title).toBe("Fiche 7")
  // The other garage's passage about winter tyres never reaches this tenant's call.
  expect(JSON.stringify(result)).not.toContain("sans rendez-vous")

  // The same question again: the query vector is cached, nothing is embedded.
  const beforeSecond = openai.requests
  expect(await ask("CA_EMBED_2")).toBe("Oui, c'est indiqué.")
  expect(openai.requests).toBe(beforeSecond)
}, 20_000)

test("when the embeddings service fails during a call, search falls back to full text and the caller still gets an answer", async () => {
  searchQuery = "durée montage pneus hiver"
  openai.failNext(10, 500)
  const before = openai.requests
  const answer = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_EMBED_DOWN", from: "+33611111111", to: GARAGE }), AUTH_TOKEN)
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid: "CA_EMBED_DOWN", from: "+33611111111", to: GARAGE, customParameters: parametersOf(find(parseTwiml(answer.text), "ConversationRelay")!) })
  ws.prompt("Et pour les pneus hiver, c'est long ?")
  expect((await ws.textUntilLast(10_000)).text).toBe("Oui, c'est indiqué.")
  expect(openai.requests).toBeGreaterThan(before) // the query was really sent, and failed
  const { result } = lastToolResult(claude.requests.findLast((r) => typeof r.body.system !== "string")!.body)
  expect(result.passages[0]!.title).toBe("Fiche 7")
  await ws.close()
}, 20_000)
