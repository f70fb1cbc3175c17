-- What a skipped message was decided from (issue 17: ackd replay shows
-- mail that got no receipt and would get one under another config).
-- migrations/postgres/0017_skipped_input.sql mirrors this step.
--
-- skipped.decide_input: the message as Decide saw it (its text capped),
-- encoded like requests.decide_input; '' when the skip was not Decide's
-- (too old, ackd's own copy, a team command) or the input has passed its
-- keep (RecordSkipped clears inputs older than store.SkippedInputKeep).
ALTER TABLE skipped ADD COLUMN decide_input TEXT NOT NULL DEFAULT '';
-- Only rows still holding an input: the clearing and replay read these.
CREATE INDEX skipped_input ON skipped (dept, skipped_at) WHERE decide_input <> '';
