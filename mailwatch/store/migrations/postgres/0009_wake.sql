-- The store does the waiting; mirrors migrations/sqlite/0009_wake.sql (see
-- there for what the columns mean). Integers are BIGINT, as in 0001.
ALTER TABLE requests
    ADD COLUMN version   BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN next_wake BIGINT;
UPDATE requests SET next_wake = 0 WHERE state <> 'resolved';
CREATE INDEX requests_wake ON requests (next_wake) WHERE next_wake IS NOT NULL;
CREATE INDEX requests_dept_wake ON requests (dept, next_wake) WHERE next_wake IS NOT NULL;
