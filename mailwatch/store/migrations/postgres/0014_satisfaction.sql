-- Asking how we did; mirrors migrations/sqlite/0014_satisfaction.sql (see
-- there for what the columns mean). Integers are BIGINT, as in 0001.
ALTER TABLE requests
    ADD COLUMN rating_asked_at BIGINT,
    ADD COLUMN rating          INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN rated_at        BIGINT;
CREATE INDEX requests_rating_asked ON requests (dept, requester, rating_asked_at) WHERE rating_asked_at IS NOT NULL;
