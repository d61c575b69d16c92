CREATE TABLE events (
    slug            TEXT PRIMARY KEY,
    draft           TEXT NOT NULL,
    current_version INTEGER NOT NULL DEFAULT 0,
    reg_open        INTEGER NOT NULL DEFAULT 0,
    capacity        INTEGER,
    opens_at        TEXT,
    closes_at       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE TABLE tracks (
    event    TEXT NOT NULL REFERENCES events(slug),
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE TABLE rooms (
    event    TEXT NOT NULL REFERENCES events(slug),
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    capacity INTEGER,
    position INTEGER NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE TABLE sessions (
    event     TEXT NOT NULL REFERENCES events(slug),
    id        TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE TABLE speakers (
    event TEXT NOT NULL REFERENCES events(slug),
    id    TEXT NOT NULL,
    data  TEXT NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE TABLE snapshots (
    event        TEXT NOT NULL REFERENCES events(slug),
    version      INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    note         TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('publish', 'rollback')),
    from_version INTEGER,
    draft        TEXT NOT NULL,
    bundle       TEXT NOT NULL,
    PRIMARY KEY (event, version)
);
CREATE TABLE registrations (
    id                TEXT PRIMARY KEY,
    event             TEXT NOT NULL REFERENCES events(slug),
    seq               INTEGER NOT NULL,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL,
    email_canonical   TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    manage_token_hash TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (event, seq)
);
CREATE UNIQUE INDEX registrations_one_active_per_email
    ON registrations (event, email_canonical) WHERE status != 'cancelled';
CREATE INDEX registrations_queue ON registrations (event, status, seq);
CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    event  TEXT,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE edge_notices (
    event    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    edge     TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (event, version, edge)
);
