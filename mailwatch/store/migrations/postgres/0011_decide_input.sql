-- What a request was decided from; mirrors
-- migrations/sqlite/0011_decide_input.sql (see there). JSON text: invalid
-- UTF-8 and NULs are escaped by the encoder, so TEXT holds it.
ALTER TABLE requests ADD COLUMN decide_input TEXT NOT NULL DEFAULT '';
