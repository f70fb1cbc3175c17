-- The first schema, mirroring migrations/sqlite/0001_init.sql column for
-- column. Times are BIGINT unix milliseconds (UTC); NULL where a time may be
-- absent. Differences from SQLite, and why:
--   * every integer is BIGINT: IMAP UIDs reach 2^32-1, beyond INTEGER;
--   * ids are BIGSERIAL where SQLite has INTEGER PRIMARY KEY (its rowid);
--   * requests.text is BYTEA: PostgreSQL's TEXT cannot hold a NUL, and the
--     excerpt is kept byte for byte;
--   * outbox.raw is BYTEA (SQLite BLOB).

-- Where each watched mailbox stands.
CREATE TABLE sync_state (
    dept         TEXT   NOT NULL,
    mailbox      TEXT   NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (dept, mailbox)
);

-- The last reference number handed out per department. Separate from
-- requests so a number survives even when its request was never written.
-- Its row is also the lock that serialises RecordRequest per department.
CREATE TABLE ref_counters (
    dept     TEXT   NOT NULL PRIMARY KEY,
    last_seq BIGINT NOT NULL CHECK (last_seq > 0)
);

-- Every message key decided on, as a request or as a skip: the guard against
-- acknowledging twice.
CREATE TABLE processed (
    dept         TEXT   NOT NULL,
    message_key  TEXT   NOT NULL,
    outcome      TEXT   NOT NULL CHECK (outcome IN ('request', 'skipped')),
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (dept, message_key)
);

CREATE TABLE requests (
    id                BIGSERIAL PRIMARY KEY,
    dept              TEXT    NOT NULL,
    seq               BIGINT  NOT NULL CHECK (seq > 0),
    ref               TEXT    NOT NULL,
    message_key       TEXT    NOT NULL,
    message_id        TEXT    NOT NULL,
    mailbox           TEXT    NOT NULL,
    uid               BIGINT  NOT NULL,
    requester         TEXT    NOT NULL,
    requester_name    TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    category          TEXT    NOT NULL,
    rule              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('new', 'acknowledged', 'answered', 'waiting', 'overdue', 'resolved')),
    received_at       BIGINT  NOT NULL,
    due_at            BIGINT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    first_response_at BIGINT,
    resolved_at       BIGINT,
    escalation_level  INTEGER NOT NULL DEFAULT 0,
    reminders         INTEGER NOT NULL DEFAULT 0,
    text              BYTEA   NOT NULL,
    UNIQUE (dept, seq),
    UNIQUE (dept, ref),
    UNIQUE (dept, message_key),
    FOREIGN KEY (dept, message_key) REFERENCES processed (dept, message_key)
);
CREATE INDEX requests_state ON requests (state, received_at);

-- Message-IDs that belong to a request's thread: the request's own, the
-- mails ackd sent about it, later replies. One owner per key.
CREATE TABLE thread_keys (
    dept       TEXT   NOT NULL,
    thread_key TEXT   NOT NULL,
    request_id BIGINT NOT NULL REFERENCES requests (id),
    PRIMARY KEY (dept, thread_key)
);
CREATE INDEX thread_keys_request ON thread_keys (request_id);

CREATE TABLE skipped (
    id          BIGSERIAL PRIMARY KEY,
    dept        TEXT   NOT NULL,
    mailbox     TEXT   NOT NULL,
    uid         BIGINT NOT NULL,
    message_key TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    from_addr   TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    refusal     TEXT   NOT NULL,
    skipped_at  BIGINT NOT NULL,
    UNIQUE (dept, message_key),
    FOREIGN KEY (dept, message_key) REFERENCES processed (dept, message_key)
);
CREATE INDEX skipped_at ON skipped (skipped_at);

-- Mail to send. message_id is fixed when the row is written, so a retry
-- after a crash sends the same message, never a second one.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    request_id    BIGINT  REFERENCES requests (id),
    dept          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    message_id    TEXT    NOT NULL UNIQUE CHECK (message_id <> ''),
    envelope_from TEXT    NOT NULL,
    recipients    TEXT    NOT NULL, -- JSON array of addresses
    raw           BYTEA   NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    sent_at       BIGINT,
    failed_at     BIGINT,
    last_error    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (state, next_attempt, id);
CREATE INDEX outbox_request ON outbox (request_id);
