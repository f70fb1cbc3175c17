-- promise: forecast (issue 18): a receipt may give a date later than the
-- commitment when the queue is long. requests gains promised_at, that
-- date in unix milliseconds when it is later than due_at, else NULL. The
-- escalation ladder runs on due_at; when due_at passes the leads hear and
-- due_at becomes promised_at. migrations/postgres/0010_promise.sql mirrors
-- this step.
ALTER TABLE requests ADD COLUMN promised_at INTEGER;
