-- Organizer accounts: people with roles (`grants`, a JSON list of
-- `{role, event?}` that `eventfront_domain::access` reads) instead of one
-- shared token; API tokens of theirs, stored hashed, each with grants
-- within its account's; the bootstrap tokens owners turned off (by hash,
-- so that configuring a new one opens the door again); and the audit log
-- naming the account, how it signed in and the address it came from.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_canonical TEXT NOT NULL,
    name            TEXT NOT NULL,
    grants          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE UNIQUE INDEX accounts_live_email ON accounts (email_canonical) WHERE revoked_at IS NULL;
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES accounts (id),
    hash         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    grants       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_ms INTEGER,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_account ON api_tokens (account);
CREATE TABLE bootstrap_tokens_off (
    hash TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);
ALTER TABLE audit ADD COLUMN actor_account TEXT;
ALTER TABLE audit ADD COLUMN actor_via TEXT;
ALTER TABLE audit ADD COLUMN address TEXT;
