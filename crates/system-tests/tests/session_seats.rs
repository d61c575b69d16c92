//! Seats in sessions, through the origin's real `.wasm`: attendees pick
//! workshops from their registration, seats go first come and the rest
//! wait in line, a freed seat promotes the first in line (told by email
//! and webhook), overlapping picks are refused, a cancelled registration
//! frees every seat it held, a waitlisted one's picks wait until it is
//! confirmed, concurrent picks never overbook, a changed limit at
//! publish keeps every seat and promotes into new ones, and the places
//! left reach every edge: pushed at most once a second, or fetched within
//! an edge's staleness window when no push came.

use bytes::Bytes;
use futures::future::join_all;
use serde_json::{Value, json};
use std::time::Duration;
use system_tests::{
    EdgeApp, OriginApp, eventually, json as body_json, organizer_request, registration, topology,
    with_token,
};

const SLUG: &str = "conf";
const EVENT: &str = "/api/admin/events/conf";

/// `conf` with `seats` for the event, and its sessions: `lab` (10:00–11:00,
/// 2 seats), `clash` (10:30–11:30, 5 seats), `later` (12:00–13:00, 1 seat)
/// and `keynote` (09:00, no seats to pick).
async fn conf(seats: u32) -> OriginApp {
    let origin = OriginApp::start(|o| o).await;
    conf_on(&origin, seats).await;
    origin
}

