-- promise: forecast; mirrors migrations/sqlite/0010_promise.sql (see there).
ALTER TABLE requests ADD COLUMN promised_at BIGINT;
