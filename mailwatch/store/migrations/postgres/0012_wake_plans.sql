-- Which configuration each department's stored wake-ups were planned
-- under; mirrors migrations/sqlite/0012_wake_plans.sql (see there).
CREATE TABLE wake_plans (
    dept        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    planned_at  BIGINT NOT NULL
);
CREATE INDEX requests_dept_open ON requests (dept, id) WHERE state <> 'resolved';
