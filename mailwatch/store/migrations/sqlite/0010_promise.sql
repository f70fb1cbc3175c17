-- promise: forecast (issue 18): a receipt may give a date later than the
-- commitment when the queue is long. requests gains promised_at, that
-- date in unix milliseconds when it is later than due_at, else NULL. The
-- escalation ladder runs on due_at; when due_at passes the leads hear and
-- due_at becomes promised_at, which stays as the record of the date given
-- (ackd report) until #eta or a new cycle replaces it. Existing rows get
-- NULL: their receipts gave the commitment.
-- migrations/postgres/0010_promise.sql mirrors this step.
ALTER TABLE requests ADD COLUMN promised_at INTEGER;
