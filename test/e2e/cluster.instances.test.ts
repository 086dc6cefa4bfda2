/**
 * Several instances on one Postgres database, with live calls that survive losing their instance: real server
 * processes (`bun src/main.ts`) on one throwaway cluster, driven as Twilio would (signed webhooks, signed
 * handshakes, the recorded frame shapes), Claude a loopback fake that records every request.
 *
 * A call on A; A gets SIGTERM; the `end` arrives with a `resume` handoff; the connect action is posted to B; B's
 * TwiML reconnects; the next prompt is answered with the earlier turns in Claude's request. The same after
 * `kill -9` of A with a 64105 connect action. A status callback on B while A holds the call leaves it live;
 * recovery at a new instance's start leaves A's live call alone; 20 concurrent bookings of one slot across two
 * instances make exactly one; every summary is written once.
 *
 * Skipped with a note without Postgres (a failure under CI=true).
 */
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { readFileSync } from "node:fs"
import { freePort } from "../support/ports.ts"
import { emptyPostgresDatabase, queryDatabase, testPostgresUrl } from "../support/db.ts"
import { callTool, type FakeAnthropic, lastMessage, sayText, startFakeAnthropic, summaryCall, isSummaryRequest } from "../support/fakeAnthropic.ts"
import { type Cluster, postgresBinDir, startCluster } from "../support/postgres.ts"
import { type Child, mainCommand, outputTail, spawn } from "../support/runtime.ts"
import {
  actionForm,
  find,
  parametersOf,
  parseTwiml,
  RelayClient,
  signedPost,
  statusForm,
  verbs,
  voiceForm
} from "../support/twilioClient.ts"
import { eventually, waitUntil } from "../support/wait.ts"

const available = testPostgresUrl !== undefined || postgresBinDir() !== undefined
if (!available) {
  const note = "multi-instance tests SKIPPED: no Postgres server binaries (apt-get install postgresql) and no TEST_POSTGRES_URL"
  if (process.env.CI === "true") throw new Error(`${note} — required under CI=true`)
  console.warn(`\n  NOTE: ${note}\n`)
}

// Every instance answers the same public origin, as behind Fly's proxy.
const PUBLIC_URL = "https://coccinelle.test"
const AUTH_TOKEN = "test_auth_token_0123456789abcdef"
const BUSINESS = "+33939035760"
const CALLER = "+33611223344"
const ADMIN_TOKEN = "admin-secret-token"
const DEMO = JSON.parse(readFileSync(new URL("../../src/tenants/demo-tenant.json", import.meta.url), "utf8")) as Record<string, unknown>


interface Instance {
  readonly name: string
  readonly port: number
  readonly baseUrl: string
  readonly wsUrl: string
  readonly child: Child
  readonly exited: Promise<number | null>
  /** The end of what it printed, once its output is closed. */
  readonly output: () => Promise<string>
}

/** Waits for an instance to exit; anything but 0 fails with the end of its output, which says why. */
const stoppedCleanly = async (instance: Instance) => {
  const code = await instance.exited
  if (code !== 0) throw new Error(`instance ${instance.name} exited with ${code}:\n${(await instance.output()).slice(-6_000)}`)
}

/** The next Friday at least three days ahead (open 9 h–19 h), as the tool takes it. */
const bookingDate = (() => {
  const day = new Date(Date.now() + 3 * 86_400_000)
  while (day.getUTCDay() !== 5) day.setUTCDate(day.getUTCDate() + 1)
  return day.toISOString().slice(0, 10)
})()

let sidCounter = 0
const newSid = () => `CA${String(Date.now()).padStart(20, "0")}${String(++sidCounter).padStart(12, "0")}`

