-- Organizers' browser sign-ins: a session kept by the hash of the secret
-- in its cookie, opened with an API token (and bound to it: revoking the
-- token ends the session), a mailed link, or the bootstrap token (bound to
-- its hash: turning that off ends the session); its idle and absolute
-- lifetimes are the domain's (`sign_in::Lifetime`). Sign-in links (asked
-- for, or an invitation sent with a new account): single use, until they
-- expire, kept by their hash.
CREATE TABLE organizer_sessions (
    id             TEXT PRIMARY KEY,
    hash           TEXT NOT NULL UNIQUE,
    account        TEXT REFERENCES accounts (id),
    token          TEXT REFERENCES api_tokens (id),
    bootstrap_hash TEXT,
    created_ms     BIGINT NOT NULL,
    last_seen_ms   BIGINT NOT NULL,
    address        TEXT,
    ended_ms       BIGINT
);
CREATE INDEX organizer_sessions_account ON organizer_sessions (account);
CREATE TABLE sign_in_links (
    hash       TEXT PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts (id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms    BIGINT
);
CREATE INDEX sign_in_links_account ON sign_in_links (account);
-- The outbox also carries the organization's own mail (sign-in links), on
-- the same mail path as registrants' mail: such a message belongs to no
-- event and no registration.
ALTER TABLE outbox ALTER COLUMN event DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN registration DROP NOT NULL;
