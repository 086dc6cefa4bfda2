import { afterAll, beforeAll, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { callTool, type FakeAnthropic, lastToolResult, sayText, startFakeAnthropic } from "../support/fakeAnthropic.ts"
import { nextTuesday } from "../support/dates.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"

/**
 * The receptionist's tools, end to end: a caller asks a knowledge question, checks a slot and books it,
 * through the real server, the real Anthropic SDK against the fake, and the demo tenant's real data.
 */

const CALLER = "+33611223344"

const date = nextTuesday()
let fake: FakeAnthropic
let app: TestApp

beforeAll(async () => {
  fake = await startFakeAnthropic({
    script: ({ index, body }) => {
      switch (index) {
        case 0:
          return callTool("search_knowledge", { query: "parking gratuit" })
        case 1: {
          const result = lastToolResult(body).result
          return sayText(result.found ? `Oui, ${result.passages[0].title.toLowerCase()} : c'est indiqué.` : "Je ne sais pas.")
        }
        case 2:
          return [...sayText("Je regarde les disponibilités. "), ...callTool("check_availability", { date, service_type: "coupe-femme" })]
        case 3: {
          const result = lastToolResult(body).result
          return sayText(`Le premier créneau libre est à ${result.times?.[0] ?? "aucune heure"}.`)
        }
        case 4:
          return callTool("book_appointment", { date, time: "09:00", client_name: "Marie Dupont", service_type: "coupe-femme" })
        case 5:
          return sayText(lastToolResult(body).result.message)
        case 6:
          return callTool("check_availability", { date, service_type: "coupe-femme" })
        case 7:
          return sayText(lastToolResult(body).result.times.includes("09:00") ? "9 h est libre." : "9 h est pris.")
        default:
          return sayText("Autre chose ?")
      }
    }
  })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
})

afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

test("a caller asks about parking, checks a Tuesday slot and books it", async () => {
  const answer = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_RECEPTION", from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN)
  const relay = find(parseTwiml(answer.text), "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid: "CA_RECEPTION", from: CALLER, to: BUSINESS_NUMBER, customParameters: parametersOf(relay) })

  ws.prompt("Bonjour, est-ce qu'il y a un parking ?")
  const parking = await ws.textUntilLast()
  expect(parking.text).toBe("Oui, accès et parking : c'est indiqué.")
  // The passage came from this tenant's own knowledge, with its title, and no second LLM call was made for it.
  const searchResult = lastToolResult(fake.requests[1]!.body).result
  expect(searchResult.passages[0].title).toBe("Accès et parking")
  expect(searchResult.passages[0].text).toContain("parking gratuit")

  ws.prompt("Je voudrais une coupe mardi prochain.")
  const slots = await ws.textUntilLast()
  expect(slots.text).toContain("Je regarde les disponibilités.")
  expect(slots.text).toContain("Le premier créneau libre est à 9 heures.")
  const availability = lastToolResult(fake.requests[3]!.body).result
  expect(availability.status).toBe("available")
  // Morning and afternoon ranges, 45-minute service: the last start is 18:15, nothing in the lunch break.
  expect(availability.times).toContain("11:15")
  expect(availability.times).not.toContain("12:00")
  expect(availability.times).toContain("18:15")
  expect(availability.times).not.toContain("18:30")

  ws.prompt("Oui, à neuf heures, au nom de Marie Dupont.")
  const booked = await ws.textUntilLast()
  expect(booked.text).toContain("Rendez-vous confirmé")
  expect(booked.text).toContain("Marie Dupont")

  const rows = await app.query((sql) =>
    sql<{ starts_at: string; client_phone: string; call_id: string; time_zone: string; status: string }>`
      SELECT a.starts_at, a.client_phone, a.call_id, a.time_zone, a.status FROM appointments a
      JOIN calls c ON c.id = a.call_id WHERE c.twilio_call_sid = 'CA_RECEPTION'`)
  expect(rows).toHaveLength(1)
  expect(rows[0]!.status).toBe("booked")
  expect(rows[0]!.client_phone).toBe(CALLER) // defaulted to the caller's number from the signed webhook
  expect(rows[0]!.time_zone).toBe("Europe/Paris")
  // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
  expect(rows[0]!.starts_at).toMatch(new RegExp(`^${date}T0[78]:00:00`))

  // The slot is gone now, and so are the ones the 45-minute booking overlaps.
  ws.prompt("Et mardi à la même heure, il reste de la place ?")
  expect((await ws.textUntilLast()).text).toBe("9 heures est pris.")
  const after = lastToolResult(fake.requests[7]!.body).result
  expect(after.times).not.toContain("09:30")
  expect(after.times).toContain("09:45")
  ws.close()
  await ws.closed
})
