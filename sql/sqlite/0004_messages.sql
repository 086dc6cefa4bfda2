-- Messages the agent took for the team (take_message). Not the transcript (call_messages): one row per
-- message the caller asked us to pass on. `urgent` is 0/1 here, BOOLEAN in Postgres; the repository reads both.
CREATE TABLE caller_messages (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  call_id          TEXT REFERENCES calls(id),
  caller_name      TEXT NOT NULL,
  callback_number  TEXT,
  message          TEXT NOT NULL,
  urgent           INTEGER NOT NULL DEFAULT 0,
  status           TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'handled')),
  created_at       TEXT NOT NULL,
  handled_at       TEXT
);
CREATE INDEX caller_messages_tenant_created ON caller_messages(tenant_id, created_at, id);
CREATE INDEX caller_messages_call ON caller_messages(call_id);
