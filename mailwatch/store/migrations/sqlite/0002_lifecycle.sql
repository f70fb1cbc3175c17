-- Following every thread: the lifecycle columns of a request, its history
-- (events), and follow-up messages in the processed marks.
-- migrations/postgres/0002_lifecycle.sql mirrors this step.

-- The current commitment cycle starts at arrival; a reopen or #eta resets it.
ALTER TABLE requests ADD COLUMN cycle_start      INTEGER;
ALTER TABLE requests ADD COLUMN answered_at      INTEGER;
ALTER TABLE requests ADD COLUMN assigned_to      TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN late_notice_for  INTEGER;
ALTER TABLE requests ADD COLUMN waiting_since    INTEGER;
ALTER TABLE requests ADD COLUMN last_activity_at INTEGER;
-- resolved_at exists since 0001 but was never written.
UPDATE requests SET
    cycle_start      = received_at,
    answered_at      = first_response_at,
    last_activity_at = CASE WHEN first_response_at > received_at THEN first_response_at ELSE received_at END;

-- A request's history, for its thread, digests and reports. dept is copied
-- from the request so reports over a department need no join.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    dept       TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind <> ''),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    level      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_request ON events (request_id, at, id);
CREATE INDEX events_dept_at ON events (dept, at, id);
CREATE INDEX events_at ON events (at, id);
CREATE INDEX requests_received ON requests (dept, received_at);

-- Requests recorded before this step get the "received" event that
-- RecordRequest now writes, so every history starts at the beginning.
INSERT INTO events (request_id, dept, kind, at, actor, detail, level)
SELECT id, dept, 'received', received_at, requester,
       'category ' || category || CASE WHEN rule <> '' THEN ', rule ' || rule ELSE '' END, 0
FROM requests ORDER BY id;

-- processed gains the outcome 'followup' (a later message of a known
-- thread) and where that message was. SQLite cannot alter a CHECK, so the
-- table is rebuilt. requests and skipped reference it: deferring the
-- foreign keys lets the old table go (its implicit DELETE counts the
-- orphaned children) and refilling the new one settles that count before
-- COMMIT, which fails if any reference is left dangling. PRAGMA
-- foreign_keys=OFF, the usual recipe, is a no-op inside the migration's
-- transaction; defer_foreign_keys resets itself at COMMIT.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE processed_0002 AS SELECT dept, message_key, outcome, processed_at FROM processed;
DROP TABLE processed;
CREATE TABLE processed (
    dept         TEXT    NOT NULL,
    message_key  TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('request', 'skipped', 'followup')),
    processed_at INTEGER NOT NULL,
    mailbox      TEXT    NOT NULL DEFAULT '', -- written for follow-ups; requests and skips keep it in their own rows
    uid          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dept, message_key)
);
INSERT INTO processed (dept, message_key, outcome, processed_at)
SELECT dept, message_key, outcome, processed_at FROM processed_0002;
DROP TABLE processed_0002;
