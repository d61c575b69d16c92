-- The registration window and idempotency ages as integer
-- milliseconds since the Unix epoch: RFC 3339 text compares as text,
-- which is wrong across fractional seconds and offsets.
ALTER TABLE events ADD COLUMN opens_at_ms INTEGER;
ALTER TABLE events ADD COLUMN closes_at_ms INTEGER;
UPDATE events SET
    opens_at_ms = CAST(strftime('%s', opens_at) AS INTEGER) * 1000
        + CAST(substr(strftime('%f', opens_at), 4) AS INTEGER),
    closes_at_ms = CAST(strftime('%s', closes_at) AS INTEGER) * 1000
        + CAST(substr(strftime('%f', closes_at), 4) AS INTEGER);
ALTER TABLE events DROP COLUMN opens_at;
ALTER TABLE events DROP COLUMN closes_at;
ALTER TABLE idempotency ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;
UPDATE idempotency SET created_ms = CAST(strftime('%s', created_at) AS INTEGER) * 1000;
DROP INDEX idempotency_created;
ALTER TABLE idempotency DROP COLUMN created_at;
CREATE INDEX idempotency_created ON idempotency (created_ms);
