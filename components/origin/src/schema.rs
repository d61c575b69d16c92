//! The origin's schema, applied before the first request an instance
//! answers and migrated forward in numbered steps, all in one transaction,
//! so that a fresh database works on the first request and an existing one
//! keeps its data. `REFERENCES`
//! document the relations; SQLite enforces them only per connection with a
//! pragma, so the origin keeps them by writing related rows in one
//! transaction instead.

use crate::db::Db;
use crate::error::OriginError;
use std::sync::atomic::{AtomicBool, Ordering};

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    // Idempotency records expire after a day: found by age.
    r#"
CREATE INDEX idempotency_created ON idempotency (created_at);
"#,
    // The registration window and idempotency ages as integer
    // milliseconds since the Unix epoch: RFC 3339 text compares as text,
    // which is wrong across fractional seconds and offsets.
    r#"
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
"#,
    // Organizers archive an event to take it off the public list and the
    // edges; what attendees and edges may see is defined once, here.
    r#"
ALTER TABLE events ADD COLUMN archived_at_ms INTEGER;
CREATE VIEW published_events AS
    SELECT * FROM events WHERE current_version > 0 AND archived_at_ms IS NULL;
"#,
    // What each version changed in the agenda, for the changelog feed.
    r#"
ALTER TABLE snapshots ADD COLUMN changes TEXT NOT NULL DEFAULT '{}';
"#,
    // Each event's seat counts and last registration number, kept by
    // triggers in the writing transaction: a decision reads one row where
    // it counted every registration of the event.
    r#"
CREATE TABLE seat_counts (
    event      TEXT PRIMARY KEY,
    confirmed  INTEGER NOT NULL DEFAULT 0,
    waitlisted INTEGER NOT NULL DEFAULT 0,
    last_seq   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO seat_counts (event, confirmed, waitlisted, last_seq)
    SELECT event, sum(status = 'confirmed'), sum(status = 'waitlisted'), max(seq)
    FROM registrations GROUP BY event;
CREATE TRIGGER seat_counts_insert AFTER INSERT ON registrations BEGIN
    INSERT OR IGNORE INTO seat_counts (event) VALUES (NEW.event);
    UPDATE seat_counts SET
        confirmed = confirmed + (NEW.status = 'confirmed'),
        waitlisted = waitlisted + (NEW.status = 'waitlisted'),
        last_seq = max(last_seq, NEW.seq)
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_update AFTER UPDATE OF status ON registrations BEGIN
    UPDATE seat_counts SET
        confirmed = confirmed - (OLD.status = 'confirmed') + (NEW.status = 'confirmed'),
        waitlisted = waitlisted - (OLD.status = 'waitlisted') + (NEW.status = 'waitlisted')
    WHERE event = NEW.event;
END;
CREATE TRIGGER seat_counts_delete AFTER DELETE ON registrations BEGIN
    UPDATE seat_counts SET
        confirmed = confirmed - (OLD.status = 'confirmed'),
        waitlisted = waitlisted - (OLD.status = 'waitlisted')
    WHERE event = OLD.event;
END;
"#,
    // Registration attempts per client and minute, counted by the
    // transaction that decides them, across every edge and instance.
    r#"
CREATE TABLE client_attempts (
    window_start INTEGER NOT NULL,
    client       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    PRIMARY KEY (window_start, client)
);
"#,
    // A registration may have several manage tokens: a link sent again
    // (to an address submitted twice, or to someone promoted) must not
    // stop the first one from working. Every message to a registrant is
    // written to the outbox in the transaction that changed what it says,
    // then sent (`queued`, `sent`, or `failed` and tried again), or kept as
    // `development` when no mail provider is configured; so is each event
    // for the organizer's webhook (`channel`), whose secret is kept here
    // and never in a draft, so never published to an edge.
    r#"
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
"#,
    // Registrations confirmed by email: a registration is `pending`, held
    // until `hold_expires_ms` with a seat or a place in line, until its
    // address opens the link sent to it (`confirm_tokens`), or `expired`.
    // Whether it holds a seat is its own column, so `seat_counts` counts
    // seats and places in line for pending and decided alike. SQLite cannot
    // change a CHECK, so the table is rebuilt (its triggers with it).
    // Events published before confirmation existed keep registering
    // without it; new drafts confirm unless the organizer says not to.
    r#"
ALTER TABLE events ADD COLUMN confirm_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN hold_minutes INTEGER NOT NULL DEFAULT 30;
UPDATE events SET draft = json_set(draft, '$.event.registration.confirm_email', json('false'));
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
"#,
];

/// Set once this instance has seen the schema current.
static CURRENT: AtomicBool = AtomicBool::new(false);

/// Migrates and seeds once per instance, on a connection of its own, before
/// the first request that needs the data.
pub async fn ready() -> Result<(), OriginError> {
    if CURRENT.load(Ordering::Acquire) && crate::demo::settled() {
        return Ok(());
    }
    let db = Db::open().await?;
    migrate(&db).await?;
    crate::demo::seed_if_wanted(&db).await
}

async fn migrate(db: &Db) -> Result<(), OriginError> {
    if CURRENT.load(Ordering::Acquire) {
        return Ok(());
    }
    // A plain read first: a fresh instance over a current database must
    // not wait for the write lock (a replayed registration never does).
    if version(db).await? == MIGRATIONS.len() {
        CURRENT.store(true, Ordering::Release);
        return Ok(());
    }
    db.use_write_ahead_log().await?;
    db.transaction(async |db| {
        // Read again inside the write transaction: two instances starting
        // at once must not both migrate.
        let mut version = version(db).await?;
        while version < MIGRATIONS.len() {
            for statement in statements(MIGRATIONS[version]) {
                db.exec(&statement, []).await?;
            }
            version += 1;
        }
        // PRAGMA takes no parameters; `version` is our own number.
        db.exec(&format!("PRAGMA user_version = {version}"), [])
            .await?;
        Ok(())
    })
    .await?;
    CURRENT.store(true, Ordering::Release);
    Ok(())
}

/// A migration's statements, one per `execute`: split at semicolons, but
/// for those ending the statements inside a trigger's `BEGIN … END`.
fn statements(migration: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in migration.split(';') {
        current.push_str(piece);
        let statement = current.trim();
        if statement.starts_with("CREATE TRIGGER") && !statement.ends_with("END") {
            current.push(';');
            continue;
        }
        if !statement.is_empty() {
            out.push(statement.to_string());
        }
        current.clear();
    }
    out
}

async fn version(db: &Db) -> Result<usize, OriginError> {
    Ok(db
        .row("PRAGMA user_version", [])
        .await?
        .map_or(0, |r| r.int("user_version")) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_stays_one_statement() {
        let split = statements(
            "CREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
             INSERT INTO b VALUES (1);\n  UPDATE b SET y = 2;\nEND;\nDROP TABLE c;\n",
        );
        assert_eq!(
            split,
            [
                "CREATE TABLE a (x)",
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
                 INSERT INTO b VALUES (1);\n  UPDATE b SET y = 2;\nEND",
                "DROP TABLE c",
            ]
        );
    }

    #[test]
    fn every_migration_splits_into_whole_statements() {
        for migration in MIGRATIONS {
            for statement in statements(migration) {
                let begins = statement.matches("BEGIN").count();
                assert_eq!(begins, statement.matches("END").count(), "{statement}");
            }
        }
    }
}
