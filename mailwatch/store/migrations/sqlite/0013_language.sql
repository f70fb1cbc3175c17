-- The language a requester is answered in (issue 16): chosen once, when
-- the request is recorded, so the late notice, the new date and the
-- closing note follow in the receipt's language. '' for requests recorded
-- before: they are answered in their department's language.
-- migrations/postgres/0013_language.sql mirrors this step.
ALTER TABLE requests ADD COLUMN language TEXT NOT NULL DEFAULT '';
