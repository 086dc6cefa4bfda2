import { afterAll, expect, test } from "../support/test.ts"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Option } from "effect"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL, startApp } from "../support/appServer.ts"
import { queryDatabase, testDatabaseUrl } from "../support/db.ts"
import { signedPost, voiceForm } from "../support/twilioClient.ts"

const dir = mkdtempSync(join(tmpdir(), "coccinelle-restart-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test("a call left open by a process that died is closed at the next start, with reason server_restart", async () => {
  const databaseUrl = await testDatabaseUrl(join(dir, "restart.db"))
  const first = await startApp({ DATABASE_URL: databaseUrl })
  const answered = await signedPost(first.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_RESTART", from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
  expect(answered.status).toBe(200)
  // The process "dies": the call never got its relay session nor its status callback.
  await first.stop()
  const read = () =>
    queryDatabase(databaseUrl, (sql) =>
      sql<{ ended_at: string | null; end_reason: string | null }>`SELECT ended_at, end_reason FROM calls WHERE twilio_call_sid = 'CA_RESTART'`)
      .then((rows) => rows[0]!)
  expect((await read()).ended_at).toBeNull()

  const second = await startApp({ DATABASE_URL: databaseUrl })
  try {
    const row = await read()
    expect(row.ended_at).not.toBeNull()
    expect(row.end_reason).toBe("server_restart")
  } finally {
    await second.stop()
  }
})

test("an outcome stored during the call (a booking) survives the crash: recovery keeps it", async () => {
  const databaseUrl = await testDatabaseUrl(join(dir, "restart-booked.db"))
  const first = await startApp({ DATABASE_URL: databaseUrl })
  await signedPost(first.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid: "CA_RESTART_BOOKED", from: "+33611111111", to: BUSINESS_NUMBER }), AUTH_TOKEN)
  // What the session writes the moment a booking succeeds (test/unit/call.lifecycle.test.ts shows it does).
  await first.run(Effect.gen(function*() {
    const calls = yield* CallsRepo
    const call = Option.getOrThrow(yield* calls.findBySid("CA_RESTART_BOOKED"))
    yield* calls.recordOutcome(call.id, "booked")
  }))
  await first.stop()
  const second = await startApp({ DATABASE_URL: databaseUrl })
  try {
    const rows = await queryDatabase(databaseUrl, (sql) =>
      sql<{ end_reason: string | null; outcome: string | null }>`SELECT end_reason, outcome FROM calls WHERE twilio_call_sid = 'CA_RESTART_BOOKED'`)
    expect(rows[0]).toEqual({ end_reason: "server_restart", outcome: "booked" })
  } finally {
    await second.stop()
  }
})
