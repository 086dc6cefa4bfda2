-- Several instances on one database (sql/postgres/0006_cluster.sql is the same on Postgres). On SQLite there
-- is one instance, but the same rows are kept so the code reads the same on both backends.

-- One row per running process; a process whose heartbeat is old is gone.
CREATE TABLE instances (
  id            TEXT PRIMARY KEY,
  started_at    TEXT NOT NULL,
  heartbeat_at  TEXT NOT NULL,
  draining      INTEGER NOT NULL DEFAULT 0
);

-- Who serves a live call: the instance holding its socket, until lease_until (renewed while it does).
-- moving = 1: the call is between two relay sessions (resumed elsewhere); any instance may take it.
CREATE TABLE call_owners (
  call_id      TEXT PRIMARY KEY REFERENCES calls(id),
  instance_id  TEXT,
  lease_until  TEXT NOT NULL,
  moving       INTEGER NOT NULL DEFAULT 0,
  resumes      INTEGER NOT NULL DEFAULT 0,
  dropped_at   TEXT                          -- when a dropped socket was last resumed (a second drop soon after is handed over)
);

-- A post-call summary being written: the instance that claimed it until lease_until (one Claude request).
CREATE TABLE summary_claims (
  call_id      TEXT PRIMARY KEY REFERENCES calls(id),
  instance_id  TEXT NOT NULL,
  lease_until  TEXT NOT NULL
);
