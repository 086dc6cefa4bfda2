import { afterAll, beforeAll, expect, test } from "../support/test.ts"
import { readFileSync } from "node:fs"
import { AUTH_TOKEN, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { callTool, type FakeAnthropic, lastMessage, lastToolResult, type Reply, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { runtime, scriptCommand, spawn } from "../support/runtime.ts"
import { nextTuesday } from "../support/dates.ts"
import { createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * `bun run call` (`deno run -A src/cli/call.ts` under `deno task test`) driven through standard input
 * against the real server (real SDK, loopback model): the greeting, a knowledge question, a barge-in
 * halfway through a long reply, a booking, key 9, then the connect action and status callback Twilio
 * would post, and the outcome and summary printed.
 */

const SALON_NUMBER = "+33100000021"
const HOURS_REPLY =
  "Nous sommes ouverts du mardi au jeudi de neuf heures à midi puis de quatorze heures à dix-neuf heures, le vendredi en continu et le samedi jusqu'à dix-sept heures."

const date = nextTuesday()

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) {
    return summaryCall({
      summary: "Marie Dupont a demandé le parking puis a réservé une coupe femme.",
      intent: "réservation",
      sentiment: "positif",
      outcome: "booked",
      callbackNeeded: false,
      unansweredQuestions: []
    })
  }
  const last = lastMessage(body)
  if (last.toolResult) {
    const { name, result } = lastToolResult(body)
    if (name === "search_knowledge") return sayText(result.found ? "Oui, un parking gratuit est tout proche." : "Je ne sais pas.")
    return sayText(String(result.message ?? "C'est noté."))
  }
  if (/parking/i.test(last.text)) return callTool("search_knowledge", { query: "parking" }, { text: "Je regarde. " })
  if (/horaires/i.test(last.text)) return sayText(...HOURS_REPLY.split(/(?<=,)/))
  if (/coupe/i.test(last.text)) {
    return callTool("book_appointment", { date, time: "09:00", client_name: "Marie Dupont", service_type: "coupe-femme" })
  }
  return sayText("Très bien.")
}

let fake: FakeAnthropic
let app: TestApp
let apiKey: string

beforeAll(async () => {
  fake = await startFakeAnthropic({ script })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
  const salon = JSON.parse(readFileSync(new URL("../../src/tenants/demo-tenant.json", import.meta.url), "utf8"))
  apiKey = (await createTenant(app, { ...salon, phoneNumbers: [SALON_NUMBER] })).apiKey
})

afterAll(async () => {
  await app?.stop()
  await fake?.stop()
})

const simulate = (target: TestApp, lines: ReadonlyArray<string>, extra: ReadonlyArray<string> = []) => {
  const child = spawn(
    scriptCommand("src/cli/call.ts", "--url", target.baseUrl, "--public-url", PUBLIC_URL, "--from", "+33611223344", "--rate", "100", ...extra),
    {
      // The simulator reads the server's configuration as the server does: the same auth token signs.
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", TWILIO_AUTH_TOKEN: AUTH_TOKEN, DATABASE_URL: ":memory:" },
      stdin: lines.join("\n") + "\n"
    }
  )
  return Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()])
}

