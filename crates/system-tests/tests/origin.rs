//! The origin through the test host, signed as an edge signs: trust,
//! drafts, publishing, and registrations under concurrency.

use bytes::Bytes;
use eventfront_domain::sealed::Sealer;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use system_tests::{ADMIN_TOKEN, OriginApp, PATIENCE, json as body_json, registration, sign};

const EVENT: &str = "/api/admin/events/conf";

fn event_body(capacity: Value) -> Value {
    json!({
        "name": "Conf 2027",
        "timezone": "America/New_York",
        "starts_at": "2027-03-01T09:00:00-05:00",
        "ends_at": "2027-03-02T17:00:00-05:00",
        "venue": "Hall",
        "tracks": [{"id": "main", "name": "Main"}],
        "rooms": [{"id": "a", "name": "Room A"}],
        "registration": {"open": true, "capacity": capacity, "confirm_email": false}
    })
}

/// An origin with a published event `conf` of the given capacity.
async fn origin_with_event(capacity: Value) -> OriginApp {
    with_event(OriginApp::start(|o| o).await, capacity).await
}

async fn with_event(origin: OriginApp, capacity: Value) -> OriginApp {
    with_published(origin, event_body(capacity)).await
}

/// `origin` with `event` drafted and published as `conf`.
async fn with_published(origin: OriginApp, event: Value) -> OriginApp {
    assert_eq!(origin.admin("PUT", EVENT, Some(event)).await.status(), 201);
    let published = origin
        .admin(
            "POST",
            &format!("{EVENT}/publish"),
            Some(json!({"note": "first"})),
        )
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
    origin
}

fn register_request(key: &str, name: &str, email: &str) -> http::Request<Bytes> {
    http::Request::post("/api/events/conf/registrations")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Bytes::from(
            json!({"name": name, "email": email}).to_string(),
        ))
        .unwrap()
}

async fn register(origin: &OriginApp, key: &str, email: &str) -> http::Response<Bytes> {
    origin.signed(register_request(key, "Ada", email)).await
}

