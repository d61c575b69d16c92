-- Idempotency records expire after a day: found by age.
CREATE INDEX idempotency_created ON idempotency (created_at);
