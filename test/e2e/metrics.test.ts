import { describe, expect, test } from "../support/test.ts"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL } from "../support/appServer.ts"
import { appWithFakeClaude } from "../support/fakeClaudeApp.ts"
import { callTool, lastMessage, type Reply, sayText, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { findPromtool, promtoolCheck, samples } from "../support/prometheus.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, statusForm, voiceForm } from "../support/twilioClient.ts"
import { ADMIN_HEADERS, ADMIN_TOKEN, createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"
import { POSTGRES_POOL_SIZE } from "../../src/storage/postgres.ts"
import { backend } from "../support/db.ts"

/**
 * The operator's view through the real server: GET /health (and its failure when the database does not
 * answer), GET /metrics checked by promtool before and after a real call, bounded labels, and the JSON log
 * lines written meanwhile (no secret in any of them).
 */

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url))
const CALLER = "+33611223344"
const ANTHROPIC_KEY = "sk-ant-test-key"
const ECHOED_KEY = "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz"

/** The `timeout` of the health check in fly.toml (seconds), in milliseconds. */
const FLY_CHECK_TIMEOUT_MS = (() => {
  const toml = readFileSync(`${REPO_ROOT}fly.toml`, "utf8")
  const match = /\[\[http_service\.checks\]\][^[]*?\btimeout\s*=\s*"(\d+)s"/.exec(toml)
  if (!match) throw new Error("fly.toml: no timeout on the /health check")
  return Number(match[1]) * 1000
})()

/** Found (or unpacked) once, before the tests are declared; null where it cannot run (checks skipped, visibly). */
const promtool = findPromtool()

/** Every label value of the exposition. */
const labelValues = (text: string): Array<string> =>
  [...text.matchAll(/\{([^}]*)\}/g)].flatMap((match) => [...match[1]!.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!))

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) {
    return summaryCall({
      summary: "Question sur le parking, réponse donnée.",
      intent: "parking",
      sentiment: "neutre",
      outcome: "information_given",
      callbackNeeded: false,
      unansweredQuestions: []
    })
  }
  const last = lastMessage(body)
  if (last.toolResult) return sayText("Un parking gratuit ", "se trouve rue Vauban.")
  if (/parking/i.test(last.text)) return callTool("search_knowledge", { query: "parking" }, { text: "Je regarde. " })
  // A key Claude refuses: the turn fails, the caller hears an apology, the error is logged.
  // Its error text quotes a key-shaped string, as a proxy might: the redaction must catch it in the logged cause.
  if (/panne/i.test(last.text)) return [{ error: 401, message: `invalid x-api-key ${ECHOED_KEY}` }]
  return sayText("Très bien.")
}

const served = appWithFakeClaude({ script }, { timeoutMs: 300_000 })

const scrape = async () => {
  const res = await fetch(served.app.baseUrl + "/metrics")
  expect(res.status).toBe(200)
  return { text: await res.text(), contentType: res.headers.get("content-type") }
}

let sidCounter = 0
const newSid = () => `CA${"0123456789abcdef".repeat(2).slice(0, 26)}${String(++sidCounter).padStart(6, "0")}`

const answer = async (callSid: string, to = BUSINESS_NUMBER) => {
  const res = await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const relay = find(parseTwiml(res.text), "ConversationRelay")!
  const ws = await RelayClient.connect(served.app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: CALLER, to, customParameters: parametersOf(relay) })
  return ws
}

// ---------------------------------------------------------------------------------------------------