describe.skipIf(!available)("several instances on one Postgres: live calls survive a deploy or a crash", () => {
  let cluster: Cluster | undefined
  let databaseUrl = ""
  let fake: FakeAnthropic
  const instances: Array<Instance> = []

  /**
   * A port from `freePort` is free when picked, not when the instance binds it a second later: an outgoing
   * connection may take it meanwhile (seen under CI load). Only that case is retried, with another port.
   */
  const startInstance = async (name: string, extra: Record<string, string> = {}, attempt = 1): Promise<Instance> => {
    const port = await freePort()
    const child = spawn(mainCommand(), {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        PORT: String(port),
        HOST: "127.0.0.1",
        PUBLIC_URL,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_PHONE_NUMBER: BUSINESS,
        DATABASE_URL: databaseUrl,
        ANTHROPIC_API_KEY: "sk-ant-test-key",
        ANTHROPIC_BASE_URL: fake.url,
        DRAIN_TIMEOUT_MS: "20000",
        SHUTDOWN_GRACE_MS: "0",
        SUMMARY_SETTLE_MS: "0",
        FILLER_AFTER_MS: "5000",
        LOG_FORMAT: "json",
        ADMIN_TOKEN,
        ...extra
      }
    })
    const output = outputTail(child)
    const instance: Instance = {
      name,
      port,
      baseUrl: `http://127.0.0.1:${port}`,
      wsUrl: `ws://127.0.0.1:${port}/webhooks/twilio/conversation`,
      child,
      exited: child.exited,
      output
    }
    instances.push(instance)
    const healthy = () => fetch(`${instance.baseUrl}/health`).then((r) => r.status === 200, () => false)
    const up = await Promise.race([
      waitUntil(healthy, `instance ${name} healthy`, 30_000),
      child.exited.then(async (code) => {
        const output = await instance.output()
        if (attempt < 3 && /EADDRINUSE|AddrInUse|already in use|port [0-9]+ in use/i.test(output)) return "port taken" as const
        throw new Error(`instance ${name} exited with ${code}: ${output.slice(-3000)}`)
      })
    ])
    if (up === "port taken") {
      instances.splice(instances.indexOf(instance), 1)
      return startInstance(name, extra, attempt + 1)
    }
    expect(up).toBe(true)
    return instance
  }

  const query = <A>(text: (sql: any) => any) => queryDatabase(databaseUrl, text) as Promise<A>

  const callRow = (callSid: string) =>
    query<Array<{ id: string; ended_at: string | null; end_reason: string | null; outcome: string | null; started_at: string }>>(
      (sql) => sql`SELECT id, ended_at, end_reason, outcome, started_at FROM calls WHERE twilio_call_sid = ${callSid}`
    )

  /** An incoming call answered by `on`, its relay socket opened there, one exchange said. */
  const liveCall = async (on: Instance, callSid: string, words: string) => {
    const voice = await signedPost(on.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: CALLER, to: BUSINESS }), AUTH_TOKEN)
    expect(voice.status).toBe(200)
    const params = parametersOf(find(parseTwiml(voice.text), "ConversationRelay")!)
    const ws = await RelayClient.connect(on.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    ws.setup({ callSid, from: CALLER, to: BUSINESS, customParameters: params })
    ws.prompt(words)
    const reply = await ws.textUntilLast(8000)
    return { ws, params, reply: reply.text }
  }

  /** Twilio's side of a resume: the connect action to `on`, then the new socket the TwiML names. */
  const resumeOn = async (on: Instance, callSid: string, form: Record<string, string>) => {
    const action = await signedPost(on.baseUrl, PUBLIC_URL, "/webhooks/twilio/connect-action", form, AUTH_TOKEN)
    expect(action.status).toBe(200)
    const twiml = parseTwiml(action.text)
    expect(verbs(twiml)).toEqual(["Connect"])
    const relay = find(twiml, "ConversationRelay")!
    expect(relay.attributes.welcomeGreeting).toBe("Je vous écoute.")
    expect(relay.attributes.url).toBe("wss://coccinelle.test/webhooks/twilio/conversation")
    const ws = await RelayClient.connect(on.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    ws.setup({ callSid, from: CALLER, to: BUSINESS, customParameters: parametersOf(relay) })
    return { ws, params: parametersOf(relay) }
  }

  /** The messages Claude was sent for the newest conversation request mentioning `words`. */
  const conversationRequestWith = (words: string) =>
    eventually(
      async () =>
        [...fake.requests].reverse().find((r) => !isSummaryRequest(r.body) && JSON.stringify(r.body.messages).includes(words)),
      (found) => found !== undefined,
      `a conversation request with « ${words} »`,
      8000
    )

  const summaryRequestsFor = (words: string) =>
    fake.requests.filter((r) => isSummaryRequest(r.body) && JSON.stringify(r.body.messages).includes(words))

  const hangUp = async (on: Instance, ws: RelayClient, callSid: string) => {
    await ws.close()
    await signedPost(on.baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid, status: "completed", duration: 30, sequence: 5 }), AUTH_TOKEN)
  }

  beforeAll(async () => {
    const clusterUrl = testPostgresUrl ?? (cluster = await startCluster()).url
    databaseUrl = await emptyPostgresDatabase(clusterUrl, "cluster")
    fake = await startFakeAnthropic({
      script: ({ body }) => {
        if (isSummaryRequest(body)) {
          return summaryCall({
            summary: "Un client a appelé le salon.",
            intent: "rendez-vous",
            sentiment: "neutre",
            outcome: "information_given",
            callbackNeeded: false,
            unansweredQuestions: []
          })
        }
        const last = lastMessage(body)
        if (last.toolResult) return sayText("C'est noté.")
        if (last.text.includes("vélo")) return callTool("search_knowledge", { query: "garage à vélos couvert" })
        if (last.text.includes("réserver à 15 heures")) {
          return callTool("book_appointment", { date: bookingDate, time: "15:00", client_name: "Madame Déménage", service_type: "coupe-femme" })
        }
        if (last.text.includes("réserver")) {
          return callTool("book_appointment", { date: bookingDate, time: "10:00", client_name: "Client Concurrent", service_type: "coupe-homme" })
        }
        return sayText("Bien sûr, ", "je vous écoute.")
      }
    })
    await Promise.all([startInstance("A"), startInstance("B")])
  }, 60_000)

  afterAll(async () => {
    for (const instance of instances) instance.child.kill("SIGKILL")
    await Promise.all(instances.map((instance) => instance.exited))
    await fake?.stop()
    cluster?.stop()
  })

  const [A, B] = [() => instances[0]!, () => instances[1]!]

  test("SIGTERM on A: the call moves at its pause, B answers the connect action with a new <Connect>, and the conversation goes on with its history", async () => {
    const callSid = newSid()
    const first = "Bonjour, ici Madame Déménage, je voudrais réserver à 15 heures vendredi."
    const { params, ws } = await liveCall(A(), callSid, first)
    const [before] = await callRow(callSid)

    const sigtermAt = performance.now()
    A().child.kill("SIGTERM")
    const end = await ws.waitForType("end", 10_000)
    const handoff = JSON.parse(String(end.handoffData)) as { reason: string; callId: string }
    expect(handoff).toEqual({ reason: "resume", callId: params.callId! })
    // Twilio closes the session's socket after `end`, then posts the connect action — here to B.
    await ws.close()
    const resumed = await resumeOn(B(), callSid, actionForm({ callSid, sessionStatus: "ended", handoffData: String(end.handoffData) }))
    const firstWordMs = performance.now() - sigtermAt
    expect(resumed.params).toEqual(params)
    console.info(`  SIGTERM → resumed session open with « Je vous écoute. » : ${firstWordMs.toFixed(0)} ms (plus Twilio's ~0.7 s connect action)`)

    const second = "Et vous êtes ouverts le samedi ?"
    resumed.ws.prompt(second)
    expect((await resumed.ws.textUntilLast(8000)).text).toBe("Bien sûr, je vous écoute.")
    // The earlier turns are in Claude's request: nothing said was lost, nothing repeated.
    const request = await conversationRequestWith(second)
    const history = JSON.stringify(request!.body.messages)
    expect(history.split(first).length - 1).toBe(1)
    expect(history).toContain("book_appointment")
    expect(history).toContain("C'est noté.")
    expect(resumed.ws.texts().map((t) => t.token).join("")).not.toContain("Salon Lumière")

    // A had nothing else to wait for: it stops cleanly well before its drain limit.
    await stoppedCleanly(A())

    await hangUp(B(), resumed.ws, callSid)
    const [after] = await eventually(() => callRow(callSid), (rows) => rows[0]?.ended_at != null, "the call finalised", 8000)
    expect(after!.id).toBe(before!.id)
    expect(after!.started_at).toBe(before!.started_at)
    expect(after!.end_reason).toBe("caller_hangup")
    // The booking made before the move is the call's outcome, made once.
    expect(after!.outcome).toBe("booked")
    const booked = await query<Array<{ n: number }>>((sql) => sql`SELECT COUNT(*) AS n FROM appointments WHERE client_name = 'Madame Déménage'`)
    expect(booked[0]!.n).toBe(1)
    const events = await query<Array<{ type: string; data: string }>>((sql) =>
      sql`SELECT type, data FROM call_events WHERE call_id = ${before!.id} ORDER BY id`
    )
    const types = events.map((e) => e.type)
    expect(types.filter((t) => t === "end")).toHaveLength(1)
    expect(events.filter((e) => e.type === "moving").map((e) => JSON.parse(e.data).why)).toEqual(["deploy"])
    expect(events.filter((e) => e.type === "resume").map((e) => JSON.parse(e.data).why)).toEqual(["deploy"])
    const setups = events.filter((e) => e.type === "setup").map((e) => JSON.parse(e.data) as { resumed: boolean; instance: string })
    expect(setups.map((s) => s.resumed)).toEqual([false, true])
    expect(setups[0]!.instance).not.toBe(setups[1]!.instance)
    // One transcript (both sessions' lines, numbered on), one summary, asked of Claude once.
    const lines = await query<Array<{ seq: number }>>((sql) => sql`SELECT seq FROM call_messages WHERE call_id = ${before!.id} ORDER BY seq`)
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i))
    await eventually(
      () => query<Array<{ n: number }>>((sql) => sql`SELECT COUNT(*) AS n FROM call_summaries WHERE call_id = ${before!.id}`),
      (rows) => rows[0]!.n === 1,
      "the summary"
    )
    expect(summaryRequestsFor("Madame Déménage")).toHaveLength(1)
  }, 60_000)

  test("kill -9 of the instance holding a call: Twilio's 64105 connect action on another instance resumes it at once", async () => {
    const C = await startInstance("C")
    const callSid = newSid()
    const first = "Bonjour, ici Monsieur Panne."
    const { params, ws } = await liveCall(C, callSid, first)
    // A turn's lines are written just after it, off the caller's path: a crash within those milliseconds loses them.
    await eventually(
      () => query<Array<{ n: number }>>((sql) => sql`SELECT COUNT(*) AS n FROM call_messages m JOIN calls c ON c.id = m.call_id WHERE c.twilio_call_sid = ${callSid}`),
      (rows) => rows[0]!.n >= 2,
      "the first turn stored"
    )
    C.child.kill("SIGKILL")
    await C.exited
    await ws.closed.catch(() => undefined)
    // The lease C held has not expired: the connect action releases the call whatever it says.
    const resumed = await resumeOn(B(), callSid, actionForm({ callSid, sessionStatus: "failed", errorCode: "64105", errorMessage: "Websocket ended" }))
    expect(resumed.params).toEqual(params)
    const second = "Vous m'entendez encore ?"
    resumed.ws.prompt(second)
    expect((await resumed.ws.textUntilLast(8000)).text).toBe("Bien sûr, je vous écoute.")
    expect(JSON.stringify((await conversationRequestWith(second))!.body.messages)).toContain("Monsieur Panne")

    await hangUp(B(), resumed.ws, callSid)
    const [after] = await eventually(() => callRow(callSid), (rows) => rows[0]?.ended_at != null, "the call finalised", 8000)
    expect(after!.end_reason).toBe("caller_hangup")
    const resumes = await query<Array<{ data: string }>>((sql) => sql`SELECT data FROM call_events WHERE call_id = ${after!.id} AND type = 'resume'`)
    expect(resumes.map((e) => JSON.parse(e.data).why)).toEqual(["socket_dropped"])
  }, 60_000)

  test("while another instance holds a call: a second socket on B is refused, a status callback on B leaves it live, a new instance's recovery leaves it alone", async () => {
    const D = await startInstance("D")
    const callSid = newSid()
    const { params, ws } = await liveCall(D, callSid, "Bonjour, ici Madame Reste.")
    // A second socket for the live call is refused on another instance too (the lease is in the database).
    const second = await RelayClient.connect(B().wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
    second.setup({ callSid, from: CALLER, to: BUSINESS, customParameters: params })
    expect((await second.closed).code).toBe(1008)
    // A terminal status landing on B (out of order) must not finalise D's live call.
    const status = await signedPost(B().baseUrl, PUBLIC_URL, "/webhooks/twilio/status", statusForm({ callSid, status: "completed", duration: 12, sequence: 3 }), AUTH_TOKEN)
    expect(status.status).toBe(200)
    // A new instance starts: its recovery of calls left open runs before it is healthy.
    const E = await startInstance("E")
    expect((await callRow(callSid))[0]!.ended_at).toBeNull()
    ws.prompt("Vous êtes toujours là ?")
    expect((await ws.textUntilLast(8000)).text).toBe("Bien sûr, je vous écoute.")
    // Control: the same call, once its socket is gone, is finalised once, by its own instance.
    await ws.close()
    const [after] = await eventually(() => callRow(callSid), (rows) => rows[0]?.ended_at != null, "the call finalised", 8000)
    expect(after!.end_reason).toBe("caller_hangup")
    E.child.kill("SIGTERM")
    D.child.kill("SIGTERM")
    await stoppedCleanly(E)
    await stoppedCleanly(D)
  }, 60_000)

  test("a tenant or knowledge change made through B is seen by another instance at once, without a restart", async () => {
    const G = await startInstance("G")
    const admin = (path: string, method: string, body?: unknown) =>
      fetch(B().baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
    const greetingOn = async (instance: Instance) => {
      const voice = await signedPost(instance.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: newSid(), from: CALLER, to: BUSINESS }), AUTH_TOKEN)
      return find(parseTwiml(voice.text), "ConversationRelay")!.attributes.welcomeGreeting
    }
    const { tenants } = await (await admin("/api/v1/admin/tenants", "GET")).json() as { tenants: Array<{ id: string }> }
    const tenantId = tenants[0]!.id
    // G has the tenant in its cache (it answered a call), then the tenant changes through B.
    expect(await greetingOn(G)).toBe(DEMO.greeting as string)
    const { knowledge: _knowledge, ...withoutKnowledge } = DEMO
    expect((await admin(`/api/v1/admin/tenants/${tenantId}`, "PUT", { ...withoutKnowledge, greeting: "Salon Lumière, nouvelle équipe, bonjour !" })).status).toBe(200)
    await eventually(() => greetingOn(G), (greeting) => greeting === "Salon Lumière, nouvelle équipe, bonjour !", "G to use the new greeting", 2000)

    // G's knowledge index is loaded (a search ran on it), then a document is added through B. (Full-text matches
    // come from the database; what the notice drops on G is its cached index: term weights and embeddings.)
    const searchOnG = async (words: string) => {
      const { ws } = await liveCall(G, newSid(), words)
      const request = await conversationRequestWith(words)
      await ws.close()
      return request
    }
    const before = await searchOnG("Où garer mon vélo, première fois ?")
    expect(JSON.stringify(before!.body.messages)).not.toContain("arceaux")
    expect((await admin(`/api/v1/admin/tenants/${tenantId}/knowledge`, "POST", { title: "Vélos", content: "Un garage à vélos couvert avec des arceaux se trouve à côté du salon." })).status).toBeLessThan(300)
    const after = await eventually(
      () => searchOnG(`Où garer mon vélo, essai ${Date.now()} ?`),
      (request) => JSON.stringify(request!.body.messages).includes("arceaux"),
      "G's search to find the new document",
      4000
    )
    expect(JSON.stringify(after!.body.messages)).toContain("arceaux")
    G.child.kill("SIGTERM")
    await stoppedCleanly(G)
  }, 60_000)

  test("20 concurrent bookings of one slot across two instances: exactly one appointment", async () => {
    const F = await startInstance("F")
    const on = [B(), F]
    const calls = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const callSid = newSid()
      const instance = on[i % 2]!
      const voice = await signedPost(instance.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: `+3361122${String(3400 + i)}`, to: BUSINESS }), AUTH_TOKEN)
      const params = parametersOf(find(parseTwiml(voice.text), "ConversationRelay")!)
      const ws = await RelayClient.connect(instance.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
      ws.setup({ callSid, from: CALLER, to: BUSINESS, customParameters: params })
      return { ws, callSid, instance }
    }))
    for (const { ws } of calls) ws.prompt("Je voudrais réserver vendredi à 10 heures.")
    await Promise.all(calls.map(({ ws }) => ws.textUntilLast(15_000)))
    const booked = await query<Array<{ n: number }>>((sql) =>
      sql`SELECT COUNT(*) AS n FROM appointments WHERE client_name = 'Client Concurrent' AND status = 'booked'`
    )
    expect(booked[0]!.n).toBe(1)
    await Promise.all(calls.map(({ callSid, instance, ws }) => hangUp(instance, ws, callSid)))
    F.child.kill("SIGTERM")
    await stoppedCleanly(F)
  }, 90_000)
})
