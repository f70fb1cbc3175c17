-- The language a requester is answered in; mirrors
-- migrations/sqlite/0013_language.sql (see there).
ALTER TABLE requests ADD COLUMN language TEXT NOT NULL DEFAULT '';
