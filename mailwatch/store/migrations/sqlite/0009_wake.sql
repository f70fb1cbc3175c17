-- The store does the waiting: the scheduler asks for the earliest
-- next_wake and for the requests due now, instead of loading every open
-- request. migrations/postgres/0009_wake.sql mirrors this step.
--
-- requests gains:
--   * version: 1 when recorded, one more with every write of the row;
--     Apply refuses a change planned from an older version (optimistic
--     updates), so a plan never overwrites what another writer did;
--   * next_wake: when the request next needs the clock, unix
--     milliseconds; NULL when nothing is due (resolved, waiting, no
--     commitment). Written with every change of the request.
-- Existing open requests get next_wake 0, "plan at once": the scheduler's
-- first pass computes each one's real next wake-up in Go (SQL does not
-- know the business calendar) and writes it; a resolved request never
-- wakes.
ALTER TABLE requests ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN next_wake INTEGER;
UPDATE requests SET next_wake = 0 WHERE state <> 'resolved';
-- Only requests that wait for the clock are in the indexes: the earliest
-- of all (requests_wake), and per department, so that a replica that owns
-- some departments seeks each one's earliest and due rows
-- (requests_dept_wake).
CREATE INDEX requests_wake ON requests (next_wake) WHERE next_wake IS NOT NULL;
CREATE INDEX requests_dept_wake ON requests (dept, next_wake) WHERE next_wake IS NOT NULL;
