-- Following every thread; mirrors migrations/sqlite/0002_lifecycle.sql.
-- Differences from SQLite, and why:
--   * cycle_start becomes NOT NULL after its back-fill (SQLite cannot add a
--     NOT NULL column without a default; Apply refuses a zero CycleStart
--     on both);
--   * processed keeps its rows and only swaps its CHECK and gains columns,
--     where SQLite has to rebuild the table;
--   * integers are BIGINT, ids BIGSERIAL, as in 0001.

ALTER TABLE requests
    ADD COLUMN cycle_start      BIGINT,
    ADD COLUMN answered_at      BIGINT,
    ADD COLUMN assigned_to      TEXT NOT NULL DEFAULT '',
    ADD COLUMN late_notice_for  BIGINT,
    ADD COLUMN waiting_since    BIGINT,
    ADD COLUMN last_activity_at BIGINT;
-- resolved_at exists since 0001 but was never written.
UPDATE requests SET
    cycle_start      = received_at,
    answered_at      = first_response_at,
    last_activity_at = CASE WHEN first_response_at > received_at THEN first_response_at ELSE received_at END;
ALTER TABLE requests ALTER COLUMN cycle_start SET NOT NULL;

-- A request's history, for its thread, digests and reports.
CREATE TABLE events (
    id         BIGSERIAL PRIMARY KEY,
    request_id BIGINT  NOT NULL REFERENCES requests (id),
    dept       TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind <> ''),
    at         BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    level      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_request ON events (request_id, at, id);
CREATE INDEX events_dept_at ON events (dept, at, id);
CREATE INDEX events_at ON events (at, id);
CREATE INDEX requests_received ON requests (dept, received_at);

-- Requests recorded before this step get the "received" event that
-- RecordRequest now writes.
INSERT INTO events (request_id, dept, kind, at, actor, detail, level)
SELECT id, dept, 'received', received_at, requester,
       'category ' || category || CASE WHEN rule <> '' THEN ', rule ' || rule ELSE '' END, 0
FROM requests ORDER BY id;

-- processed gains the outcome 'followup' and where that message was.
-- processed_outcome_check is the name PostgreSQL gave 0001's column CHECK.
ALTER TABLE processed DROP CONSTRAINT processed_outcome_check;
ALTER TABLE processed
    ADD CONSTRAINT processed_outcome_check CHECK (outcome IN ('request', 'skipped', 'followup')),
    ADD COLUMN mailbox TEXT   NOT NULL DEFAULT '',
    ADD COLUMN uid     BIGINT NOT NULL DEFAULT 0;
