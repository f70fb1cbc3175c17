-- Which configuration each department's stored wake-ups were planned
-- under, so that a start or reload with unchanged settings re-plans
-- nothing. migrations/postgres/0012_wake_plans.sql mirrors this step.
--
--   * dept: the department's key;
--   * fingerprint: a digest of everything the next wake-up of a request
--     depends on (the business calendar, the categories' commitments and
--     ladders), as the scheduler computes it;
--   * planned_at: when the scheduler finished planning under it, unix
--     milliseconds (for people reading the table).
-- A department without a row is planned on the next pass.
CREATE TABLE wake_plans (
    dept        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    planned_at  INTEGER NOT NULL
);
-- A re-plan walks one department's open requests by ID, a page at a
-- time (Store.OpenRequestsAfter): this index makes each page a seek.
CREATE INDEX requests_dept_open ON requests (dept, id) WHERE state <> 'resolved';
