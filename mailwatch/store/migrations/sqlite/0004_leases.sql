-- Replicas: one lease row per department (who runs its watchers and
-- scheduler, and until when), and a claim on outbox rows so no mail is
-- sent by two replicas. See docs/replicas.md for why rows and not
-- PostgreSQL advisory locks. migrations/postgres/0004_leases.sql mirrors it.
CREATE TABLE leases (
    dept       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL CHECK (holder <> ''),
    expires_at INTEGER NOT NULL
);

-- claimed_by '' = unclaimed; a claim lapses at claimed_until (unix ms).
ALTER TABLE outbox ADD COLUMN claimed_by    TEXT    NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
