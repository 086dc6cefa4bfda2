import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BrowserContext, Page } from "playwright-core"
import { addDays, localDateAt } from "../../src/scheduling/slots.ts"
import { AUTH_TOKEN, PUBLIC_URL, startApp, type TestApp } from "../support/appServer.ts"
import { callTool, type FakeAnthropic, lastMessage, type Reply, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { repoRoot } from "../support/fixtures.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"
import { callRow } from "../support/rows.ts"
import { createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * The owner's page in a real headless browser (Debian's chromium driven by playwright-core) against the
 * real server: a call made through the signed webhooks and the relay socket with the loopback model books
 * an appointment and leaves a message; the owner signs in, reads the call, cancels the appointment, marks
 * the message handled, sees the charts. Caller text carrying markup is shown as text and runs nothing.
 * A phone-size screenshot is written to test-output/.
 */

const CHROMIUM = "/usr/bin/chromium"
const available = existsSync(CHROMIUM)
if (!available) {
  if (process.env["CI"] === "true") throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`)
  console.warn(`\n[owner-page.browser] SKIPPED: ${CHROMIUM} not found (apt-get install -y chromium). Required under CI=true.\n`)
}

const ZONE = "Europe/Paris"
const NUMBER = "+33100000777"
const CALLER = "+33611223344"
const MARKUP = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> "guillemets" & 'apostrophes'`
const MESSAGE_NAME = `Paul <b onmouseover="window.__pwned = 3">Durand</b>`
const tomorrow = addDays(localDateAt(ZONE, Date.now()), 1)
const tomorrowInWords = new Intl.DateTimeFormat("fr-FR", { timeZone: "UTC", weekday: "long", day: "numeric", month: "long" })
  .format(new Date(`${tomorrow}T12:00:00Z`))

const SUMMARY = {
  summary: "Léa Martin a pris rendez-vous pour une coupe demain à 10 heures. Elle a aussi laissé un message.",
  intent: "rendez-vous coupe",
  sentiment: "positif",
  outcome: "booked",
  callbackNeeded: true,
  unansweredQuestions: ["Faites-vous les colorations végétales ?"]
} as const

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) return summaryCall(SUMMARY)
  const last = lastMessage(body)
  if (last.toolResult) return sayText("C'est noté, ", "merci.")
  if (/rendez-vous/i.test(last.text)) {
    return callTool("book_appointment", { date: tomorrow, time: "10:00", client_name: "Léa Martin", service_type: "coupe" })
  }
  if (/message/i.test(last.text)) {
    return callTool("take_message", { caller_name: MESSAGE_NAME, message: `Rappelez-moi ${MARKUP}`, urgent: true })
  }
  return sayText("Très bien.")
}

const hours = [["08:00", "20:00"]]
const tenantJson = {
  name: "Salon Léa",
  phoneNumbers: [NUMBER],
  timezone: ZONE,
  language: "fr-FR",
  greeting: "Salon Léa, bonjour !",
  transferNumber: "+33600000001",
  openingHours: { monday: hours, tuesday: hours, wednesday: hours, thursday: hours, friday: hours, saturday: hours, sunday: hours },
  closures: [],
  services: [{ type: "coupe", name: "Coupe", durationMinutes: 30 }],
  knowledge: []
}

let fake: FakeAnthropic
let app: TestApp
let apiKey: string
let callId: string
let userDataDir: string
let context: BrowserContext
const cspViolations: Array<string> = []
const pageErrors: Array<string> = []

const realCall = async (callSid: string) => {
  const res = await signedPost(app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: NUMBER }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const relay = find(parseTwiml(res.text), "ConversationRelay")!
  const ws = await RelayClient.connect(app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: CALLER, to: NUMBER, customParameters: parametersOf(relay) })
  ws.prompt("Bonjour, je voudrais un rendez-vous demain à 10 heures pour une coupe, au nom de Léa Martin.")
  expect((await ws.textUntilLast()).text).toContain("C'est noté")
  ws.prompt(MARKUP)
  await ws.textUntilLast()
  ws.prompt("Je voudrais aussi laisser un message.")
  await ws.textUntilLast()
  await ws.close()
  return waitUntil(async () => {
    const rows = await app.query((s) =>
      s<{ id: string }>`SELECT c.id FROM calls c JOIN call_summaries s ON s.call_id = c.id WHERE c.twilio_call_sid = ${callSid}`
    )
    return rows[0]?.id
  }, "the call finalised with its summary")
}

