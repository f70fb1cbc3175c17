-- Messages a mailbox watcher parked: their handling kept failing with a
-- transient error, so the watcher moved on past them rather than hold up
-- every later message of the mailbox. One row per message (a mailbox's
-- UIDVALIDITY and UID name it); it is deleted when a retry at the next
-- start handles the message. Shown by `ackd status`, the digest and
-- /metrics. migrations/sqlite and migrations/postgres hold the same step.
CREATE TABLE parked (
    dept          TEXT    NOT NULL,
    mailbox       TEXT    NOT NULL,
    uid_validity  BIGINT  NOT NULL,
    uid           BIGINT  NOT NULL,
    message_id    TEXT    NOT NULL DEFAULT '',
    from_addr     TEXT    NOT NULL DEFAULT '',
    subject       TEXT    NOT NULL DEFAULT '',
    size          BIGINT  NOT NULL DEFAULT 0,
    received_at   BIGINT,
    attempts      INTEGER NOT NULL CHECK (attempts > 0),
    last_error    TEXT    NOT NULL DEFAULT '',
    first_parked  BIGINT  NOT NULL,
    parked_at     BIGINT  NOT NULL,
    PRIMARY KEY (dept, mailbox, uid_validity, uid)
);
