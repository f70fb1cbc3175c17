-- Working as a team (issue 15). migrations/sqlite/0015_team.sql mirrors
-- this step.
--
-- staff_away: who of a department's staff is away, and until when (unix
-- milliseconds); set by an out-of-office reply on a request's thread or
-- by #away, cleared by #back. A row whose until has passed is no longer
-- away (it stays until it is replaced).
CREATE TABLE staff_away (
    dept     TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    until_at BIGINT NOT NULL,
    reason   TEXT    NOT NULL DEFAULT '',
    set_at   BIGINT NOT NULL,
    PRIMARY KEY (dept, address)
);
-- assign_cursor: the staff member round robin assigned last, per
-- department.
CREATE TABLE assign_cursor (
    dept       TEXT    NOT NULL PRIMARY KEY,
    last       TEXT    NOT NULL,
    updated_at BIGINT NOT NULL
);
-- requests.parent_ref: #same REQ-n links a request under another (an
-- outage reported many times); answers on the parent go to every linked
-- requester. '' when not linked.
ALTER TABLE requests ADD COLUMN parent_ref TEXT NOT NULL DEFAULT '';
