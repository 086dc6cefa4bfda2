-- A call's end in one statement, as on Postgres (whose CallsRepo.finalize does it with a writable CTE, which
-- SQLite lacks): setting ended_at also writes the call's `end` event and ends its lease. A transaction around
-- the three statements cost the run time more than the statements did, once per call.
CREATE TRIGGER calls_end_logged_and_released
AFTER UPDATE OF ended_at ON calls
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN
  INSERT INTO call_events (call_id, type, data, created_at)
    VALUES (NEW.id, 'end', json_object('reason', NEW.end_reason, 'outcome', NEW.outcome), NEW.ended_at);
  UPDATE call_owners SET instance_id = NULL, lease_until = NEW.ended_at WHERE call_id = NEW.id;
END;
