-- Asking how we did (issue 16): the closing mail of a resolved request
-- may ask the requester one question, answered with one word or number.
-- migrations/postgres/0014_satisfaction.sql mirrors this step.
--   * rating_asked_at: when the question went out, unix milliseconds;
--     NULL when it was not asked;
--   * rating: the answer, 1 (poor) to 5 (excellent); 0 = none yet;
--   * rated_at: when the answer came; NULL when none.
-- The index finds when a requester was last asked, for "at most one
-- question per requester per period".
ALTER TABLE requests ADD COLUMN rating_asked_at INTEGER;
ALTER TABLE requests ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN rated_at INTEGER;
CREATE INDEX requests_rating_asked ON requests (dept, requester, rating_asked_at) WHERE rating_asked_at IS NOT NULL;
