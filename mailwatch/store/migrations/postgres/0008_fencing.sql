-- Fencing; mirrors migrations/sqlite/0008_fencing.sql, which says why.
ALTER TABLE leases ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;

ALTER TABLE outbox ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';
