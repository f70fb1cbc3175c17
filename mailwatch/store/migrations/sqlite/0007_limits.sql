-- Limits cap mail, never tracking: the outbox sender counts what it sent
-- (by send time, in the store, so restarts and replicas share the counts)
-- and keeps back what a limit holds. migrations/postgres/0007_limits.sql
-- mirrors this step.
--
-- outbox gains:
--   * the state 'dropped': a held mail that was no longer worth sending
--     (its request was answered, its due time passed), closed unsent with
--     drop_reason at dropped_at;
--   * held_reason and held_since: why a limit keeps the mail back (the
--     last reason, kept as the record once the mail went out) and when it
--     was first held. A held mail stays 'pending' with its next_attempt at
--     the moment the window allows.
-- SQLite cannot alter a CHECK, so the table is rebuilt as in 0002. Nothing
-- references outbox yet; its indexes go with the old table and are made
-- again below.
CREATE TABLE outbox_0007 AS SELECT id, request_id, dept, kind, message_id, envelope_from, recipients, raw,
    state, attempts, next_attempt, created_at, sent_at, failed_at, last_error, claimed_by, claimed_until
FROM outbox;
DROP TABLE outbox;
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    request_id    INTEGER REFERENCES requests (id),
    dept          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    message_id    TEXT    NOT NULL UNIQUE CHECK (message_id <> ''),
    envelope_from TEXT    NOT NULL,
    recipients    TEXT    NOT NULL, -- JSON array of addresses
    raw           BLOB    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'dropped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    failed_at     INTEGER,
    last_error    TEXT    NOT NULL DEFAULT '',
    claimed_by    TEXT    NOT NULL DEFAULT '',
    claimed_until INTEGER NOT NULL DEFAULT 0,
    held_reason   TEXT    NOT NULL DEFAULT '',
    held_since    INTEGER,
    dropped_at    INTEGER,
    drop_reason   TEXT    NOT NULL DEFAULT ''
);
INSERT INTO outbox (id, request_id, dept, kind, message_id, envelope_from, recipients, raw,
    state, attempts, next_attempt, created_at, sent_at, failed_at, last_error, claimed_by, claimed_until)
SELECT id, request_id, dept, kind, message_id, envelope_from, recipients, raw,
    state, attempts, next_attempt, created_at, sent_at, failed_at, last_error, claimed_by, claimed_until
FROM outbox_0007;
DROP TABLE outbox_0007;
CREATE INDEX outbox_due ON outbox (state, next_attempt, id);
CREATE INDEX outbox_request ON outbox (request_id);
-- The global limit: everything sent in the last minute.
CREATE INDEX outbox_sent ON outbox (sent_at);

-- One row per recipient of an outbox mail, the address lower-cased, with
-- the mail's send time copied by MarkSent: the per-address limit reads
-- one index range (address, sent_at) instead of parsing every row's JSON.
CREATE TABLE outbox_recipients (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    address   TEXT    NOT NULL,
    sent_at   INTEGER,
    PRIMARY KEY (outbox_id, address)
);
CREATE INDEX outbox_recipients_sent ON outbox_recipients (address, sent_at);
-- Mail still to send, and mail sent in the last day, is all a limit can
-- count; older history needs no rows.
INSERT INTO outbox_recipients (outbox_id, address, sent_at)
SELECT o.id, lower(j.value), o.sent_at FROM outbox o, json_each(o.recipients) j
WHERE o.state = 'pending' OR o.sent_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
ON CONFLICT (outbox_id, address) DO NOTHING;
