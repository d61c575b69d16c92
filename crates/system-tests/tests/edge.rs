//! The edge through the test host: reads from its cache with the contract's
//! headers, writes forwarded signed, publishes pushed to every edge, lost
//! notices caught up, and an origin in trouble.

use bytes::Bytes;
use eventfront_domain::push;
use eventfront_domain::snapshot::Snapshot;
use icalendar::Component as _;
use serde_json::{Value, json};
use spin_test_host::{App, LinkFault, ReuseLimits};
use std::collections::BTreeSet;
use std::time::Duration;
use system_tests::load::concurrent_gets;
use system_tests::{
    ADMIN_TOKEN, EdgeApp, OriginApp, SIGNING_SECRET, Topology, admin_request, dev_app, eventually,
    json as body_json, push_notice, registration, sign_notice, topology, topology_with, with_token,
};

const DEMO: &str = "wasm-edge-summit-2027";

fn header<'a>(response: &'a http::Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn reads_carry_the_contract_headers_and_honour_if_none_match() {
    let app = dev_app(|o| o).await;
    let events = app.get("/api/events").await;
    assert_eq!(events.status(), 200);
    assert_eq!(body_json(&events)["events"][0]["slug"], DEMO);

    let event = app.get(&format!("/api/events/{DEMO}")).await;
    assert_eq!(event.status(), 200);
    assert_eq!(header(&event, "eventfront-version"), Some("1"));
    assert_eq!(header(&event, "eventfront-edge"), Some("local"));
    let cache = header(&event, "cache-control").unwrap();
    assert!(
        cache.contains("max-age")
            && cache.contains("stale-while-revalidate")
            && cache.contains("stale-if-error"),
        "{cache}"
    );
    assert_eq!(header(&event, "eventfront-stale"), None);
    let etag = header(&event, "etag").unwrap().to_string();

    let again = app
        .send(
            http::Request::get(format!("/api/events/{DEMO}"))
                .header("if-none-match", &etag)
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status(), 304);
    assert!(again.body().is_empty());
    assert_eq!(header(&again, "etag"), Some(etag.as_str()));

    assert_eq!(app.get("/api/events/no-such-event").await.status(), 404);
}

