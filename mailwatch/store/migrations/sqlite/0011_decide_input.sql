-- What a request was decided from, so `ackd replay` can decide it again
-- with another config. migrations/postgres/0011_decide_input.sql mirrors
-- this step.
--
-- requests gains decide_input: the message as the rules saw it (headers,
-- addresses, body text) and what they decided, encoded by the daemon
-- (JSON; the store does not read it). Requests recorded before this step (schema version 11)
-- keep '' and are replayed from their subject, requester, recipients and
-- text excerpt only.
ALTER TABLE requests ADD COLUMN decide_input TEXT NOT NULL DEFAULT '';
