import { describe, expect, test } from "../support/test.ts"
import { SqlClient } from "@effect/sql"
import { Effect, Exit, Layer } from "effect"
import { CallsRepo } from "../../src/storage/CallsRepo.ts"
import { runWith } from "../support/effect.ts"
import { backend, testDatabase } from "../support/db.ts"

/**
 * A call answered by the voice webhook is written with its owner (the instance that answered) or not at all: a
 * failure between the two writes must not leave a call that no instance owns, which recovery would only notice later.
 */

const layer = CallsRepo.Default.pipe(Layer.provideMerge(testDatabase()))

const answer = (sid: string) =>
  Effect.flatMap(CallsRepo, (calls) =>
    calls.createInbound({ tenantId: "tenant-1", callSid: sid, from: "+33611111111", to: "+33939035760", forwardedFrom: null, direction: "inbound", status: "in-progress", answeredBy: "instance-1" }))

/** The owner's insert fails, as a full disk or a lost connection would make it. */
const ownersRefused = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  backend === "sqlite"
    ? sql.unsafe(`CREATE TRIGGER refuse_owner BEFORE INSERT ON call_owners BEGIN SELECT RAISE(ABORT, 'owner refused'); END`)
    : Effect.zipRight(
      sql.unsafe(`CREATE FUNCTION refuse_owner() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'owner refused'; END $$ LANGUAGE plpgsql`),
      sql.unsafe(`CREATE TRIGGER refuse_owner BEFORE INSERT ON call_owners FOR EACH ROW EXECUTE FUNCTION refuse_owner()`)
    ))

const ownersAccepted = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  backend === "sqlite" ? sql.unsafe(`DROP TRIGGER refuse_owner`) : sql.unsafe(`DROP TRIGGER refuse_owner ON call_owners`))

const rowsFor = (sid: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all({
      calls: sql<{ id: string }>`SELECT id FROM calls WHERE twilio_call_sid = ${sid}`,
      owners: sql<{ instance_id: string }>`SELECT o.instance_id FROM call_owners o JOIN calls c ON c.id = o.call_id WHERE c.twilio_call_sid = ${sid}`
    }))

describe("answering a call", () => {
  test("the call and its owner are written together: when the owner cannot be, neither is; Twilio's retry then succeeds", async () => {
    const { failed, afterFailure, afterRetry } = await runWith(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
          VALUES ('tenant-1', 'Salon', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`
        yield* ownersRefused
        const exit = yield* Effect.exit(answer("CA_CREATE_1"))
        const afterFailure = yield* rowsFor("CA_CREATE_1")
        yield* ownersAccepted
        yield* answer("CA_CREATE_1")
        return { failed: Exit.isFailure(exit), afterFailure, afterRetry: yield* rowsFor("CA_CREATE_1") }
      }),
      layer
    )
    expect(failed).toBe(true)
    expect(afterFailure).toEqual({ calls: [], owners: [] })
    expect(afterRetry.calls.length).toBe(1)
    expect(afterRetry.owners).toEqual([{ instance_id: "instance-1" }])
  })
})