/// `conf`, published by `origin`.
async fn conf_on(origin: &OriginApp, seats: u32) {
    let created = origin
        .admin(
            "PUT",
            EVENT,
            Some(json!({
                "name": "Conf 2027", "timezone": "UTC",
                "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T17:00:00Z",
                "registration": {"open": true, "capacity": seats, "confirm_email": false}
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    for (id, from, to, capacity) in [
        ("lab", "10:00", "11:00", json!(2)),
        ("clash", "10:30", "11:30", json!(5)),
        ("later", "12:00", "13:00", json!(1)),
        ("keynote", "09:00", "10:00", Value::Null),
    ] {
        session(origin, id, from, to, capacity).await;
    }
    publish(origin).await;
}

async fn session(origin: &OriginApp, id: &str, from: &str, to: &str, capacity: Value) {
    let put = origin
        .admin(
            "PUT",
            &format!("{EVENT}/sessions/{id}"),
            Some(json!({
                "title": format!("The {id} session"),
                "starts_at": format!("2027-03-01T{from}:00Z"),
                "ends_at": format!("2027-03-01T{to}:00Z"),
                "capacity": capacity,
            })),
        )
        .await;
    assert!(put.status().is_success(), "{:?}", put.body());
}

async fn publish(origin: &OriginApp) {
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
}

/// A registrant: id and manage token.
struct Person {
    id: String,
    token: String,
}

async fn register(origin: &OriginApp, n: usize) -> Person {
    let answer = origin
        .signed(registration(
            SLUG,
            &format!("key-{n}"),
            &format!("Person {n}"),
            &format!("p{n}@example.org"),
        ))
        .await;
    assert_eq!(answer.status(), 201, "{:?}", answer.body());
    let body = body_json(&answer);
    Person {
        id: body["id"].as_str().unwrap().to_string(),
        token: body["manage_token"].as_str().unwrap().to_string(),
    }
}

async fn people(origin: &OriginApp, n: usize) -> Vec<Person> {
    let mut all = Vec::new();
    for i in 0..n {
        all.push(register(origin, i).await);
    }
    all
}

async fn pick(origin: &OriginApp, who: &Person, session: &str) -> http::Response<Bytes> {
    let path = format!("/api/registrations/{}/sessions/{session}", who.id);
    origin.signed(with_token("POST", path, &who.token)).await
}

async fn release(origin: &OriginApp, who: &Person, session: &str) -> http::Response<Bytes> {
    let path = format!("/api/registrations/{}/sessions/{session}", who.id);
    origin.signed(with_token("DELETE", path, &who.token)).await
}

async fn cancel(origin: &OriginApp, who: &Person) -> http::Response<Bytes> {
    let path = format!("/api/registrations/{}", who.id);
    origin.signed(with_token("DELETE", path, &who.token)).await
}

/// `who`'s picks as its registration shows them.
async fn picks(origin: &OriginApp, who: &Person) -> Vec<Value> {
    let shown = origin
        .signed(with_token(
            "GET",
            format!("/api/registrations/{}", who.id),
            &who.token,
        ))
        .await;
    assert_eq!(shown.status(), 200);
    body_json(&shown)["sessions"].as_array().unwrap().clone()
}

/// Where `who` stands in `session`: `seat`, `line`, `deferred` or `none`.
async fn spot(origin: &OriginApp, who: &Person, session: &str) -> String {
    picks(origin, who)
        .await
        .iter()
        .find(|p| p["session"] == session)
        .map_or("none".into(), |p| p["spot"].as_str().unwrap().to_string())
}

/// The stored spots of `session`, by registration id.
async fn stored(origin: &OriginApp, session: &str) -> Vec<(String, String)> {
    origin
        .rows(&format!(
            "SELECT registration, spot FROM session_seats WHERE session = '{session}' ORDER BY seq"
        ))
        .await
        .into_iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_string(),
                row[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn messages(origin: &OriginApp, kind: &str) -> Vec<Value> {
    let listed = origin.admin("GET", &format!("{EVENT}/outbox"), None).await;
    body_json(&listed)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn seats_go_first_come_and_a_released_one_promotes_the_first_in_line() {
    let origin = conf(100).await;
    let p = people(&origin, 4).await;
    for (who, expected) in p.iter().zip(["seat", "seat", "line", "line"]) {
        let picked = pick(&origin, who, "lab").await;
        assert_eq!(picked.status(), 201, "{:?}", picked.body());
        assert_eq!(body_json(&picked)["spot"], expected);
    }
    let again = pick(&origin, &p[3], "lab").await;
    assert_eq!(again.status(), 200, "picking again answers the pick");
    assert_eq!(body_json(&again)["position"], 2);
    let shown = picks(&origin, &p[2]).await;
    assert_eq!(shown[0]["title"], "The lab session");
    assert_eq!(shown[0]["position"], 1);

    let released = release(&origin, &p[0], "lab").await;
    assert_eq!(released.status(), 200);
    assert_eq!(body_json(&released)["spot"], "released");
    assert_eq!(spot(&origin, &p[2], "lab").await, "seat");
    assert_eq!(picks(&origin, &p[3]).await[0]["position"], 1);
    assert_eq!(release(&origin, &p[0], "lab").await.status(), 200, "again");

    // The promoted person is told, with a link that manages their registration.
    let told = messages(&origin, "session_seat").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["to"], "p2@example.org");
    assert!(
        told[0]["subject"]
            .as_str()
            .unwrap()
            .contains("The lab session")
    );
    let link = told[0]["links"]["manage"].as_str().unwrap();
    let token = link.split_once("#token=").unwrap().1;
    let person = Person {
        id: p[2].id.clone(),
        token: token.to_string(),
    };
    assert_eq!(spot(&origin, &person, "lab").await, "seat");

    let log = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("session_seat."))
        .collect();
    for action in ["taken", "released", "promoted"] {
        assert!(
            actions.contains(&format!("session_seat.{action}").as_str()),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn overlapping_and_unbookable_picks_are_refused_with_a_reason() {
    let origin = conf(100).await;
    let p = people(&origin, 1).await;
    assert_eq!(pick(&origin, &p[0], "lab").await.status(), 201);
    let clash = pick(&origin, &p[0], "clash").await;
    assert_eq!(clash.status(), 409);
    let problem = body_json(&clash);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("The lab session"),
        "{problem}"
    );
    assert_eq!(
        pick(&origin, &p[0], "later").await.status(),
        201,
        "back to back"
    );
    assert_eq!(pick(&origin, &p[0], "keynote").await.status(), 409);
    assert_eq!(pick(&origin, &p[0], "nothing").await.status(), 404);
    let wrong = with_token(
        "POST",
        format!("/api/registrations/{}/sessions/lab", p[0].id),
        "not-the-token",
    );
    assert_eq!(origin.signed(wrong).await.status(), 404);
    assert_eq!(
        stored(&origin, "clash").await,
        [],
        "a refusal writes nothing"
    );
}

#[tokio::test]
async fn a_cancelled_registration_frees_every_seat_each_promoting() {
    let origin = conf(100).await;
    let p = people(&origin, 4).await;
    for (who, session) in [
        (&p[0], "lab"),
        (&p[0], "later"),
        (&p[1], "lab"),
        (&p[2], "lab"),
        (&p[3], "later"),
    ] {
        assert_eq!(pick(&origin, who, session).await.status(), 201);
    }
    assert_eq!(spot(&origin, &p[2], "lab").await, "line");
    assert_eq!(spot(&origin, &p[3], "later").await, "line");
    let cancelled = cancel(&origin, &p[0]).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(body_json(&cancelled)["sessions"], json!([]));
    assert_eq!(spot(&origin, &p[2], "lab").await, "seat");
    assert_eq!(spot(&origin, &p[3], "later").await, "seat");
    assert_eq!(messages(&origin, "session_seat").await.len(), 2);
    assert_eq!(
        pick(&origin, &p[0], "clash").await.status(),
        409,
        "a cancelled registration picks nothing"
    );
}

#[tokio::test]
async fn a_waitlisted_registrations_picks_wait_until_it_is_confirmed() {
    // One seat at the event: the second person waits for it.
    let origin = conf(1).await;
    let p = people(&origin, 3).await;
    assert_eq!(pick(&origin, &p[1], "later").await.status(), 201);
    assert_eq!(spot(&origin, &p[1], "later").await, "deferred");
    // A deferred pick holds no seat: a confirmed person takes it.
    assert_eq!(pick(&origin, &p[0], "later").await.status(), 201);
    assert_eq!(spot(&origin, &p[0], "later").await, "seat");
    // And still counts for overlaps.
    assert_eq!(pick(&origin, &p[1], "later").await.status(), 200);

    // The first cancels: the second is promoted to the event's seat, and
    // its deferred pick joins the session's line (the seat freed there
    // went first to whoever waited in it: nobody, so it is the second's).
    let cancelled = cancel(&origin, &p[0]).await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(spot(&origin, &p[1], "later").await, "seat");
    assert_eq!(spot(&origin, &p[2], "later").await, "none");
}

#[tokio::test]
async fn concurrent_picks_for_one_seat_seat_exactly_one() {
    let origin = conf(100).await;
    let p = people(&origin, 16).await;
    let answers = join_all(p.iter().map(|who| pick(&origin, who, "later"))).await;
    let mut spots: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status(), 201, "{:?}", a.body());
            body_json(a)["spot"].as_str().unwrap().to_string()
        })
        .collect();
    spots.sort();
    assert_eq!(spots.iter().filter(|s| *s == "seat").count(), 1);
    let held = stored(&origin, "later").await;
    assert_eq!(held.len(), 16);
    assert_eq!(held.iter().filter(|(_, s)| s == "seat").count(), 1);
    let mut positions = Vec::new();
    for who in &p {
        if let Some(position) = picks(&origin, who).await[0]["position"].as_u64() {
            positions.push(position);
        }
    }
    positions.sort();
    assert_eq!(positions, (1..=15).collect::<Vec<_>>(), "a dense line");
}

#[tokio::test]
async fn a_changed_limit_keeps_every_seat_and_a_raised_one_promotes() {
    let origin = conf(100).await;
    let p = people(&origin, 4).await;
    for who in &p {
        assert_eq!(pick(&origin, who, "lab").await.status(), 201);
    }
    session(&origin, "lab", "10:00", "11:00", json!(1)).await;
    publish(&origin).await;
    assert_eq!(spot(&origin, &p[1], "lab").await, "seat", "lowered: kept");
    assert_eq!(release(&origin, &p[0], "lab").await.status(), 200);
    assert_eq!(
        spot(&origin, &p[2], "lab").await,
        "line",
        "nobody new is seated over the lowered limit"
    );
    session(&origin, "lab", "10:00", "11:00", json!(3)).await;
    publish(&origin).await;
    assert_eq!(spot(&origin, &p[2], "lab").await, "seat");
    assert_eq!(spot(&origin, &p[3], "lab").await, "seat");
}

#[tokio::test]
async fn a_pick_retried_with_its_key_replays_its_answer() {
    let origin = conf(100).await;
    let p = people(&origin, 1).await;
    let keyed = || {
        let mut request = with_token(
            "POST",
            format!("/api/registrations/{}/sessions/lab", p[0].id),
            &p[0].token,
        );
        request
            .headers_mut()
            .insert("idempotency-key", "pick-1".parse().unwrap());
        request
    };
    let first = origin.signed(keyed()).await;
    assert_eq!(first.status(), 201);
    assert_eq!(release(&origin, &p[0], "lab").await.status(), 200);
    // A late retry of the pick replays its answer and takes nothing back.
    let retried = origin.signed(keyed()).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.body(), first.body());
    assert_eq!(stored(&origin, "lab").await, []);
    // A day later the key is free again: the same request is decided anew.
    origin
        .execute("UPDATE idempotency SET created_ms = created_ms - 90000000")
        .await;
    let a_day_later = origin.signed(keyed()).await;
    assert_eq!(a_day_later.status(), 201, "{:?}", a_day_later.body());
    assert_eq!(stored(&origin, "lab").await.len(), 1);
}

/// An organizer account for `email` with the `registrations` role for
/// `conf`, and its API token.
async fn organizer(origin: &OriginApp, email: &str) -> String {
    let body = json!({ "email": email, "name": email,
                       "grants": [{ "role": "registrations", "event": SLUG }] });
    let created = origin
        .admin("POST", "/api/admin/accounts", Some(body))
        .await;
    assert_eq!(created.status(), 201, "{:?}", created.body());
    let id = body_json(&created)["id"].as_str().unwrap().to_string();
    let tokens = format!("/api/admin/accounts/{id}/tokens");
    let minted = origin
        .admin("POST", &tokens, Some(json!({ "name": "desk" })))
        .await;
    body_json(&minted)["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn organizers_list_a_sessions_seats_and_give_or_move_them_by_hand() {
    let origin = conf(100).await;
    let p = people(&origin, 4).await;
    for (who, session) in [
        (&p[0], "lab"),
        (&p[1], "lab"),
        (&p[2], "lab"),
        (&p[3], "clash"),
    ] {
        assert_eq!(pick(&origin, who, session).await.status(), 201);
    }
    let desk = organizer(&origin, "desk@example.org").await;
    let as_desk = |method: &str, session: &str, body: Option<Value>| {
        let path = format!("{EVENT}/sessions/{session}/seats");
        origin.signed(organizer_request(&desk, method, &path, body))
    };
    let listed = as_desk("GET", "lab", None).await;
    assert_eq!(listed.status(), 200);
    let listed = body_json(&listed);
    assert_eq!(
        (
            listed["capacity"].clone(),
            listed["seated"].clone(),
            listed["waiting"].clone()
        ),
        (json!(2), json!(2), json!(1))
    );
    let spots: Vec<(&str, &Value)> = listed["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pick| (pick["spot"].as_str().unwrap(), &pick["position"]))
        .collect();
    assert_eq!(
        spots,
        [
            ("seat", &Value::Null),
            ("seat", &Value::Null),
            ("line", &json!(1))
        ]
    );
    let mut csv = organizer_request(&desk, "GET", &format!("{EVENT}/sessions/lab/seats"), None);
    csv.headers_mut()
        .insert("accept", "text/csv".parse().unwrap());
    let csv = origin.signed(csv).await;
    let text = String::from_utf8_lossy(csv.body()).to_string();
    assert!(
        text.starts_with("registration,name,email,status,spot,position,updated_at\r\n"),
        "{text}"
    );
    assert!(text.contains("p2@example.org,confirmed,line,1,"), "{text}");

    // Full: nobody is given a seat over the limit.
    let refused = as_desk("POST", "lab", Some(json!({ "registration": p[3].id }))).await;
    assert_eq!(refused.status(), 409);
    // A move: the first person leaves `lab` for `later`, and the seat they
    // leave goes to the first in line there.
    let moved = as_desk(
        "POST",
        "later",
        Some(json!({ "registration": p[0].id, "from": "lab" })),
    )
    .await;
    assert_eq!(moved.status(), 200, "{:?}", moved.body());
    assert_eq!(body_json(&moved)["spot"], "seat");
    assert_eq!(spot(&origin, &p[0], "lab").await, "none");
    assert_eq!(spot(&origin, &p[2], "lab").await, "seat");
    let log = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let given = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "session_seat.given")
        .expect("an audit entry of the seat given");
    assert_eq!(given["actor"], "desk@example.org", "{given}");
    // Registrations' people may read the list but not edit the agenda.
    let forbidden = origin
        .signed(organizer_request(
            &desk,
            "POST",
            &format!("{EVENT}/publish"),
            Some(json!({})),
        ))
        .await;
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn a_promotion_reaches_the_organizers_webhook_naming_the_session() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let kept = seen.clone();
    let url = system_tests::stub::serve(move |_, body| {
        kept.lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        std::future::ready(200)
    })
    .await;
    let origin = conf(100).await;
    let set = origin
        .admin(
            "PUT",
            &format!("{EVENT}/webhook"),
            Some(json!({ "url": format!("{url}/hook"), "secret": "whsec-organizer-chosen-0123" })),
        )
        .await;
    assert_eq!(set.status(), 200);
    let p = people(&origin, 2).await;
    assert_eq!(pick(&origin, &p[0], "later").await.status(), 201);
    assert_eq!(pick(&origin, &p[1], "later").await.status(), 201);
    assert_eq!(release(&origin, &p[0], "later").await.status(), 200);
    let delivery = system_tests::eventually("the promotion's delivery", async || {
        let seen = seen.lock().unwrap();
        match seen
            .iter()
            .find(|d| d["type"] == "registration.session_seat")
        {
            Some(d) => Ok(d.clone()),
            None => Err(seen.len()),
        }
    })
    .await;
    let registration = &delivery["data"]["registration"];
    assert_eq!(registration["id"], p[1].id.as_str());
    assert_eq!(registration["session"], "later");
    assert_eq!(registration["email"], "p1@example.org");
}

/// The live counts of `session` that `edge` serves: seated, left, waiting.
async fn counts_at(edge: &EdgeApp, session: &str) -> (u64, u64, u64) {
    let answer = edge.app.get(&format!("/api/events/{SLUG}/seats")).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.body());
    let count = &body_json(&answer)["sessions"][session];
    let number = |field: &str| count[field].as_u64().unwrap();
    (number("seated"), number("left"), number("waiting"))
}

#[tokio::test]
async fn counts_at_the_edge_reach_the_bound_after_a_burst() {
    // `eu` is told of changes, with a window so long that only a push can
    // bring it news; `ap`, which the origin does not know of, has the
    // default window (5 s) and only its own revalidation.
    let t = topology(&["eu"], "3600").await;
    let origin = &t.origin;
    conf_on(origin, 100).await;
    let ap = EdgeApp::start("ap", &t.origin_server.url(), |o| o).await;
    let eu = &t.edges[0];
    for edge in [eu, &ap] {
        assert_eq!(counts_at(edge, "lab").await, (0, 2, 0), "nobody picked yet");
    }
    let listed = body_json(&eu.app.get(&format!("/api/events/{SLUG}/seats")).await);
    assert_eq!(listed["sessions"]["lab"]["capacity"], 2);
    assert!(
        listed["sessions"].get("keynote").is_none(),
        "a session nobody picks has no count"
    );

    // A burst of picks through the edge, then changes one by one.
    let clock = origin.app.clock();
    let began = clock.elapsed();
    let p = people(origin, 12).await;
    let picked = futures::future::join_all(p.iter().map(|who| {
        let path = format!("/api/registrations/{}/sessions/lab", who.id);
        eu.app.send(with_token("POST", path, &who.token))
    }))
    .await;
    assert!(picked.iter().all(|a| a.status() == 201));
    for who in &p[..4] {
        assert_eq!(release(origin, who, "lab").await.status(), 200);
    }
    // 4 released, each promoting: 2 seated, 6 waiting.
    let truth = (2, 0, 6);
    clock.advance(Duration::from_millis(1_100));
    eventually("the pushed counts at eu", async || {
        match counts_at(eu, "lab").await {
            seen if seen == truth => Ok(()),
            seen => Err(seen),
        }
    })
    .await;

    // Every change raised the version; the pushes began a second apart
    // at least on the origin's clock, however many changes came meanwhile.
    let pushed = origin
        .rows("SELECT pushes FROM seat_count_pushes WHERE event = 'conf'")
        .await;
    let version = origin
        .rows("SELECT version FROM seat_count_versions WHERE event = 'conf'")
        .await[0][0]
        .as_i64()
        .unwrap();
    let pushes = pushed[0][0].as_i64().unwrap();
    let seconds = (clock.elapsed() - began).as_secs() as i64;
    assert!(version >= 6, "a version per change: {version}");
    assert!(
        pushes <= seconds + 2,
        "{pushes} pushes in {seconds} s of {version} versions"
    );

    // `ap` heard nothing: it serves what it holds until its window ends,
    // then catches up by asking the origin.
    assert_eq!(counts_at(&ap, "lab").await, (0, 2, 0));
    ap.app.clock().advance(Duration::from_millis(5_100));
    eventually("the fetched counts at ap", async || {
        match counts_at(&ap, "lab").await {
            seen if seen == truth => Ok(()),
            seen => Err(seen),
        }
    })
    .await;
    let later = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/sessions/lab/seats"), None)
            .await,
    );
    assert_eq!(
        (later["seated"].as_u64(), later["waiting"].as_u64()),
        (Some(2), Some(6))
    );
}

#[tokio::test]
async fn a_session_moved_over_another_keeps_both_picks_and_the_organizer_is_told() {
    let origin = conf(100).await;
    let p = people(&origin, 2).await;
    for session in ["lab", "later"] {
        assert_eq!(pick(&origin, &p[0], session).await.status(), 201);
    }
    assert_eq!(pick(&origin, &p[1], "lab").await.status(), 201);

    // `later` moves to 10:30, over `lab`: nobody loses a seat by it.
    session(&origin, "later", "10:30", "11:30", json!(1)).await;
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
    assert_eq!(
        body_json(&published)["clashing_picks"],
        json!([{ "registration": p[0].id, "sessions": ["lab", "later"] }])
    );
    assert_eq!(spot(&origin, &p[0], "lab").await, "seat");
    assert_eq!(spot(&origin, &p[0], "later").await, "seat");
    let log = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let told = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "session_seat.clash")
        .count();
    assert_eq!(told, 1);

    // A publish that moves nothing says nothing of it.
    let again = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert!(body_json(&again).get("clashing_picks").is_none());
}
