-- Replicas; mirrors migrations/sqlite/0004_leases.sql (times BIGINT).
CREATE TABLE leases (
    dept       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL CHECK (holder <> ''),
    expires_at BIGINT NOT NULL
);

ALTER TABLE outbox
    ADD COLUMN claimed_by    TEXT   NOT NULL DEFAULT '',
    ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
