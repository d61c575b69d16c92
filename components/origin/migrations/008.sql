-- A registration may have several manage tokens: a link sent again
-- (to an address submitted twice, or to someone promoted) must not
-- stop the first one from working. Every message to a registrant is
-- written to the outbox in the transaction that changed what it says,
-- then sent (`queued`, `sent`, or `failed` and tried again), or kept as
-- `development` when no mail provider is configured; so is each event
-- for the organizer's webhook (`channel`), whose secret is kept here
-- and never in a draft, so never published to an edge.
CREATE TABLE manage_tokens (
    hash         TEXT PRIMARY KEY,
    registration TEXT NOT NULL REFERENCES registrations(id),
    created_ms   INTEGER NOT NULL
);
INSERT INTO manage_tokens (hash, registration, created_ms)
    SELECT manage_token_hash, id, 0 FROM registrations;
ALTER TABLE registrations DROP COLUMN manage_token_hash;
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    event        TEXT NOT NULL REFERENCES events(slug),
    registration TEXT NOT NULL REFERENCES registrations(id),
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
    sent_ms      INTEGER
);
CREATE INDEX outbox_by_event ON outbox (event, channel, created_ms);
CREATE TABLE webhooks (
    event      TEXT PRIMARY KEY REFERENCES events(slug),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_try_ms) WHERE state IN ('queued', 'failed');
