-- Authority needs proof; mirrors migrations/sqlite/0005_authority.sql.
ALTER TABLE requests ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
