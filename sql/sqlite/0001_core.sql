-- Core tables of the call path. Times are UTC instants as ISO-8601 text ("2026-11-25T09:30:00.000Z"):
-- they sort lexically, read well, and map to timestamptz in sql/postgres.

CREATE TABLE tenants (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  config        TEXT NOT NULL,            -- the tenant JSON of the contract, validated
  api_key_hash  TEXT UNIQUE,              -- SHA-256 of the tenant's API key; the key itself is never stored
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);

-- A number belongs to one tenant only: the primary key is the guarantee.
CREATE TABLE tenant_numbers (
  phone_number  TEXT PRIMARY KEY,
  tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE
);
CREATE INDEX tenant_numbers_tenant ON tenant_numbers(tenant_id);

CREATE TABLE calls (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id),
  twilio_call_sid  TEXT NOT NULL UNIQUE,
  from_number      TEXT NOT NULL,
  to_number        TEXT NOT NULL,
  forwarded_from   TEXT,
  direction        TEXT NOT NULL,
  status           TEXT NOT NULL,
  status_sequence  INTEGER NOT NULL DEFAULT -1, -- highest SequenceNumber applied from status callbacks
  duration         INTEGER,                     -- seconds, from Twilio's CallDuration
  started_at       TEXT NOT NULL,
  ended_at         TEXT,
  end_reason       TEXT,                        -- caller_hangup | agent_hangup | transfer | error | shutdown | ...
  outcome          TEXT,                        -- booked | transferred | message_taken | information_given | abandoned
  created_at       TEXT NOT NULL
);
CREATE INDEX calls_tenant_created ON calls(tenant_id, created_at, id);

CREATE TABLE call_messages (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id       TEXT NOT NULL REFERENCES calls(id),
  seq           INTEGER NOT NULL,            -- order within the call, assigned by the call fiber
  role          TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool_use', 'tool_result')),
  content       TEXT NOT NULL,                -- spoken text, or tool input/result JSON
  tool_name     TEXT,
  tool_use_id   TEXT,
  interrupted   INTEGER NOT NULL DEFAULT 0,  -- 1 when the caller barged in; content is what was heard
  turn          INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX call_messages_call_seq ON call_messages(call_id, seq);

CREATE TABLE call_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id     TEXT NOT NULL REFERENCES calls(id),
  type        TEXT NOT NULL,
  data        TEXT NOT NULL DEFAULT '{}',
  created_at  TEXT NOT NULL
);
CREATE INDEX call_events_call ON call_events(call_id, id);

CREATE TABLE call_summaries (
  call_id            TEXT PRIMARY KEY REFERENCES calls(id),
  summary            TEXT NOT NULL,
  intent             TEXT,
  sentiment          TEXT,
  outcome            TEXT,
  callback_needed    INTEGER NOT NULL DEFAULT 0,
  unanswered         TEXT NOT NULL DEFAULT '[]',
  created_at         TEXT NOT NULL
);