#[tokio::test]
async fn only_signed_requests_are_answered() {
    let origin =
        OriginApp::start(|o| o.variable("signing_secret_previous", "retired-secret-0123456789"))
            .await;
    assert_eq!(
        origin.app.get("/health").await.status(),
        200,
        "health is public"
    );
    // Health reads no body, and a request that merely looks signed has its
    // body read only as far as its route takes one.
    let weighty = http::Request::get("/health")
        .body(Bytes::from(vec![b'x'; 5 << 20]))
        .unwrap();
    assert_eq!(origin.app.send(weighty).await.status(), 200);
    let looks_signed = |path: &str, size: usize| {
        http::Request::post(path)
            .header("content-type", "application/json")
            .header("idempotency-key", "k")
            .header(
                "eventfront-timestamp",
                jiff::Timestamp::now().as_second().to_string(),
            )
            .header("eventfront-signature", "v2=00")
            .body(Bytes::from(vec![b' '; size]))
            .unwrap()
    };
    for (path, size) in [
        ("/api/events/conf/registrations", 9 << 10),
        ("/api/admin/events/conf/webhook", 5 << 10),
        ("/_origin/events", 2 << 10),
    ] {
        let answer = origin.app.send(looks_signed(path, size)).await;
        assert_eq!(answer.status(), 413, "{path}");
    }
    let within = origin
        .app
        .send(looks_signed("/api/events/conf/registrations", 1 << 10))
        .await;
    assert_eq!(within.status(), 401, "read, then found unsigned");

    let unsigned = origin.app.get("/_origin/events").await;
    assert_eq!(unsigned.status(), 401);
    let forged = origin
        .app
        .send(sign(
            http::Request::get("/_origin/events")
                .body(Bytes::new())
                .unwrap(),
            "some-other-secret-0123456",
        ))
        .await;
    assert_eq!(forged.status(), 401);
    let previous = origin
        .app
        .send(sign(
            http::Request::get("/_origin/events")
                .body(Bytes::new())
                .unwrap(),
            "retired-secret-0123456789",
        ))
        .await;
    assert_eq!(
        previous.status(),
        200,
        "the previous secret works during rotation"
    );
    // The headers that change what a request means are signed: a captured
    // registration sent again under another key (a second registration)
    // or with its key taken away is refused.
    for (name, changed) in [("idempotency-key", Some("another")), ("content-type", None)] {
        let mut captured = sign(
            register_request("captured", "Ada", "ada@example.com"),
            system_tests::SIGNING_SECRET,
        );
        match changed {
            Some(value) => captured.headers_mut().insert(name, value.parse().unwrap()),
            None => captured.headers_mut().remove(name),
        };
        assert_eq!(origin.app.send(captured).await.status(), 401, "{name}");
    }

    let mut stale = sign(
        http::Request::get("/_origin/events")
            .body(Bytes::new())
            .unwrap(),
        system_tests::SIGNING_SECRET,
    );
    stale
        .headers_mut()
        .insert("eventfront-timestamp", "1000".parse().unwrap());
    assert_eq!(origin.app.send(stale).await.status(), 401);

    let tampered = sign(
        register_request("k", "Ada", "ada@example.com"),
        system_tests::SIGNING_SECRET,
    );
    let (parts, _) = tampered.into_parts();
    let tampered = http::Request::from_parts(
        parts,
        Bytes::from(r#"{"name":"Eve","email":"eve@example.com"}"#),
    );
    let before = origin.dump().await;
    assert_eq!(origin.app.send(tampered).await.status(), 401);
    assert_eq!(
        before,
        origin.dump().await,
        "a refused request changes nothing"
    );
}

#[tokio::test]
async fn the_demo_event_is_published_on_first_start() {
    let origin = OriginApp::start(|o| o).await;
    let events = origin
        .signed(
            http::Request::get("/_origin/events")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    let events = body_json(&events);
    let demo = &events["events"][0];
    assert_eq!(demo["version"], 1);
    let slug = demo["slug"].as_str().unwrap();

    let snapshot = origin
        .signed(
            http::Request::get(format!("/_origin/events/{slug}/snapshot"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(snapshot.status(), 200);
    let etag = snapshot.headers()["etag"].to_str().unwrap().to_string();
    let bundle = body_json(&snapshot);
    let docs = &bundle["docs"];
    let doc =
        |name: &str| serde_json::from_str::<Value>(docs[name]["body"].as_str().unwrap()).unwrap();
    let event = doc("event");
    assert_ne!(event["timezone"], "UTC");
    assert!(event["tracks"].as_array().unwrap().len() >= 4);
    assert!(event["rooms"].as_array().unwrap().len() >= 6);
    assert!(doc("sessions")["sessions"].as_array().unwrap().len() >= 60);
    assert!(doc("speakers")["speakers"].as_array().unwrap().len() >= 40);
    let days: BTreeSet<String> = doc("sessions")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap()[..10].to_string())
        .collect();
    assert_eq!(days.len(), 3);

    let conditional = origin
        .signed(
            http::Request::get(format!("/_origin/events/{slug}/snapshot"))
                .header("if-none-match", &etag)
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(conditional.status(), 304);
    assert!(conditional.body().is_empty());
}

#[tokio::test]
async fn the_organizer_api_needs_the_token_and_refuses_all_without_one() {
    let origin = OriginApp::start(|o| o).await;
    let wrong = origin
        .signed(
            http::Request::get("/api/admin/events/conf/draft")
                .header("authorization", "Bearer nope")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status(), 401);

    let unconfigured = OriginApp::start(|o| o.variable("admin_token", "")).await;
    let refused = unconfigured
        .signed(
            http::Request::get("/api/admin/events/conf/draft")
                .header("authorization", "Bearer ")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn drafts_are_validated_whole_and_bad_input_changes_nothing() {
    let origin = origin_with_event(json!(null)).await;
    let speaker = origin
        .admin(
            "PUT",
            &format!("{EVENT}/speakers/ada"),
            Some(json!({"name": "Ada Lovelace"})),
        )
        .await;
    assert_eq!(speaker.status(), 200);
    let session = json!({
        "title": "Engines", "starts_at": "2027-03-01T10:00:00-05:00",
        "ends_at": "2027-03-01T10:45:00-05:00", "track": "main", "room": "a", "speakers": ["ada"]
    });
    assert_eq!(
        origin
            .admin("PUT", &format!("{EVENT}/sessions/engines"), Some(session))
            .await
            .status(),
        200
    );

    let before = origin.dump().await;
    let bad_session = origin
        .admin(
            "PUT",
            &format!("{EVENT}/sessions/late"),
            Some(json!({"title": "", "starts_at": "2027-04-01T10:00:00Z", "ends_at": "2027-04-01T09:00:00Z",
                        "track": "nope", "speakers": ["grace"]})),
        )
        .await;
    assert_eq!(bad_session.status(), 422);
    assert_eq!(
        bad_session.headers()["content-type"],
        "application/problem+json"
    );
    let fields: HashSet<String> = body_json(&bad_session)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    for f in ["title", "starts_at", "ends_at", "track", "speakers"] {
        assert!(fields.contains(f), "{f} in {fields:?}");
    }
    let in_use = origin
        .admin("DELETE", &format!("{EVENT}/speakers/ada"), None)
        .await;
    assert_eq!(in_use.status(), 409);
    let mut without_tracks = event_body(json!(null));
    without_tracks["tracks"] = json!([]);
    let remove_track = origin.admin("PUT", EVENT, Some(without_tracks)).await;
    assert_eq!(remove_track.status(), 422, "a track in use cannot go");
    let not_json = origin
        .signed(
            http::Request::put(format!("{EVENT}/sessions/x"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Bytes::from("title=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status(), 415);
    let malformed = origin
        .signed(
            http::Request::put(format!("{EVENT}/sessions/x"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json")
                .body(Bytes::from("{\"title\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status(), 400);
    let bad_import = origin
        .admin(
            "PUT",
            &format!("{EVENT}/draft"),
            Some(json!({"event": {"name": "x"}, "sessions": "no"})),
        )
        .await;
    assert_eq!(bad_import.status(), 422);
    assert_eq!(before, origin.dump().await, "nothing was written");
}

#[tokio::test]
async fn publishing_makes_immutable_versions_and_rollback_republishes_old_content() {
    let origin = origin_with_event(json!(null)).await;
    let session = json!({"title": "Keynote", "starts_at": "2027-03-01T09:00:00-05:00", "ends_at": "2027-03-01T10:00:00-05:00"});
    origin
        .admin(
            "PUT",
            &format!("{EVENT}/sessions/keynote"),
            Some(session.clone()),
        )
        .await;
    let v2 = origin
        .admin(
            "POST",
            &format!("{EVENT}/publish"),
            Some(json!({"note": "keynote added"})),
        )
        .await;
    assert_eq!(body_json(&v2)["version"], 2);
    let mut renamed = session;
    renamed["title"] = json!("Opening keynote");
    origin
        .admin("PUT", &format!("{EVENT}/sessions/keynote"), Some(renamed))
        .await;
    let v3 = origin
        .admin(
            "POST",
            &format!("{EVENT}/publish"),
            Some(json!({"note": "renamed"})),
        )
        .await;
    assert_eq!(body_json(&v3)["version"], 3);

    let sessions_at = |bundle: &Value| -> Value {
        serde_json::from_str(bundle["docs"]["sessions"]["body"].as_str().unwrap()).unwrap()
    };
    let fetch = |version: Option<u32>| {
        let path = match version {
            Some(v) => format!("/_origin/events/conf/snapshot?version={v}"),
            None => "/_origin/events/conf/snapshot".to_string(),
        };
        origin.signed(http::Request::get(path).body(Bytes::new()).unwrap())
    };
    let current = body_json(&fetch(None).await);
    assert_eq!(
        sessions_at(&current)["sessions"][0]["title"],
        "Opening keynote"
    );
    let old = body_json(&fetch(Some(2)).await);
    assert_eq!(
        sessions_at(&old)["sessions"][0]["title"],
        "Keynote",
        "version 2 never changes"
    );

    let rolled = origin
        .admin(
            "POST",
            &format!("{EVENT}/rollback"),
            Some(json!({"version": 2, "note": "undo rename"})),
        )
        .await;
    assert_eq!(rolled.status(), 201);
    assert_eq!(body_json(&rolled)["version"], 4);
    let current = body_json(&fetch(None).await);
    assert_eq!(current["version"], 4);
    assert_eq!(sessions_at(&current)["sessions"][0]["title"], "Keynote");
    let changelog: Value =
        serde_json::from_str(current["docs"]["changelog"]["body"].as_str().unwrap()).unwrap();
    let notes: Vec<&str> = changelog["changelog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["undo rename", "renamed", "keynote added", "first"]);
    let draft = body_json(&origin.admin("GET", &format!("{EVENT}/draft"), None).await);
    assert_eq!(
        draft["sessions"][0]["title"], "Keynote",
        "the draft is rolled back too"
    );

    let bad = origin
        .admin(
            "POST",
            &format!("{EVENT}/rollback"),
            Some(json!({"version": 99})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "event.rolled_back");
    assert!(
        actions.contains(&"event.published") && actions.contains(&"session.saved"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn two_hundred_concurrent_registrations_never_overbook_fifty_seats() {
    let origin = std::sync::Arc::new(origin_with_event(json!(50)).await);
    let attempts = (0..200).map(|i| {
        let origin = origin.clone();
        tokio::spawn(async move {
            // A 503 (no decision within the wait, as on a loaded machine)
            // wrote nothing: the client tries again with its key, until
            // the suite's patience runs out (the 503 then fails below).
            let asked = std::time::Instant::now();
            loop {
                let answer = register(
                    &origin,
                    &format!("key-{i}"),
                    &format!("person{i}@example.com"),
                )
                .await;
                if answer.status() != 503 || asked.elapsed() > PATIENCE {
                    return answer;
                }
            }
        })
    });
    let answers: Vec<Value> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status(), 201, "{:?}", r.body());
            body_json(&r)
        })
        .collect();
    let confirmed = answers
        .iter()
        .filter(|a| a["status"] == "confirmed")
        .count();
    let mut positions: Vec<i64> = answers
        .iter()
        .filter(|a| a["status"] == "waitlisted")
        .map(|a| a["position"].as_i64().unwrap())
        .collect();
    positions.sort();
    assert_eq!(confirmed, 50);
    assert_eq!(positions, (1..=150).collect::<Vec<_>>());

    let listing = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    );
    assert_eq!(listing["confirmed"], 50);
    assert_eq!(listing["waitlisted"], 150);
    let ids: HashSet<&str> = listing["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 200, "no duplicate rows");
}

#[tokio::test]
async fn a_retried_key_replays_the_first_answer_and_creates_one_row() {
    let origin = std::sync::Arc::new(origin_with_event(json!(10)).await);
    let tries = (0..10).map(|_| {
        let origin = origin.clone();
        tokio::spawn(async move { register(&origin, "same-key", "ada@example.com").await })
    });
    let bodies: HashSet<Bytes> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status(), 201);
            r.into_body()
        })
        .collect();
    assert_eq!(bodies.len(), 1, "identical answers byte for byte");
    let listing = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    );
    assert_eq!(listing["registrations"].as_array().unwrap().len(), 1);

    let other_body = register(&origin, "same-key", "grace@example.com").await;
    assert_eq!(other_body.status(), 422);
}

#[tokio::test]
async fn single_edits_keep_the_draft_within_what_an_import_accepts() {
    let origin = origin_with_event(json!(null)).await;
    let speakers: Vec<Value> = (0..eventfront_domain::validate::MAX_SPEAKERS)
        .map(|n| json!({"id": format!("s{n}"), "name": format!("Speaker {n}")}))
        .collect();
    let full = json!({"event": event_body(json!(null)), "sessions": [], "speakers": speakers});
    let imported = origin
        .admin("PUT", &format!("{EVENT}/draft"), Some(full))
        .await;
    assert_eq!(imported.status(), 200, "{:?}", imported.body());
    let one_more = origin
        .admin(
            "PUT",
            &format!("{EVENT}/speakers/extra"),
            Some(json!({"name": "Extra"})),
        )
        .await;
    assert_eq!(one_more.status(), 409);
    let renamed = origin
        .admin(
            "PUT",
            &format!("{EVENT}/speakers/s7"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(
        renamed.status(),
        200,
        "an existing speaker can still change"
    );
}

#[tokio::test]
async fn idempotency_records_expire_after_a_day() {
    let origin = origin_with_event(json!(10)).await;
    assert_eq!(
        register(&origin, "old-key", "ada@example.com")
            .await
            .status(),
        201
    );
    // Age the record past its day, as a clock 25 hours on would.
    let aged = origin
        .execute("UPDATE idempotency SET created_ms = 946684800000 WHERE key = 'old-key'")
        .await;
    assert_eq!(aged, 1);
    // A new request under the old key is a new request, not a misuse.
    let reused = register(&origin, "old-key", "grace@example.com").await;
    assert_eq!(reused.status(), 201, "{:?}", reused.body());
    let left = origin
        .rows("SELECT count(*) FROM idempotency WHERE created_ms < 978307200000")
        .await;
    assert_eq!(left, [[0]], "the expired record is gone");
}

#[tokio::test]
async fn a_production_origin_starts_empty() {
    let origin = OriginApp::start(|o| o.variable("seed_demo", "false")).await;
    let events = origin
        .signed(
            http::Request::get("/_origin/events")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(body_json(&events)["events"], json!([]));
}

#[tokio::test]
async fn cancelling_promotes_the_next_in_line_and_is_harmless_twice() {
    let origin = origin_with_event(json!(1)).await;
    let first = body_json(&register(&origin, "k1", "one@example.com").await);
    let second = body_json(&register(&origin, "k2", "two@example.com").await);
    let third = body_json(&register(&origin, "k3", "three@example.com").await);
    assert_eq!(
        (
            first["status"].as_str(),
            second["position"].as_i64(),
            third["position"].as_i64()
        ),
        (Some("confirmed"), Some(1), Some(2))
    );

    let manage = |id: &Value, token: &Value, method: &str| {
        origin.signed(
            http::Request::builder()
                .method(method)
                .uri(format!("/api/registrations/{}", id.as_str().unwrap()))
                .header(
                    "authorization",
                    format!("Bearer {}", token.as_str().unwrap()),
                )
                .body(Bytes::new())
                .unwrap(),
        )
    };
    let wrong_token = manage(&first["id"], &json!("not-the-token"), "GET").await;
    assert_eq!(wrong_token.status(), 404);
    let unknown = manage(&json!("no-such-id"), &first["manage_token"], "GET").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        body_json(&wrong_token)["detail"],
        body_json(&unknown)["detail"],
        "no hint the id exists"
    );

    let cancelled = manage(&first["id"], &first["manage_token"], "DELETE").await;
    assert_eq!(body_json(&cancelled)["status"], "cancelled");
    let promoted = body_json(&manage(&second["id"], &second["manage_token"], "GET").await);
    assert_eq!(promoted["status"], "confirmed");
    let still_waiting = body_json(&manage(&third["id"], &third["manage_token"], "GET").await);
    assert_eq!(still_waiting["position"], 1);

    let before = origin.dump().await;
    let again = manage(&first["id"], &first["manage_token"], "DELETE").await;
    assert_eq!(
        (
            again.status().as_u16(),
            body_json(&again)["status"].as_str()
        ),
        (200, Some("cancelled"))
    );
    assert_eq!(
        before,
        origin.dump().await,
        "the second cancel changed nothing"
    );
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    // Newest first: the promotion, then the cancellation that caused it.
    assert_eq!(audit["entries"][0]["action"], "registration.promoted");
    assert_eq!(audit["entries"][0]["target"], second["id"]);
    assert_eq!(audit["entries"][0]["detail"]["cause"], "cancellation");
    assert_eq!(audit["entries"][1]["action"], "registration.cancelled");
}

/// The messages about `conf`, newest first.
async fn outbox(origin: &OriginApp) -> Vec<Value> {
    let listed = origin.admin("GET", &format!("{EVENT}/outbox"), None).await;
    assert_eq!(listed.status(), 200, "{:?}", listed.body());
    body_json(&listed)["messages"].as_array().unwrap().clone()
}

/// What a message's manage link opens, as the page would ask for it.
async fn follow(origin: &OriginApp, message: &Value) -> http::Response<Bytes> {
    let link = message["links"]["manage"].as_str().unwrap();
    let (path, token) = link.split_once("#token=").unwrap();
    let id = path.rsplit('/').next().unwrap();
    assert!(
        link.starts_with("https://events.example.test/registrations/"),
        "{link}"
    );
    origin
        .signed(
            http::Request::get(format!("/api/registrations/{id}"))
                .header("authorization", format!("Bearer {token}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await
}

#[tokio::test]
async fn a_dump_of_the_database_holds_no_token_that_opens_a_registration() {
    let origin = origin_with_event(json!(10)).await;
    let first = body_json(&register(&origin, "a1", "ada@example.com").await);
    // The address again: its holder is sent a link with a token of its own.
    assert_eq!(
        register(&origin, "a2", "ada@example.com").await.status(),
        409
    );
    let messages = outbox(&origin).await;
    assert_eq!(messages.len(), 2);
    let mut tokens = vec![first["manage_token"].as_str().unwrap().to_string()];
    for message in &messages {
        // The outbox still shows each working link, opened for the organizer.
        assert_eq!(follow(&origin, message).await.status(), 200);
        let link = message["links"]["manage"].as_str().unwrap();
        tokens.push(link.split_once("#token=").unwrap().1.to_string());
        assert!(message["text"].as_str().unwrap().contains(link));
    }
    // And a replay still answers the first answer, token and all.
    let replay = body_json(&register(&origin, "a1", "ada@example.com").await);
    assert_eq!(replay, first);
    let dump = origin.dump().await.join("\n");
    assert!(
        dump.contains("ada@example.com"),
        "the dump is the database's"
    );
    for token in tokens {
        assert!(!dump.contains(&token), "a live token at rest: {token}");
    }
}

#[tokio::test]
async fn a_sealing_secret_of_the_origins_own_seals_what_is_kept() {
    const SEALING: &str = "an origin-only sealing secret 0123";
    let origin = with_event(
        OriginApp::start(|o| o.variable("sealing_secret", SEALING)).await,
        json!(10),
    )
    .await;
    let first = register(&origin, "k1", "ada@example.com").await;
    assert_eq!(first.status(), 201);
    let stored = origin
        .rows("SELECT body FROM idempotency WHERE key = 'k1'")
        .await;
    let stored = stored[0][0].as_str().unwrap();
    // The edges' secret does not open it; the origin's own does.
    let by_signing = Sealer::new([system_tests::SIGNING_SECRET.as_bytes()]);
    assert!(by_signing.open(stored).is_err());
    let by_sealing = Sealer::new([SEALING.as_bytes()]);
    assert_eq!(
        by_sealing.open(stored).unwrap().as_bytes(),
        first.body().as_ref()
    );
    let replay = register(&origin, "k1", "ada@example.com").await;
    assert_eq!(replay.body(), first.body());
}

#[tokio::test]
async fn a_registered_email_is_told_so_and_its_holder_gets_a_working_link_again() {
    let origin = origin_with_event(json!(null)).await;
    let first = register(&origin, "a1", "ada@example.com").await;
    assert_eq!(first.status(), 201);
    let again = register(&origin, "a2", "ADA@example.com").await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    assert!(
        body_json(&again)["detail"]
            .as_str()
            .unwrap()
            .contains("has been sent to it")
    );
    let listing = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    );
    assert_eq!(listing["registrations"].as_array().unwrap().len(), 1);

    let messages = outbox(&origin).await;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["link_again", "confirmed"], "newest first");
    let first = body_json(&first);
    for message in &messages {
        assert_eq!(
            message["to"], "ada@example.com",
            "to the holder's own address"
        );
        assert_eq!(message["registration"], first["id"]);
        assert_eq!(message["state"], "development");
        let opened = follow(&origin, message).await;
        assert_eq!(opened.status(), 200, "every link sent works");
        assert_eq!(body_json(&opened)["status"], "confirmed");
    }
    assert_ne!(
        messages[0]["links"]["manage"], messages[1]["links"]["manage"],
        "a new token, the first one kept"
    );

    // The organizer sends the first message again: a copy, its own id.
    let original = &messages[1];
    let resent = origin
        .admin(
            "POST",
            &format!("{EVENT}/outbox/{}/resend", original["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(resent.status(), 201);
    let copy = body_json(&resent);
    assert_ne!(copy["id"], original["id"]);
    assert_eq!(
        (&copy["text"], &copy["links"], &copy["to"]),
        (&original["text"], &original["links"], &original["to"])
    );
    let unknown = origin
        .admin(
            "POST",
            &format!("{EVENT}/outbox/no-such-message/resend"),
            None,
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(outbox(&origin).await.len(), 3);

    // The retry of a submission is its first answer, and nothing more is sent.
    let replayed = register(&origin, "a2", "ADA@example.com").await;
    assert_eq!(
        (replayed.status().as_u16(), replayed.body()),
        (409, again.body())
    );
    assert_eq!(outbox(&origin).await.len(), 3);

    // Submitted again soon after: the same truthful answer, and no second
    // link, so that nobody can flood an inbox through the form.
    let flood = register(&origin, "a3", "ada@example.com").await;
    assert_eq!(flood.status(), 409);
    assert_eq!(outbox(&origin).await.len(), 3);
}

/// Every change to a registration writes its registrant a message in the
/// same transaction, with a link that works where it carries one.
#[tokio::test]
async fn every_change_to_a_registration_writes_its_message() {
    let origin = origin_with_event(json!(1)).await;
    let seated = body_json(&register(&origin, "m1", "one@example.com").await);
    let waiting = body_json(&register(&origin, "m2", "two@example.com").await);
    let cancelled = origin.signed(cancel_request(&seated)).await;
    assert_eq!(cancelled.status(), 200);

    let messages = outbox(&origin).await;
    let summary: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("promoted", "two@example.com"),
            ("cancelled", "one@example.com"),
            ("waitlisted", "two@example.com"),
            ("confirmed", "one@example.com"),
        ]
    );
    let text = |i: usize| messages[i]["text"].as_str().unwrap();
    assert!(text(2).contains("number 1 on the waitlist"), "{}", text(2));
    assert!(text(0).contains("it is now yours"), "{}", text(0));
    assert!(
        messages[1]["links"]["manage"].is_null(),
        "a cancelled seat needs no link"
    );
    let promoted = follow(&origin, &messages[0]).await;
    assert_eq!(body_json(&promoted)["status"], "confirmed");
    assert_eq!(body_json(&promoted)["id"], waiting["id"]);
    // The first link of the promoted registrant still works too.
    let still = follow(&origin, &messages[2]).await;
    assert_eq!(body_json(&still)["status"], "confirmed");
    // The event's start, on its own wall clock, is in every message.
    assert!(messages.iter().all(|m| {
        m["text"]
            .as_str()
            .unwrap()
            .contains("Monday 1 March 2027, 09:00 (America/New_York)")
    }));
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let origin = origin_with_event(json!(5)).await;
    let before = origin.dump().await;
    let cases: Vec<(http::Request<Bytes>, u16)> = vec![
        (register_request("k", "", "not-an-email"), 422),
        // The form is not a way to write anything to any address.
        (
            register_request(
                "k",
                "Payment failed: pay at https://evil.example/pay",
                "a@x.org",
            ),
            422,
        ),
        (
            register_request("k", "Ada, see evil.com", "a@example.com"),
            422,
        ),
        (
            register_request("k", "<a href=x>Ada</a>", "a@example.com"),
            422,
        ),
        (
            http::Request::post("/api/events/conf/registrations")
                .header("idempotency-key", "k")
                .body(Bytes::from(r#"{"name":"A","email":"a@example.com"}"#))
                .unwrap(),
            415,
        ),
        (
            http::Request::post("/api/events/conf/registrations")
                .header("idempotency-key", "k")
                .header("content-type", "application/json")
                .body(Bytes::from("{\"name\":"))
                .unwrap(),
            400,
        ),
        (
            http::Request::post("/api/events/conf/registrations")
                .header("idempotency-key", "k")
                .header("content-type", "application/json")
                .body(Bytes::from(format!(
                    r#"{{"name":"{}","email":"a@example.com"}}"#,
                    "x".repeat(10_000)
                )))
                .unwrap(),
            413,
        ),
        (
            http::Request::post("/api/events/conf/registrations")
                .header("content-type", "application/json")
                .body(Bytes::from(r#"{"name":"A","email":"a@example.com"}"#))
                .unwrap(),
            422,
        ),
        (
            http::Request::post("/api/events/nope/registrations")
                .header("idempotency-key", "k")
                .header("content-type", "application/json")
                .body(Bytes::from(r#"{"name":"A","email":"a@example.com"}"#))
                .unwrap(),
            404,
        ),
        (
            http::Request::get("/api/events/conf/registrations")
                .body(Bytes::new())
                .unwrap(),
            405,
        ),
    ];
    for (request, status) in cases {
        let uri = request.uri().clone();
        let response = origin.signed(request).await;
        assert_eq!(response.status(), status, "{uri}: {:?}", response.body());
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(before, origin.dump().await);

    let mut closed = event_body(json!(5));
    closed["registration"]["open"] = json!(false);
    origin.admin("PUT", EVENT, Some(closed)).await;
    origin
        .admin(
            "POST",
            &format!("{EVENT}/publish"),
            Some(json!({"note": "closed"})),
        )
        .await;
    assert_eq!(
        register(&origin, "late", "late@example.com").await.status(),
        409
    );
}

#[tokio::test]
async fn registrations_export_as_csv() {
    let origin = origin_with_event(json!(null)).await;
    origin
        .signed(register_request("k1", "Ada, Countess", "ada@example.com"))
        .await;
    let csv = origin
        .signed(
            http::Request::get(format!("{EVENT}/registrations"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("accept", "text/csv")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(csv.body().to_vec()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id,name,email,status,position,created_at,updated_at")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(",\"Ada, Countess\",ada@example.com,confirmed,")
    );
}

/// The organizer's listing of `conf`'s registrations, in line order.
async fn listing(origin: &OriginApp) -> Value {
    body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    )
}

/// Republishes `conf` with registration settings `registration`.
async fn republish(origin: &OriginApp, registration: Value) {
    let mut event = event_body(json!(null));
    let mut registration = registration;
    // These tests are about seats, not confirming addresses.
    registration["confirm_email"] = json!(false);
    event["registration"] = registration;
    assert_eq!(origin.admin("PUT", EVENT, Some(event)).await.status(), 200);
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
}

fn cancel_request(answer: &Value) -> http::Request<Bytes> {
    let path = format!("/api/registrations/{}", answer["id"].as_str().unwrap());
    manage_request(http::Method::DELETE, &path, answer)
}

/// A request for the registration `answer` with its manage token.
fn manage_request(method: http::Method, path: &str, answer: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header(
            "authorization",
            format!("Bearer {}", answer["manage_token"].as_str().unwrap()),
        )
        .body(Bytes::new())
        .unwrap()
}

/// What deciding one at a time guarantees, whatever the interleaving: no
/// overbooking, no seat free while someone waits, the line in arrival
/// order (nobody confirmed behind a waiting registration), and one audited
/// promotion per registration that waited and now holds a seat.
#[tokio::test]
async fn concurrent_registrations_and_cancellations_decide_as_one_by_one() {
    let origin = std::sync::Arc::new(origin_with_event(json!(20)).await);
    let attempts = (0..60).map(|i| {
        let origin = origin.clone();
        tokio::spawn(async move {
            let response = register(&origin, &format!("k{i}"), &format!("p{i}@example.com")).await;
            assert_eq!(response.status(), 201, "{:?}", response.body());
            let answer = body_json(&response);
            // Every third attendee cancels at once, while others register.
            if i % 3 == 0 {
                let cancelled = origin.signed(cancel_request(&answer)).await;
                assert_eq!(cancelled.status(), 200, "{:?}", cancelled.body());
            }
            answer
        })
    });
    let answers: Vec<Value> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let listing = listing(&origin).await;
    assert_eq!(
        (
            &listing["confirmed"],
            &listing["waitlisted"],
            &listing["cancelled"]
        ),
        (&json!(20), &json!(20), &json!(20)),
        "40 still registered for 20 seats"
    );
    let line: Vec<&str> = listing["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .filter(|s| *s != "cancelled")
        .collect();
    let first_waiting = line.iter().position(|s| *s == "waitlisted").unwrap();
    assert!(
        line[first_waiting..].iter().all(|s| *s == "waitlisted"),
        "nobody holds a seat behind someone waiting: {line:?}"
    );
    let registrations = listing["registrations"].as_array().unwrap();
    let waited: HashSet<&str> = answers
        .iter()
        .filter(|a| a["status"] == "waitlisted")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let seated_after_waiting: HashSet<&str> = registrations
        .iter()
        .filter(|r| r["status"] == "confirmed")
        .map(|r| r["id"].as_str().unwrap())
        .filter(|id| waited.contains(id))
        .collect();
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let promoted: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "registration.promoted")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    let promoted_once: HashSet<&str> = promoted.iter().copied().collect();
    assert_eq!(promoted.len(), promoted_once.len(), "nobody promoted twice");
    assert!(
        promoted_once.is_subset(&waited),
        "only those who waited are promoted"
    );
    // Some promoted attendees went on to cancel; the rest hold their seat.
    assert!(seated_after_waiting.is_subset(&promoted_once));

    // The counts decisions read, written with each decision, are the
    // counted ones.
    let kept = origin
        .rows("SELECT event, seated, waiting, last_seq FROM seat_counts ORDER BY event")
        .await;
    let counted = origin
        .rows(
            "SELECT event,
                 count(*) FILTER (WHERE holds_seat = 1 AND status IN ('pending', 'confirmed')),
                 count(*) FILTER (WHERE holds_seat = 0 AND status IN ('pending', 'waitlisted')),
                 max(seq)
             FROM registrations GROUP BY event ORDER BY event",
        )
        .await;
    assert_eq!(kept, counted);
    assert_eq!(kept[0][1..], [20, 20, 60]);
}

#[tokio::test]
async fn added_seats_promote_the_line_in_order_before_any_newcomer() {
    let origin = origin_with_event(json!(2)).await;
    let mut answers = Vec::new();
    for i in 0..5 {
        answers.push(body_json(
            &register(&origin, &format!("k{i}"), &format!("p{i}@example.com")).await,
        ));
    }
    assert_eq!(answers[4]["position"], 3);

    republish(&origin, json!({"open": true, "capacity": 3})).await;
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let promoted: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "registration.promoted")
        .collect();
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["target"], answers[2]["id"], "first in line");
    assert_eq!(promoted[0]["detail"]["cause"], "capacity");
    let told = outbox(&origin).await;
    assert_eq!(
        (told[0]["kind"].as_str(), told[0]["to"].as_str()),
        (Some("promoted"), Some("p2@example.com")),
        "the promoted registrant is written to"
    );
    assert_eq!(follow(&origin, &told[0]).await.status(), 200);
    let newcomer = body_json(&register(&origin, "k5", "p5@example.com").await);
    assert_eq!(
        (newcomer["status"].as_str(), newcomer["position"].as_i64()),
        (Some("waitlisted"), Some(3)),
        "the newcomer joins the end of the line"
    );

    republish(&origin, json!({"open": true, "capacity": null})).await;
    let unlimited = listing(&origin).await;
    assert_eq!(
        (&unlimited["confirmed"], &unlimited["waitlisted"]),
        (&json!(6), &json!(0))
    );

    // Fewer seats than people holding one takes no seat away.
    republish(&origin, json!({"open": true, "capacity": 1})).await;
    assert_eq!(listing(&origin).await["confirmed"], 6);
    let late = body_json(&register(&origin, "k6", "p6@example.com").await);
    assert_eq!(late["position"], 1);
}

#[tokio::test]
async fn a_replay_does_not_wait_out_a_held_lock_and_a_long_wait_is_refused_safely() {
    let origin = origin_with_event(json!(10)).await;
    let first = register(&origin, "first", "ada@example.com").await;
    assert_eq!(first.status(), 201);

    let holder = origin.hold_write_lock().await;
    // Were the replay left to the batch, it would wait out its budget and
    // be refused: the lock is held throughout. (On SQLite it is looked up
    // before queueing, on PostgreSQL while the queue waits.)
    let replay = register(&origin, "first", "ada@example.com").await;
    assert_eq!(
        (replay.status(), replay.body()),
        (first.status(), first.body())
    );
    let reused = register(&origin, "first", "grace@example.com").await;
    assert_eq!(reused.status(), 422, "{:?}", reused.body());
    let refused = register(&origin, "second", "grace@example.com").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let stored = origin
        .rows("SELECT count(*) FROM idempotency WHERE key = 'second'")
        .await;
    assert_eq!(stored, [[0]], "nothing was written for the refused key");
    if origin.postgres_url().is_some() {
        assert_eq!(
            origin
                .rows("SELECT count(*) FROM registration_requests WHERE key = 'second'")
                .await,
            [[0]],
            "the refused key left the pool"
        );
    }
    drop(holder);

    let retried = register(&origin, "second", "grace@example.com").await;
    assert_eq!(retried.status(), 201);
    let again = register(&origin, "second", "grace@example.com").await;
    assert_eq!(again.body(), retried.body(), "the retry's answer is kept");
    assert_eq!(listing(&origin).await["confirmed"], 2);
}

#[tokio::test]
async fn an_event_whose_lock_is_held_keeps_no_other_event_waiting() {
    let origin = origin_with_event(json!(10)).await;
    let other = json!({
        "name": "Other", "timezone": "UTC",
        "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T17:00:00Z",
        "registration": {"open": true, "capacity": 10, "confirm_email": false}
    });
    origin.publish_event("other", other).await;
    // SQLite has one writer: only PostgreSQL has a lock per event.
    let Some(held) = origin.hold_event_lock("conf").await else {
        return;
    };
    let elsewhere = origin
        .signed(registration("other", "k-other", "Ada", "ada@example.com"))
        .await;
    assert_eq!(elsewhere.status(), 201, "{:?}", elsewhere.body());
    // The held event's own registration waits out its budget: 503.
    let waiting = register(&origin, "k-held", "grace@example.com").await;
    assert_eq!(waiting.status(), 503);
    drop(held);
    assert_eq!(
        register(&origin, "k-held", "grace@example.com")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn plus_tags_make_another_registration_unless_the_operator_says_they_are_one() {
    let apart = origin_with_event(json!(10)).await;
    let as_one = with_event(
        OriginApp::start(|o| o.variable("plus_addresses_are_one", "true")).await,
        json!(10),
    )
    .await;
    for origin in [&apart, &as_one] {
        let first = register(origin, "k1", "ada@example.com").await;
        assert_eq!(first.status(), 201, "{:?}", first.body());
    }
    let tagged = "Ada+Conf@Example.com";
    let apart_again = register(&apart, "k2", tagged).await;
    assert_eq!(apart_again.status(), 201, "off by default");
    let again = register(&as_one, "k2", tagged).await;
    assert_eq!(again.status(), 409, "{:?}", again.body());
    assert_eq!(listing(&as_one).await["confirmed"], 1);
}

#[tokio::test]
async fn a_key_stored_by_another_events_batch_meanwhile_is_not_decided_again() {
    let origin = origin_with_event(json!(10)).await;
    // SQLite has one writer: two events' batches never overlap there.
    let Some(url) = origin.postgres_url() else {
        return;
    };
    // Another event's batch is storing the same key, not yet committed:
    // the origin's read cannot see it, and its decision must not stand.
    let elsewhere = system_tests::postgres::client(url).await;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    elsewhere
        .batch_execute(&format!(
            "BEGIN; INSERT INTO idempotency (key, request_hash, status, body, created_ms)
             VALUES ('shared', 'another request', 201, '{{}}', {now_ms})"
        ))
        .await
        .unwrap();
    let watcher = system_tests::postgres::client(url).await;
    let commit_once_the_origin_waits = async {
        // Until the origin's write waits for that key's row.
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO idempotency%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        elsewhere.batch_execute("COMMIT").await.unwrap();
    };
    let (answer, ()) = tokio::join!(
        register(&origin, "shared", "ada@example.com"),
        commit_once_the_origin_waits
    );
    assert_eq!(answer.status(), 422, "{:?}", answer.body());
    assert_eq!(
        origin.rows("SELECT count(*) FROM registrations").await,
        [[0]],
        "nothing was decided under a key answered elsewhere"
    );
}

/// Puts a request in the origin's pool as another instance would, queued
/// `ago_ms` ago; `None` on SQLite, which has one writer and no pool.
async fn pooled_elsewhere(origin: &OriginApp, key: &str, email: &str, ago_ms: i64) -> Option<()> {
    let client = system_tests::postgres::client(origin.postgres_url()?).await;
    let queued_ms = jiff::Timestamp::now().as_millisecond() - ago_ms;
    client
        .execute(
            "INSERT INTO registration_requests (key, event, request_hash, name, email,
                 email_canonical, arrived_ms, queued_ms)
             VALUES ($1, 'conf', 'another instance', 'Grace', $2, $2, $3, $3)",
            &[&key, &email, &queued_ms],
        )
        .await
        .unwrap();
    Some(())
}

#[tokio::test]
async fn a_request_another_instance_left_in_the_pool_is_decided_with_the_next() {
    let origin = origin_with_event(json!(10)).await;
    // Just queued by an instance that then stopped: the origin waits for
    // that instance's turn, then decides it with its own.
    if pooled_elsewhere(&origin, "elsewhere", "grace@example.com", 0)
        .await
        .is_none()
    {
        return;
    }
    let here = register(&origin, "here", "ada@example.com").await;
    assert_eq!(here.status(), 201, "{:?}", here.body());
    assert_eq!(
        origin
            .rows("SELECT email, status FROM registrations ORDER BY seq")
            .await,
        [
            [json!("grace@example.com"), json!("confirmed")],
            [json!("ada@example.com"), json!("confirmed")]
        ],
        "decided in the order they were queued"
    );
    assert_eq!(
        origin
            .rows("SELECT status FROM idempotency WHERE key = 'elsewhere'")
            .await,
        [[201]],
        "its answer is stored for its retry"
    );
    assert_eq!(
        origin
            .rows("SELECT count(*) FROM registration_requests")
            .await,
        [[0]],
        "both left the pool"
    );
}

#[tokio::test]
async fn a_refusal_for_another_instances_request_is_left_in_the_pool_for_it() {
    let origin = origin_with_event(json!(10)).await;
    republish(&origin, json!({"open": false, "capacity": 10})).await;
    if pooled_elsewhere(&origin, "elsewhere", "grace@example.com", 1_000)
        .await
        .is_none()
    {
        return;
    }
    let here = register(&origin, "here", "ada@example.com").await;
    assert_eq!(here.status(), 409, "{:?}", here.body());
    assert_eq!(
        origin
            .rows("SELECT key, refused FROM registration_requests")
            .await,
        [[json!("elsewhere"), json!("closed")]],
        "a refusal has no stored answer: it waits in the pool for its instance"
    );
}

#[tokio::test]
async fn a_guessed_registration_link_is_refused_without_waiting_for_the_write_lock() {
    let origin = origin_with_event(json!(10)).await;
    let real = body_json(&register(&origin, "real", "ada@example.com").await);
    let id = real["id"].as_str().unwrap();
    let _holder = origin.hold_write_lock().await;
    // Were the token checked inside the write transaction, each would wait
    // out the lock and be refused 503; checked by a plain read first, a
    // wrong id or token is a 404 while the lock is held elsewhere.
    let guesses = [
        ("GET", format!("/api/registrations/{id}"), "wrong-token"),
        ("DELETE", format!("/api/registrations/{id}"), "wrong-token"),
        (
            "DELETE",
            "/api/registrations/no-such-id".to_string(),
            "a-token",
        ),
        (
            "POST",
            format!("/api/registrations/{id}/confirm"),
            "wrong-token",
        ),
        (
            "POST",
            "/api/registrations/no-such-id/confirm".to_string(),
            "a-token",
        ),
    ];
    for (method, path, token) in guesses {
        let request = http::Request::builder()
            .method(method)
            .uri(&path)
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap();
        let answer = origin.signed(request).await;
        assert_eq!(answer.status(), 404, "{method} {path}: {:?}", answer.body());
    }
}

#[tokio::test]
async fn the_registration_window_is_kept_by_instant() {
    let origin = origin_with_event(json!(null)).await;
    let now = jiff::Timestamp::now();
    let open_until = |closes: jiff::Timestamp| {
        json!({
            "open": true, "capacity": null,
            "opens_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
            "closes_at": closes.to_string(),
        })
    };
    republish(
        &origin,
        open_until(now + jiff::SignedDuration::from_hours(1)),
    )
    .await;
    assert_eq!(
        register(&origin, "in", "in@example.com").await.status(),
        201
    );
    // Closed a few milliseconds ago, written with an offset.
    let closed = (now - jiff::SignedDuration::from_millis(5))
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(5)))
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string();
    let mut settings = open_until(now);
    settings["closes_at"] = json!(closed);
    republish(&origin, settings).await;
    let late = register(&origin, "late", "late@example.com").await;
    assert_eq!(late.status(), 409, "{:?}", late.body());
}

#[tokio::test]
async fn a_transaction_a_trapped_request_left_open_reaches_no_later_request() {
    let origin = with_event(OriginApp::start_on_postgres(|o| o).await, json!(10)).await;
    assert_eq!(
        register(&origin, "k0", "p0@example.com").await.status(),
        201
    );
    // Every idle session of the origin's pool is left inside a transaction
    // that wrote an audit entry, as a request that trapped between BEGIN
    // and COMMIT leaves its session under Spin.
    let url = origin.postgres_url().unwrap().to_string();
    let left_open = origin
        .app
        .leave_postgres_transactions_open(
            "origin",
            &url,
            "INSERT INTO audit (at, actor, action, event, detail) VALUES ('-', 'trapped', 'leaked', 'conf', '{}')",
        )
        .await
        .unwrap();
    assert!(left_open >= 1);
    for i in 1..=5 {
        let key = format!("k{i}");
        let answer = register(&origin, &key, &format!("p{i}@example.com")).await;
        assert_eq!(answer.status(), 201, "{:?}", answer.body());
    }
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    assert!(!audit.to_string().contains("trapped"), "{audit}");
    // From outside: every registration committed, the leaked write never.
    assert_eq!(
        origin.rows("SELECT count(*) FROM registrations").await,
        [[6]]
    );
    assert_eq!(
        origin
            .rows("SELECT count(*) FROM audit WHERE actor = 'trapped'")
            .await,
        [[0]]
    );
}

#[tokio::test]
async fn erasure_leaves_an_anonymous_row_and_the_address_nowhere() {
    const ERASED: [(&str, &str); 2] = [
        ("Adelheid Quux", "adelheid@erased.example"),
        ("Bertolt Quux", "bertolt@erased.example"),
    ];
    let hook = system_tests::stub::serve(|_, _| std::future::ready(200)).await;
    let origin = origin_with_event(json!(1)).await;
    let set = origin
        .admin(
            "PUT",
            &format!("{EVENT}/webhook"),
            Some(json!({"url": format!("{hook}/hook"), "secret": "whsec-erasure-test-0123"})),
        )
        .await;
    assert_eq!(set.status(), 200);
    let mut people = Vec::new();
    for (key, (name, email)) in ["e1", "e2"].iter().zip(ERASED) {
        let answer = origin.signed(register_request(key, name, email)).await;
        assert_eq!(answer.status(), 201);
        people.push(body_json(&answer));
    }
    let kept = body_json(&register(&origin, "e3", "kept@example.com").await);
    let (first, second) = (&people[0], &people[1]);
    assert_eq!(second["position"], 1);
    let first_path = format!("/api/registrations/{}", first["id"].as_str().unwrap());

    // A typo never cancels without erasing.
    let typo = origin
        .signed(manage_request(
            http::Method::DELETE,
            &format!("{first_path}?erase=yes"),
            first,
        ))
        .await;
    assert_eq!(typo.status(), 422);
    // The registrant erases their own: cancelled, and the next in line
    // promoted, as with any cancellation.
    let erased = origin
        .signed(manage_request(
            http::Method::DELETE,
            &format!("{first_path}?erase=true"),
            first,
        ))
        .await;
    assert_eq!(erased.status(), 200, "{:?}", erased.body());
    assert_eq!(
        body_json(&erased),
        json!({"id": first["id"], "event": "conf", "status": "cancelled", "erased": true})
    );
    // Its links open nothing any more.
    let shown = origin
        .signed(manage_request(http::Method::GET, &first_path, first))
        .await;
    assert_eq!(shown.status(), 404);
    // The organizer erases the second for its registrant.
    let second_id = second["id"].as_str().unwrap();
    let by_organizer = origin
        .admin(
            "DELETE",
            &format!("{EVENT}/registrations/{second_id}?erase=true"),
            None,
        )
        .await;
    assert_eq!(by_organizer.status(), 200, "{:?}", by_organizer.body());
    assert_eq!(body_json(&by_organizer)["erased"], true);
    let unknown = origin
        .admin("DELETE", &format!("{EVENT}/registrations/no-such-id"), None)
        .await;
    assert_eq!(unknown.status(), 404);

    // Anonymous rows keep the counts and the trail whole.
    let listing = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    );
    let rows = listing["registrations"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, erased) in rows.iter().zip([true, true, false]) {
        assert_eq!(row["erased"], erased, "{row}");
        assert_eq!(row["name"] == "", erased, "{row}");
    }
    assert_eq!(rows[2]["id"], kept["id"]);
    assert_eq!(listing["confirmed"], 1);
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let erasures: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "registration.erased")
        .map(|e| (e["actor"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(erasures.len(), 2, "{audit:#}");
    assert!(erasures.contains(&("attendee", first["id"].as_str().unwrap())));
    assert!(erasures.contains(&("bootstrap token", second_id)));

    // The webhook still hears of every change, without the people.
    let deliveries = body_json(&origin.admin("GET", &format!("{EVENT}/webhook"), None).await);
    let cancelled: Vec<&Value> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["subject"] == "registration.cancelled")
        .collect();
    assert_eq!(cancelled.len(), 2, "{deliveries:#}");

    let dump = origin.dump().await.join("\n");
    assert!(
        dump.contains("kept@example.com"),
        "the dump is the database's"
    );
    for (name, email) in ERASED {
        assert!(!dump.contains(email), "{email} is still at rest");
        assert!(!dump.contains(name), "{name} is still at rest");
        assert!(!dump.contains(&email.to_uppercase()));
    }
}

#[tokio::test]
async fn an_event_over_for_its_retention_keeps_no_one_who_left_it() {
    let origin = origin_with_event(json!(10)).await;
    let kept = body_json(&register(&origin, "r1", "kept@example.com").await);
    let left = body_json(
        &origin
            .signed(register_request(
                "r2",
                "Leopold Quux",
                "left@erased.example",
            ))
            .await,
    );
    let cancelled = origin.signed(cancel_request(&left)).await;
    assert_eq!(cancelled.status(), 200);
    // The event (it ends on 2027-03-02) is over for longer than the
    // default 30 days once the clock is moved 200 days on; any later
    // request lets a delivery task look.
    let look = async || {
        origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await
    };
    look().await;
    assert!(
        origin
            .dump()
            .await
            .join("\n")
            .contains("left@erased.example")
    );
    origin
        .app
        .clock()
        .advance(std::time::Duration::from_secs(200 * 24 * 3600));
    let audit = system_tests::eventually("retention ran", async || {
        look().await;
        let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
        let ran = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "retention.scrubbed")
            .cloned();
        ran.ok_or(audit)
    })
    .await;
    assert_eq!(audit["actor"], "system");
    assert_eq!(audit["detail"]["registrations"], 1);
    assert_eq!(audit["detail"]["days_after_end"], 30);

    let dump = origin.dump().await.join("\n");
    assert!(
        !dump.contains("left@erased.example"),
        "the cancelled one's address"
    );
    assert!(!dump.contains("Leopold Quux"));
    assert!(
        !dump.contains("outbox:"),
        "finished messages are deleted: {dump}"
    );
    // Who attended stays.
    assert!(dump.contains("kept@example.com"));
    let shown = origin
        .signed(manage_request(
            http::Method::GET,
            &format!("/api/registrations/{}", kept["id"].as_str().unwrap()),
            &kept,
        ))
        .await;
    assert_eq!(shown.status(), 200);
    let listing = body_json(&look().await);
    let erased: Vec<bool> = listing["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["erased"].as_bool().unwrap())
        .collect();
    assert_eq!(erased, [false, true]);
}

#[tokio::test]
async fn a_setting_that_is_not_what_it_must_be_closes_the_origin_health_included() {
    for (name, value) in [
        ("registrations_per_minute", "lots"),
        ("retention_days", "30 days"),
        ("plus_addresses_are_one", "yes"),
        ("mail_per_domain_per_hour", "-5"),
    ] {
        let origin = OriginApp::start(|o| o.variable(name, value)).await;
        assert_eq!(origin.app.get("/health").await.status(), 503, "{name}");
        let answer = origin
            .signed(
                http::Request::get("/_origin/events")
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status(), 503, "{name}");
        assert!(
            !String::from_utf8_lossy(answer.body()).contains(name),
            "the setting is named in the log, not to the client"
        );
    }
    let fine = OriginApp::start(|o| o.variable("plus_addresses_are_one", "TRUE")).await;
    let listed = fine
        .signed(
            http::Request::get("/_origin/events")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn a_hold_that_lapsed_after_the_event_is_scrubbed_with_the_cancelled() {
    let mut event = event_body(json!(10));
    event["registration"]["confirm_email"] = json!(true);
    let origin = with_published(OriginApp::start(|o| o).await, event).await;
    let held = origin
        .signed(register_request("h1", "Hilde Quux", "held@erased.example"))
        .await;
    assert_eq!(held.status(), 202);
    // Nobody opens the event's book after it: the hold is still pending
    // when retention comes, and is expired, then scrubbed.
    origin
        .app
        .clock()
        .advance(std::time::Duration::from_secs(200 * 24 * 3600));
    system_tests::eventually("the lapsed hold scrubbed", async || {
        origin
            .admin("GET", "/api/admin/events/no-such-event/audit", None)
            .await;
        let dump = origin.dump().await.join("\n");
        if dump.contains("held@erased.example") {
            Err(())
        } else {
            Ok(())
        }
    })
    .await;
    let rows = origin
        .rows("SELECT status, erased_ms IS NOT NULL FROM registrations")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "expired");
}
