-- Fencing (docs/replicas.md, "What a freeze does"): a replica that froze
-- and woke after another took over must not write for the department it
-- lost, nor finish a mail it no longer holds. migrations/postgres/
-- 0008_fencing.sql mirrors this step.
--
-- leases.generation grows by one whenever a lease changes holder (renewals
-- keep it; a released department lease keeps its row, expired, so the
-- number never starts over). A department's writes carry the generation
-- their lease was taken with and are refused when it is no longer current.
ALTER TABLE leases ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;

-- claim_token: drawn afresh by every ClaimMail; MarkSent, MarkRetry,
-- MarkFailed, HoldMail and DropMail under a claim require it, so only the
-- replica holding the claim finishes the mail.
ALTER TABLE outbox ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';
