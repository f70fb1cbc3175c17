-- Limits cap mail, never tracking; mirrors migrations/sqlite/0007_limits.sql
-- (see there for what the columns mean). Differences from SQLite, and why:
--   * outbox keeps its rows and only swaps its CHECK and gains columns,
--     where SQLite has to rebuild the table; outbox_state_check is the
--     name PostgreSQL gave 0001's column CHECK;
--   * integers are BIGINT, as in 0001.
ALTER TABLE outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE outbox
    ADD CONSTRAINT outbox_state_check CHECK (state IN ('pending', 'sent', 'failed', 'dropped')),
    ADD COLUMN held_reason TEXT   NOT NULL DEFAULT '',
    ADD COLUMN held_since  BIGINT,
    ADD COLUMN dropped_at  BIGINT,
    ADD COLUMN drop_reason TEXT   NOT NULL DEFAULT '';
CREATE INDEX outbox_sent ON outbox (sent_at);

CREATE TABLE outbox_recipients (
    outbox_id BIGINT NOT NULL REFERENCES outbox (id),
    address   TEXT   NOT NULL,
    sent_at   BIGINT,
    PRIMARY KEY (outbox_id, address)
);
CREATE INDEX outbox_recipients_sent ON outbox_recipients (address, sent_at);
INSERT INTO outbox_recipients (outbox_id, address, sent_at)
SELECT o.id, lower(a.value), o.sent_at FROM outbox o, jsonb_array_elements_text(o.recipients::jsonb) AS a (value)
WHERE o.state = 'pending' OR o.sent_at >= (EXTRACT(EPOCH FROM now())::BIGINT - 86400) * 1000
ON CONFLICT (outbox_id, address) DO NOTHING;
