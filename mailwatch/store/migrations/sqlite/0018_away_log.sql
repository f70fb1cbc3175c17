-- Who was away when (issue 18: ackd report compares the dates given with
-- what a forecast would have said, which needs the staff present then).
-- migrations/postgres/0018_away_log.sql mirrors this step.
--
-- staff_away_log: one row per absence, from_at to until_at (unix
-- milliseconds); SetAway adds one and ends an overlapping earlier one of
-- the same person at its start, ClearAway (#back) ends the open one now.
-- staff_away keeps only the current state.
CREATE TABLE staff_away_log (
    dept     TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    from_at  INTEGER NOT NULL,
    until_at INTEGER NOT NULL,
    reason   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (dept, address, from_at)
);
CREATE INDEX staff_away_log_until ON staff_away_log (dept, until_at);
-- The absences known so far begin the log.
INSERT INTO staff_away_log (dept, address, from_at, until_at, reason)
    SELECT dept, address, set_at, until_at, reason FROM staff_away;
