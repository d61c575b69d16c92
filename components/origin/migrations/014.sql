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
    created_ms     INTEGER NOT NULL,
    last_seen_ms   INTEGER NOT NULL,
    address        TEXT,
    ended_ms       INTEGER
);
CREATE INDEX organizer_sessions_account ON organizer_sessions (account);
CREATE TABLE sign_in_links (
    hash       TEXT PRIMARY KEY,
    account    TEXT NOT NULL REFERENCES accounts (id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER
);
CREATE INDEX sign_in_links_account ON sign_in_links (account);
-- The outbox also carries the organization's own mail (sign-in links), on
-- the same mail path as registrants' mail: such a message belongs to no
-- event and no registration. SQLite changes a column's constraints only
-- by rebuilding the table.
CREATE TABLE outbox_rebuilt (
    id           TEXT PRIMARY KEY,
    event        TEXT REFERENCES events(slug),
    registration TEXT REFERENCES registrations(id),
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    kind         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body_text    TEXT NOT NULL,
    body_html    TEXT NOT NULL,
    manage_link  TEXT,
    state        TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_ms  INTEGER,
    last_error   TEXT,
    sent_ms      INTEGER,
    confirm_link TEXT,
    mailbox      TEXT,
    mail_domain  TEXT
);
INSERT INTO outbox_rebuilt (id, event, registration, channel, kind, recipient, subject,
        body_text, body_html, manage_link, state, created_ms, attempts, next_try_ms,
        last_error, sent_ms, confirm_link, mailbox, mail_domain)
    SELECT id, event, registration, channel, kind, recipient, subject, body_text, body_html,
        manage_link, state, created_ms, attempts, next_try_ms, last_error, sent_ms,
        confirm_link, mailbox, mail_domain
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_by_event ON outbox (event, channel, created_ms);
CREATE INDEX outbox_due ON outbox (next_try_ms) WHERE state IN ('queued', 'failed');
CREATE INDEX outbox_sent_to_mailbox ON outbox (mailbox, sent_ms) WHERE channel = 'email';
CREATE INDEX outbox_sent_to_domain ON outbox (mail_domain, sent_ms) WHERE channel = 'email';
