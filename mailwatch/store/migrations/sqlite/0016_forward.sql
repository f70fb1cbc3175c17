-- #forward moves a request to another department (issue 15 item 5).
-- migrations/postgres/0016_forward.sql mirrors this step.
--
-- requests.moved_to: the id of the request it became in the other
-- department; 0 when it was never moved. A moved request is resolved;
-- mail on its thread goes on to the request it became.
ALTER TABLE requests ADD COLUMN moved_to INTEGER NOT NULL DEFAULT 0;