test(`a scripted call through the simulator (bun run call) on ${runtime}: knowledge, barge-in, booking, key 9, outcome and summary`, async () => {
  const lines = [
    "Bonjour, est-ce qu'il y a un parking ?",
    "Quels sont vos horaires ?",
    "/interrompre Pardon, je voudrais plutôt une coupe mardi à neuf heures, au nom de Marie Dupont.",
    "/9"
  ]
  const [code, out, err] = await simulate(app, lines, ["--to", SALON_NUMBER, "--api-key", apiKey])
  expect(err).toBe("")
  expect(code).toBe(0)

  // The greeting Twilio speaks from the TwiML, then each reply with its time to the first word.
  expect(out).toContain("Agent : Bonjour, Salon Lumière, je suis l'assistante du salon.")
  expect(out).toMatch(/Agent \[\d+ ms\] : Je regarde\. Oui, un parking gratuit est tout proche\./)
  // The barge-in came halfway through the hours: what was heard is a strict beginning of the reply.
  const heard = /vous coupez l'agent après « (.*) » \((\d+) ms\)/.exec(out)
  expect(heard).not.toBeNull()
  expect(heard![1]!.length).toBeGreaterThan(0)
  expect(HOURS_REPLY.startsWith(heard![1]!)).toBe(true)
  expect(heard![1]!.length).toBeLessThan(HOURS_REPLY.length)
  expect(out).toContain("Rendez-vous confirmé")
  expect(out).toContain("Merci de votre appel, au revoir.")
  expect(out).toContain("Twilio raccroche.")
  expect(out).toContain("Issue : booked (fin : agent_hangup)")
  expect(out).toContain("Résumé : Marie Dupont a demandé le parking puis a réservé une coupe femme.")

  // The server saw it all as from Twilio: the stored reply cut where the caller barged in, the booking, the
  // connect action and the status callback.
  const call = await waitUntil(async () => {
    const rows = await app.query((s) =>
      s<{ id: string; status: string; duration: number | null; end_reason: string }>`
        SELECT id, status, duration, end_reason FROM calls WHERE to_number = ${SALON_NUMBER}`)
    return rows[0]?.status === "completed" ? rows[0] : undefined
  }, "status callback applied")
  expect(call.end_reason).toBe("agent_hangup")
  expect(call.duration).not.toBeNull()
  const cut = await app.query((s) =>
    s<{ content: string }>`SELECT content FROM call_messages WHERE call_id = ${call.id} AND role = 'assistant' AND interrupted = 1`)
  expect(cut.map((row) => row.content)).toEqual([heard![1]!])
  const events = await app.query((s) => s<{ type: string; data: string }>`SELECT type, data FROM call_events WHERE call_id = ${call.id}`)
  // Parsed: Postgres's jsonb gives the same JSON with its own spacing.
  expect(JSON.parse(events.find((e) => e.type === "session_end")?.data ?? "{}")).toMatchObject({ sessionStatus: "ended" })
  const booked = await app.query((s) => s<{ client_name: string }>`SELECT client_name FROM appointments WHERE call_id = ${call.id}`)
  expect(booked.map((row) => row.client_name)).toEqual(["Marie Dupont"])
}, 30_000)

test("a server without a model key says so plainly, in the call and in its logs", async () => {
  const bare = await startApp({ ANTHROPIC_API_KEY: "" })
  try {
    const [code, out] = await simulate(bare, ["Bonjour, vous êtes ouverts samedi ?"], ["--summary-timeout", "0"])
    expect(code).toBe(0)
    expect(out).toContain("ce serveur n'a pas de clé d'accès au modèle de langage")
    expect(out).not.toContain("répéter")
    expect(bare.logLines.some((line) => line.includes("ANTHROPIC_API_KEY is not set: the agent cannot answer"))).toBe(true)
    expect(bare.logLines.join("\n")).not.toContain("An error has occurred")
  } finally {
    await bare.stop()
  }
}, 30_000)

test("a transfer nobody answers, through the simulator: it posts the dial result as Twilio would and prints the reopened session", async () => {
  const [code, out, err] = await simulate(app, ["/0"], ["--to", SALON_NUMBER, "--api-key", apiKey, "--transfert", "sans-reponse", "--summary-timeout", "0"])
  expect(err).toBe("")
  expect(code).toBe(0)
  expect(out).toContain("Je vous mets en relation avec un membre de l'équipe")
  expect(out).toContain("personne ne répond")
  expect(out).toContain("Twilio rouvre une session ConversationRelay qui dit « Personne n'a pu répondre pour le moment. Je peux prendre un message : quel est votre nom ? »")
}, 30_000)