async fn count(app: &spin_test_host::App, query: &str) -> usize {
    body_json(
        &app.get(&format!("/api/events/{DEMO}/sessions?{query}"))
            .await,
    )["sessions"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_frab_schedules_are_served_like_every_read_and_the_same_from_every_edge() {
    let t = topology(&["eu", "us"], "60").await;
    let path = format!("/api/events/{DEMO}/schedule.json");
    let mut bodies = Vec::new();
    for edge in &t.edges {
        let schedule = edge.app.get(&path).await;
        assert_eq!(schedule.status(), 200, "{:?}", schedule.body());
        assert_eq!(header(&schedule, "content-type"), Some("application/json"));
        assert_eq!(header(&schedule, "eventfront-version"), Some("1"));
        let etag = header(&schedule, "etag").unwrap().to_string();
        let again = edge
            .app
            .send(
                http::Request::get(&path)
                    .header("if-none-match", &etag)
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(again.status(), 304);
        bodies.push(schedule.into_body());
    }
    assert_eq!(bodies[0], bodies[1], "one rendering per version");
    let schedule: Value = serde_json::from_slice(&bodies[0]).unwrap();
    let conference = &schedule["schedule"]["conference"];
    assert_eq!(conference["acronym"], DEMO);
    assert_eq!(
        schedule["schedule"]["base_url"],
        "https://events.example.test/"
    );
    let events: usize = conference["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["rooms"].as_object().unwrap().values())
        .map(|e| e.as_array().unwrap().len())
        .sum();
    let sessions = body_json(
        &t.edges[0]
            .app
            .get(&format!("/api/events/{DEMO}/sessions"))
            .await,
    );
    assert_eq!(events, sessions["sessions"].as_array().unwrap().len());

    let xml = t.edges[0]
        .app
        .get(&format!("/api/events/{DEMO}/schedule.xml"))
        .await;
    assert_eq!(xml.status(), 200);
    assert_eq!(header(&xml, "content-type"), Some("application/xml"));
    let text = String::from_utf8(xml.body().to_vec()).unwrap();
    assert!(text.starts_with("<?xml") && text.contains(&format!("<acronym>{DEMO}</acronym>")));
    assert_eq!(text.matches("<event ").count(), events);
}

/// The draft's first session, as the origin has it.
async fn first_draft_session(origin: &OriginApp) -> Value {
    let draft = body_json(
        &origin
            .admin("GET", &format!("/api/admin/events/{DEMO}/draft"), None)
            .await,
    );
    draft["sessions"][0].clone()
}

/// Saves `session` into the draft and publishes it with `note`.
async fn save_and_publish(origin: &OriginApp, session: Value, note: &str) {
    let admin = format!("/api/admin/events/{DEMO}");
    let id = session["id"].as_str().unwrap().to_string();
    let saved = origin
        .admin("PUT", &format!("{admin}/sessions/{id}"), Some(session))
        .await;
    assert_eq!(saved.status(), 200, "{:?}", saved.body());
    let published = origin
        .admin(
            "POST",
            &format!("{admin}/publish"),
            Some(json!({"note": note})),
        )
        .await;
    assert_eq!(published.status(), 201);
}

/// Answers cut from the documents are rendered once per version and kept:
/// the same bytes while the version stands, the new version's after a
/// publish.
#[tokio::test]
async fn rendered_answers_follow_each_published_version() {
    let t = topology(&["eu"], "60").await;
    let mut session = first_draft_session(&t.origin).await;
    let id = session["id"].as_str().unwrap().to_string();
    let edge = &t.edges[0].app;
    let words = session["title"].as_str().unwrap().to_lowercase();
    let word = words.split_whitespace().last().unwrap().to_string();
    let routes = [
        format!("/api/events/{DEMO}/sessions/{id}"),
        format!("/api/events/{DEMO}/sessions?q={word}"),
        format!("/api/events/{DEMO}/sessions/{id}/session.ics"),
    ];
    let mut before = Vec::new();
    for route in &routes {
        let first = edge.get(route).await;
        let again = edge.get(route).await;
        assert_eq!(first.status(), 200, "{route}");
        assert_eq!(first.body(), again.body(), "{route}");
        assert_eq!(header(&first, "etag"), header(&again, "etag"), "{route}");
        before.push(first);
    }

    session["title"] = json!(format!(
        "{} (moved to the big hall)",
        session["title"].as_str().unwrap()
    ));
    save_and_publish(&t.origin, session, "").await;

    for (route, before) in routes.iter().zip(&before) {
        let after = edge.get(route).await;
        assert_eq!(header(&after, "eventfront-version"), Some("2"), "{route}");
        assert_ne!(header(&after, "etag"), header(before, "etag"), "{route}");
        // iCalendar folds long lines (RFC 5545 3.1).
        let text = String::from_utf8(after.body().to_vec())
            .unwrap()
            .replace("\r\n ", "");
        assert!(text.contains("(moved to the big hall)"), "{route}: {text}");
    }
}

#[tokio::test]
async fn the_changelog_feed_says_what_each_publish_moved() {
    let t = topology(&["eu"], "60").await;
    let mut session = first_draft_session(&t.origin).await;
    let id = session["id"].as_str().unwrap().to_string();
    let title = session["title"].as_str().unwrap().to_string();
    for field in ["starts_at", "ends_at"] {
        let at: jiff::Timestamp = session[field].as_str().unwrap().parse().unwrap();
        session[field] = json!((at + jiff::SignedDuration::from_mins(30)).to_string());
    }
    save_and_publish(&t.origin, session, "Keynote later").await;

    let edge = &t.edges[0];
    let changelog = body_json(&edge.app.get(&format!("/api/events/{DEMO}/changelog")).await);
    assert_eq!(
        changelog["changelog"][0]["changes"]["moved"][0]["id"],
        id.as_str()
    );
    let feed = edge
        .app
        .get(&format!("/api/events/{DEMO}/changelog.atom"))
        .await;
    assert_eq!(feed.status(), 200);
    assert_eq!(header(&feed, "content-type"), Some("application/atom+xml"));
    assert_eq!(header(&feed, "eventfront-version"), Some("2"));
    let xml = String::from_utf8(feed.body().to_vec()).unwrap();
    assert_eq!(xml.matches("<entry>").count(), 2, "{xml}");
    assert!(xml.contains("Version 2: Keynote later"), "{xml}");
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;");
    assert!(
        xml.contains(&format!("Changed time or room: {escaped}.")),
        "{xml}"
    );
}

#[tokio::test]
async fn any_origin_may_read_the_agenda_and_none_may_write() {
    let app = dev_app(|o| o).await;
    let preflight = |path: &str, method: &str| {
        http::Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header("origin", "https://conference.example.org")
            .header("access-control-request-method", method)
            .body(Bytes::new())
            .unwrap()
    };
    let read = app
        .send(preflight(&format!("/api/events/{DEMO}/sessions"), "GET"))
        .await;
    assert_eq!(read.status(), 204);
    assert_eq!(header(&read, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&read, "access-control-allow-methods"),
        Some("GET, HEAD")
    );
    let sessions = app.get(&format!("/api/events/{DEMO}/sessions")).await;
    assert_eq!(header(&sessions, "access-control-allow-origin"), Some("*"));
    assert!(
        header(&sessions, "access-control-expose-headers")
            .unwrap()
            .contains("ETag")
    );

    let write = app
        .send(preflight(
            &format!("/api/events/{DEMO}/registrations"),
            "POST",
        ))
        .await;
    assert_ne!(write.status(), 204);
    assert_eq!(header(&write, "access-control-allow-origin"), None);
    for path in ["/", "/admin/", "/_edge/status", "/api/admin/events"] {
        let page = app.get(path).await;
        assert_eq!(header(&page, "access-control-allow-origin"), None, "{path}");
    }
}

#[tokio::test]
async fn agenda_filters_and_embedded_items_work_on_the_cached_snapshot() {
    let app = dev_app(|o| o).await;
    let all = body_json(&app.get(&format!("/api/events/{DEMO}/sessions")).await);
    let sessions = all["sessions"].as_array().unwrap();
    let track = sessions[1]["track"].as_str().unwrap();
    let in_track = sessions.iter().filter(|s| s["track"] == track).count();
    assert_eq!(count(&app, &format!("track={track}")).await, in_track);
    let room = sessions[0]["room"].as_str().unwrap();
    assert_eq!(
        count(&app, &format!("room={room}")).await,
        sessions.iter().filter(|s| s["room"] == room).count()
    );
    let day = &sessions[0]["starts_at"].as_str().unwrap()[..10];
    let on_day = count(&app, &format!("day={day}")).await;
    assert!(on_day > 0 && on_day < sessions.len());
    let word = sessions[0]["title"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_lowercase();
    assert!(count(&app, &format!("q={word}")).await >= 1);
    assert_eq!(count(&app, "q=zzzz-nothing-matches").await, 0);
    assert_eq!(
        app.get(&format!("/api/events/{DEMO}/sessions?colour=red"))
            .await
            .status(),
        400
    );

    let id = sessions[0]["id"].as_str().unwrap();
    let one = body_json(&app.get(&format!("/api/events/{DEMO}/sessions/{id}")).await);
    assert!(
        one["speakers"][0]["name"].is_string(),
        "speakers embedded: {one}"
    );
    let speaker = one["speakers"][0]["id"].as_str().unwrap().to_string();
    let who = body_json(
        &app.get(&format!("/api/events/{DEMO}/speakers/{speaker}"))
            .await,
    );
    assert!(
        who["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id)
    );
    assert_eq!(
        app.get(&format!("/api/events/{DEMO}/sessions/nope"))
            .await
            .status(),
        404
    );
    let changelog = body_json(&app.get(&format!("/api/events/{DEMO}/changelog")).await);
    assert_eq!(changelog["changelog"][0]["version"], 1);
}

#[tokio::test]
async fn writes_are_forwarded_signed_and_answered_by_the_origin() {
    let app = dev_app(|o| o.variable("admin_token", ADMIN_TOKEN)).await;
    let register = || registration(DEMO, "edge-key-1", "Ada", "ada@example.com");
    let first = app.send(register()).await;
    assert_eq!(first.status(), 201, "{:?}", first.body());
    // Whole, with its length: Spin writes such an answer in one piece
    // (without it, chunked, it stalls ~40 ms on a kept connection).
    assert_eq!(
        header(&first, "content-length"),
        Some(first.body().len().to_string().as_str())
    );
    let replay = app.send(register()).await;
    assert_eq!(first.body(), replay.body());
    let created = body_json(&first);
    let status = app
        .send(
            http::Request::get(format!(
                "/api/registrations/{}",
                created["id"].as_str().unwrap()
            ))
            .header(
                "authorization",
                format!("Bearer {}", created["manage_token"].as_str().unwrap()),
            )
            .body(Bytes::new())
            .unwrap(),
        )
        .await;
    assert_eq!(body_json(&status)["status"], "confirmed");

    let unauthorized = app.get(&format!("/api/admin/events/{DEMO}/draft")).await;
    assert_eq!(unauthorized.status(), 401);
    let draft = app
        .send(
            http::Request::get(format!("/api/admin/events/{DEMO}/draft"))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(draft.status(), 200);
}

async fn rename_first_session(origin: &OriginApp, title: &str) -> u64 {
    let draft = body_json(
        &origin
            .admin("GET", &format!("/api/admin/events/{DEMO}/draft"), None)
            .await,
    );
    let mut session = draft["sessions"][0].clone();
    let id = session["id"].as_str().unwrap().to_string();
    session["title"] = json!(title);
    let saved = origin
        .admin(
            "PUT",
            &format!("/api/admin/events/{DEMO}/sessions/{id}"),
            Some(session),
        )
        .await;
    assert_eq!(saved.status(), 200, "{:?}", saved.body());
    let published = origin
        .admin(
            "POST",
            &format!("/api/admin/events/{DEMO}/publish"),
            Some(json!({"note": title})),
        )
        .await;
    assert_eq!(published.status(), 201);
    body_json(&published)["version"].as_u64().unwrap()
}

async fn version_served(edge: &EdgeApp) -> u64 {
    let response = edge.app.get(&format!("/api/events/{DEMO}/sessions")).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    header(&response, "eventfront-version")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_publish_reaches_every_edge_at_once() {
    let t = topology(&["eu", "us", "ap"], "60").await;
    for edge in &t.edges {
        assert_eq!(version_served(edge).await, 1);
    }
    let version = rename_first_session(&t.origin, "Renamed for everyone").await;
    for edge in &t.edges {
        assert_eq!(
            version_served(edge).await,
            version,
            "edge {} is current",
            edge.server.url()
        );
        let sessions = body_json(&edge.app.get(&format!("/api/events/{DEMO}/sessions")).await);
        assert!(sessions.to_string().contains("Renamed for everyone"));
        let status = body_json(&edge.app.get("/_edge/status").await);
        assert_eq!(status["events"][DEMO]["version"], version);
    }
}

#[tokio::test]
async fn documents_of_versions_no_reader_wants_leave_kv() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    let mut version = 1;
    for title in ["Second", "Third", "Fourth"] {
        version = rename_first_session(&t.origin, title).await;
        assert_eq!(version_served(edge).await, version);
    }
    eventually("only the last two versions kept", async || {
        let versions: BTreeSet<u64> = edge
            .kv_keys()
            .iter()
            .filter_map(|k| {
                k.strip_prefix(&format!("doc/{DEMO}/"))?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        if versions == BTreeSet::from([version - 1, version]) {
            Ok(())
        } else {
            Err(versions)
        }
    })
    .await;
}

#[tokio::test]
async fn an_archived_event_leaves_every_edge_and_takes_no_registration_until_republished() {
    let t = topology(&["eu", "us"], "60").await;
    for edge in &t.edges {
        assert_eq!(version_served(edge).await, 1);
    }
    let archived = t
        .origin
        .admin(
            "POST",
            &format!("/api/admin/events/{DEMO}/archive"),
            Some(json!({"note": "cancelled"})),
        )
        .await;
    assert_eq!(archived.status(), 200, "{:?}", archived.body());
    let answer = body_json(&archived);
    assert_eq!(answer["archived"], true);
    assert!(
        answer["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["acknowledged"] == true),
        "{answer}"
    );
    for edge in &t.edges {
        let gone = edge.app.get(&format!("/api/events/{DEMO}")).await;
        assert_eq!(gone.status(), 404, "{:?}", gone.body());
        let listed = body_json(&edge.app.get("/api/events").await);
        assert!(!listed.to_string().contains(DEMO), "{listed}");
        let registered = edge
            .app
            .send(registration(
                DEMO,
                "after-archive",
                "Ada",
                "ada@example.com",
            ))
            .await;
        assert_eq!(registered.status(), 404, "{:?}", registered.body());
        assert!(
            !edge.kv_keys().iter().any(|k| k.contains(DEMO)),
            "{:?}",
            edge.kv_keys()
        );
    }
    let audit = body_json(
        &t.origin
            .admin("GET", &format!("/api/admin/events/{DEMO}/audit"), None)
            .await,
    );
    assert_eq!(audit["entries"][0]["action"], "event.archived");
    let draft = body_json(
        &t.origin
            .admin("GET", &format!("/api/admin/events/{DEMO}/draft"), None)
            .await,
    );
    assert_eq!(draft["archived"], true, "the organizer still has the draft");

    // Publishing again brings it back everywhere.
    let version = rename_first_session(&t.origin, "Back on").await;
    for edge in &t.edges {
        assert_eq!(version_served(edge).await, version);
    }
    let registered = t.edges[0]
        .app
        .send(registration(DEMO, "after-return", "Ada", "ada@example.com"))
        .await;
    assert_eq!(registered.status(), 201, "{:?}", registered.body());
}

#[tokio::test]
async fn forged_replayed_and_out_of_order_notices_change_nothing() {
    // A fresh instance for every request: what refuses a replay is shared
    // by the edge's instances, not kept in one.
    let fresh = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    let t = topology_with(
        &["eu"],
        |mut o| {
            o.reuse = fresh;
            o.variable("staleness_secs", "60")
        },
        |o| o,
    )
    .await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    let notice = |version: u64, secret: &str| {
        sign_notice(
            http::Request::post("/_edge/publish")
                .header("content-type", "application/json")
                .body(Bytes::from(
                    json!({"slug": DEMO, "version": version}).to_string(),
                ))
                .unwrap(),
            secret,
        )
    };
    let forged = edge
        .app
        .send(notice(2, "an-attacker-secret-0123456789"))
        .await;
    assert_eq!(forged.status(), 401);
    let mut stale = notice(2, SIGNING_SECRET);
    stale
        .headers_mut()
        .insert("eventfront-timestamp", "1000".parse().unwrap());
    assert_eq!(edge.app.send(stale).await.status(), 401);

    only_the_tests_notices_reach(&t, edge);
    let v2 = rename_first_session(&t.origin, "Second").await;
    let v3 = rename_first_session(&t.origin, "Third").await;
    let captured = notice(v3, SIGNING_SECRET);
    let again = || {
        let mut copy = http::Request::new(captured.body().clone());
        *copy.method_mut() = captured.method().clone();
        *copy.uri_mut() = captured.uri().clone();
        *copy.headers_mut() = captured.headers().clone();
        copy
    };
    let newer = edge.app.send(again()).await;
    assert_eq!(body_json(&newer)["held"], v3);
    let older = edge.app.send(notice(v2, SIGNING_SECRET)).await;
    assert_eq!(older.status(), 200);
    assert_eq!(body_json(&older)["held"], v3, "versions never go backwards");

    // The notice captured and sent again within its signature's window is
    // refused, whichever instance it reaches, and nobody asks the origin.
    let origin = t.origin_server.addr().to_string();
    let asked = edge.app.links().requests(&origin);
    let replayed = edge.app.send(again()).await;
    assert_eq!(replayed.status(), 409);
    assert_eq!(
        replayed.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(edge.app.links().requests(&origin), asked);
    assert_eq!(version_served(edge).await, v3);
}

#[tokio::test]
async fn a_pushed_version_is_applied_without_any_request_to_the_origin() {
    let t = topology(&["eu"], "60").await;
    pushed_with_the_origin_cut(&t, "Pushed to the edge", async |edge| {
        let sessions = edge.app.get(&format!("/api/events/{DEMO}/sessions")).await;
        assert!(String::from_utf8_lossy(sessions.body()).contains("Pushed to the edge"));
        served_gzipped_when_accepted(&edge.app, &format!("/api/events/{DEMO}/sessions")).await;
    })
    .await;
}

/// Publishes `title` as the first session's with the first edge's link to
/// its origin refusing every connection, so that whatever the edge serves
/// next came in the notice; `reads` reads it, and the origin must not have
/// been asked by then.
async fn pushed_with_the_origin_cut(t: &Topology, title: &str, reads: impl AsyncFnOnce(&EdgeApp)) {
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    let origin = t.origin_server.addr().to_string();
    edge.app.links().set(&origin, LinkFault::Cut);
    let asked = edge.app.links().requests(&origin);
    let version = rename_first_session(&t.origin, title).await;
    assert_eq!(version_served(edge).await, version);
    reads(edge).await;
    assert_eq!(
        edge.app.links().requests(&origin),
        asked,
        "the origin was not asked"
    );
}

/// A KV limit of 2 KiB and parts of 2 KiB: the demo's version travels in
/// several notices, each document in pieces, and every value the edge
/// stores stays within the limit.
#[tokio::test]
async fn a_large_version_is_pushed_in_parts_and_stored_within_the_kv_limit() {
    const LIMIT: usize = 2048;
    let t = topology_with(
        &["eu"],
        |o| {
            o.variable("staleness_secs", "60")
                .variable("kv_value_limit", LIMIT.to_string())
        },
        |o| o.variable("push_part_bytes", LIMIT.to_string()),
    )
    .await;
    pushed_with_the_origin_cut(&t, "Pushed in parts", async |edge| {
        let sessions = body_json(&edge.app.get(&format!("/api/events/{DEMO}/sessions")).await);
        assert_eq!(sessions["sessions"][0]["title"], "Pushed in parts");
        let paths = [
            format!("/api/events/{DEMO}/sessions"),
            format!("/api/events/{DEMO}/speakers"),
            format!("/api/events/{DEMO}/schedule.json"),
        ];
        for path in &paths {
            served_gzipped_when_accepted(&edge.app, path).await;
        }
        let day = edge
            .app
            .get(&format!("/api/events/{DEMO}/sessions?day=2027-06-08"))
            .await;
        assert_eq!(day.status(), 200);
    })
    .await;
    let edge = &t.edges[0];
    assert!(
        edge.kv_keys().iter().any(|k| k.contains('#')),
        "large values are kept in pieces: {:?}",
        edge.kv_keys()
    );
    assert!(
        edge.kv_largest_value() <= LIMIT,
        "{}",
        edge.kv_largest_value()
    );
}

/// Cuts the origin's link to `edge`: no notice reaches it but the test's.
fn only_the_tests_notices_reach(t: &Topology, edge: &EdgeApp) {
    t.origin
        .app
        .links()
        .set(&edge.server.addr().to_string(), LinkFault::Cut);
}

/// A version's snapshot as the origin gives it to edges.
async fn origin_snapshot(origin: &OriginApp, version: u64) -> Snapshot {
    let answer = origin
        .signed(
            http::Request::get(format!("/_origin/events/{DEMO}/snapshot?version={version}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status(), 200);
    serde_json::from_slice(answer.body()).unwrap()
}

#[tokio::test]
async fn a_push_that_lost_a_part_is_healed_by_a_fetch_and_versions_never_go_back() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    only_the_tests_notices_reach(&t, edge);
    let v2 = rename_first_session(&t.origin, "Second").await;
    let v3 = rename_first_session(&t.origin, "Third").await;
    let parts = push::parts(&origin_snapshot(&t.origin, v3).await, 2048);
    assert!(parts.len() > 2, "{}", parts.len());
    let (last, first) = parts.split_last().unwrap();
    for part in first {
        let answer = edge.app.send(push_notice(DEMO, v3, part.clone())).await;
        assert_eq!(answer.status(), 200, "{:?}", answer.body());
        assert_eq!(body_json(&answer)["complete"], false);
    }
    assert_eq!(
        version_served(edge).await,
        1,
        "an incomplete version is not served"
    );
    // The origin's fallback, the version alone: the edge fetches it.
    let fallback = sign_notice(
        http::Request::post("/_edge/publish?notice=fallback")
            .header("content-type", "application/json")
            .body(Bytes::from(
                json!({"slug": DEMO, "version": v3}).to_string(),
            ))
            .unwrap(),
        SIGNING_SECRET,
    );
    assert_eq!(body_json(&edge.app.send(fallback).await)["held"], v3);
    assert_eq!(version_served(edge).await, v3);
    // A whole older version pushed late, and the lost part arriving after
    // all, change nothing.
    let older = push::parts(&origin_snapshot(&t.origin, v2).await, 1 << 20);
    assert_eq!(older.len(), 1);
    let late = edge.app.send(push_notice(DEMO, v2, older[0].clone())).await;
    assert_eq!(body_json(&late)["held"], v3, "versions never go backwards");
    let lost = edge.app.send(push_notice(DEMO, v3, last.clone())).await;
    assert_eq!(body_json(&lost)["held"], v3);
    assert_eq!(version_served(edge).await, v3);
    let sessions = body_json(&edge.app.get(&format!("/api/events/{DEMO}/sessions")).await);
    assert_eq!(sessions["sessions"][0]["title"], "Third");
}

#[tokio::test]
async fn an_edge_that_missed_a_notice_catches_up_within_the_staleness_window() {
    let t = topology(&["eu"], "1").await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    only_the_tests_notices_reach(&t, edge);
    let version = rename_first_session(&t.origin, "Missed notice").await;
    // Once the window has passed on the edge's clock, the edge serves the
    // new version.
    edge.app.clock().advance(Duration::from_millis(1_100));
    eventually("caught up once the window passed", async || {
        let served = version_served(edge).await;
        if served == version {
            Ok(())
        } else {
            Err(served)
        }
    })
    .await;
}

#[tokio::test]
async fn with_the_origin_down_reads_are_stale_and_marked_and_writes_get_503() {
    let t = topology(&["eu"], "1").await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    let origin_authority = t.origin_server.addr().to_string();
    edge.app.links().set(&origin_authority, LinkFault::Cut);
    let clock = edge.app.clock();
    clock.advance(Duration::from_millis(2_100));

    // The first read past the window is served at once and starts a
    // revalidation; once that has failed, reads are marked stale.
    let stale = eventually("marked stale", async || {
        let read = edge.app.get(&format!("/api/events/{DEMO}")).await;
        assert_eq!(read.status(), 200);
        match header(&read, "eventfront-stale") {
            Some(_) => Ok(read),
            None => Err(read),
        }
    })
    .await;
    assert_eq!(header(&stale, "eventfront-stale"), Some("1"));
    assert!(header(&stale, "age").unwrap().parse::<u64>().unwrap() >= 1);

    let write = edge
        .app
        .send(registration(DEMO, "k", "A", "a@example.com"))
        .await;
    assert_eq!(write.status(), 503);
    assert!(header(&write, "retry-after").is_some());

    // After a failed revalidation the edge waits a second before asking
    // again; then it recovers on its own.
    edge.app.links().heal(&origin_authority);
    clock.advance(Duration::from_millis(1_100));
    eventually("recovered after the backoff", async || {
        let read = edge.app.get(&format!("/api/events/{DEMO}")).await;
        match header(&read, "eventfront-stale") {
            None => Ok(()),
            Some(_) => Err(read),
        }
    })
    .await;
}

#[tokio::test]
async fn every_answer_says_nosniff_and_pins_https_except_to_this_machine() {
    let app = dev_app(|o| o).await;
    let to = |host: &'static str, path: &str| {
        http::Request::get(path.to_string())
            .header("host", host)
            .body(Bytes::new())
            .unwrap()
    };
    let path = format!("/api/events/{DEMO}");
    for (host, path) in [
        ("events.example.com", path.as_str()),
        ("events.example.com", "/api/events/no-such-event"),
        ("localhost:3000", path.as_str()),
    ] {
        let answer = app.send(to(host, path)).await;
        assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
        let pinned = header(&answer, "strict-transport-security");
        match host {
            "localhost:3000" => assert_eq!(pinned, None, "{path}"),
            _ => assert_eq!(pinned, Some("max-age=31536000"), "{path}"),
        }
    }
    // A registration's answer comes from the origin: the edge decides.
    let forwarded = app
        .send(
            http::Request::post(format!("/api/events/{DEMO}/registrations"))
                .header("host", "127.0.0.1:3000")
                .header("content-type", "application/json")
                .header("idempotency-key", "k-hardened")
                .body(Bytes::from(r#"{"name":"Ada","email":"ada@example.com"}"#))
                .unwrap(),
        )
        .await;
    assert!(forwarded.status().is_success(), "{:?}", forwarded.body());
    assert_eq!(
        header(&forwarded, "x-content-type-options"),
        Some("nosniff")
    );
    assert_eq!(header(&forwarded, "strict-transport-security"), None);
}

#[tokio::test]
async fn a_setting_that_is_not_what_it_must_be_is_a_configuration_error_answered_503() {
    let read = || http::Request::get(format!("/api/events/{DEMO}")).body(Bytes::new());
    let register = || registration(DEMO, "typo", "Ada", "ada@example.com");
    // What every request needs is read on an instance's first request; how
    // clients are told apart, when the first one is forwarded.
    for (name, value, request) in [
        // One that would trap every request later.
        ("staleness_secs", "inf", read().unwrap()),
        ("hsts_max_age", "-1", read().unwrap()),
        ("registrations_per_minute", "lots", register()),
        // A proxy list with a typo would trust none of them.
        ("trusted_proxies", "10.0.0.0/8, 10.1.2.3/33", register()),
    ] {
        let edge = EdgeApp::start("eu", "http://127.0.0.1:9", |o| o.variable(name, value)).await;
        let response = edge.app.send(request).await;
        assert_eq!(response.status(), 503, "{name}");
        assert_eq!(
            header(&response, "content-type"),
            Some("application/problem+json")
        );
        // Not the answer of an origin that cannot be reached (no origin
        // listens here): the edge's own configuration is at fault.
        assert_eq!(
            body_json(&response)["detail"],
            "The edge is not configured to serve this request.",
            "{name}"
        );
        assert!(
            !String::from_utf8_lossy(response.body()).contains(name),
            "the setting is named in the log, not to the client"
        );
    }
}

/// A fresh instance serving a read reads no more of its settings than a
/// read needs: a typo in how writes are counted stops writes, not reads.
#[tokio::test]
async fn a_setting_only_writes_need_does_not_stop_reads() {
    let t = topology_with(
        &["eu"],
        |o| o.variable("trusted_proxies", "10.1.2.3/33"),
        |o| o,
    )
    .await;
    let edge = &t.edges[0];
    assert_eq!(version_served(edge).await, 1);
    let refused = edge
        .app
        .send(registration(DEMO, "typo", "Ada", "ada@example.com"))
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        body_json(&refused)["detail"],
        "The edge is not configured to serve this request."
    );
}

/// A registration whose answer is lost on the way back was made by the
/// origin: the edge says it may still count, and the retry under the same
/// key gets the one registration. A refused link says it was not made.
#[tokio::test]
async fn a_write_whose_answer_is_lost_is_not_told_it_failed() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0];
    let origin = t.origin_server.addr().to_string();
    let register = || registration(DEMO, "lost-answer", "Ada", "ada@example.com");

    edge.app.links().set(&origin, LinkFault::Cut);
    let refused = edge.app.send(register()).await;
    assert_eq!(refused.status(), 503);
    assert!(header(&refused, "retry-after").is_some());
    assert_eq!(
        body_json(&refused)["detail"],
        "The origin cannot be reached; try again shortly."
    );

    edge.app.links().set(&origin, LinkFault::LoseAnswer);
    let lost = edge.app.send(register()).await;
    assert_eq!(lost.status(), 503);
    assert!(header(&lost, "retry-after").is_some());
    let detail = body_json(&lost)["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("may still act on this request") && detail.contains("Idempotency-Key"),
        "{detail}"
    );

    // An organizer's write carries no key: it is told to look first
    // (whatever the origin made of this draft, its answer is lost).
    let draft = json!({ "title": "Renamed while the answer was lost" });
    let path = format!("/api/admin/events/{DEMO}");
    let unkeyed = edge
        .app
        .send(admin_request("PUT", &path, Some(draft)))
        .await;
    assert_eq!(unkeyed.status(), 503);
    assert_eq!(
        body_json(&unkeyed)["detail"],
        "The origin did not answer in time and may still act on this request. \
         Look at its outcome before sending it again."
    );

    edge.app.links().heal(&origin);
    let retried = edge.app.send(register()).await;
    assert_eq!(retried.status(), 201);
    let made = t
        .origin
        .rows("SELECT id FROM registrations WHERE email = 'ada@example.com'")
        .await;
    assert_eq!(
        made.len(),
        1,
        "made once, by the request whose answer was lost"
    );
    assert_eq!(body_json(&retried)["id"], made[0][0]);
}

#[tokio::test]
async fn a_cold_edge_without_its_origin_answers_503_with_retry_after() {
    let edge = EdgeApp::start("eu", "http://127.0.0.1:9", |o| o).await;
    let response = edge.app.get(&format!("/api/events/{DEMO}")).await;
    assert_eq!(response.status(), 503);
    assert!(header(&response, "retry-after").is_some());
    let _: Value = body_json(&response);
}

#[tokio::test]
async fn icalendar_exports_parse_back_with_stable_uids() {
    let app = dev_app(|o| o).await;
    let sessions = body_json(&app.get(&format!("/api/events/{DEMO}/sessions")).await);
    let sessions = sessions["sessions"].as_array().unwrap();
    let schedule = app.get(&format!("/api/events/{DEMO}/schedule.ics")).await;
    assert_eq!(schedule.status(), 200);
    assert!(
        header(&schedule, "content-type")
            .unwrap()
            .starts_with("text/calendar")
    );
    assert!(header(&schedule, "etag").is_some());
    let text = String::from_utf8(schedule.body().to_vec()).unwrap();
    let calendar: icalendar::Calendar = text.parse().expect("schedule.ics parses");
    let uids: std::collections::HashSet<String> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| e.get_uid().unwrap().to_string())
        .collect();
    assert_eq!(
        uids.len(),
        sessions.len(),
        "one VEVENT per session, UIDs unique"
    );

    let id = sessions[0]["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/events/{DEMO}/sessions/{id}/session.ics"))
        .await;
    let one: icalendar::Calendar = String::from_utf8(one.body().to_vec())
        .unwrap()
        .parse()
        .unwrap();
    let vevent = one.components[0].as_event().unwrap();
    assert_eq!(
        vevent.get_uid(),
        Some(format!("{id}@{DEMO}.eventfront").as_str())
    );
    assert_eq!(vevent.get_summary(), sessions[0]["title"].as_str());
    assert!(
        uids.contains(vevent.get_uid().unwrap()),
        "the same UID in both exports"
    );

    // A personal agenda: the whole-agenda export cut to chosen sessions.
    let (first, second) = (
        sessions[3]["id"].as_str().unwrap(),
        sessions[40]["id"].as_str().unwrap(),
    );
    let mine = app
        .get(&format!(
            "/api/events/{DEMO}/schedule.ics?sessions={first},{second}"
        ))
        .await;
    assert_eq!(mine.status(), 200);
    let mine: icalendar::Calendar = String::from_utf8(mine.body().to_vec())
        .unwrap()
        .parse()
        .unwrap();
    let mut chosen: Vec<&str> = mine
        .components
        .iter()
        .filter_map(|c| c.as_event()?.get_uid())
        .collect();
    chosen.sort_unstable();
    let mut expected = vec![
        format!("{first}@{DEMO}.eventfront"),
        format!("{second}@{DEMO}.eventfront"),
    ];
    expected.sort_unstable();
    assert_eq!(chosen, expected);
    assert_eq!(
        app.get(&format!("/api/events/{DEMO}/schedule.ics?colour=red"))
            .await
            .status(),
        400,
        "the export refuses filters it does not know, as the agenda does"
    );
    assert_eq!(
        app.get(&format!("/api/events/{DEMO}/sessions/nope/session.ics"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn the_edge_bounds_input_and_rate_limits_registration_attempts_per_client() {
    let app = dev_app(|o| o.variable("registrations_per_minute", "4")).await;
    system_tests::at_a_minutes_start(app.clock());
    let attempt = |n: usize| {
        registration(
            DEMO,
            &format!("rate-{n}"),
            "A",
            &format!("a{n}@example.com"),
        )
    };
    let not_json = app
        .send(
            http::Request::post(format!("/api/events/{DEMO}/registrations"))
                .header("content-type", "text/plain")
                .body(Bytes::from("name=A"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status(), 415);
    for n in 0..3 {
        assert_eq!(app.send(attempt(n)).await.status(), 201);
    }
    let limited = app.send(attempt(3)).await;
    assert_eq!(limited.status(), 429);
    assert!(
        header(&limited, "retry-after")
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    let other_client = app
        .send_from(attempt(4), "127.0.0.2:40000".parse().unwrap())
        .await;
    assert_eq!(
        other_client.status(),
        201,
        "the limit is per client address"
    );

    let too_large = app
        .send(
            http::Request::put(format!("/api/admin/events/{DEMO}/draft"))
                .header("content-type", "application/json")
                .header("authorization", "Bearer anything")
                .header("content-length", (8 << 20).to_string())
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(too_large.status(), 413);
    let wrong_method = app
        .send(
            http::Request::delete(format!("/api/events/{DEMO}/registrations"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn a_forged_client_address_neither_escapes_the_limit_nor_locks_out_its_victim() {
    let app = dev_app(|o| o.variable("registrations_per_minute", "5")).await;
    let mut admitted = 0;
    for n in 0..12 {
        let mut forged = registration(
            DEMO,
            &format!("forged-{n}"),
            "A",
            &format!("f{n}@example.com"),
        );
        // Under Spin the client's header comes first, Spin's own after it.
        forged.headers_mut().insert(
            "spin-client-addr",
            format!("198.51.100.{n}:4000").parse().unwrap(),
        );
        if app.send(forged).await.status() == 201 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "counted by the address Spin saw");
    let victim = app
        .send_from(
            registration(DEMO, "victim", "V", "v@example.com"),
            "198.51.100.1:4000".parse().unwrap(),
        )
        .await;
    assert_eq!(victim.status(), 201, "a forged victim is not locked out");
}

/// One count per client across edges and instances, kept by the origin in
/// the deciding transaction; the edge names the client under its signature.
#[tokio::test]
async fn the_origin_counts_a_clients_attempts_across_every_edge() {
    let t = system_tests::topology_with(
        &["eu", "us"],
        |o| o.variable("staleness_secs", "60"),
        |o| o.variable("registrations_per_minute", "3"),
    )
    .await;
    system_tests::at_a_minutes_start(t.origin.app.clock());
    let client = "198.51.100.23:4000".parse().unwrap();
    let attempt = |n: usize| {
        registration(
            DEMO,
            &format!("across-{n}"),
            "A",
            &format!("across{n}@example.com"),
        )
    };
    let mut statuses = Vec::new();
    for n in 0..4 {
        // Each edge alone sees at most two: under its own limit of 20.
        let edge = &t.edges[n % 2].app;
        let answer = edge.send_from(attempt(n), client).await;
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            assert_eq!(
                header(&answer, "content-type"),
                Some("application/problem+json")
            );
            let retry: u32 = header(&answer, "retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
        }
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
    let replay = t.edges[1].app.send_from(attempt(0), client).await;
    assert_eq!(replay.status(), 201, "a replay is answered, not counted");
    let other = t.edges[0]
        .app
        .send_from(attempt(5), "198.51.100.24:4000".parse().unwrap())
        .await;
    assert_eq!(other.status(), 201, "another client has its own count");
    for edge in &t.edges {
        let counted_in_kv: Vec<String> = edge
            .kv_keys()
            .into_iter()
            .filter(|k| k.starts_with("ratelimit/"))
            .collect();
        assert_eq!(
            counted_in_kv,
            Vec::<String>::new(),
            "no KV write per attempt"
        );
        assert_eq!(
            edge.kv_keys_holding("@example.com"),
            Vec::<String>::new(),
            "nothing an edge stores holds a registrant's address"
        );
    }

    // Only a client the signature covers is counted: one added to a
    // signed request makes it a forgery.
    let mut forged = system_tests::sign(attempt(6), SIGNING_SECRET);
    forged
        .headers_mut()
        .insert("eventfront-client", "198.51.100.99".parse().unwrap());
    assert_eq!(t.origin.app.send(forged).await.status(), 401);
}

#[tokio::test]
async fn behind_a_trusted_proxy_its_forwarding_header_names_the_client() {
    let app = dev_app(|o| {
        o.variable("registrations_per_minute", "2")
            .variable("trusted_proxies", "10.0.0.0/8")
    })
    .await;
    system_tests::at_a_minutes_start(app.clock());
    let attempt = |n: usize, forwarded: &str| {
        let mut request = registration(
            DEMO,
            &format!("proxied-{n}"),
            "P",
            &format!("p{n}@example.com"),
        );
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        request
    };
    let proxy = "10.1.2.3:443".parse().unwrap();
    let statuses: Vec<u16> = futures::future::join_all((0..3).map(|n| {
        let app = app.clone();
        let request = attempt(n, &format!("198.51.100.{n}, 10.9.9.9"));
        async move { app.send_from(request, proxy).await.status().as_u16() }
    }))
    .await;
    assert_eq!(statuses, [201, 201, 201], "three clients behind one proxy");
    let mut same = Vec::new();
    for n in 3..6 {
        same.push(
            app.send_from(attempt(n, "203.0.113.7"), proxy)
                .await
                .status(),
        );
    }
    assert_eq!(same, [201, 201, 429], "one client behind the proxy");
    // Not from the proxy: the header is the client's own claim, ignored.
    let stranger = "192.0.2.44:1000".parse().unwrap();
    let mut direct = Vec::new();
    for n in 6..9 {
        direct.push(
            app.send_from(attempt(n, &format!("198.51.100.{n}")), stranger)
                .await
                .status(),
        );
    }
    assert_eq!(direct, [201, 201, 429]);
}

/// An organizer's read of the demo's draft, signed in with `token`.
fn draft(token: &str) -> http::Request<Bytes> {
    http::Request::get(format!("/api/admin/events/{DEMO}/draft"))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap()
}

#[tokio::test]
async fn organizer_token_guessing_is_throttled_per_client() {
    let app = dev_app(|o| o.variable("admin_token", ADMIN_TOKEN)).await;
    system_tests::at_a_minutes_start(app.clock());
    let guesser = "203.0.113.50:5000".parse().unwrap();
    for n in 0..10 {
        let guess = app.send_from(draft(&format!("guess-{n}")), guesser).await;
        assert_eq!(guess.status(), 401, "guess {n}");
    }
    let throttled = app.send_from(draft("one-more-guess"), guesser).await;
    assert_eq!(throttled.status(), 429);
    assert!(
        header(&throttled, "retry-after")
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        app.send_from(draft(ADMIN_TOKEN), guesser).await.status(),
        429,
        "not even the right token is tried for a minute"
    );
    let organizer = "203.0.113.51:5000".parse().unwrap();
    assert_eq!(
        app.send_from(draft(ADMIN_TOKEN), organizer).await.status(),
        200
    );
}

/// Sign-ins are counted before the token is looked at, by the origin, for
/// every instance at once: a burst of guesses spread over fresh instances
/// (none of which has seen the others') gets no more looks than the
/// limit, while the right token from another address keeps working.
#[tokio::test]
async fn a_burst_of_guesses_gets_no_more_looks_than_the_limit() {
    let app = dev_app(|mut o| {
        o.reuse = ReuseLimits {
            max_requests: 1,
            max_concurrent: 1,
            ..ReuseLimits::default()
        };
        o.variable("admin_token", ADMIN_TOKEN)
    })
    .await;
    system_tests::at_a_minutes_start(app.clock());
    let guesser: std::net::SocketAddr = "203.0.113.60:5000".parse().unwrap();
    let organizer: std::net::SocketAddr = "203.0.113.61:5000".parse().unwrap();
    // The organizer's own requests never use up its limit.
    for _ in 0..12 {
        assert_eq!(
            app.send_from(draft(ADMIN_TOKEN), organizer).await.status(),
            200
        );
    }
    let guesses = (0..300).map(|n| {
        let app = app.clone();
        let guess = draft(&format!("guess-{n}"));
        tokio::spawn(async move { app.send_from(guess, guesser).await.status().as_u16() })
    });
    let right_meanwhile = {
        let app = app.clone();
        let right = draft(ADMIN_TOKEN);
        tokio::spawn(async move { app.send_from(right, organizer).await.status().as_u16() })
    };
    let statuses: Vec<u16> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|s| s.unwrap())
        .collect();
    let looked_at = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(looked_at + refused, 300, "{statuses:?}");
    assert!(looked_at <= 10, "{looked_at} guesses were looked at");
    assert_eq!(
        right_meanwhile.await.unwrap(),
        200,
        "another address is unaffected"
    );
    assert_eq!(
        app.send_from(draft(ADMIN_TOKEN), guesser).await.status(),
        429,
        "a throttled address's token is not looked at"
    );
    // The next minute, on the host's clock, it is.
    app.clock().advance(Duration::from_secs(60));
    assert_eq!(
        app.send_from(draft(ADMIN_TOKEN), guesser).await.status(),
        200
    );
}

#[tokio::test]
async fn guessing_registration_links_is_throttled_per_client() {
    let app = dev_app(|o| o.variable("admin_token", ADMIN_TOKEN)).await;
    let cancel = |id: &str| {
        http::Request::delete(format!("/api/registrations/{id}"))
            .header("authorization", "Bearer a-guess")
            .body(Bytes::new())
            .unwrap()
    };
    system_tests::at_a_minutes_start(app.clock());
    let guesser = "203.0.113.60:5000".parse().unwrap();
    for n in 0..30 {
        let guess = app.send_from(cancel(&format!("guess-{n}")), guesser).await;
        assert_eq!(guess.status(), 404, "guess {n}");
        assert!(
            header(&guess, "eventfront-token-refused").is_none(),
            "the origin's word to the edge stays there"
        );
    }
    let throttled = app.send_from(cancel("one-more"), guesser).await;
    assert_eq!(throttled.status(), 429);
    assert!(header(&throttled, "retry-after").is_some());
    let confirm = http::Request::post("/api/registrations/guess/confirm")
        .header("authorization", "Bearer a-guess")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(app.send_from(confirm, guesser).await.status(), 429);

    // Someone else's own link still works meanwhile.
    let registered = body_json(
        &app.send_from(
            registration(DEMO, "own-link", "Ada", "ada@example.com"),
            "203.0.113.61:5000".parse().unwrap(),
        )
        .await,
    );
    let own = http::Request::get(format!(
        "/api/registrations/{}",
        registered["id"].as_str().unwrap()
    ))
    .header(
        "authorization",
        format!("Bearer {}", registered["manage_token"].as_str().unwrap()),
    )
    .body(Bytes::new())
    .unwrap();
    let own = app
        .send_from(own, "203.0.113.61:5000".parse().unwrap())
        .await;
    assert_eq!(own.status(), 200);

    // Sessions that do not exist, asked for with a good link, are no guess.
    for n in 0..40 {
        let pick = with_token(
            "POST",
            format!(
                "/api/registrations/{}/sessions/no-such-{n}",
                registered["id"].as_str().unwrap()
            ),
            registered["manage_token"].as_str().unwrap(),
        );
        let picked = app
            .send_from(pick, "203.0.113.61:5000".parse().unwrap())
            .await;
        assert_eq!(picked.status(), 404, "pick {n}");
    }
}

#[tokio::test]
async fn a_short_admin_token_closes_the_organizer_api() {
    let app = dev_app(|o| o.variable("admin_token", "too-short-to-be-safe")).await;
    let response = app
        .send(
            http::Request::get(format!("/api/admin/events/{DEMO}/draft"))
                .header("authorization", "Bearer too-short-to-be-safe")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(
        body_json(&response)["detail"]
            .as_str()
            .unwrap()
            .contains("admin_token")
    );
}

/// `0` leaves rate limiting to the platform in front of the edge (on
/// Akamai Functions each count would be one of 50 KV writes a second).
#[tokio::test]
async fn a_zero_registration_limit_counts_nothing() {
    let app = dev_app(|o| o.variable("registrations_per_minute", "0")).await;
    for n in 0..30 {
        let registered = app
            .send(registration(
                DEMO,
                &format!("unlimited-{n}"),
                "U",
                &format!("u{n}@example.com"),
            ))
            .await;
        assert_eq!(registered.status(), 201, "attempt {n}");
    }
}

#[tokio::test]
async fn documents_and_one_day_of_the_agenda_are_served_gzipped_when_accepted() {
    let app = dev_app(|o| o).await;
    for path in [
        format!("/api/events/{DEMO}/sessions"),
        format!("/api/events/{DEMO}/sessions?day=2027-06-08"),
    ] {
        served_gzipped_when_accepted(&app, &path).await;
    }
}

async fn served_gzipped_when_accepted(app: &App, path: &str) {
    use std::io::Read;
    let plain = app.get(path).await;
    assert_eq!(header(&plain, "content-encoding"), None);
    let gzipped = |tag: Option<&str>| {
        let mut request = http::Request::get(path).header("accept-encoding", "gzip, br");
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        app.send(request.body(Bytes::new()).unwrap())
    };
    let zipped = gzipped(None).await;
    assert_eq!(header(&zipped, "content-encoding"), Some("gzip"), "{path}");
    assert_eq!(header(&zipped, "vary"), Some("Accept-Encoding"));
    assert_ne!(header(&zipped, "etag"), header(&plain, "etag"));
    assert!(
        zipped.body().len() * 3 < plain.body().len(),
        "{path} compressed well"
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body()[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body().to_vec());
    let again = gzipped(header(&zipped, "etag")).await;
    assert_eq!(again.status(), 304, "{path}: the gzipped form revalidates");
}

#[tokio::test]
async fn a_large_agenda_can_be_fetched_one_day_at_a_time() {
    let app = dev_app(|o| o).await;
    let event = body_json(&app.get(&format!("/api/events/{DEMO}")).await);
    let all = body_json(&app.get(&format!("/api/events/{DEMO}/sessions")).await);
    let speakers = body_json(&app.get(&format!("/api/events/{DEMO}/speakers")).await);
    let days = event["days"].as_array().unwrap();
    assert_eq!(days.len(), 3, "the demo runs three days");
    let mut seen = Vec::new();
    for day in days {
        let date = day["date"].as_str().unwrap();
        let one = body_json(
            &app.get(&format!("/api/events/{DEMO}/sessions?day={date}"))
                .await,
        );
        let sessions = one["sessions"].as_array().unwrap();
        assert_eq!(
            sessions.len() as u64,
            day["sessions"].as_u64().unwrap(),
            "{date}"
        );
        // Each of that day's speakers is named, and nobody else.
        let mut wanted: Vec<&str> = sessions
            .iter()
            .flat_map(|s| s["speakers"].as_array().unwrap())
            .map(|id| id.as_str().unwrap())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut named: Vec<&str> = one["speakers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        named.sort_unstable();
        assert_eq!(named, wanted, "{date}");
        for speaker in one["speakers"].as_array().unwrap() {
            let full = speakers["speakers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == speaker["id"])
                .unwrap();
            assert_eq!(speaker["name"], full["name"]);
        }
        seen.extend(sessions.iter().map(|s| s["id"].clone()));
    }
    let every: Vec<Value> = all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(
        seen, every,
        "the days together are the whole agenda, in order"
    );
}

#[tokio::test]
async fn times_render_in_a_requested_zone() {
    let app = dev_app(|o| o).await;
    let local = body_json(&app.get(&format!("/api/events/{DEMO}/sessions")).await);
    let tokyo = body_json(
        &app.get(&format!("/api/events/{DEMO}/sessions?tz=Asia/Tokyo"))
            .await,
    );
    assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    let (a, b) = (
        &local["sessions"][0]["starts_at"],
        &tokyo["sessions"][0]["starts_at"],
    );
    assert!(b.as_str().unwrap().ends_with("+09:00"), "{b}");
    let parse = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    assert_eq!(
        parse(a),
        parse(b),
        "the same instant, shown in another zone"
    );
    assert_eq!(
        app.get(&format!("/api/events/{DEMO}/sessions?tz=Mars/Base"))
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn static_pages_are_served_with_types_etags_gzip_and_cache_policy() {
    let app = dev_app(|o| o).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        header(&page, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    let policy = header(&page, "content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"));
    let deep_link = app.get("/sessions/some-session").await;
    assert_eq!(deep_link.body(), page.body(), "page URLs reload the page");
    let css = app.get("/app.css").await;
    assert!(
        header(&css, "content-type")
            .unwrap()
            .starts_with("text/css")
    );
    let etag = header(&css, "etag").unwrap().to_string();
    let again = app
        .send(
            http::Request::get("/app.css")
                .header("if-none-match", &etag)
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status(), 304);
    let admin = app.get("/admin/").await;
    assert!(String::from_utf8_lossy(admin.body()).contains("/admin/admin.js"));

    // Text goes gzipped to clients that accept it, under its own ETag.
    let zipped = app
        .send(
            http::Request::get("/app.js")
                .header("accept-encoding", "gzip, br")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    let plain = app.get("/app.js").await;
    assert_eq!(header(&zipped, "content-encoding"), Some("gzip"));
    assert_eq!(header(&zipped, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_ne!(header(&zipped, "etag"), header(&plain, "etag"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(zipped.body().as_ref()),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain.body().as_ref());
    assert!(zipped.body().len() * 2 < plain.body().len());

    assert_eq!(app.get("/missing.png").await.status(), 404);
    assert_eq!(app.get("/api/nothing-here").await.status(), 404);
}

#[tokio::test]
async fn status_reports_each_event_held_with_its_times() {
    let app = dev_app(|o| o.variable("region", "eu-west")).await;
    app.get(&format!("/api/events/{DEMO}")).await;
    let status = body_json(&app.get("/_edge/status").await);
    assert_eq!(status["region"], "eu-west");
    let held = &status["events"][DEMO];
    assert_eq!(held["version"], 1);
    for field in ["fetched_at", "checked_at"] {
        let at = held[field].as_str().unwrap();
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{field}: {at}");
    }
}

/// The statuses of `n` concurrent reads of the agenda.
async fn concurrent_reads(edge: &EdgeApp, n: usize) -> Vec<u16> {
    let path = format!("/api/events/{DEMO}/sessions");
    concurrent_gets(&edge.app, &path, n)
        .await
        .into_iter()
        .map(|(answer, _)| answer.status)
        .collect()
}

#[tokio::test]
async fn concurrent_cold_reads_ask_the_origin_once() {
    use std::sync::atomic::Ordering;
    use system_tests::fake_origin::{Behaviour, FakeOrigin};

    let origin = FakeOrigin::start().await;
    origin.behave(Behaviour::Slow(Duration::from_millis(300)));
    let edge = EdgeApp::start("eu", &origin.url, |o| o).await;
    assert_eq!(concurrent_reads(&edge, 16).await, [200; 16]);
    assert_eq!(
        origin.calls().full.load(Ordering::SeqCst),
        1,
        "one fetch for 16 concurrent cold reads"
    );
}

#[tokio::test]
async fn concurrent_cold_reads_share_one_failure() {
    use std::sync::atomic::Ordering;
    use system_tests::fake_origin::{Behaviour, FakeOrigin};

    // A hung origin: the one shared fetch times out after 3 s on the
    // edge's clock (moved once the fetch is out), and every waiter gets its
    // answer then, instead of queueing to repeat it.
    let origin = FakeOrigin::start().await;
    origin.behave(Behaviour::Hung);
    let edge = EdgeApp::start("eu", &origin.url, |o| o).await;
    let snapshots = || origin.calls().full.load(Ordering::SeqCst);
    let time_out = async {
        eventually("the fetch went out", async || match snapshots() {
            0 => Err(0),
            _ => Ok(()),
        })
        .await;
        edge.app.clock().advance(EDGE_FETCH_TIMEOUT);
    };
    let (statuses, ()) = futures::future::join(concurrent_reads(&edge, 16), time_out).await;
    assert_eq!(statuses, [503; 16]);
    assert_eq!(snapshots(), 1, "one snapshot fetch for all");
}

/// How long the edge waits for its origin to answer a read's fetch.
const EDGE_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn listing_events_within_the_window_costs_no_origin_call() {
    let app = dev_app(|o| o).await;
    let first = app.get("/api/events").await;
    assert_eq!(first.status(), 200);
    let asked = app.links().requests("origin.spin.internal");
    for _ in 0..5 {
        let again = app.get("/api/events").await;
        assert_eq!(again.body(), first.body());
    }
    assert_eq!(app.links().requests("origin.spin.internal"), asked);
}

/// A request whose body never ends: 1 KiB chunks for as long as it is read.
fn endless(
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, spin_test_host::ErrorCode>> {
    use http_body_util::BodyExt;
    let chunks = futures::stream::repeat_with(|| {
        Ok::<_, spin_test_host::ErrorCode>(http_body::Frame::data(Bytes::from(vec![b'x'; 1024])))
    });
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(http_body_util::StreamBody::new(chunks).boxed_unsync())
        .unwrap()
}

#[tokio::test]
async fn endless_bodies_are_cut_off_at_each_routes_limit() {
    let app = dev_app(|o| o.variable("admin_token", ADMIN_TOKEN)).await;
    let client = "127.0.0.1:9000".parse().unwrap();
    let json = [("content-type", "application/json")];
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let organizer = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    // A push whose signature is not the origin's is refused on its
    // headers: its signature covers the digest it names, not yet the body.
    let now = app.clock().since_epoch().as_secs().to_string();
    let forged_signature = format!("v2={}", "0".repeat(64));
    let digest = eventfront_domain::signing::content_digest(b"the documents");
    let forged_push = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-digest", digest.as_str()),
        ("eventfront-timestamp", now.as_str()),
        ("eventfront-signature", forged_signature.as_str()),
    ];
    let cases = [
        // A token opens no route's limit but the draft import's.
        (
            http::Method::PUT,
            format!("/api/admin/events/{DEMO}/sessions/s1"),
            &organizer[..],
            413,
        ),
        (
            http::Method::PUT,
            format!("/api/admin/events/{DEMO}/webhook"),
            &organizer[..],
            413,
        ),
        (
            http::Method::PUT,
            format!("/api/admin/events/{DEMO}/draft"),
            &organizer[..],
            413,
        ),
        (
            http::Method::POST,
            format!("/api/events/{DEMO}/registrations"),
            &json[..],
            413,
        ),
        (
            http::Method::DELETE,
            "/api/registrations/some-id".to_string(),
            &[][..],
            413,
        ),
        (
            http::Method::POST,
            "/_edge/publish".to_string(),
            &json[..],
            401,
        ),
        (
            http::Method::POST,
            "/_edge/publish?notice=forged".to_string(),
            &forged_push[..],
            401,
        ),
        (
            http::Method::PUT,
            format!("/api/admin/events/{DEMO}/draft"),
            &json[..],
            401,
        ),
    ];
    for (method, path, headers, expected) in cases {
        let answer = tokio::time::timeout(
            system_tests::PATIENCE,
            app.handle(endless(method.clone(), &path, headers), client),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path} read an endless body"));
        assert_eq!(answer.status(), expected, "{method} {path}");
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
    }
    // A finite body past a route's limit is refused at the edge: the
    // origin is never asked to read it.
    let asked = app.links().requests("origin.spin.internal");
    let session = http::Request::put(format!("/api/admin/events/{DEMO}/sessions/s1"))
        .header("content-type", "application/json")
        .header("authorization", &bearer)
        .body(Bytes::from(vec![b' '; 100 << 10]))
        .unwrap();
    assert_eq!(app.send(session).await.status(), 413);
    assert_eq!(app.links().requests("origin.spin.internal"), asked);
}

/// An agenda published before agendas named their speakers (and events
/// their days) is still searched by speaker, its filtered answers and its
/// calendar still name them: from the speakers document.
#[tokio::test]
async fn an_agenda_published_before_it_named_its_speakers_still_names_them() {
    let t = topology(&["eu"], "60").await;
    first_draft_session(&t.origin).await; // the origin has seeded the demo
    let bundle = t
        .origin
        .rows(&format!(
            "SELECT bundle FROM snapshots WHERE event = '{DEMO}' AND version = 1"
        ))
        .await;
    let mut snapshot: Value = serde_json::from_str(bundle[0][0].as_str().unwrap()).unwrap();
    for (doc, field) in [("sessions", "speakers"), ("event", "days")] {
        let mut body: Value =
            serde_json::from_str(snapshot["docs"][doc]["body"].as_str().unwrap()).unwrap();
        body.as_object_mut().unwrap().remove(field);
        let body = body.to_string();
        snapshot["docs"][doc] = json!({
            "etag": eventfront_domain::snapshot::etag(body.as_bytes()),
            "body": body,
        });
    }
    t.origin
        .execute(&format!(
            "UPDATE snapshots SET bundle = '{}' WHERE event = '{DEMO}' AND version = 1",
            snapshot.to_string().replace('\'', "''")
        ))
        .await;

    let edge = &t.edges[0].app;
    let whole = body_json(&edge.get(&format!("/api/events/{DEMO}/sessions")).await);
    assert!(
        whole.get("speakers").is_none(),
        "served as it was published"
    );
    let speakers = body_json(&edge.get(&format!("/api/events/{DEMO}/speakers")).await);
    let speaker = &speakers["speakers"][0];
    let name = speaker["name"].as_str().unwrap();
    let surname = name.split_whitespace().last().unwrap();
    let found = body_json(
        &edge
            .get(&format!("/api/events/{DEMO}/sessions?q={surname}"))
            .await,
    );
    let listed = found["sessions"].as_array().unwrap();
    assert!(!listed.is_empty(), "{surname} is found by name");
    assert!(
        found["speakers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == name),
        "and named: {found}"
    );
    let calendar = edge.get(&format!("/api/events/{DEMO}/schedule.ics")).await;
    let text = String::from_utf8(calendar.body().to_vec())
        .unwrap()
        .replace("\r\n ", "");
    assert!(text.contains(name), "the calendar names {name}");
}