describe("GET /health", () => {
  test("200 with the database ok while calls are accepted", async () => {
    const res = await fetch(served.app.baseUrl + "/health")
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: "ok", database: "ok", accepting: true, activeCalls: 0 })
  })

  test("503 while the database does not answer, 200 again once it does", async () => {
    // Hold every connection in a transaction (SQLite's only one, or the whole Postgres pool): every other query waits.
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let holding = 0
    const connections = backend === "postgres" ? POSTGRES_POOL_SIZE : 1
    const transaction = Promise.all(Array.from({ length: connections }, () =>
      served.app.query((sql) =>
        sql.withTransaction(Effect.zipRight(Effect.sync(() => {
          holding++
        }), Effect.promise(() => held)))
      )))
    try {
      await waitUntil(async () => holding === connections, "the transactions to hold the connections")
      const started = Date.now()
      const res = await fetch(served.app.baseUrl + "/health")
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ status: "unavailable", database: "unavailable" })
      // Within Fly's check timeout (fly.toml), so Fly reads the 503 rather than timing out on us.
      expect(Date.now() - started).toBeLessThan(FLY_CHECK_TIMEOUT_MS)
    } finally {
      release()
      await transaction
    }
    expect((await fetch(served.app.baseUrl + "/health")).status).toBe(200)
  }, 10_000)
})

describe("GET /metrics", () => {
  test("the exposition of a fresh server passes promtool, in text format 0.0.4", async () => {
    const { contentType, text } = await scrape()
    expect(contentType).toContain("text/plain")
    expect(contentType).toContain("version=0.0.4")
    if (promtool !== null) expect(promtoolCheck(promtool, text)).toEqual({ exitCode: 0, output: "" })
    const s = samples(text)
    expect(s.get("coccinelle_active_calls")).toBe(0)
    for (const name of [
      "coccinelle_turn_latency_seconds_count",
      "coccinelle_claude_time_to_first_token_seconds_count",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total"
    ]) {
      expect(s.has(name)).toBe(true)
    }
  })

  test("after a call: active calls back to 0, the outcome counted, latencies observed, frames counted, no SID or number in a label", async () => {
    const before = samples((await scrape()).text)
    const callSid = newSid()
    const ws = await answer(callSid)
    ws.prompt("Bonjour, est-ce qu'il y a un parking ?")
    expect((await ws.textUntilLast()).text).toContain("rue Vauban")
    // Hostile input that must not become a label: a frame type made of a SID and a phone number.
    ws.send({ type: `${callSid}${CALLER}` })
    // A status callback with a forged signature, and one for a SID we do not know.
    expect((await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid, status: "in-progress", sequence: 1 }), AUTH_TOKEN, { signature: "forged" })).status).toBe(403)
    await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid: "CAffffffffffffffffffffffffffffffff", status: "completed", sequence: 1 }), AUTH_TOKEN)
    const during = samples((await scrape()).text)
    expect(during.get("coccinelle_active_calls")).toBe(1)
    await ws.close()
    const after = await waitUntil(async () => {
      const s = samples((await scrape()).text)
      return s.get("coccinelle_active_calls") === 0 && s.get('coccinelle_calls_total{outcome="information_given"}')! > before.get('coccinelle_calls_total{outcome="information_given"}')! ? s : undefined
    }, "the call to end in the metrics")
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0)
    expect(delta('coccinelle_calls_total{outcome="information_given"}')).toBe(1)
    expect(delta('coccinelle_calls_total{outcome="abandoned"}')).toBe(0)
    expect(delta("coccinelle_turn_latency_seconds_count")).toBeGreaterThanOrEqual(1)
    expect(delta("coccinelle_claude_time_to_first_token_seconds_count")).toBeGreaterThanOrEqual(2)
    expect(delta('coccinelle_tool_duration_seconds_count{tool="search_knowledge"}')).toBe(1)
    expect(delta('coccinelle_ws_frames_in_total{type="setup"}')).toBe(1)
    expect(delta('coccinelle_ws_frames_in_total{type="prompt"}')).toBe(1)
    expect(delta('coccinelle_ws_frames_in_total{type="unknown"}')).toBe(1)
    expect(delta('coccinelle_errors_total{kind="relay_decode"}')).toBe(1)
    expect(delta('coccinelle_errors_total{kind="signature"}')).toBe(1)
    expect(delta('coccinelle_ws_frames_out_total{type="text"}')).toBeGreaterThanOrEqual(3)
    expect(delta('coccinelle_webhooks_total{route="voice",status="200"}')).toBe(1)
    expect(delta('coccinelle_webhooks_total{route="status",status="403"}')).toBe(1)

    const { text } = await scrape()
    if (promtool !== null) expect(promtoolCheck(promtool, text)).toEqual({ exitCode: 0, output: "" })
    expect(text).not.toMatch(/CA[0-9a-f]{32}/)
    expect(text).not.toContain("+33")
    expect(text).not.toContain(CALLER.slice(1))
    for (const value of labelValues(text)) {
      expect(value).not.toMatch(/^CA[0-9a-f]/)
      expect(value).not.toMatch(/\d{6,}/)
    }
  })
})

