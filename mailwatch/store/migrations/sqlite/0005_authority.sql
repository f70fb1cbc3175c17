-- Authority needs proof: a request keeps the other addresses its first
-- message was written to (To and Cc, without the department's own), since
-- only the requester and those recipients may chase it with a reminder.
-- A JSON array of addresses, like outbox.recipients; requests recorded
-- before this step have none. migrations/postgres/0005_authority.sql
-- mirrors it.
ALTER TABLE requests ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
