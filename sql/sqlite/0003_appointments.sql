-- Appointments booked by the voice agent (or later by the owner). Times are UTC instants as ISO-8601 text
-- in one fixed shape ("2026-11-25T09:30:00.000Z", checked below) so that text comparison is instant
-- comparison; the tenant's IANA zone is stored beside them to show local times without guessing.
--
-- Guarantees held by the database, whatever the application does:
--   * no two booked appointments of a tenant overlap (triggers below). This is the only check made at the
--     moment of writing: the application's availability check comes earlier and can race with another
--     connection or process, and its booking transaction writes first (no read snapshot to go stale), so a
--     racing loser is refused here; the application turns the 'slot_taken' abort into alternatives;
--   * no two booked appointments of a tenant start at the same instant (partial unique index);
--   * a repeated tool call in one phone call books once (unique idempotency key among booked rows).
-- SQLite-specific: RAISE() in triggers and GLOB checks. sql/postgres expresses the same
-- guarantee with an exclusion constraint: EXCLUDE USING gist (tenant_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
-- WHERE (status = 'booked').
--
-- A move is explicit (book_appointment's replaces_appointment_id names an appointment booked earlier in the
-- same call): the application cancels that row and inserts the new one in one transaction. Without it, a
-- second booking in a call is a second appointment (two sessions, two people).

CREATE TABLE appointments (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id),
  call_id          TEXT REFERENCES calls(id),          -- the call that booked it (its row exists before any tool runs); NULL when not booked by a call
  service_type     TEXT NOT NULL,
  service_name     TEXT NOT NULL,
  client_name      TEXT NOT NULL,
  client_phone     TEXT NOT NULL CHECK (client_phone GLOB '+[1-9][0-9][0-9][0-9][0-9][0-9]*'), -- E.164
  starts_at        TEXT NOT NULL CHECK (starts_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
  ends_at          TEXT NOT NULL CHECK (ends_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
  time_zone        TEXT NOT NULL,                       -- IANA zone of the tenant when booked
  status           TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
  idempotency_key  TEXT,                                -- tenant|call|date|time|service|phone, for repeated tool calls
  created_at       TEXT NOT NULL,
  cancelled_at     TEXT,
  CHECK (ends_at > starts_at),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);

-- Listing and keyset pagination by (starts_at, id), always within one tenant; also serves the overlap checks.
CREATE INDEX appointments_tenant_starts ON appointments(tenant_id, starts_at, id);

-- Two booked appointments of one tenant never start at the same instant.
CREATE UNIQUE INDEX appointments_booked_start ON appointments(tenant_id, starts_at) WHERE status = 'booked';

-- A repeated book_appointment in one call finds the booking it already made instead of making a second one.
-- Only booked rows hold their key, so a cancelled booking can be made again.
CREATE UNIQUE INDEX appointments_idempotency ON appointments(idempotency_key) WHERE status = 'booked';

CREATE INDEX appointments_call ON appointments(call_id) WHERE call_id IS NOT NULL;

-- The final guard against double booking: a booked appointment may not overlap [starts_at, ends_at) of
-- another booked appointment of the same tenant.
CREATE TRIGGER appointments_no_overlap_insert
BEFORE INSERT ON appointments
WHEN NEW.status = 'booked'
BEGIN
  SELECT RAISE(ABORT, 'slot_taken')
  WHERE EXISTS (
    SELECT 1 FROM appointments AS a
    WHERE a.tenant_id = NEW.tenant_id
      AND a.status = 'booked'
      AND a.starts_at < NEW.ends_at
      AND a.ends_at > NEW.starts_at
  );
END;

-- The same when a row becomes booked again or a booked row moves.
CREATE TRIGGER appointments_no_overlap_update
BEFORE UPDATE OF status, starts_at, ends_at, tenant_id ON appointments
WHEN NEW.status = 'booked'
BEGIN
  SELECT RAISE(ABORT, 'slot_taken')
  WHERE EXISTS (
    SELECT 1 FROM appointments AS a
    WHERE a.tenant_id = NEW.tenant_id
      AND a.id <> NEW.id
      AND a.status = 'booked'
      AND a.starts_at < NEW.ends_at
      AND a.ends_at > NEW.starts_at
  );
END;
