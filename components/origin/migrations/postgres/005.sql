-- Erasure (GDPR Art. 17): a registration whose person asked for their
-- data to be erased keeps an anonymous row, so that counts and the audit
-- trail still add up, and says when it was erased; a kept answer names
-- the registration it created, so that erasure finds it.
ALTER TABLE registrations ADD COLUMN erased_ms BIGINT;
ALTER TABLE idempotency ADD COLUMN registration TEXT;
CREATE INDEX idempotency_registration ON idempotency (registration);
