import { describe, expect, test } from "../support/test.ts"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { CallOwners } from "../../src/cluster/CallOwners.ts"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { runWith } from "../support/effect.ts"
import { backend, testDatabase } from "../support/db.ts"

/**
 * The writes every call makes — its creation, its claim by the instance its socket lands on, its end, its final
 * status — made by many calls at the same moment (on Postgres they share statements): each call gets the answer it
 * would get alone.
 */

const base = CallOwners.Default.pipe(Layer.provideMerge(CallsRepo.Default), Layer.provideMerge(testDatabase()))

const seedTenant = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
      VALUES ('tenant-1', 'Salon', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`)

const create = (sid: string) =>
  Effect.flatMap(CallsRepo, (calls) =>
    calls.createInbound({ tenantId: "tenant-1", callSid: sid, from: "+33611111111", to: "+33939035760", forwardedFrom: null, direction: "inbound", status: "ringing", answeredBy: "instance-1" }))

const CALLS = 120
const sids = Array.from({ length: CALLS }, (_, i) => `CA_TOGETHER_${i}`)
/** The tenant, then every call created at once. */
const createdTogether = Effect.zipRight(seedTenant, Effect.forEach(sids, create, { concurrency: "unbounded" }))

describe(`on ${backend}: many calls writing at once`, () => {
  test("created together, with Twilio's retries among them: one row and one owner per call, a retry answered with the same call", async () => {
    const result = await runWith(
      Effect.gen(function*() {
        yield* seedTenant
        // Every tenth voice webhook is retried at the same moment.
        const requests = [...sids, ...sids.filter((_, i) => i % 10 === 0)]
        const created = yield* Effect.forEach(requests, create, { concurrency: "unbounded" })
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ sid: string; owner: string | null }>`SELECT c.twilio_call_sid AS sid, o.instance_id AS owner
          FROM calls c LEFT JOIN call_owners o ON o.call_id = c.id`
        return { created, rows }
      }),
      base
    )
    expect(result.rows.length).toBe(CALLS)
    expect(result.rows.every((row) => row.owner === "instance-1")).toBe(true)
    expect(result.created.map((call) => call.twilio_call_sid)).toEqual([...sids, ...sids.filter((_, i) => i % 10 === 0)])
    const idBySid = new Map(result.created.slice(0, CALLS).map((call) => [call.twilio_call_sid, call.id]))
    expect(result.created.slice(CALLS).every((call) => idBySid.get(call.twilio_call_sid) === call.id)).toBe(true)
    expect(new Set(result.created.map((call) => call.id)).size).toBe(CALLS)
  })

  test("setups for every call at once, each replayed at the same moment, some naming another call's id: each call taken once, never by a wrong id", async () => {
    const result = await runWith(
      Effect.gen(function*() {
        const owners = yield* CallOwners
        const created = yield* createdTogether
        // Setup i carries its own call's id, except every seventh, which carries the next call's (a forged setup).
        const setups = created.map((call, i) => ({
          sid: call.twilio_call_sid,
          callId: i % 7 === 3 ? created[(i + 1) % CALLS]!.id : call.id,
          instance: `instance-${i % 2}`
        }))
        const replays = setups.map((setup) => ({ ...setup, instance: "instance-replayed" }))
        const found = yield* Effect.forEach([...setups, ...replays], (setup) =>
          owners.findAndClaim(setup.sid, setup.callId, setup.instance), { concurrency: "unbounded" })
        const sql = yield* SqlClient.SqlClient
        const held = yield* sql<{ sid: string; instance_id: string | null }>`SELECT c.twilio_call_sid AS sid, o.instance_id
          FROM calls c JOIN call_owners o ON o.call_id = c.id`
        return { setups: [...setups, ...replays], found, held, idOf: new Map(created.map((call) => [call.twilio_call_sid, call.id])) }
      }),
      base
    )
    const takenPerSid = new Map<string, number>()
    result.found.forEach((found, i) => {
      const setup = result.setups[i]!
      // Every setup finds the call its SID names (whatever id it carries)...
      expect(Option.isSome(found) && found.value.call.twilio_call_sid === setup.sid).toBe(true)
      if (Option.isSome(found) && found.value.held) {
        // ...and takes it only with that call's own id.
        expect(setup.callId).toBe(result.idOf.get(setup.sid)!)
        takenPerSid.set(setup.sid, (takenPerSid.get(setup.sid) ?? 0) + 1)
      }
    })
    const forged = sids.filter((_, i) => i % 7 === 3)
    expect(forged.every((sid) => !takenPerSid.has(sid))).toBe(true)
    expect([...takenPerSid.values()].every((n) => n === 1)).toBe(true)
    expect(takenPerSid.size).toBe(CALLS - forged.length)
    // The owner row names whoever took the call; a forged setup's call stays with the instance that answered it.
    for (const row of result.held) {
      if (forged.includes(row.sid)) expect(row.instance_id).toBe("instance-1")
      else expect(row.instance_id === "instance-0" || row.instance_id === "instance-1" || row.instance_id === "instance-replayed").toBe(true)
    }
  })

  test("ended together, some by two finalisers at once: each call is finalised exactly once, with one end event, its lease released", async () => {
    const result = await runWith(
      Effect.gen(function*() {
        const calls = yield* CallsRepo
        const created = yield* createdTogether
        // Every fifth call is ended by the socket's close and Twilio's connect action at the same moment.
        const endings = [
          ...created.map((call) => ({ id: call.id, endReason: "caller_hangup", outcome: "abandoned" })),
          ...created.filter((_, i) => i % 5 === 0).map((call) => ({ id: call.id, endReason: "transferred", outcome: "transferred" }))
        ]
        const won = yield* Effect.forEach(endings, (ending) => calls.finalize(ending.id, ending), { concurrency: "unbounded" })
        const sql = yield* SqlClient.SqlClient
        const ends = yield* sql<{ call_id: string; n: number }>`SELECT call_id, COUNT(*) AS n FROM call_events WHERE type = 'end' GROUP BY call_id`
        const stillOwned = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM call_owners WHERE instance_id IS NOT NULL`
        const ended = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM calls WHERE ended_at IS NOT NULL`
        return { won: endings.map((ending, i) => ({ id: ending.id, won: won[i]! })), ends, stillOwned: Number(stillOwned[0]!.n), ended: Number(ended[0]!.n) }
      }),
      base
    )
    const winsPerCall = new Map<string, number>()
    for (const { id, won } of result.won) winsPerCall.set(id, (winsPerCall.get(id) ?? 0) + (won ? 1 : 0))
    expect([...winsPerCall.values()].every((wins) => wins === 1)).toBe(true)
    expect(winsPerCall.size).toBe(CALLS)
    expect(result.ended).toBe(CALLS)
    // On SQLite the end event and the release come from the end's trigger; on Postgres from the same statement.
    expect(result.ends.length).toBe(CALLS)
    expect(result.ends.every((row) => Number(row.n) === 1)).toBe(true)
    expect(result.stillOwned).toBe(0)
  })

  test("status callbacks arriving together and out of order: the highest sequence is what is stored, and it always applies", async () => {
    const result = await runWith(
      Effect.gen(function*() {
        const calls = yield* CallsRepo
        yield* createdTogether
        const updates = sids.flatMap((sid) => [
          { callSid: sid, status: "completed", duration: 42, sequence: 3 },
          { callSid: sid, status: "ringing", duration: null, sequence: 1 },
          { callSid: sid, status: "in-progress", duration: null, sequence: 2 }
        ])
        const applied = yield* Effect.forEach(updates, (update) => calls.applyStatus(update), { concurrency: "unbounded" })
        const unknown = yield* calls.applyStatus({ callSid: "CA_NEVER_ANSWERED", status: "completed", duration: 1, sequence: 9 })
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ status: string; duration: number | null; status_sequence: number }>`SELECT status, duration, status_sequence FROM calls`
        return { rows, highestApplied: applied.filter((_, i) => updates[i]!.sequence === 3), unknown }
      }),
      base
    )
    expect(result.rows.length).toBe(CALLS)
    expect(result.rows.every((row) => row.status === "completed" && Number(row.duration) === 42 && Number(row.status_sequence) === 3)).toBe(true)
    expect(result.highestApplied.every(Option.isSome)).toBe(true)
    expect(Option.isNone(result.unknown)).toBe(true)
  })
})
