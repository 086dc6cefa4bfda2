import { beforeAll, describe, expect, test } from "../support/test.ts"
import { AUTH_TOKEN, PUBLIC_URL } from "../support/appServer.ts"
import { appWithFakeClaude } from "../support/fakeClaudeApp.ts"
import { callTool, lastMessage, type Reply, sayText, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"
import { callRow } from "../support/rows.ts"
import { ADMIN_HEADERS as ADMIN, createTenant } from "../support/tenants.ts"
import { waitUntil } from "../support/wait.ts"

/**
 * The business owner's API through the real server: tenant API keys, isolation between tenants on every
 * route, the calls list (compatible fields, filters, keyset pagination), one call in full, statistics.
 * Tenants are created through the admin API; calls through signed webhooks and a relay session, or as rows.
 */


const SUMMARY = {
  summary: "Le client demandait s'il y avait un parking ; l'assistante a indiqué le parking gratuit derrière le garage.",
  intent: "information parking",
  sentiment: "positif",
  outcome: "information_given",
  callbackNeeded: false,
  unansweredQuestions: ["Le garage fait-il les cartes grises ?"]
} as const

const script = ({ body }: { body: any }): Reply => {
  if (isSummaryRequest(body)) return summaryCall(SUMMARY)
  const last = lastMessage(body)
  if (last.toolResult) return sayText("Un parking gratuit ", "se trouve derrière le garage.")
  if (/parking/i.test(last.text)) return callTool("search_knowledge", { query: "parking" }, { text: "Je regarde. " })
  if (/horaires/i.test(last.text)) return sayText("Nous sommes ouverts ", "du lundi au vendredi.")
  return sayText("Très bien.")
}

const served = appWithFakeClaude({ script })

// ---------------------------------------------------------------------------------------------------
// Helpers


const tenantJson = (name: string, number: string, timezone = "Europe/Paris") => ({
  name,
  phoneNumbers: [number],
  timezone,
  language: "fr-FR",
  greeting: `${name}, bonjour !`,
  transferNumber: "+33600000001",
  openingHours: { monday: [["08:00", "12:00"], ["14:00", "18:00"]] },
  closures: [],
  services: [{ type: "vidange", name: "Vidange", durationMinutes: 60 }],
  knowledge: [{ title: "Parking", content: "Un parking gratuit se trouve derrière le garage, accès par la rue Vauban." }]
})

interface Created {
  readonly id: string
  apiKey: string
  readonly number: string
}

const newTenant = async (name: string, number: string, timezone?: string): Promise<Created> => ({
  ...(await createTenant(served.app, tenantJson(name, number, timezone))),
  number
})

const api = async (key: string | null, path: string, init: RequestInit = {}) => {
  const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` }
  const res = await fetch(served.app.baseUrl + path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } })
  const text = await res.text()
  let body: any = undefined
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: res.status, contentType: res.headers.get("content-type"), body }
}

let sidCounter = 0
const newSid = () => `CA${(Date.now().toString(16) + String(++sidCounter).padStart(6, "0")).padStart(32, "0")}`

interface CallSeed {
  readonly tenantId: string
  readonly to: string
  readonly createdAt: string
  readonly from?: string
  readonly status?: string
  readonly duration?: number | null
  readonly endReason?: string | null
  readonly outcome?: string | null
  readonly ended?: boolean
}

/** A call row as the call path writes them, with a chosen creation time. Returns its id. */
const insertCall = async (seed: CallSeed): Promise<string> => {
  const ended = seed.ended ?? (seed.endReason !== undefined && seed.endReason !== null)
  const row = callRow({
    tenant_id: seed.tenantId,
    created_at: seed.createdAt,
    twilio_call_sid: newSid(),
    from_number: seed.from ?? "+33612345678",
    to_number: seed.to,
    status: seed.status ?? "completed",
    duration: seed.duration === undefined ? 42 : seed.duration,
    ended_at: ended ? new Date(Date.parse(seed.createdAt) + 60_000).toISOString() : null,
    end_reason: seed.endReason ?? null,
    outcome: seed.outcome ?? null
  })
  await served.app.query((s) => s`INSERT INTO calls ${s.insert(row)}`)
  return row.id
}

const insertAppointment = async (tenantId: string, callId: string | null, startsAt: string): Promise<string> => {
  const id = crypto.randomUUID()
  await served.app.query((s) =>
    s`INSERT INTO appointments ${
      s.insert({
        id,
        tenant_id: tenantId,
        call_id: callId,
        service_type: "vidange",
        service_name: "Vidange",
        client_name: "Jean Martin",
        client_phone: "+33612345678",
        starts_at: startsAt,
        ends_at: new Date(Date.parse(startsAt) + 3_600_000).toISOString(),
        time_zone: "Europe/Paris",
        status: "booked",
        idempotency_key: null,
        created_at: new Date().toISOString()
      })
    }`
  )
  return id
}

const insertLatency = (callId: string, ms: number) =>
  served.app.query((s) => s`INSERT INTO call_events ${s.insert({ call_id: callId, type: "turn_latency", data: JSON.stringify({ turn: 1, ms }), created_at: new Date().toISOString() })}`)

const insertSummary = (callId: string, summary: string) =>
  served.app.query((s) =>
    s`INSERT INTO call_summaries ${
      s.insert({ call_id: callId, summary, intent: "x", sentiment: "neutre", outcome: "abandoned", callback_needed: 0, unanswered: "[]", created_at: new Date().toISOString() })
    }`
  )

const storedCall = async (sid: string) =>
  (await served.app.query((s) => s<{ id: string; tenant_id: string; ended_at: string | null }>`SELECT id, tenant_id, ended_at FROM calls WHERE twilio_call_sid = ${sid}`))[0]

/** A call through the real path: signed voice webhook, relay socket, prompts, hang-up. Returns the call id. */
const realCall = async (callSid: string, to: string, run: (ws: RelayClient) => Promise<void>): Promise<string> => {
  const res = await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: "+33611223344", to }), AUTH_TOKEN)
  expect(res.status).toBe(200)
  const relay = find(parseTwiml(res.text), "ConversationRelay")
  expect(relay).toBeDefined()
  const ws = await RelayClient.connect(served.app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: "+33611223344", to, customParameters: parametersOf(relay!) })
  try {
    await run(ws)
  } finally {
    await ws.close()
  }
  const row = await waitUntil(async () => {
    const r = await storedCall(callSid)
    return r?.ended_at ? r : undefined
  }, `call ${callSid} finalised`)
  return row.id
}

const daysAgo = (days: number, extraMs = 0) => new Date(Date.now() - days * 86_400_000 - extraMs).toISOString()
const inDays = (days: number) => {
  const d = new Date(Date.now() + days * 86_400_000)
  d.setUTCHours(9, 0, 0, 0)
  return d.toISOString()
}

// ---------------------------------------------------------------------------------------------------
// Auth and isolation

describe("tenant API keys and isolation between tenants", () => {
  let a: Created
  let b: Created
  const aCalls: Array<string> = []
  const bCalls: Array<string> = []
  let aAppointment = ""
  let bAppointment = ""
  let aRealCall = ""

  beforeAll(async () => {
    a = await newTenant("Garage Alpha", "+33478100001")
    b = await newTenant("Garage Bravo", "+33478100002")
    aRealCall = await realCall(newSid(), a.number, async (ws) => {
      ws.prompt("Bonjour, je voulais savoir pour la vidange.")
      expect((await ws.textUntilLast()).text).toContain("Très bien")
    })
    aCalls.push(aRealCall)
    bCalls.push(
      await realCall(newSid(), b.number, async (ws) => {
        ws.prompt("Bonjour, c'est pour un pneu.")
        await ws.textUntilLast()
      })
    )
    aCalls.push(await insertCall({ tenantId: a.id, to: a.number, createdAt: daysAgo(1), endReason: "caller_hangup", outcome: "abandoned" }))
    for (let i = 0; i < 3; i++) {
      bCalls.push(await insertCall({ tenantId: b.id, to: b.number, createdAt: daysAgo(1, i * 1000), endReason: "agent_hangup", outcome: "booked" }))
    }
    aAppointment = await insertAppointment(a.id, aCalls[1]!, inDays(3))
    bAppointment = await insertAppointment(b.id, bCalls[1]!, inDays(4))
  })

  const routes = () => [
    { method: "GET", path: "/api/v1/twilio/calls" },
    { method: "GET", path: `/api/v1/twilio/calls/${aCalls[0]}` },
    { method: "GET", path: "/api/v1/twilio/stats" },
    { method: "GET", path: "/api/v1/appointments" },
    { method: "DELETE", path: `/api/v1/appointments/${aAppointment}` }
  ]

  const expectUnauthorized = (res: Awaited<ReturnType<typeof api>>, label: string) => {
    expect({ label, status: res.status }).toEqual({ label, status: 401 })
    expect(res.contentType).toContain("application/json")
    expect(res.body.success).toBe(false)
    expect(res.body.error.code).toBe("unauthorized")
    expect(typeof res.body.error.message).toBe("string")
  }

  test("every owner route answers 401 JSON without a key, with a wrong key, with the admin token or another scheme", async () => {
    for (const route of routes()) {
      const label = `${route.method} ${route.path}`
      expectUnauthorized(await api(null, route.path, { method: route.method }), `${label} (no key)`)
      expectUnauthorized(await api("cocc_not-a-real-key-0000000000000000", route.path, { method: route.method }), `${label} (wrong key)`)
      expectUnauthorized(await api("admin-secret-token", route.path, { method: route.method }), `${label} (admin token)`)
      expectUnauthorized(await api(null, route.path, { method: route.method, headers: { authorization: `Basic ${a.apiKey}` } }), `${label} (Basic)`)
      expectUnauthorized(await api(null, route.path, { method: route.method, headers: { authorization: "Bearer " } }), `${label} (empty bearer)`)
    }
    // None of those DELETEs cancelled anything.
    const rows = await served.app.query((s) => s<{ status: string }>`SELECT status FROM appointments WHERE id = ${aAppointment}`)
    expect(rows[0]!.status).toBe("booked")
  })

  test("each tenant lists only its own calls, and another tenant's call is a 404", async () => {
    const listA = await api(a.apiKey, "/api/v1/twilio/calls")
    expect(listA.status).toBe(200)
    const idsA = (listA.body.calls as Array<{ id: string; to_number: string }>).map((c) => c.id)
    expect(new Set(idsA)).toEqual(new Set(aCalls))
    expect(listA.body.count).toBe(aCalls.length)
    for (const call of listA.body.calls) expect(call.to_number).toBe(a.number)
    const listB = await api(b.apiKey, "/api/v1/twilio/calls")
    expect(new Set((listB.body.calls as Array<{ id: string }>).map((c) => c.id))).toEqual(new Set(bCalls))

    for (const id of bCalls) {
      const res = await api(a.apiKey, `/api/v1/twilio/calls/${id}`)
      expect(res.status).toBe(404)
      expect(res.body.error.code).toBe("not_found")
      expect(JSON.stringify(res.body)).not.toContain(b.number)
    }
    expect((await api(b.apiKey, `/api/v1/twilio/calls/${aRealCall}`)).status).toBe(404)
    expect((await api(a.apiKey, `/api/v1/twilio/calls/${aRealCall}`)).status).toBe(200)
    expect((await api(a.apiKey, `/api/v1/twilio/calls/${crypto.randomUUID()}`)).status).toBe(404)
  })

  test("a tenant's stats count only its own calls and bookings", async () => {
    const statsA = await api(a.apiKey, "/api/v1/twilio/stats")
    const statsB = await api(b.apiKey, "/api/v1/twilio/stats")
    expect(statsA.status).toBe(200)
    expect(statsA.body.totalCalls).toBe(aCalls.length)
    expect(statsB.body.totalCalls).toBe(bCalls.length)
    expect(statsA.body.bookingsMade).toBe(1)
    expect(statsB.body.bookingsMade).toBe(1)
    // B's three agent-ended calls are not A's.
    expect(statsA.body.endedByAgent).toBe(0)
    expect(statsB.body.endedByAgent).toBe(3)
  })

  test("a tenant cannot list or cancel another tenant's appointment", async () => {
    const listA = await api(a.apiKey, "/api/v1/appointments")
    expect(listA.status).toBe(200)
    expect((listA.body.appointments as Array<{ id: string }>).map((x) => x.id)).toEqual([aAppointment])
    const cancel = await api(a.apiKey, `/api/v1/appointments/${bAppointment}`, { method: "DELETE" })
    expect(cancel.status).toBe(404)
    expect(cancel.body.error.code).toBe("not_found")
    const listB = await api(b.apiKey, "/api/v1/appointments?status=booked")
    expect((listB.body.appointments as Array<{ id: string }>).map((x) => x.id)).toEqual([bAppointment])
    const rows = await served.app.query((s) => s<{ status: string }>`SELECT status FROM appointments WHERE id = ${bAppointment}`)
    expect(rows[0]!.status).toBe("booked")
    // Its owner can.
    const own = await api(b.apiKey, `/api/v1/appointments/${bAppointment}`, { method: "DELETE" })
    expect(own.status).toBe(200)
    expect(own.body.appointment.status).toBe("cancelled")
  })

  test("rotating a key through the admin API: the old key gets 401 on every route, the new one works", async () => {
    const rotated = await fetch(`${served.app.baseUrl}/api/v1/admin/tenants/${a.id}/api-key`, { method: "POST", headers: ADMIN, body: "{}" })
    expect(rotated.status).toBe(200)
    const { apiKey } = (await rotated.json()) as { apiKey: string }
    expect(apiKey).not.toBe(a.apiKey)
    for (const route of routes()) {
      expectUnauthorized(await api(a.apiKey, route.path, { method: route.method }), `${route.method} ${route.path} (old key)`)
    }
    a.apiKey = apiKey
    for (const route of routes().filter((r) => r.method === "GET")) {
      expect({ path: route.path, status: (await api(apiKey, route.path)).status }).toEqual({ path: route.path, status: 200 })
    }
    // Rotating an unknown tenant's key is a 404, and needs the admin token.
    expect((await fetch(`${served.app.baseUrl}/api/v1/admin/tenants/${crypto.randomUUID()}/api-key`, { method: "POST", headers: ADMIN })).status).toBe(404)
    expect((await fetch(`${served.app.baseUrl}/api/v1/admin/tenants/${a.id}/api-key`, { method: "POST", headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(401)
  })
})

// ---------------------------------------------------------------------------------------------------
// The calls list and statistics (rows with chosen times)

describe("GET /api/v1/twilio/calls and /stats", () => {
  let c: Created
  const ids: Record<string, string> = {}
  const LONG_SUMMARY = "Le client a appelé pour demander les horaires d'ouverture du samedi, puis pour savoir si le garage pouvait changer ses pneus d'hiver sans rendez-vous la semaine prochaine ; il rappellera."

  beforeAll(async () => {
    c = await newTenant("Plomberie Charlie", "+33478100003")
    const t = { tenantId: "", to: c.number }
    t.tenantId = c.id
    ids.now = await insertCall({ ...t, createdAt: new Date().toISOString(), status: "in-progress", duration: null, ended: false })
    ids.a = await insertCall({ ...t, createdAt: daysAgo(2), duration: 60, endReason: "caller_hangup", outcome: "information_given" })
    ids.b = await insertCall({ ...t, createdAt: daysAgo(5), duration: 120, endReason: "agent_hangup", outcome: "booked" })
    ids.c = await insertCall({ ...t, createdAt: daysAgo(10), duration: 90, endReason: "transfer", outcome: "transferred" })
    ids.d = await insertCall({ ...t, createdAt: daysAgo(10, 3_600_000), status: "no-answer", duration: null, endReason: "caller_hangup", outcome: "abandoned" })
    ids.e = await insertCall({ ...t, createdAt: daysAgo(40), duration: 300, endReason: "caller_hangup", outcome: "abandoned" })
    // 23:30 UTC on 10 March is 00:30 on 11 March in Paris.
    ids.f = await insertCall({ ...t, createdAt: "2026-03-10T23:30:00.000Z", duration: 30, endReason: "caller_hangup", outcome: "information_given" })
    await insertAppointment(c.id, ids.b, inDays(6))
    for (const ms of [100, 200, 300, 400]) await insertLatency(ids.a, ms)
    await insertLatency(ids.b, 1000)
    await insertLatency(ids.e, 5000) // outside 30 days
    await insertSummary(ids.a, LONG_SUMMARY)
    await insertSummary(ids.b, "Rendez-vous pris pour une vidange.")
  })

  const list = async (query = "") => {
    const res = await api(c.apiKey, `/api/v1/twilio/calls${query}`)
    expect({ query, status: res.status }).toEqual({ query, status: 200 })
    return res.body as { success: boolean; count: number; nextCursor: string | null; calls: Array<Record<string, any>> }
  }
  const idsOf = (body: { calls: Array<Record<string, any>> }) => body.calls.map((call) => call.id as string)
  const byKey = (key: string) => ids[key]!

  test("keeps the original fields and adds times, end reason, outcome, summary excerpt and nextCursor", async () => {
    const body = await list()
    expect(body.success).toBe(true)
    expect(body.count).toBe(7)
    expect(body.calls.length).toBe(7)
    expect(body.nextCursor).toBeNull()
    for (const call of body.calls) {
      for (const key of ["id", "twilio_call_sid", "from_number", "to_number", "direction", "status", "duration", "created_at"]) {
        expect(call).toHaveProperty(key)
      }
      for (const key of ["started_at", "ended_at", "end_reason", "outcome", "summary_excerpt"]) expect(call).toHaveProperty(key)
      expect(call.twilio_call_sid).toMatch(/^CA[0-9a-f]{32}$/)
      expect(call.direction).toBe("inbound")
    }
    const a = body.calls.find((call) => call.id === byKey("a"))!
    expect(a).toMatchObject({ status: "completed", duration: 60, end_reason: "caller_hangup", outcome: "information_given", to_number: c.number })
    expect(typeof a.ended_at).toBe("string")
    expect(a.summary_excerpt.length).toBeLessThanOrEqual(160)
    expect(a.summary_excerpt.endsWith("…")).toBe(true)
    expect(LONG_SUMMARY.startsWith(a.summary_excerpt.slice(0, -1))).toBe(true)
    expect(body.calls.find((call) => call.id === byKey("b"))!.summary_excerpt).toBe("Rendez-vous pris pour une vidange.")
    const now = body.calls.find((call) => call.id === byKey("now"))!
    expect(now).toMatchObject({ ended_at: null, end_reason: null, outcome: null, summary_excerpt: null, duration: null })
    // Newest first.
    const created = body.calls.map((call) => call.created_at as string)
    expect(created).toEqual([...created].sort().reverse())
    expect(body.calls[0]!.id).toBe(byKey("now"))
  })

  test("filters: status, outcome, period, from/to dates in the tenant's time zone and ISO instants", async () => {
    expect(new Set(idsOf(await list("?status=completed")))).toEqual(new Set(["a", "b", "c", "e", "f"].map(byKey)))
    expect(idsOf(await list("?status=no-answer"))).toEqual([byKey("d")])
    expect(idsOf(await list("?outcome=booked"))).toEqual([byKey("b")])
    expect(idsOf(await list("?outcome=transferred"))).toEqual([byKey("c")])
    expect(idsOf(await list("?status=completed&outcome=abandoned"))).toEqual([byKey("e")])
    expect(idsOf(await list("?period=today"))).toEqual([byKey("now")])
    expect(idsOf(await list("?period=7d"))).toEqual(["now", "a", "b"].map(byKey))
    expect(idsOf(await list("?period=30d"))).toEqual(["now", "a", "b", "c", "d"].map(byKey))
    // 2026-03-10T23:30Z is 11 March in Paris: a date filter reads days in the tenant's zone.
    expect(idsOf(await list("?from=2026-03-11&to=2026-03-11"))).toEqual([byKey("f")])
    expect(idsOf(await list("?from=2026-03-10&to=2026-03-10"))).toEqual([])
    expect(idsOf(await list("?to=2026-03-11"))).toEqual([byKey("f")])
    expect(idsOf(await list("?from=2026-03-10T23:00:00Z&to=2026-03-11T00:00:00Z"))).toEqual([byKey("f")])
    expect(idsOf(await list("?from=2026-03-10T23:31:00Z&to=2026-03-12"))).toEqual([])
  })

  test("bad query values are 400s that name the parameter", async () => {
    for (const [query, name] of [
      ["?outcome=happy", "outcome"],
      ["?period=week", "period"],
      ["?period=toString", "period"],
      ["?limit=0", "limit"],
      ["?limit=abc", "limit"],
      ["?limit=1000", "limit"],
      ["?from=yesterday", "from"],
      ["?to=2026-13-45", "to"],
      ["?to=2026-02-30", "to"]
    ] as const) {
      const res = await api(c.apiKey, `/api/v1/twilio/calls${query}`)
      expect({ query, status: res.status }).toEqual({ query, status: 400 })
      expect(res.body.success).toBe(false)
      expect(res.body.error.message).toContain(name)
    }
    for (const query of ["?period=week", "?period=constructor", "?period=__proto__", "?from=yesterday", "?to=2026-02-30", "?from=2026-13-01"]) {
      expect({ query, status: (await api(c.apiKey, `/api/v1/twilio/stats${query}`)).status }).toEqual({ query, status: 400 })
    }
    for (const query of ["?status=maybe", "?to=2026-02-30", "?from=yesterday", "?cursor=garbage!!"]) {
      expect({ query, status: (await api(c.apiKey, `/api/v1/appointments${query}`)).status }).toEqual({ query, status: 400 })
    }
  })

  test("stats: the original fields (successRate a number) plus transfers, bookings, who ended the call, latency percentiles", async () => {
    const res = await api(c.apiKey, "/api/v1/twilio/stats")
    expect(res.status).toBe(200)
    const s = res.body
    expect(s.success).toBe(true)
    expect(typeof s.successRate).toBe("number")
    expect(typeof s.averageDuration).toBe("number")
    expect(s).toMatchObject({
      totalCalls: 7,
      completedCalls: 5,
      averageDuration: 120, // (60 + 120 + 90 + 300 + 30) / 5; calls without a duration are not averaged
      successRate: 71.4, // 5 completed of 7, in percent
      resolutionRate: 57.1, // information, booked, transferred, information: 4 of 7
      transfers: 1,
      bookingsMade: 1,
      endedByCaller: 4,
      endedByAgent: 2
    })
    // [100, 200, 300, 400, 1000, 5000]: nearest-rank percentiles
    expect(s.turnLatencyMs).toEqual({ p50: 300, p95: 5000, samples: 6 })
  })

  test("stats: the period filter", async () => {
    const week = (await api(c.apiKey, "/api/v1/twilio/stats?period=7d")).body
    expect(week).toMatchObject({
      totalCalls: 3,
      completedCalls: 2,
      averageDuration: 90,
      successRate: 66.7,
      transfers: 0,
      bookingsMade: 1,
      endedByCaller: 1,
      endedByAgent: 1
    })
    expect(week.turnLatencyMs).toEqual({ p50: 300, p95: 1000, samples: 5 })
    const month = (await api(c.apiKey, "/api/v1/twilio/stats?period=30d")).body
    expect(month).toMatchObject({ totalCalls: 5, completedCalls: 3, averageDuration: 90, successRate: 60, transfers: 1, endedByCaller: 2, endedByAgent: 2 })
    const today = (await api(c.apiKey, "/api/v1/twilio/stats?period=today")).body
    expect(today).toMatchObject({ totalCalls: 1, completedCalls: 0, averageDuration: 0, successRate: 0, bookingsMade: 0 })
    expect(today.turnLatencyMs).toEqual({ p50: null, p95: null, samples: 0 })
    const march = (await api(c.apiKey, "/api/v1/twilio/stats?from=2026-03-11&to=2026-03-11")).body
    expect(march).toMatchObject({ totalCalls: 1, completedCalls: 1, averageDuration: 30, successRate: 100 })
  })
})

test("date filters on a day whose midnight does not exist in the tenant's zone (Santiago: clocks jump 00:00 → 01:00)", async () => {
  const z = await newTenant("Taller Zulu", "+56221234567", "America/Santiago")
  // 6 September 2026 starts at 01:00 local time (04:00 UTC) in Santiago.
  const onTheDay = await insertCall({ tenantId: z.id, to: z.number, createdAt: "2026-09-06T12:00:00.000Z", endReason: "caller_hangup" })
  await insertCall({ tenantId: z.id, to: z.number, createdAt: "2026-09-06T03:30:00.000Z", endReason: "caller_hangup" }) // 23:30 on the 5th
  const res = await api(z.apiKey, "/api/v1/twilio/calls?from=2026-09-06&to=2026-09-06")
  expect(res.status).toBe(200)
  expect((res.body.calls as Array<{ id: string }>).map((call) => call.id)).toEqual([onTheDay])
  const stats = await api(z.apiKey, "/api/v1/twilio/stats?from=2026-09-06&to=2026-09-06")
  expect(stats.status).toBe(200)
  expect(stats.body.totalCalls).toBe(1)
  // The day before ends where the 6th begins.
  expect((await api(z.apiKey, "/api/v1/twilio/calls?to=2026-09-05")).body.count).toBe(1)
})

// ---------------------------------------------------------------------------------------------------
// Pagination

describe("keyset pagination of the calls list", () => {
  let d: Created
  const original: Array<{ id: string; created_at: string }> = []

  beforeAll(async () => {
    d = await newTenant("Pressing Delta", "+33478100004")
    const base = Date.now() - 3 * 86_400_000
    for (let i = 0; i < 23; i++) {
      // Groups of three calls share a creation instant: ties are broken by id.
      const createdAt = new Date(base + Math.floor(i / 3) * 1000).toISOString()
      const id = await insertCall({ tenantId: d.id, to: d.number, createdAt, endReason: "caller_hangup" })
      original.push({ id, created_at: createdAt })
    }
  })

  test("walking nextCursor yields every call once, newest first, even while new calls arrive", async () => {
    const expected = [...original]
      .sort((x, y) => (x.created_at === y.created_at ? (x.id < y.id ? 1 : -1) : x.created_at < y.created_at ? 1 : -1))
      .map((x) => x.id)
    const seen: Array<string> = []
    const arrived: Array<string> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const path: string = `/api/v1/twilio/calls?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`
      const res = await api(d.apiKey, path)
      expect(res.status).toBe(200)
      expect(res.body.calls.length).toBeLessThanOrEqual(4)
      expect(res.body.count).toBe(res.body.calls.length)
      seen.push(...(res.body.calls as Array<{ id: string }>).map((call) => call.id))
      cursor = res.body.nextCursor
      pages++
      // A new call arrives between two page requests (each at its own instant: the newest four are the last four).
      const arrivedAt = new Date(Date.now() + pages).toISOString()
      arrived.push(await insertCall({ tenantId: d.id, to: d.number, createdAt: arrivedAt, ended: false, status: "in-progress" }))
      expect(pages).toBeLessThan(20)
    } while (cursor !== null)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(expected)
    expect(pages).toBe(Math.ceil(23 / 4))
    for (const id of arrived) expect(seen).not.toContain(id)
    // A fresh walk starts with the calls that arrived, newest first.
    const first = await api(d.apiKey, "/api/v1/twilio/calls?limit=4")
    expect(new Set((first.body.calls as Array<{ id: string }>).map((call) => call.id))).toEqual(new Set(arrived.slice(-4)))
  })

  test("filters hold across pages", async () => {
    const seen: Array<{ status: string }> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res = await api(d.apiKey, `/api/v1/twilio/calls?limit=5&status=completed${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)
      seen.push(...res.body.calls)
      cursor = res.body.nextCursor
      expect(++pages).toBeLessThan(20)
    } while (cursor !== null)
    expect(seen.length).toBe(23)
    for (const call of seen) expect(call.status).toBe("completed")
  })

  test("a cursor this API did not return is a 400", async () => {
    for (const cursor of ["garbage!!", "bm90IGpzb24", Buffer.from('{"a":1}').toString("base64url"), Buffer.from("[1,2]").toString("base64url")]) {
      const res = await api(d.apiKey, `/api/v1/twilio/calls?cursor=${encodeURIComponent(cursor)}`)
      expect({ cursor, status: res.status }).toEqual({ cursor, status: 400 })
      expect(res.body.error.code).toBe("bad_request")
      expect(res.body.error.message).toContain("cursor")
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// One call in full

describe("GET /api/v1/twilio/calls/:id", () => {
  test("the full transcript with the interrupted turn marked, tool calls with results, events and the summary", async () => {
    const e = await newTenant("Garage Echo", "+33478100005")
    const callSid = newSid()
    const id = await realCall(callSid, e.number, async (ws) => {
      ws.prompt("Est-ce qu'il y a un parking ?")
      expect((await ws.textUntilLast()).text).toContain("derrière le garage")
      ws.prompt("Et vos horaires ?")
      // The reply was sent whole, but the caller talked over the speech after its first words.
      expect((await ws.textUntilLast()).text).toBe("Nous sommes ouverts du lundi au vendredi.")
      ws.interrupt("Nous sommes ouverts", 900)
      await waitUntil(
        async () => (await served.app.query((s) => s`SELECT 1 FROM call_events e JOIN calls c ON c.id = e.call_id WHERE c.twilio_call_sid = ${callSid} AND e.type = 'interrupt'`)).length > 0,
        "the interrupt to be handled"
      )
    })
    const res = await waitUntil(async () => {
      const r = await api(e.apiKey, `/api/v1/twilio/calls/${id}`)
      return r.body.call?.summary ? r : undefined
    }, "the call's summary")
    expect(res.status).toBe(200)
    const call = res.body.call
    expect(call).toMatchObject({ id, twilio_call_sid: callSid, to_number: e.number, from_number: "+33611223344", end_reason: "caller_hangup" })
    expect(typeof call.ended_at).toBe("string")

    const transcript = call.transcript as Array<{ role: string; text: string; interrupted: boolean; turn: number }>
    expect(transcript.filter((line) => line.role === "caller").map((line) => line.text)).toEqual([
      "Est-ce qu'il y a un parking ?",
      "Et vos horaires ?"
    ])
    const turn1 = transcript.filter((line) => line.role === "agent" && line.turn === 1)
    expect(turn1.map((line) => line.text).join("")).toBe("Je regarde. Un parking gratuit se trouve derrière le garage.")
    expect(turn1.every((line) => !line.interrupted)).toBe(true)
    const turn2 = transcript.filter((line) => line.role === "agent" && line.turn === 2)
    expect(turn2.length).toBeGreaterThan(0)
    expect(turn2.some((line) => line.interrupted)).toBe(true)
    expect(turn2.map((line) => line.text).join("").trim()).toBe("Nous sommes ouverts")
    expect(JSON.stringify(transcript)).not.toContain("du lundi au vendredi")

    expect(call.toolCalls.length).toBe(1)
    const tool = call.toolCalls[0]
    expect(tool.name).toBe("search_knowledge")
    expect(tool.input).toEqual({ query: "parking" })
    expect(tool.turn).toBe(1)
    expect(JSON.stringify(tool.result)).toContain("rue Vauban")

    const types = (call.events as Array<{ type: string }>).map((event) => event.type)
    for (const type of ["setup", "prompt", "tool_call", "tool_result", "turn_latency", "interrupt", "end"]) expect(types).toContain(type)
    const interrupt = call.events.find((event: { type: string }) => event.type === "interrupt")
    expect(interrupt.data.heard).toBe("Nous sommes ouverts")

    expect(call.summary).toMatchObject({
      summary: SUMMARY.summary,
      intent: SUMMARY.intent,
      sentiment: SUMMARY.sentiment,
      outcome: SUMMARY.outcome,
      callbackNeeded: false,
      unansweredQuestions: SUMMARY.unansweredQuestions
    })
    // The list shows the same call with its summary excerpt.
    const listed = (await api(e.apiKey, "/api/v1/twilio/calls")).body.calls.find((c: { id: string }) => c.id === id)
    expect(listed.summary_excerpt).toBe(SUMMARY.summary)
  })
})
