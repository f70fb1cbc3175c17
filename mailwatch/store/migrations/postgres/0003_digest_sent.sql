-- One row per department and calendar day a digest was queued for, so a
-- digest goes out once per day however often ackd restarts. The row and
-- the digest's outbox mail are written in one transaction (QueueDigest).
-- migrations/sqlite and migrations/postgres hold the same step.
CREATE TABLE digest_sent (
    dept      TEXT    NOT NULL,
    day       TEXT    NOT NULL CHECK (day <> ''),
    queued_at BIGINT  NOT NULL,
    PRIMARY KEY (dept, day)
);
