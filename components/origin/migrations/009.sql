-- Registrations confirmed by email: a registration is `pending`, held
-- until `hold_expires_ms` with a seat or a place in line, until its
-- address opens the link sent to it (`confirm_tokens`), or `expired`.
-- Whether it holds a seat is its own column, so `seat_counts` counts
-- seats and places in line for pending and decided alike. SQLite cannot
-- change a CHECK, so the table is rebuilt (its triggers with it).
-- Events published before confirmation existed keep registering
-- without it; new drafts confirm unless the organizer says not to.
ALTER TABLE events ADD COLUMN confirm_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 30;
UPDATE events SET draft = json_set(draft, '$.registration.confirm_email', json('false'));
UPDATE snapshots SET draft = json_set(draft, '$.event.registration.confirm_email', json('false'));
CREATE TABLE registrations_with_holds (
    id              TEXT PRIMARY KEY,
    event           TEXT NOT NULL REFERENCES events(slug),
    seq             INTEGER NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    email_canonical TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'confirmed', 'waitlisted', 'cancelled', 'expired')),
    holds_seat      INTEGER NOT NULL DEFAULT 0,
    hold_expires_ms INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (event, seq)
);
INSERT INTO registrations_with_holds
    (id, event, seq, name, email, email_canonical, status, holds_seat, created_at, updated_at)
    SELECT id, event, seq, name, email, email_canonical, status, status = 'confirmed',
        created_at, updated_at
    FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_with_holds RENAME TO registrations;
CREATE UNIQUE INDEX registrations_one_active_per_email
    ON registrations (event, email_canonical) WHERE status IN ('pending', 'confirmed', 'waitlisted');
CREATE INDEX registrations_queue ON registrations (event, status, seq);
CREATE INDEX registrations_line ON registrations (event, holds_seat, seq)
    WHERE status IN ('pending', 'waitlisted');
CREATE INDEX registrations_holds ON registrations (event, hold_expires_ms) WHERE status = 'pending';
DROP TABLE seat_counts;
CREATE TABLE seat_counts (
    event    TEXT PRIMARY KEY,
    seated   INTEGER NOT NULL DEFAULT 0,
    waiting  INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
INSERT INTO seat_counts (event, seated, waiting, last_seq)
    SELECT event,
        sum(holds_seat = 1 AND status IN ('pending', 'confirmed')),
        sum(holds_seat = 0 AND status IN ('pending', 'waitlisted')),
        max(seq)
    FROM registrations GROUP BY event;
CREATE TRIGGER seat_counts_insert AFTER INSERT ON registrations BEGIN
    INSERT OR IGNORE INTO seat_counts (event) VALUES (NEW.event);
    UPDATE seat_counts SET
        seated = seated + (NEW.holds_seat = 1 AND NEW.status IN ('pending', 'confirmed')),
        waiting = waiting + (NEW.holds_seat = 0 AND NEW.status IN ('pending', 'waitlisted')),
        last_seq = max(last_seq, NEW.seq)
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_update AFTER UPDATE OF status, holds_seat ON registrations BEGIN
    UPDATE seat_counts SET
        seated = seated - (OLD.holds_seat = 1 AND OLD.status IN ('pending', 'confirmed'))
            + (NEW.holds_seat = 1 AND NEW.status IN ('pending', 'confirmed')),
        waiting = waiting - (OLD.holds_seat = 0 AND OLD.status IN ('pending', 'waitlisted'))
            + (NEW.holds_seat = 0 AND NEW.status IN ('pending', 'waitlisted'))
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_delete AFTER DELETE ON registrations BEGIN
    UPDATE seat_counts SET
        seated = seated - (OLD.holds_seat = 1 AND OLD.status IN ('pending', 'confirmed')),
        waiting = waiting - (OLD.holds_seat = 0 AND OLD.status IN ('pending', 'waitlisted'))
    WHERE event = OLD.event;
END;
CREATE TABLE confirm_tokens (
    hash         TEXT PRIMARY KEY,
    registration TEXT NOT NULL REFERENCES registrations(id),
    created_ms   INTEGER NOT NULL
);
ALTER TABLE outbox ADD COLUMN confirm_link TEXT;