beforeAll(async () => {
  if (!available) return
  fake = await startFakeAnthropic({ script })
  app = await startApp({ ANTHROPIC_BASE_URL: fake.url })
  apiKey = (await createTenant(app, tenantJson)).apiKey
  callId = await realCall("CA" + "b".repeat(32))

  const { chromium } = await import("playwright-core")
  userDataDir = mkdtempSync(join(tmpdir(), "coccinelle-chromium-"))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ],
    viewport: { width: 1280, height: 900 },
    locale: "fr-FR",
    timezoneId: ZONE
  })
  context.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) cspViolations.push(message.text())
  })
  context.on("weberror", (error) => pageErrors.push(String(error.error())))
}, 60_000)

afterAll(async () => {
  await context?.close()
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true })
  await app?.stop()
  await fake?.stop()
})

const signedInPage = async (): Promise<Page> => {
  const page = context.pages()[0] ?? (await context.newPage())
  return page
}

describe.skipIf(!available)("the owner's page in a browser", () => {
  test("a wrong key is refused in French; the right one opens the calls list with the real call", async () => {
    const page = await signedInPage()
    await page.goto(app.baseUrl + "/")
    await page.getByRole("heading", { name: "Connexion" }).waitFor()
    await page.getByLabel("Clé d'accès").fill("cocc_not-a-real-key")
    await page.getByRole("button", { name: "Se connecter" }).click()
    await page.getByRole("alert").filter({ hasText: "Clé d'accès incorrecte" }).waitFor()

    await page.getByLabel("Clé d'accès").fill(apiKey)
    await page.getByRole("button", { name: "Se connecter" }).click()
    await page.getByRole("heading", { name: "Appels", level: 1 }).waitFor()
    const item = page.locator(".calls li").first()
    await item.getByText("06 11 22 33 44").waitFor()
    await expect(item.getByText("Rendez-vous pris").count()).resolves.toBe(1)
    // The summary's first sentence only.
    expect(await item.locator(".excerpt").textContent()).toBe("Léa Martin a pris rendez-vous pour une coupe demain à 10 heures.")
    mkdirSync(join(repoRoot, "test-output"), { recursive: true })
    await page.screenshot({ path: join(repoRoot, "test-output", "owner-page-desktop-calls.png") })
    // The key is in no URL, no storage, and not readable as a cookie from script.
    expect(page.url()).not.toContain(apiKey)
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    expect(stored).not.toContain("cocc_")
    expect(stored).not.toContain("coccinelle_session")
    const cookies = await context.cookies(app.baseUrl)
    const session = cookies.find((cookie) => cookie.name === "coccinelle_session")!
    expect(session.httpOnly).toBe(true)
    expect(session.sameSite).toBe("Strict")
  })

  test("older calls come in pages as the owner scrolls (the API's cursor)", async () => {
    const tenantId = (await app.query((s) => s<{ id: string }>`SELECT tenant_id AS id FROM calls WHERE id = ${callId}`))[0]!.id
    for (let i = 1; i <= 30; i++) {
      const at = new Date(Date.now() - i * 3_600_000 - 86_400_000).toISOString()
      const row = callRow({
        tenant_id: tenantId,
        created_at: at,
        twilio_call_sid: `CA${String(i).padStart(32, "0")}`,
        from_number: "+33698765432",
        to_number: NUMBER,
        duration: 60 + i,
        outcome: "information_given"
      })
      await app.query((s) => s`INSERT INTO calls ${s.insert(row)}`)
    }
    const page = await signedInPage()
    await page.reload()
    await page.getByText("25 appels affichés (faites défiler pour voir la suite).").waitFor()
    expect(await page.locator(".calls li").count()).toBe(25)
    await page.locator(".more").scrollIntoViewIfNeeded()
    await page.getByText("31 appels affichés.").waitFor()
    expect(await page.locator(".calls li").count()).toBe(31)
    expect(await page.locator(".more").isHidden()).toBe(true)
    // Newest first: the real call leads, the oldest inserted one closes the list.
    expect(await page.locator(".calls li .who").first().textContent()).toBe("06 11 22 33 44")
    expect(await page.locator(".calls li .length").last().textContent()).toBe("1 min 30 s")
  })

  test("the call reads as a conversation with its booking as an event, and the caller's markup stays text", async () => {
    const page = await signedInPage()
    await page.locator(".calls li a").first().click()
    await page.getByRole("heading", { name: /^Appel du / }).waitFor()
    expect(page.url()).toContain(`#/appels/${callId}`)
    await page.getByText(`Rendez-vous réservé — ${tomorrowInWords}, 10 heures`).waitFor()
    await page.getByText("Faites-vous les colorations végétales ?").waitFor()
    await page.getByText("positif").waitFor()
    // What the caller said, markup and all, is the text of a caller bubble; nothing of it became an element.
    const callerWords = await page.locator(".transcript .caller .words").allTextContents()
    expect(callerWords).toContain(MARKUP)
    expect(await page.locator("main script, main img[src='x'], main b").count()).toBe(0)
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined()
    await page.getByRole("heading", { name: "Chronologie" }).waitFor()
    expect(await page.locator(".timeline li").count()).toBeGreaterThan(2)
  })

  test("cancelling an appointment asks first, then frees the slot", async () => {
    const page = await signedInPage()
    await page.goto(app.baseUrl + "/#/rendez-vous")
    await page.getByRole("heading", { name: "Rendez-vous", level: 1 }).waitFor()
    const mondayOf = (date: string) => addDays(date, -((new Date(`${date}T12:00:00Z`).getUTCDay() + 6) % 7))
    if (mondayOf(tomorrow) !== mondayOf(localDateAt(ZONE, Date.now()))) await page.getByRole("button", { name: "Semaine suivante →" }).click()
    const appointment = page.locator(".appointment").filter({ hasText: "Léa Martin" })
    await appointment.waitFor()
    mkdirSync(join(repoRoot, "test-output"), { recursive: true })
    await page.screenshot({ path: join(repoRoot, "test-output", "owner-page-desktop-week.png") })
    // Saying no keeps it.
    await appointment.getByRole("button", { name: /^Annuler/ }).click()
    await page.getByRole("dialog").getByRole("button", { name: "Non, le garder" }).click()
    expect(await page.getByRole("dialog").count()).toBe(0)
    const statusOf = async () =>
      (await app.query((s) => s<{ status: string }>`SELECT status FROM appointments WHERE client_name = 'Léa Martin'`))[0]?.status
    expect(await statusOf()).toBe("booked")
    // Saying yes cancels it on the server and it leaves the week.
    await appointment.getByRole("button", { name: /^Annuler/ }).click()
    await page.getByRole("dialog").getByRole("button", { name: "Oui, annuler le rendez-vous" }).click()
    await page.locator(".appointment").filter({ hasText: "Léa Martin" }).waitFor({ state: "detached" })
    expect(await statusOf()).toBe("cancelled")
    const free = await fetch(`${app.baseUrl}/api/v1/appointments?status=booked`, { headers: { authorization: `Bearer ${apiKey}` } })
    expect(((await free.json()) as any).appointments).toEqual([])
  })

  test("a message taken during the call is in the inbox, shown as text, and can be marked handled", async () => {
    const page = await signedInPage()
    await page.getByRole("link", { name: "Messages" }).click()
    await page.getByRole("heading", { name: "Messages", level: 1 }).waitFor()
    const item = page.locator(".messages li").first()
    await item.getByRole("heading", { name: MESSAGE_NAME }).waitFor()
    expect(await item.locator(".words").textContent()).toBe(`Rappelez-moi ${MARKUP}`)
    await item.getByText("Urgent").waitFor()
    expect(await page.locator("main b, main img[src='x']").count()).toBe(0)
    await item.getByRole("button", { name: /Marquer comme traité/ }).click()
    await page.getByText("Aucun message à traiter.").waitFor()
    const handled = await fetch(`${app.baseUrl}/api/v1/messages?status=handled`, { headers: { authorization: `Bearer ${apiKey}` } })
    expect(((await handled.json()) as any).messages.map((m: any) => m.caller_name ?? m.callerName)).toEqual([MESSAGE_NAME])
    await page.getByRole("button", { name: "Traités" }).click()
    await page.locator(".messages li").filter({ hasText: "Traité" }).first().waitFor()
  })

  test("the trends draw their charts", async () => {
    const page = await signedInPage()
    await page.getByRole("link", { name: "Tendances" }).click()
    await page.getByRole("heading", { name: "Tendances", level: 1 }).waitFor()
    const chart = page.locator("img[src^='/api/v1/trends/charts/calls-per-day.svg']")
    await chart.waitFor()
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll<HTMLImageElement>(".chart img")]
      return images.length === 4 && images.every((image) => image.complete && image.naturalWidth > 0)
    })
    expect(await chart.getAttribute("alt")).toContain("31 appels sur la période")
    mkdirSync(join(repoRoot, "test-output"), { recursive: true })
    await page.screenshot({ path: join(repoRoot, "test-output", "owner-page-desktop-trends.png"), fullPage: true })
  })

  test("on a 375 px phone the pages fit the screen; a screenshot is written", async () => {
    const phone = await context.newPage()
    await phone.setViewportSize({ width: 375, height: 812 })
    for (const route of ["#/appels", `#/appels/${callId}`, "#/rendez-vous", "#/messages", "#/tendances"]) {
      await phone.goto(`${app.baseUrl}/${route}`)
      await phone.locator("#view-title").waitFor()
      await phone.waitForLoadState("networkidle")
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    }
    await phone.goto(`${app.baseUrl}/#/appels/${callId}`)
    await phone.getByRole("heading", { name: "Conversation" }).waitFor()
    mkdirSync(join(repoRoot, "test-output"), { recursive: true })
    await phone.screenshot({ path: join(repoRoot, "test-output", "owner-page-phone.png"), fullPage: true })
    await phone.goto(`${app.baseUrl}/#/appels`)
    await phone.locator(".calls li").first().waitFor()
    await phone.screenshot({ path: join(repoRoot, "test-output", "owner-page-phone-calls.png") })
    expect(existsSync(join(repoRoot, "test-output", "owner-page-phone.png"))).toBe(true)
    await phone.close()
  })

  test("keyboard: the sections are reachable by Tab and a view's title takes the focus", async () => {
    const page = await signedInPage()
    await page.goto(app.baseUrl + "/#/appels")
    await page.locator(".calls li").first().waitFor()
    // The view's title has the focus, so the next Tab is the view's first control.
    await page.waitForFunction(() => document.activeElement?.id === "view-title" && document.activeElement.textContent === "Appels")
    await page.keyboard.press("Tab")
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("filter-period")
    await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Rendez-vous", exact: true }).focus()
    await page.keyboard.press("Enter")
    await page.waitForFunction(() => document.activeElement?.id === "view-title" && document.activeElement.textContent === "Rendez-vous")
  })

  test("signing out returns to the sign-in form and the old session is gone", async () => {
    const page = await signedInPage()
    await page.getByRole("button", { name: "Se déconnecter" }).click()
    await page.getByRole("heading", { name: "Connexion" }).waitFor()
    await page.reload()
    await page.getByRole("heading", { name: "Connexion" }).waitFor()
    expect(await app.query((s) => s<{ n: number }>`SELECT COUNT(*) AS n FROM owner_sessions`)).toEqual([{ n: 0 }])
  })

  test("no Content-Security-Policy violation and no script error happened", () => {
    expect(cspViolations).toEqual([])
    expect(pageErrors).toEqual([])
  })
})
