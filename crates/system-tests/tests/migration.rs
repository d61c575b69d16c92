//! A database written by an older origin, migrated by the current one: a
//! database at schema version 8 (before registrations were confirmed by
//! email, which rebuilt the registrations table) is made here from the
//! origin's own numbered migrations and rows as that origin wrote them;
//! the current origin then keeps every registration, token, count and
//! message, and the event goes on registering without confirmation, as it
//! was published. The same for a PostgreSQL database at its version 1
//! (seat counts kept by a row trigger), whose counts go on adding up once
//! counted per statement; and for a waiting room's arrivals, counted by
//! second before version 19 and by 100 ms bucket since.

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use system_tests::{
    OriginApp, json as body_json, on_sqlite_file, postgres, registration, workspace_root,
};

/// The origin's migrations up to and including `version`, in order.
fn migrations_up_to(version: usize) -> Vec<String> {
    let mut files: Vec<_> =
        std::fs::read_dir(workspace_root().join("components/origin/migrations"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            // SQLite's steps; PostgreSQL's are in a folder of their own.
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
    files.sort();
    files
        .iter()
        .take(version)
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `old`, as a version-8 origin stored it: its draft event and snapshot
/// without the confirmation fields, capacity 2, two seats taken, one
/// waiting, one cancelled, a manage token each and a message.
fn version_8_database(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    for migration in migrations_up_to(8) {
        db.execute_batch(&migration).unwrap();
    }
    db.execute_batch("PRAGMA user_version = 8").unwrap();
    let mut event = serde_json::to_value(
        eventfront_domain::validate::event(&json!({
            "name": "Old Conf", "timezone": "Europe/Paris",
            "starts_at": "2027-05-01T09:00:00+02:00", "ends_at": "2027-05-01T18:00:00+02:00",
            "registration": {"open": true, "capacity": 2}
        }))
        .unwrap(),
    )
    .unwrap();
    for field in ["confirm_email", "hold_minutes"] {
        event["registration"].as_object_mut().unwrap().remove(field);
    }
    let draft = json!({"event": event, "sessions": [], "speakers": []});
    let at = "2026-11-01T10:00:00Z";
    db.execute(
        "INSERT INTO events (slug, draft, current_version, reg_open, capacity, created_at, updated_at)
         VALUES ('old', ?1, 1, 1, 2, ?2, ?2)",
        rusqlite::params![event.to_string(), at],
    )
    .unwrap();
    db.execute(
        "INSERT INTO snapshots (event, version, published_at, note, action, draft, bundle)
         VALUES ('old', 1, ?1, 'First', 'publish', ?2, '{}')",
        rusqlite::params![at, draft.to_string()],
    )
    .unwrap();
    for (n, status) in [
        (1, "confirmed"),
        (2, "confirmed"),
        (3, "waitlisted"),
        (4, "cancelled"),
    ] {
        db.execute(
            "INSERT INTO registrations
             (id, event, seq, name, email, email_canonical, status, created_at, updated_at)
             VALUES (?1, 'old', ?2, ?3, ?4, ?4, ?5, ?6, ?6)",
            rusqlite::params![
                format!("r{n}"),
                n,
                format!("Person {n}"),
                format!("p{n}@example.com"),
                status,
                at
            ],
        )
        .unwrap();
        db.execute(
            "INSERT INTO manage_tokens (hash, registration, created_ms) VALUES (?1, ?2, 0)",
            rusqlite::params![token_hash(&format!("token-{n}")), format!("r{n}")],
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO outbox (id, event, registration, channel, kind, recipient, subject,
             body_text, body_html, manage_link, state, created_ms)
         VALUES ('m1', 'old', 'r3', 'email', 'waitlisted', 'p3@example.com', 'Waitlisted',
             'text', '<p>html</p>', 'https://x/registrations/r3#token=token-3', 'development', 1)",
        [],
    )
    .unwrap();
}

fn managed(method: &str, n: u32) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("/api/registrations/r{n}"))
        .header("authorization", format!("Bearer token-{n}"))
        .body(Bytes::new())
        .unwrap()
}

/// Registers a newcomer for `old`: their place in line.
async fn newcomer_in_line(origin: &OriginApp) -> Value {
    let newcomer = origin
        .signed(registration(
            "old",
            "after-migration",
            "New",
            "new@example.com",
        ))
        .await;
    assert_eq!(newcomer.status(), 201, "{:?}", newcomer.body());
    body_json(&newcomer)["position"].clone()
}

#[tokio::test]
async fn a_version_8_database_keeps_its_registrations_and_registers_as_it_was_published() {
    let state = tempfile::tempdir().unwrap();
    version_8_database(&state.path().join("sqlite_db.db"));
    let state_dir = state.path().to_path_buf();
    let origin = OriginApp::start(move |mut o| {
        o.state_dir = Some(state_dir);
        o
    })
    .await;

    // Every token still works, every status and place is as it was.
    let waiting = body_json(&origin.signed(managed("GET", 3)).await);
    assert_eq!(
        (waiting["status"].as_str(), waiting["position"].as_u64()),
        (Some("waitlisted"), Some(1))
    );
    assert_eq!(
        body_json(&origin.signed(managed("GET", 1)).await)["status"],
        "confirmed"
    );
    assert_eq!(
        body_json(&origin.signed(managed("GET", 4)).await)["status"],
        "cancelled"
    );

    // The event was published without confirmation and still registers so.
    assert_eq!(newcomer_in_line(&origin).await, 2);
    let again = origin
        .signed(registration("old", "again", "P2", "p2@example.com"))
        .await;
    assert_eq!(again.status(), 409);
    // The cancelled address may register again.
    let back = origin
        .signed(registration("old", "back", "P4", "p4@example.com"))
        .await;
    assert_eq!(back.status(), 201);

    // A cancellation promotes the first in line, as before.
    assert_eq!(origin.signed(managed("DELETE", 1)).await.status(), 200);
    assert_eq!(
        body_json(&origin.signed(managed("GET", 3)).await)["status"],
        "confirmed"
    );

    let (version, counts, confirms) = on_sqlite_file(state.path().join("sqlite_db.db"), |db| {
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let counts: (i64, i64, i64) = db
            .query_row(
                "SELECT seated, waiting, last_seq FROM seat_counts WHERE event = 'old'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let confirms: Vec<(&str, i64)> = [
            ("events", "slug", "$.registration"),
            ("snapshots", "event", "$.event.registration"),
        ]
        .into_iter()
        .map(|(table, column, path)| {
            let confirm = db
                .query_row(
                    &format!(
                        "SELECT json_extract(draft, '{path}.confirm_email') FROM {table} WHERE {column} = 'old'"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            (table, confirm)
        })
        .collect();
        (version, counts, confirms)
    })
    .await;
    assert_eq!(version as usize, migrations_up_to(usize::MAX).len());
    // r2 and r3 seated; the newcomer and r4's return wait.
    assert_eq!(counts, (2, 2, 6));
    for (table, confirm) in confirms {
        assert_eq!(confirm, 0, "{table} keeps registering without confirmation");
    }
    let outbox = body_json(
        &origin
            .admin("GET", "/api/admin/events/old/outbox", None)
            .await,
    );
    let kept: Vec<&Value> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == "m1")
        .collect();
    assert_eq!(kept.len(), 1, "the message written before is kept");
    assert!(kept[0]["links"]["confirm"].is_null());
}

/// The counts kept for `old` and a recount of its registrations, as
/// (seated, waiting, last number) each.
async fn kept_and_recounted(db: &tokio_postgres::Client) -> ((i64, i64, i64), (i64, i64, i64)) {
    let row = db
        .query_one(
            "SELECT c.seated, c.waiting, c.last_seq,
                 count(*) FILTER (WHERE r.holds_seat = 1 AND r.status IN ('pending', 'confirmed')),
                 count(*) FILTER (WHERE r.holds_seat = 0 AND r.status IN ('pending', 'waitlisted')),
                 max(r.seq)
             FROM seat_counts c JOIN registrations r ON r.event = c.event
             WHERE c.event = 'old' GROUP BY c.seated, c.waiting, c.last_seq",
            &[],
        )
        .await
        .unwrap();
    (
        (row.get(0), row.get(1), row.get(2)),
        (row.get(3), row.get(4), row.get(5)),
    )
}

#[tokio::test]
async fn a_postgres_database_at_version_1_keeps_its_counts_and_the_origin_writes_them_on() {
    let url = postgres::database().await;
    let db = postgres::client(&url).await;
    let version_1 = std::fs::read_to_string(
        workspace_root().join("components/origin/migrations/postgres/001.sql"),
    )
    .unwrap();
    db.batch_execute(&version_1).await.unwrap();
    db.batch_execute(
        "CREATE TABLE schema_version (version BIGINT NOT NULL);
         INSERT INTO schema_version (version) VALUES (1);",
    )
    .await
    .unwrap();
    let event = eventfront_domain::validate::event(&json!({
        "name": "Old Conf", "timezone": "Europe/Paris",
        "starts_at": "2027-05-01T09:00:00+02:00", "ends_at": "2027-05-01T18:00:00+02:00",
        "registration": {"open": true, "capacity": 2, "confirm_email": false}
    }))
    .unwrap();
    let event = serde_json::to_string(&event).unwrap();
    let draft = format!(r#"{{"event": {event}, "sessions": [], "speakers": []}}"#);
    db.execute(
        "INSERT INTO events (slug, draft, current_version, reg_open, capacity, created_at,
             updated_at)
         VALUES ('old', $1, 1, 1, 2, 'then', 'then')",
        &[&event],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO snapshots (event, version, published_at, note, action, draft, bundle)
         VALUES ('old', 1, 'then', 'First', 'publish', $1, '{}')",
        &[&draft],
    )
    .await
    .unwrap();
    // As version 1 wrote them, one row at a time through its row trigger.
    for (n, status, holds_seat) in [
        (1_i64, "confirmed", 1_i64),
        (2, "confirmed", 1),
        (3, "waitlisted", 0),
        (4, "cancelled", 0),
    ] {
        db.execute(
            "INSERT INTO registrations (id, event, seq, name, email, email_canonical, status,
                 holds_seat, created_at, updated_at)
             VALUES ('r' || $1::BIGINT, 'old', $1, 'Person', 'p' || $1::BIGINT || '@example.com',
                 'p' || $1::BIGINT || '@example.com', $2, $3, 'then', 'then')",
            &[&n, &status, &holds_seat],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO manage_tokens (hash, registration, created_ms) VALUES ($1, $2, 0)",
            &[&token_hash(&format!("token-{n}")), &format!("r{n}")],
        )
        .await
        .unwrap();
    }
    assert_eq!(kept_and_recounted(&db).await.0, (2, 1, 4));

    let origin = OriginApp::start_on_database(url, |o| o).await;
    // A cancellation (an update promoting the first in line) and a
    // newcomer (an insert), each counted by the origin's own decision.
    assert_eq!(origin.signed(managed("DELETE", 1)).await.status(), 200);
    assert_eq!(
        body_json(&origin.signed(managed("GET", 3)).await)["status"],
        "confirmed"
    );
    assert_eq!(newcomer_in_line(&origin).await, 1);

    let (kept, recounted) = kept_and_recounted(&db).await;
    assert_eq!(kept, recounted);
    assert_eq!(kept, (2, 1, 5));
    let version: i64 = db
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    let steps = std::fs::read_dir(workspace_root().join("components/origin/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(version as usize, steps, "migrated through the last step");
    let triggers: Vec<String> = db
        .query(
            "SELECT tgname::TEXT FROM pg_trigger
             WHERE tgrelid = 'registrations'::regclass AND NOT tgisinternal ORDER BY tgname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        triggers.is_empty(),
        "no trigger restates the rule: {triggers:?}"
    );
}

/// An event with a waiting room whose arrivals a version-18 origin
/// counted by Unix second: each second's count is spread over its ten
/// 100 ms buckets by the migration, the first ones taking what does not
/// divide, and the organizer sees the same crowd as before.
#[tokio::test]
async fn a_version_18_database_keeps_its_waiting_rooms_arrivals_spread_over_buckets() {
    use eventfront_domain::waiting_room::{Admission, Pace, WaitingRoom};
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("sqlite_db.db");
    let now = jiff::Timestamp::now().as_millisecond();
    let second = now / 1_000 - 10;
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        for migration in migrations_up_to(18) {
            db.execute_batch(&migration).unwrap();
        }
        db.execute_batch("PRAGMA user_version = 18").unwrap();
        let event = eventfront_domain::validate::event(&json!({
            "name": "Old Conf", "timezone": "Europe/Paris",
            "starts_at": "2027-05-01T09:00:00+02:00", "ends_at": "2027-05-01T18:00:00+02:00",
            "registration": {"open": true, "capacity": 2}
        }))
        .unwrap();
        db.execute(
            "INSERT INTO events (slug, draft, created_at, updated_at) VALUES ('old', ?1, 'then', 'then')",
            [json!({"event": event, "sessions": [], "speakers": []}).to_string()],
        )
        .unwrap();
        let room = WaitingRoom {
            opens_at: jiff::Timestamp::from_millisecond(now + 3_600_000).unwrap(),
            prequeue_minutes: 60,
            per_minute: 600,
            pace: Pace::Rate,
            admitted_for_minutes: 10,
            paused: false,
        };
        let admission = Admission::new(&room, "r1".into(), &Default::default());
        db.execute(
            "INSERT INTO waiting_rooms (event, settings, admission) VALUES ('old', ?1, ?2)",
            [
                serde_json::to_string(&room).unwrap(),
                serde_json::to_string(&admission).unwrap(),
            ],
        )
        .unwrap();
        db.execute(
            "INSERT INTO waiting_room_arrivals (event, reporter, second, count)
             VALUES ('old', 'eu-1', ?1, 25), ('old', 'eu-1', ?1 + 1, 7), ('old', 'us-1', ?1, 1)",
            [second],
        )
        .unwrap();
    }
    let state_dir = state.path().to_path_buf();
    let origin = OriginApp::start(move |mut o| {
        o.state_dir = Some(state_dir);
        o
    })
    .await;

    let shown = origin
        .admin("GET", "/api/admin/events/old/waiting-room", None)
        .await;
    assert_eq!(shown.status(), 200, "{:?}", shown.body());
    assert_eq!(body_json(&shown)["arrivals"], 33);
    let spread = on_sqlite_file(path, move |db| {
        let mut rows = db
            .prepare(
                "SELECT bucket_starts_ms, count FROM waiting_room_arrivals
                 WHERE reporter = 'eu-1' AND bucket_starts_ms < ?1 ORDER BY 1",
            )
            .unwrap();
        rows.query_map([(second + 1) * 1_000], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<Vec<(i64, i64)>, _>>()
            .unwrap()
    })
    .await;
    let expected: Vec<(i64, i64)> = [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
        .into_iter()
        .enumerate()
        .map(|(i, count)| (second * 1_000 + i as i64 * 100, count))
        .collect();
    assert_eq!(spread, expected);
}
