-- The origin's schema on PostgreSQL, as SQLite's reaches it at its
-- migration 009: the same tables, columns and meaning, so that every
-- statement runs on either. Integers are BIGINT (Spin passes every
-- integer parameter as one), flags are 0 or 1 as in SQLite, times are
-- RFC 3339 text or integer milliseconds since the Unix epoch.
CREATE TABLE events (
    slug            TEXT PRIMARY KEY,
    draft           TEXT NOT NULL,
    current_version BIGINT NOT NULL DEFAULT 0,
    reg_open        BIGINT NOT NULL DEFAULT 0,
    capacity        BIGINT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    opens_at_ms     BIGINT,
    closes_at_ms    BIGINT,
    archived_at_ms  BIGINT,
    confirm_email   BIGINT NOT NULL DEFAULT 0,
    hold_minutes    BIGINT NOT NULL DEFAULT 30
);
CREATE VIEW published_events AS
    SELECT * FROM events WHERE current_version > 0 AND archived_at_ms IS NULL;
CREATE TABLE tracks (
    event    TEXT NOT NULL REFERENCES events(slug),
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE TABLE rooms (
    event    TEXT NOT NULL REFERENCES events(slug),
    id       TEXT NOT NULL,
    name     TEXT NOT NULL,
    capacity BIGINT,
    position BIGINT NOT NULL,
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
    version      BIGINT NOT NULL,
    published_at TEXT NOT NULL,
    note         TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('publish', 'rollback')),
    from_version BIGINT,
    draft        TEXT NOT NULL,
    bundle       TEXT NOT NULL,
    changes      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (event, version)
);
CREATE TABLE registrations (
    id              TEXT PRIMARY KEY,
    event           TEXT NOT NULL REFERENCES events(slug),
    seq             BIGINT NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    email_canonical TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'confirmed', 'waitlisted', 'cancelled', 'expired')),
    holds_seat      BIGINT NOT NULL DEFAULT 0,
    hold_expires_ms BIGINT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (event, seq)
);
CREATE UNIQUE INDEX registrations_one_active_per_email
    ON registrations (event, email_canonical) WHERE status IN ('pending', 'confirmed', 'waitlisted');
CREATE INDEX registrations_queue ON registrations (event, status, seq);
CREATE INDEX registrations_line ON registrations (event, holds_seat, seq)
    WHERE status IN ('pending', 'waitlisted');
CREATE INDEX registrations_holds ON registrations (event, hold_expires_ms) WHERE status = 'pending';
-- Each event's seats held, places in line and last registration number,
-- kept by a trigger in the writing transaction, as SQLite's triggers do.
CREATE TABLE seat_counts (
    event    TEXT PRIMARY KEY,
    seated   BIGINT NOT NULL DEFAULT 0,
    waiting  BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0
);
CREATE FUNCTION seat_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE seat_counts SET
            seated = seated - (OLD.holds_seat = 1 AND OLD.status IN ('pending', 'confirmed'))::int,
            waiting = waiting - (OLD.holds_seat = 0 AND OLD.status IN ('pending', 'waitlisted'))::int
        WHERE event = OLD.event;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO seat_counts (event) VALUES (NEW.event) ON CONFLICT (event) DO NOTHING;
        UPDATE seat_counts SET
            seated = seated + (NEW.holds_seat = 1 AND NEW.status IN ('pending', 'confirmed'))::int,
            waiting = waiting + (NEW.holds_seat = 0 AND NEW.status IN ('pending', 'waitlisted'))::int,
            last_seq = greatest(last_seq, NEW.seq)
        WHERE event = NEW.event;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER seat_counts_follow
    AFTER INSERT OR DELETE OR UPDATE OF status, holds_seat ON registrations
    FOR EACH ROW EXECUTE FUNCTION seat_counts_follow();
CREATE TABLE manage_tokens (
    hash         TEXT PRIMARY KEY,
    registration TEXT NOT NULL REFERENCES registrations(id),
    created_ms   BIGINT NOT NULL
);
CREATE TABLE confirm_tokens (
    hash         TEXT PRIMARY KEY,
    registration TEXT NOT NULL REFERENCES registrations(id),
    created_ms   BIGINT NOT NULL
);
CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_ms   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX idempotency_created ON idempotency (created_ms);
CREATE TABLE client_attempts (
    window_start BIGINT NOT NULL,
    client       TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    PRIMARY KEY (window_start, client)
);
CREATE TABLE audit (
    id     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    event  TEXT,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE edge_notices (
    event    TEXT NOT NULL,
    version  BIGINT NOT NULL,
    edge     TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (event, version, edge)
);
-- `rowid` orders messages written in the same millisecond, as SQLite's
-- own rowid does.
CREATE TABLE outbox (
    rowid        BIGINT GENERATED ALWAYS AS IDENTITY,
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
    confirm_link TEXT,
    state        TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_try_ms  BIGINT,
    last_error   TEXT,
    sent_ms      BIGINT
);
CREATE INDEX outbox_by_event ON outbox (event, channel, created_ms);
CREATE INDEX outbox_due ON outbox (next_try_ms) WHERE state IN ('queued', 'failed');
CREATE TABLE webhooks (
    event      TEXT PRIMARY KEY REFERENCES events(slug),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
