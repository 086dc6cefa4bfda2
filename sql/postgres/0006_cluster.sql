-- Several instances on one database: Postgres form of sql/sqlite/0006_cluster.sql (same columns, same meaning).

CREATE TABLE instances (
  id            text PRIMARY KEY,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  draining      integer NOT NULL DEFAULT 0
);

CREATE TABLE call_owners (
  call_id      text PRIMARY KEY REFERENCES calls(id),
  instance_id  text,
  lease_until  timestamptz NOT NULL,
  moving       integer NOT NULL DEFAULT 0,
  resumes      integer NOT NULL DEFAULT 0,
  dropped_at   timestamptz
);

CREATE TABLE summary_claims (
  call_id      text PRIMARY KEY REFERENCES calls(id),
  instance_id  text NOT NULL,
  lease_until  timestamptz NOT NULL
);
