import { afterAll, expect, test } from "../support/test.ts"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
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
