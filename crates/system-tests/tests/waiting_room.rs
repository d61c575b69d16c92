//! The waiting room through the real components: edges issue signed
//! tickets with no request to the origin, report arrivals, and tell each
//! ticket its place from what the origin pushed; the origin admits in
//! ticket order at the organizer's rate, and lets only an admitted ticket
//! of the event register, once. A place survives the origin being out of
//! reach, an edge that missed every push catches up within its staleness
//! window, and without a room registration is as it always was. However
//! many instances an edge runs, the origin hears from it once a second.

use bytes::Bytes;
use eventfront_domain::Slug;
use eventfront_domain::signing::{Secret, Verifier};
use eventfront_domain::waiting_room::Ticket;
use serde_json::{Value, json};
use spin_test_host::clock::Clock;
use spin_test_host::{LinkFault, ReuseLimits};
use std::time::Duration;
use system_tests::{
    EdgeApp, OriginApp, SIGNING_SECRET, Topology, eventually, json as body_json, open_event,
    topology, topology_with,
};

const SLUG: &str = "conf";
const ROOM: &str = "/api/admin/events/conf/waiting-room";

fn now_ms(clock: &Clock) -> i64 {
    clock.since_epoch().as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// `conf`, open for 100, with a room opening `opens_in` from now on the
/// origin's clock, its pre-queue a minute long, admitting `per_minute`.
async fn conf_with_room(origin: &OriginApp, opens_in: Duration, per_minute: u32) -> Value {
    origin.publish_event(SLUG, open_event(100)).await;
    let opens = now_ms(origin.app.clock()) + opens_in.as_millis() as i64;
    let room = json!({
        "opens_at": rfc3339(opens), "prequeue_minutes": 1, "per_minute": per_minute,
    });
    let set = origin.admin("PUT", ROOM, Some(room)).await;
    assert_eq!(set.status(), 200, "{:?}", set.body());
    body_json(&set)
}

/// Moves every clock of the topology (and `more`) on by `by`.
fn tick(t: &Topology, more: &[&EdgeApp], by: Duration) {
    t.origin.app.clock().advance(by);
    for edge in t.edges.iter().chain(more.iter().copied()) {
        edge.app.clock().advance(by);
    }
}

fn take_request() -> http::Request<Bytes> {
    http::Request::post(format!("/api/events/{SLUG}/waiting-room"))
        .body(Bytes::new())
        .unwrap()
}

async fn take(edge: &EdgeApp) -> (String, i64) {
    let taken = edge.app.send(take_request()).await;
    assert_eq!(taken.status(), 201, "{:?}", taken.body());
    let body = body_json(&taken);
    assert_eq!(body["place_kept"], true);
    let sealed = body["ticket"].as_str().unwrap().to_string();
    let stamp = opened(&sealed).stamp;
    (sealed, stamp)
}

fn opened(sealed: &str) -> Ticket {
    let verifier = Verifier::new(vec![Secret::new(SIGNING_SECRET).unwrap()]);
    Ticket::open(sealed, &verifier, &Slug::parse(SLUG).unwrap()).unwrap()
}

async fn place(edge: &EdgeApp, sealed: &str) -> Value {
    let told = edge
        .app
        .send(
            http::Request::get(format!("/api/events/{SLUG}/waiting-room"))
                .header("eventfront-ticket", sealed)
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(told.status(), 200, "{:?}", told.body());
    assert_eq!(
        told.headers()["cache-control"],
        "no-store",
        "a place is never cached"
    );
    body_json(&told)
}

fn register(slug: &str, key: &str, ticket: Option<&str>) -> http::Request<Bytes> {
    let mut body = json!({ "name": "Ada Lovelace", "email": format!("{key}@example.org") });
    if let Some(ticket) = ticket {
        body["ticket"] = json!(ticket);
    }
    http::Request::post(format!("/api/events/{slug}/registrations"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn detail(response: &http::Response<Bytes>) -> String {
    body_json(response)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn tickets_are_admitted_in_their_order_at_the_rate_and_register_once() {
    let t = topology(&["eu"], "3600").await;
    let (origin, eu) = (&t.origin, &t.edges[0]);
    // Opens in 30 s: every ticket taken now is in the pre-queue.
    let set = conf_with_room(origin, Duration::from_secs(30), 60).await;
    assert_eq!(set["state"], "prequeue");
    assert_eq!(set["admitted_for_minutes"], 10, "the default");

    let refused = eu.app.send(register(SLUG, "k-none", None)).await;
    assert_eq!(refused.status(), 403);
    assert!(
        detail(&refused).contains("waiting room"),
        "{}",
        detail(&refused)
    );

    let mut tickets = Vec::new();
    for _ in 0..6 {
        tickets.push(take(eu).await);
    }
    let first = place(eu, &tickets[0].0).await;
    assert_eq!(first["state"], "waiting");
    let again = first["check_again_secs"].as_u64().unwrap();
    assert!((10..=20).contains(&again), "{again}");
    let waiting = eu
        .app
        .send(register(SLUG, "k-early", Some(&tickets[0].0)))
        .await;
    assert_eq!(waiting.status(), 409, "{:?}", waiting.body());

    // Time passes on every clock. Whenever a ticket is in, every ticket
    // stamped before it is in too.
    let mut in_order = tickets.clone();
    in_order.sort_by_key(|(_, stamp)| *stamp);
    // Read from the last in line to the first: the edge's copy only moves
    // forward meanwhile, so a ticket seen in means everyone before it is.
    let admitted = async || {
        let mut states = Vec::new();
        for (sealed, _) in in_order.iter().rev() {
            states.push(place(eu, sealed).await["state"] == "admitted");
        }
        states.reverse();
        states
    };
    let mut steps = 0;
    loop {
        let states = admitted().await;
        let count = states.iter().filter(|&&s| s).count();
        assert!(
            states.iter().take(count).all(|&s| s),
            "admitted out of ticket order: {states:?}"
        );
        if count == in_order.len() {
            break;
        }
        steps += 1;
        assert!(steps < 2_000, "not everyone was admitted: {states:?}");
        tick(&t, &[], Duration::from_millis(500));
        tokio::task::yield_now().await;
    }
    // The organizer's figures count each second's arrivals as spread
    // over it: once the cutoff is past the last one's second, all are in.
    let seen = eventually("the organizer sees everyone admitted", async || {
        let seen = body_json(&origin.admin("GET", ROOM, None).await);
        if seen["waiting"] == 0 {
            return Ok(seen);
        }
        tick(&t, &[], Duration::from_millis(500));
        place(eu, &in_order[0].0).await;
        Err(seen)
    })
    .await;
    assert_eq!(
        (&seen["arrivals"], &seen["admitted"], &seen["waiting"]),
        (&json!(6), &json!(6), &json!(0)),
        "{seen}"
    );
    assert_eq!(seen["state"], "admitting");

    // An admitted ticket registers once; its retry replays the answer.
    let (ticket, _) = &in_order[0];
    let made = eu.app.send(register(SLUG, "k-1", Some(ticket))).await;
    assert_eq!(made.status(), 201, "{:?}", made.body());
    let replayed = eu.app.send(register(SLUG, "k-1", Some(ticket))).await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(body_json(&replayed)["id"], body_json(&made)["id"]);
    let twice = eu.app.send(register(SLUG, "k-2", Some(ticket))).await;
    assert_eq!(twice.status(), 409);
    assert!(
        detail(&twice).contains("already used"),
        "{}",
        detail(&twice)
    );

    // A registration the event refuses (its address is in already) leaves
    // the ticket free to try again, under another key.
    let (retried, _) = &in_order[2];
    let mut same_address = register(SLUG, "k-1b", Some(retried));
    *same_address.body_mut() = Bytes::from(
        json!({ "name": "Ada L.", "email": "k-1@example.org", "ticket": retried }).to_string(),
    );
    let refused = eu.app.send(same_address).await;
    assert_eq!(refused.status(), 409, "{:?}", refused.body());
    assert!(
        detail(&refused).contains("already registered"),
        "{}",
        detail(&refused)
    );
    let fixed = eu.app.send(register(SLUG, "k-1c", Some(retried))).await;
    assert_eq!(fixed.status(), 201, "{:?}", fixed.body());

    // Altered, forged or another event's: refused, each saying why.
    let (sealed, _) = &in_order[1];
    let (head, tag) = sealed.rsplit_once('.').unwrap();
    let flipped = if tag.starts_with('A') { "B" } else { "A" };
    let altered = format!("{head}.{flipped}{}", &tag[1..]);
    let forged = eu.app.send(register(SLUG, "k-3", Some(&altered))).await;
    assert_eq!(forged.status(), 403);
    assert!(
        detail(&forged).contains("not one an edge"),
        "{}",
        detail(&forged)
    );
    let told = eu
        .app
        .send(
            http::Request::get(format!("/api/events/{SLUG}/waiting-room"))
                .header("eventfront-ticket", altered.as_str())
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(told.status(), 403);
    origin.publish_event("other", open_event(10)).await;
    let other_room = json!({ "opens_at": rfc3339(now_ms(origin.app.clock())), "per_minute": 60 });
    let other = "/api/admin/events/other/waiting-room";
    assert_eq!(
        origin.admin("PUT", other, Some(other_room)).await.status(),
        200
    );
    let elsewhere = eu.app.send(register("other", "k-4", Some(sealed))).await;
    assert_eq!(elsewhere.status(), 403);
    assert!(
        detail(&elsewhere).contains("another event"),
        "{}",
        detail(&elsewhere)
    );

    // Past its ten minutes, an unused admitted ticket has lapsed.
    tick(&t, &[], Duration::from_secs(11 * 60));
    let (late, _) = &in_order[5];
    let lapsed = eu.app.send(register(SLUG, "k-5", Some(late))).await;
    assert_eq!(lapsed.status(), 403);
    assert!(
        detail(&lapsed).contains("has passed"),
        "{}",
        detail(&lapsed)
    );

    // The room off: registration is as it was before there was one.
    assert_eq!(origin.admin("DELETE", ROOM, None).await.status(), 204);
    assert_eq!(origin.admin("GET", ROOM, None).await.status(), 404);
    let plain = eu.app.send(register(SLUG, "k-6", None)).await;
    assert_eq!(plain.status(), 201, "{:?}", plain.body());
    eventually("the edge hears the room is gone", async || {
        let live = body_json(&eu.app.get(&format!("/api/events/{SLUG}/seats")).await);
        match live.get("waiting_room") {
            None => Ok(()),
            Some(_) => {
                tick(&t, &[], Duration::from_millis(1_100));
                Err(live)
            }
        }
    })
    .await;
    let none = eu.app.send(take_request()).await;
    assert_eq!(none.status(), 404);
    assert!(
        detail(&none).contains("no waiting room"),
        "{}",
        detail(&none)
    );

    // A room opened again takes none of the last one's tickets, even one
    // stamped inside its pre-queue.
    let reopened = json!({
        "opens_at": rfc3339(now_ms(origin.app.clock()) + 60_000),
        "prequeue_minutes": 60, "per_minute": 60,
    });
    assert_eq!(
        origin.admin("PUT", ROOM, Some(reopened)).await.status(),
        200
    );
    let (old, _) = &in_order[3];
    eventually("the edge hears of the new room", async || {
        let live = body_json(&eu.app.get(&format!("/api/events/{SLUG}/seats")).await);
        match live.get("waiting_room") {
            Some(_) => Ok(()),
            None => {
                tick(&t, &[], Duration::from_millis(1_100));
                Err(live)
            }
        }
    })
    .await;
    assert_eq!(place(eu, old).await["state"], "lapsed");
    let stale = eu.app.send(register(SLUG, "k-8", Some(old))).await;
    assert_eq!(stale.status(), 403, "{:?}", stale.body());
}

#[tokio::test]
async fn an_edge_of_many_instances_reports_its_arrivals_once_a_second() {
    // A fresh instance for every request: each ticket is counted by an
    // instance of its own, which used to report on its own.
    let t = topology_with(
        &["eu"],
        |mut o| {
            o.reuse = ReuseLimits {
                max_requests: 1,
                max_concurrent: 1,
                ..ReuseLimits::default()
            };
            o.variable("staleness_secs", "3600")
        },
        |o| o,
    )
    .await;
    let (origin, eu) = (&t.origin, &t.edges[0]);
    conf_with_room(origin, Duration::from_secs(30), 60).await;
    let origin_authority = t.origin_server.addr().to_string();
    // The edge's first read of the room fetches it (once per instance
    // that finds no copy): not what is measured here.
    take(eu).await;
    eventually("the first arrival reported", async || {
        match origin.arrivals_reported().await {
            1 => Ok(()),
            seen => {
                tick(&t, &[], Duration::from_millis(100));
                Err(seen)
            }
        }
    })
    .await;

    let sent_before = eu.app.links().requests(&origin_authority);
    let started = now_ms(eu.app.clock());
    let (seconds, per_second) = (6, 15);
    for _ in 0..seconds {
        // At once: in the first second every instance finds no reporter.
        futures::future::join_all((0..per_second).map(|_| take(eu))).await;
        tick(&t, &[], Duration::from_millis(1_000));
        tokio::task::yield_now().await;
    }
    let all = 1 + seconds * per_second;
    eventually("every arrival reported", async || {
        match origin.arrivals_reported().await {
            n if n == all => Ok(()),
            seen => {
                tick(&t, &[], Duration::from_millis(250));
                Err(seen)
            }
        }
    })
    .await;
    let took_secs = (now_ms(eu.app.clock()) - started + 999) / 1_000;
    let sent = eu.app.links().requests(&origin_authority) - sent_before;
    assert!(
        sent as i64 <= took_secs + 1,
        "{sent} requests to the origin in {took_secs} s for {} tickets, each from an instance of its own",
        all - 1
    );
}

#[tokio::test]
async fn places_survive_an_outage_and_an_edge_that_missed_every_push_catches_up() {
    // `eu` is told of every change; `ap` is not, and has the default
    // window (5 s).
    let t = topology(&["eu"], "3600").await;
    let (origin, eu) = (&t.origin, &t.edges[0]);
    let ap = EdgeApp::start("ap", &t.origin_server.url(), |o| o).await;
    conf_with_room(origin, Duration::from_secs(20), 600).await;
    let mut tickets = vec![take(eu).await];

    // The origin out of reach: tickets still issue, places are told.
    let origin_authority = t.origin_server.addr().to_string();
    eu.app.links().set(&origin_authority, LinkFault::Cut);
    for _ in 0..4 {
        tickets.push(take(eu).await);
    }
    tick(&t, &[&ap], Duration::from_millis(1_100));
    assert_eq!(place(eu, &tickets[1].0).await["state"], "waiting");
    assert!(
        origin.arrivals_reported().await <= 1,
        "nothing reached the origin meanwhile"
    );
    tick(&t, &[&ap], Duration::from_secs(5));
    let lag = async || body_json(&origin.admin("GET", ROOM, None).await)["lag_ms"].clone();
    assert_eq!(lag().await, 2_000, "reports came on time so far");

    // Back: what was counted meanwhile reaches the origin, none lost, and
    // the cutoff keeps as far behind as they were late.
    eu.app.links().heal(&origin_authority);
    eventually("every arrival reported", async || {
        match origin.arrivals_reported().await {
            5 => Ok(()),
            seen => {
                tick(&t, &[&ap], Duration::from_millis(1_100));
                place(eu, &tickets[0].0).await;
                Err(seen)
            }
        }
    })
    .await;
    let held_back = lag().await.as_i64().unwrap();
    assert!((6_600..=30_000).contains(&held_back), "{held_back}");

    // Past the opening, `ap` tells every ticket it is in by asking the
    // origin once its window ends, with no push.
    eventually("every ticket admitted as ap tells it", async || {
        let mut states = Vec::new();
        for (sealed, _) in &tickets {
            states.push(place(&ap, sealed).await["state"].clone());
        }
        if states.iter().all(|s| s == "admitted") {
            return Ok(());
        }
        tick(&t, &[&ap], Duration::from_millis(2_600));
        place(eu, &tickets[0].0).await;
        Err(states)
    })
    .await;
}

#[tokio::test]
async fn a_room_paced_by_decisions_halves_its_pace_when_the_origin_sheds() {
    let t = topology(&["eu"], "3600").await;
    let (origin, eu) = (&t.origin, &t.edges[0]);
    origin.publish_event(SLUG, open_event(100)).await;
    let room = json!({
        "opens_at": rfc3339(now_ms(origin.app.clock()) + 5_000), "prequeue_minutes": 1,
        "per_minute": 600_000, "pace": "decided",
    });
    let set = body_json(&origin.admin("PUT", ROOM, Some(room)).await);
    assert_eq!(
        (&set["pace"], &set["admitting_per_minute"], &set["shed_at"]),
        (&json!("decided"), &json!(6_000), &Value::Null),
        "{set}"
    );
    let (ticket, _) = take(eu).await;
    eventually("the ticket admitted", async || {
        match place(eu, &ticket).await["state"].as_str() {
            Some("admitted") => Ok(()),
            other => {
                tick(&t, &[], Duration::from_millis(1_100));
                Err(other.map(str::to_string))
            }
        }
    })
    .await;

    // The origin cannot decide in time: 503, and the room hears of it.
    // (Sent as the edge forwards it: through an edge, the edge's own
    // timeout would answer first.)
    let holder = origin.hold_write_lock().await;
    let shed = origin.signed(register(SLUG, "k-shed", Some(&ticket))).await;
    assert_eq!(shed.status(), 503, "{:?}", shed.body());
    assert!(
        detail(&shed).contains("waiting to be written"),
        "{}",
        detail(&shed)
    );
    drop(holder);
    let seen = eventually("the pace halved after the shed", async || {
        let seen = body_json(&origin.admin("GET", ROOM, None).await);
        if seen["admitting_per_minute"] == 3_000 {
            return Ok(seen);
        }
        // The note may wait for the lock; a newcomer makes the edge
        // report, and the report moves the room.
        tick(&t, &[], Duration::from_millis(1_100));
        take(eu).await;
        Err(seen)
    })
    .await;
    assert!(seen["shed_at"].is_string(), "{seen}");
    assert_eq!(
        seen["per_minute"], 600_000,
        "the organizer's ceiling stands"
    );

    // The ticket was not used: it registers once the origin decides.
    let made = eu.app.send(register(SLUG, "k-again", Some(&ticket))).await;
    assert_eq!(made.status(), 201, "{:?}", made.body());
}
