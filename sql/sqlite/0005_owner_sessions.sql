-- Sign-ins on the owner's page. The browser holds a random token in an HttpOnly cookie; only its SHA-256
-- is stored, so a copy of the database opens no session. Kept in the database, not in memory, so that any
-- instance sharing it can serve (and end) a session. Times are ISO-8601 UTC text like every other table.
-- Portable SQL: the same statements as sql/postgres/0005_owner_sessions.sql.

CREATE TABLE owner_sessions (
  token_hash  TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL
);
CREATE INDEX owner_sessions_expires ON owner_sessions(expires_at);

-- Failed sign-ins, one row each, to slow down key guessing per client; rows older than the window are deleted.
CREATE TABLE owner_signin_failures (
  id          TEXT PRIMARY KEY,
  client      TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX owner_signin_failures_client ON owner_signin_failures(client, created_at);
