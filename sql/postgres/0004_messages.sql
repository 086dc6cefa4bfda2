-- Messages the agent took for the team (take_message); see sql/0004_messages.sql (SQLite).
CREATE TABLE caller_messages (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  call_id          TEXT REFERENCES calls(id),
  caller_name      TEXT NOT NULL,
  callback_number  TEXT,
  message          TEXT NOT NULL,
  urgent           BOOLEAN NOT NULL DEFAULT FALSE,
  status           TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'handled')),
  created_at       TIMESTAMPTZ NOT NULL,
  handled_at       TIMESTAMPTZ
);
CREATE INDEX caller_messages_tenant_created ON caller_messages(tenant_id, created_at, id);
CREATE INDEX caller_messages_call ON caller_messages(call_id);