// ---------------------------------------------------------------------------------------------------

describe("logs", () => {
  test("after admin calls and calls, every line is JSON with a level, call lines carry the call SID, no secret anywhere", async () => {
    const { apiKey, id } = await createTenant(served.app, {
      name: "Garage Logs",
      phoneNumbers: ["+33478200001"],
      timezone: "Europe/Paris",
      language: "fr-FR",
      greeting: "Garage Logs, bonjour !",
      openingHours: { monday: [["08:00", "12:00"]] },
      closures: [],
      services: [{ type: "vidange", name: "Vidange", durationMinutes: 60 }],
      knowledge: [{ title: "Parking", content: "Un parking gratuit se trouve rue Vauban." }]
    })
    const rotated = (await (await fetch(`${served.app.baseUrl}/api/v1/admin/tenants/${id}/api-key`, { method: "POST", headers: ADMIN_HEADERS })).json()) as { apiKey: string }
    expect((await fetch(served.app.baseUrl + "/api/v1/admin/tenants", { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}x` }, body: "{}" })).status).toBe(401)
    expect((await fetch(served.app.baseUrl + "/api/v1/twilio/calls", { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(401)
    expect((await fetch(served.app.baseUrl + "/api/v1/twilio/calls", { headers: { authorization: `Bearer ${rotated.apiKey}` } })).status).toBe(200)

    // A call on that tenant where Claude refuses the key: the failure is logged with its cause.
    const callSid = newSid()
    const ws = await answer(callSid, "+33478200001")
    ws.prompt("Ma voiture est en panne.")
    expect((await ws.textUntilLast()).text).toContain("souci technique")
    await ws.close()
    // A webhook with a forged signature is logged as rejected.
    await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS_NUMBER }), AUTH_TOKEN, { signature: "forged-signature-value" })
    await waitUntil(async () => served.app.logLines.some((line) => line.includes("call ended") && line.includes(callSid)), "the call's end in the logs")

    const lines = [...served.app.logLines]
    expect(lines.length).toBeGreaterThan(10)
    const secrets = [ADMIN_TOKEN, apiKey, rotated.apiKey, AUTH_TOKEN, ANTHROPIC_KEY, ECHOED_KEY, "forged-signature-value"]
    for (const line of lines) {
      for (const secret of secrets) {
        if (line.includes(secret)) throw new Error(`a log line contains a secret (${secret.slice(0, 6)}…): ${line}`)
      }
      const record = JSON.parse(line) as { level: unknown; message: unknown; timestamp: unknown; annotations: Record<string, unknown> }
      expect(["trace", "debug", "info", "warn", "warning", "error", "fatal"]).toContain(record.level as string)
      expect(typeof record.timestamp).toBe("string")
      expect(typeof record.annotations).toBe("object")
    }
    const records = lines.map((line) => JSON.parse(line) as { level: string; message: unknown; annotations: Record<string, unknown> })
    const forCall = records.filter((r) => r.annotations.callSid === callSid)
    const messages = forCall.map((r) => String(r.message))
    for (const message of ["incoming call answered", "relay session started", "turn failed; apologising to the caller", "call ended"]) {
      expect(messages).toContain(message)
    }
    const failed = forCall.find((r) => r.message === "turn failed; apologising to the caller")!
    expect(failed.level).toBe("error")
    expect(failed.annotations.tenantId).toBe(id)
    expect(forCall.find((r) => r.message === "call ended")!.annotations.tenantId).toBe(id)
    expect(records.some((r) => r.message === "rejected a webhook with an invalid Twilio signature" && r.level === "warn")).toBe(true)
  })
})
