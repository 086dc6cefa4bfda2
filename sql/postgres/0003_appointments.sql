-- Appointments, Postgres form of sql/sqlite/0003_appointments.sql (same guarantees):
--   * no two booked appointments of a tenant overlap: an exclusion constraint over the tenant and the
--     half-open range [starts_at, ends_at) (btree_gist gives `=` on text inside a gist index). The
--     application maps its SQLSTATE (23P01) and name to "slot taken", never the message text;
--   * no two booked appointments of a tenant start at the same instant (partial unique index);
--   * a repeated tool call in one phone call books once (unique idempotency key among booked rows).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE appointments (
  id               text PRIMARY KEY,
  rowid            bigint GENERATED ALWAYS AS IDENTITY, -- insertion order, as SQLite's implicit rowid
  tenant_id        text NOT NULL REFERENCES tenants(id),
  call_id          text REFERENCES calls(id),
  service_type     text NOT NULL,
  service_name     text NOT NULL,
  client_name      text NOT NULL,
  client_phone     text NOT NULL CHECK (client_phone ~ '^\+[1-9][0-9]{5}'), -- E.164
  starts_at        timestamptz NOT NULL,
  ends_at          timestamptz NOT NULL,
  time_zone        text NOT NULL,
  status           text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
  idempotency_key  text,
  created_at       timestamptz NOT NULL,
  cancelled_at     timestamptz,
  CHECK (ends_at > starts_at),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
  CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    tenant_id WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&
  ) WHERE (status = 'booked')
);

CREATE INDEX appointments_tenant_starts ON appointments(tenant_id, starts_at, id);
CREATE UNIQUE INDEX appointments_booked_start ON appointments(tenant_id, starts_at) WHERE status = 'booked';
CREATE UNIQUE INDEX appointments_idempotency ON appointments(idempotency_key) WHERE status = 'booked';
CREATE INDEX appointments_call ON appointments(call_id) WHERE call_id IS NOT NULL;
