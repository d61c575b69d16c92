//! Registration confirmed by email, through the origin's real `.wasm`: the
//! form's answer reveals nothing about who is registered, a held place is
//! taken in submission order and becomes the person's by the link in their
//! email, a hold that lapses expires and frees its seat as an on-time expiry
//! would have (time moved by the test's clock, not slept), and every link
//! any message carries works.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_test_host::clock::Clock;
use std::time::Duration;
use system_tests::{OriginApp, json as body_json, registration, with_token};

const SLUG: &str = "conf";
const EVENT: &str = "/api/admin/events/conf";

/// `conf`, which confirms by email unless `registration` says otherwise.
fn event(registration: Value) -> Value {
    json!({
        "name": "Conf 2027", "timezone": "Europe/Lisbon",
        "starts_at": "2027-06-08T09:00:00+01:00", "ends_at": "2027-06-08T18:00:00+01:00",
        "registration": registration
    })
}

/// The origin with its wall clock in the test's hands.
async fn origin_with(clock: &Clock, registration: Value) -> OriginApp {
    let clock = clock.clone();
    let origin = OriginApp::start(move |mut o| {
        o.clock = clock;
        o
    })
    .await;
    origin.publish_event(SLUG, event(registration)).await;
    origin
}

async fn register(origin: &OriginApp, key: &str, email: &str) -> http::Response<Bytes> {
    origin.signed(registration(SLUG, key, "Pat", email)).await
}

async fn outbox(origin: &OriginApp) -> Vec<Value> {
    let listed = origin.admin("GET", &format!("{EVENT}/outbox"), None).await;
    assert_eq!(listed.status(), 200);
    let mut messages = body_json(&listed)["messages"].as_array().unwrap().clone();
    messages.reverse();
    messages
}

/// The latest message of `kind` to `to`.
async fn message(origin: &OriginApp, to: &str, kind: &str) -> Value {
    outbox(origin)
        .await
        .into_iter()
        .rev()
        .find(|m| m["to"] == to && m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} message to {to}"))
}

/// A link's registration id and token: `…/registrations/{id}[/confirm]#token=…`.
fn id_and_token(link: &str) -> (String, String) {
    let (path, token) = link.split_once("#token=").expect("a token in the fragment");
    let after = path.split("/registrations/").nth(1).unwrap();
    let id = after.trim_end_matches("/confirm");
    (id.to_string(), token.to_string())
}

async fn confirm(origin: &OriginApp, link: &str) -> http::Response<Bytes> {
    let (id, token) = id_and_token(link);
    origin
        .signed(with_token(
            "POST",
            format!("/api/registrations/{id}/confirm"),
            &token,
        ))
        .await
}

async fn show(origin: &OriginApp, link: &str) -> http::Response<Bytes> {
    let (id, token) = id_and_token(link);
    origin
        .signed(with_token(
            "GET",
            format!("/api/registrations/{id}"),
            &token,
        ))
        .await
}

/// The registration as the organizer lists it, by address.
async fn listed(origin: &OriginApp, email: &str) -> Value {
    origin
        .registrations(SLUG)
        .await
        .into_iter()
        .find(|r| r["email"] == email)
        .unwrap_or_else(|| panic!("{email} is not listed"))
}

fn without_time(body: &Bytes) -> Value {
    let mut answer: Value = serde_json::from_slice(body).unwrap();
    assert!(answer["hold_expires_at"].is_string(), "{answer}");
    answer["hold_expires_at"] = Value::Null;
    answer
}

#[tokio::test]
async fn a_new_address_and_a_registered_one_get_the_same_answer() {
    let clock = Clock::default();
    let origin = origin_with(&clock, json!({"open": true, "capacity": 10})).await;

    let first = register(&origin, "k-new", "ada@example.com").await;
    assert_eq!(first.status(), 202);
    let held = without_time(first.body());
    assert_eq!(held, json!({"status": "pending", "hold_expires_at": null}));

    // Submitted again while it waits for confirmation, and again once it
    // is confirmed: the same answer, but for the time.
    let again_pending = register(&origin, "k-again-1", "ADA@example.com").await;
    let pending_link = message(&origin, "ada@example.com", "confirm_again").await;
    confirm(&origin, pending_link["links"]["confirm"].as_str().unwrap()).await;
    // The link is sent again at most once in 10 minutes.
    clock.advance(Duration::from_secs(11 * 60));
    let again_confirmed = register(&origin, "k-again-2", "ada@example.com").await;
    for again in [&again_pending, &again_confirmed] {
        assert_eq!(again.status(), first.status());
        assert_eq!(
            again.headers().get("content-type"),
            first.headers().get("content-type")
        );
        assert_eq!(without_time(again.body()), held);
        assert_eq!(again.body().len(), first.body().len(), "byte for byte");
    }
    assert_ne!(
        first.body(),
        again_confirmed.body(),
        "each answer names its own hold's end"
    );

    // Each submission told the address's owner what is true for them.
    let kinds: Vec<String> = outbox(&origin)
        .await
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["pending", "confirm_again", "confirmed", "link_again"],
        "in order"
    );
    let link_again = message(&origin, "ada@example.com", "link_again").await;
    let shown = show(&origin, link_again["links"]["manage"].as_str().unwrap()).await;
    assert_eq!(body_json(&shown)["status"], "confirmed");

    // A replayed key is the first answer, byte for byte.
    let replay = register(&origin, "k-new", "ada@example.com").await;
    assert_eq!(replay.body(), first.body());

    // Without confirmation, the organizer's choice, the form says how it is.
    let mut direct = event(json!({"open": true, "capacity": 10, "confirm_email": false}));
    direct["name"] = json!("Conf 2027, direct");
    assert_eq!(origin.admin("PUT", EVENT, Some(direct)).await.status(), 200);
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201);
    assert_eq!(
        register(&origin, "k-direct-new", "bo@example.com")
            .await
            .status(),
        201
    );
    assert_eq!(
        register(&origin, "k-direct-again", "ada@example.com")
            .await
            .status(),
        409
    );
}

#[tokio::test]
async fn a_shown_position_never_tells_whether_an_address_was_registered() {
    // On a full event, someone submits an address of their own, then the
    // address they want to know about, then another of their own, and
    // confirms both of theirs: were holds awaiting confirmation counted in
    // the positions shown, the gap would be two for a new address (its
    // submission made a hold between them) and one for a registered one.
    let mut gaps = Vec::new();
    for target_registered in [false, true] {
        let clock = Clock::default();
        let origin = origin_with(&clock, json!({"open": true, "capacity": 1})).await;
        assert_eq!(
            register(&origin, "seat", "seat@example.com").await.status(),
            202
        );
        if target_registered {
            assert_eq!(
                register(&origin, "t0", "target@example.com").await.status(),
                202
            );
        }
        for (key, email) in [
            ("a1", "a1@example.net"),
            ("t1", "target@example.com"),
            ("a2", "a2@example.net"),
        ] {
            assert_eq!(register(&origin, key, email).await.status(), 202);
        }
        let mut positions = Vec::new();
        for email in ["a1@example.net", "a2@example.net"] {
            let pending = message(&origin, email, "pending").await;
            let link = pending["links"]["confirm"].as_str().unwrap().to_string();
            let confirmed = body_json(&confirm(&origin, &link).await);
            assert_eq!(confirmed["status"], "waitlisted", "{confirmed}");
            positions.push(confirmed["position"].as_u64().unwrap());
            let shown = body_json(&show(&origin, &link_to_manage(&confirmed)).await);
            assert_eq!(
                shown["position"], confirmed["position"],
                "the manage page agrees"
            );
        }
        gaps.push(positions[1] - positions[0]);
    }
    assert_eq!(
        gaps,
        [1, 1],
        "the same for a new address and a registered one"
    );
}

/// The manage link of a confirmation's answer, as its email carries it.
fn link_to_manage(confirmed: &Value) -> String {
    format!(
        "https://events.example.test/registrations/{}#token={}",
        confirmed["id"].as_str().unwrap(),
        confirmed["manage_token"].as_str().unwrap()
    )
}

#[tokio::test]
async fn confirming_makes_the_held_place_the_persons_and_every_link_works() {
    let clock = Clock::default();
    let origin = origin_with(&clock, json!({"open": true, "capacity": 1})).await;
    for (key, email) in [("k1", "one@example.com"), ("k2", "two@example.com")] {
        assert_eq!(register(&origin, key, email).await.status(), 202);
    }
    // Both wait for confirmation: the first with the seat, the second in line.
    for email in ["one@example.com", "two@example.com"] {
        assert_eq!(listed(&origin, email).await["status"], "pending");
    }
    assert_eq!(listed(&origin, "two@example.com").await["position"], 1);

    let one = message(&origin, "one@example.com", "pending").await;
    assert!(
        one["links"]["manage"].is_null(),
        "no manage link before confirming"
    );
    let one_link = one["links"]["confirm"].as_str().unwrap().to_string();
    assert!(
        one_link.starts_with("https://events.example.test/registrations/")
            && one_link.contains("/confirm#token="),
        "{one_link}"
    );
    assert!(one["text"].as_str().unwrap().contains("(Europe/Lisbon)"));

    // A confirm token does not manage, and a manage token does not confirm.
    let (one_id, one_token) = id_and_token(&one_link);
    let as_manage = origin
        .signed(with_token(
            "GET",
            format!("/api/registrations/{one_id}"),
            &one_token,
        ))
        .await;
    assert_eq!(as_manage.status(), 404);
    let wrong = origin
        .signed(with_token(
            "POST",
            format!("/api/registrations/{one_id}/confirm"),
            "0000",
        ))
        .await;
    assert_eq!(wrong.status(), 404);

    let confirmed = confirm(&origin, &one_link).await;
    assert_eq!(confirmed.status(), 200, "{:?}", confirmed.body());
    let confirmed = body_json(&confirmed);
    assert_eq!(confirmed["status"], "confirmed");
    let manage = confirmed["manage_token"].as_str().unwrap();
    let mine = origin
        .signed(with_token(
            "GET",
            format!("/api/registrations/{one_id}"),
            manage,
        ))
        .await;
    assert_eq!(body_json(&mine)["status"], "confirmed");
    // Confirming again within the hold does no harm.
    let again = confirm(&origin, &one_link).await;
    assert_eq!(again.status(), 200);
    assert_eq!(body_json(&again)["status"], "confirmed");

    let two = message(&origin, "two@example.com", "pending").await;
    let two_confirmed =
        body_json(&confirm(&origin, two["links"]["confirm"].as_str().unwrap()).await);
    assert_eq!(two_confirmed["status"], "waitlisted");
    assert_eq!(two_confirmed["position"], 1);

    // The seat holder cancels: the first in line is promoted and told.
    let cancelled = origin
        .signed(with_token(
            "DELETE",
            format!("/api/registrations/{one_id}"),
            manage,
        ))
        .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(
        listed(&origin, "two@example.com").await["status"],
        "confirmed"
    );

    // Once the hold is over, the confirmation link has done its work: a
    // forwarded confirmation email gives no way to manage the seat.
    clock.advance(Duration::from_secs(31 * 60));
    let late = confirm(&origin, two["links"]["confirm"].as_str().unwrap()).await;
    assert_eq!(late.status(), 409);
    let detail = body_json(&late)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("already confirmed"), "{detail}");

    // No dead link in any message: every manage link shows its
    // registration, every confirm link confirms (or says it did).
    let messages = outbox(&origin).await;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "pending",
            "pending",
            "confirmed",
            "waitlisted",
            "cancelled",
            "promoted"
        ]
    );
    for m in &messages {
        if let Some(link) = m["links"]["manage"].as_str() {
            assert_eq!(show(&origin, link).await.status(), 200, "{m:#}");
        }
        if let Some(link) = m["links"]["confirm"].as_str() {
            let answer = confirm(&origin, link).await;
            assert!(
                answer.status() == 200 || answer.status() == 409,
                "{m:#}: {:?}",
                answer.body()
            );
        }
        assert_eq!(
            m["links"]["manage"].is_null() && m["links"]["confirm"].is_null(),
            m["kind"] == "cancelled",
            "only a cancellation links nowhere: {m:#}"
        );
    }
}

#[tokio::test]
async fn holds_are_taken_in_submission_order_under_a_concurrent_burst() {
    let clock = Clock::default();
    let origin = origin_with(&clock, json!({"open": true, "capacity": 5})).await;
    let answers =
        futures::future::join_all(
            (0..24).map(|n| {
                let origin = &origin;
                async move {
                    register(origin, &format!("burst-{n}"), &format!("p{n}@example.com")).await
                }
            }),
        )
        .await;
    assert!(answers.iter().all(|a| a.status() == 202));

    // In submission order, as the origin decided them: the first five
    // hold the seats, the rest wait in line behind them.
    let held: Vec<(String, i64, i64)> = origin
        .rows(
            "SELECT email, seq, holds_seat FROM registrations WHERE status = 'pending' ORDER BY seq",
        )
        .await
        .into_iter()
        .map(|r| {
            let int = |i: usize| r[i].as_i64().unwrap();
            (r[0].as_str().unwrap().to_string(), int(1), int(2))
        })
        .collect();
    assert_eq!(held.len(), 24);
    let seqs: Vec<i64> = held.iter().map(|h| h.1).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    let seated: Vec<i64> = held.iter().map(|h| h.2).collect();
    assert_eq!(seated, [vec![1; 5], vec![0; 19]].concat());

    // Confirmed in reverse: each keeps the place it was given when held.
    // Each is shown first in line as it confirms (the holds ahead of it are
    // not counted until confirmed), and its place once all are.
    let mut manage_links = Vec::new();
    for (email, seq, _) in held.iter().rev() {
        let pending = message(&origin, email, "pending").await;
        let answer =
            body_json(&confirm(&origin, pending["links"]["confirm"].as_str().unwrap()).await);
        if *seq <= 5 {
            assert_eq!(answer["status"], "confirmed", "{email}");
        } else {
            assert_eq!(answer["status"], "waitlisted", "{email}");
            assert_eq!(answer["position"], 1, "{email}");
            manage_links.push((*seq, link_to_manage(&answer)));
        }
    }
    for (seq, link) in manage_links {
        let shown = body_json(&show(&origin, &link).await);
        assert_eq!(shown["position"], seq - 5, "{link}");
    }
}

#[tokio::test]
async fn a_lapsed_hold_expires_and_frees_its_seat_as_if_on_time() {
    let clock = Clock::default();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let origin = origin_with(&clock, json!({"open": true, "capacity": 1})).await;
    // The organizer's systems hear of every change too (delivered or not).
    let hook = json!({"url": "http://127.0.0.1:9/hook", "secret": "a-secret-of-some-length"});
    let set = origin
        .admin("PUT", &format!("{EVENT}/webhook"), Some(hook))
        .await;
    assert_eq!(set.status(), 200);

    // t=0: A holds the seat until t=30. t=10: B joins the line, held until
    // t=40. t=20: C joins the line and confirms at once.
    register(&origin, "ka", "a@example.com").await;
    clock.advance(minutes(10));
    register(&origin, "kb", "b@example.com").await;
    clock.advance(minutes(10));
    register(&origin, "kc", "c@example.com").await;
    let c = message(&origin, "c@example.com", "pending").await;
    let c_confirmed = body_json(&confirm(&origin, c["links"]["confirm"].as_str().unwrap()).await);
    assert_eq!(
        (
            c_confirmed["status"].as_str(),
            c_confirmed["position"].as_u64()
        ),
        // Second in line, but shown first: B's hold ahead is not counted
        // until B confirms (a_shown_position_never_tells_…).
        (Some("waitlisted"), Some(1))
    );
    let c_manage = format!(
        "https://x/registrations/{}#token={}",
        c_confirmed["id"].as_str().unwrap(),
        c_confirmed["manage_token"].as_str().unwrap()
    );

    // t=45, and nobody has touched the event since t=20. On time, A's hold
    // lapsed at t=30 and its seat went to B, first in line; B's lapsed at
    // t=40 and the seat went to C. The first read sees exactly that.
    clock.advance(minutes(25));
    let now_c = body_json(&show(&origin, &c_manage).await);
    assert_eq!(now_c["status"], "confirmed");
    assert_eq!(listed(&origin, "a@example.com").await["status"], "expired");
    assert_eq!(listed(&origin, "b@example.com").await["status"], "expired");
    // Expired holds hold nothing, and the counts decisions read agree.
    let kept = origin.rows("SELECT seated, waiting FROM seat_counts").await;
    let counted = origin
        .rows(
            "SELECT count(*) FILTER (WHERE holds_seat = 1 AND status IN ('pending', 'confirmed')),
                 count(*) FILTER (WHERE holds_seat = 0 AND status IN ('pending', 'waitlisted'))
             FROM registrations",
        )
        .await;
    assert_eq!(kept, counted);
    assert_eq!(kept, [[1, 0]], "C holds the one seat");
    let seated_expired = origin
        .rows("SELECT count(*) FROM registrations WHERE status = 'expired' AND holds_seat = 1")
        .await;
    assert_eq!(seated_expired, [[0]]);

    // Each expired at the end of its own hold, not when it was noticed.
    for who in ["a@example.com", "b@example.com"] {
        let row = listed(&origin, who).await;
        let at = |field: &str| {
            row[field]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        };
        let held = at("updated_at").duration_since(at("created_at"));
        assert!(
            (jiff::SignedDuration::from_secs(29 * 60 + 55)..=jiff::SignedDuration::from_mins(30))
                .contains(&held),
            "{who}: {held:?}"
        );
    }
    let audit = body_json(&origin.admin("GET", &format!("{EVENT}/audit"), None).await);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("registration."))
        .collect();
    assert_eq!(
        actions,
        [
            "registration.confirmed",
            "registration.expired",
            "registration.promoted",
            "registration.expired",
            "registration.promoted",
        ]
    );
    // A's and B's links now say what happened; neither address is written
    // to again (it never confirmed), while the webhook hears of both; C is
    // told the seat is theirs.
    for who in ["a@example.com", "b@example.com"] {
        let pending = message(&origin, who, "pending").await;
        let late = confirm(&origin, pending["links"]["confirm"].as_str().unwrap()).await;
        assert_eq!(late.status(), 409);
        assert!(
            body_json(&late)["detail"]
                .as_str()
                .unwrap()
                .contains("not confirmed in time")
        );
        // It never confirmed: the address is not written to again.
        assert!(
            outbox(&origin)
                .await
                .iter()
                .all(|m| !(m["to"] == who && m["kind"] == "expired")),
            "{who} was written to after its hold lapsed"
        );
    }
    message(&origin, "c@example.com", "promoted").await;

    let hooked = body_json(&origin.admin("GET", &format!("{EVENT}/webhook"), None).await);
    let mut types: Vec<&str> = hooked["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    types.reverse();
    assert_eq!(
        types,
        [
            "registration.pending",
            "registration.pending",
            "registration.pending",
            "registration.waitlisted",
            "registration.expired",
            "registration.expired",
            "registration.promoted",
        ]
    );

    // An address whose hold lapsed is free to register again.
    assert_eq!(
        register(&origin, "ka-again", "a@example.com")
            .await
            .status(),
        202
    );
    assert_eq!(listed(&origin, "a@example.com").await["status"], "expired");
    let list = body_json(
        &origin
            .admin("GET", &format!("{EVENT}/registrations"), None)
            .await,
    );
    assert_eq!(
        (
            list["confirmed"].as_u64(),
            list["pending"].as_u64(),
            list["expired"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
}

#[tokio::test]
async fn a_hold_confirmed_before_it_lapses_keeps_a_seat_it_was_promoted_to() {
    let clock = Clock::default();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let origin = origin_with(
        &clock,
        json!({"open": true, "capacity": 1, "hold_minutes": 60}),
    )
    .await;
    // A holds the seat until t=60; B waits in line, held until t=70.
    register(&origin, "ka", "a@example.com").await;
    clock.advance(minutes(10));
    register(&origin, "kb", "b@example.com").await;
    // t=65: A lapsed at t=60 and B, still held, got the seat then; B
    // confirms before its own hold ends and is confirmed, not waitlisted.
    clock.advance(minutes(55));
    let b = message(&origin, "b@example.com", "pending").await;
    let b_confirmed = body_json(&confirm(&origin, b["links"]["confirm"].as_str().unwrap()).await);
    assert_eq!(b_confirmed["status"], "confirmed");
    assert_eq!(listed(&origin, "a@example.com").await["status"], "expired");
}

#[tokio::test]
async fn a_publish_expires_lapsed_holds_under_the_settings_they_lapsed_under() {
    let clock = Clock::default();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let origin = origin_with(&clock, json!({"open": true, "capacity": 2})).await;
    // A holds a seat until t=30; B takes the other seat and confirms; C
    // confirms into the line.
    register(&origin, "ka", "a@example.com").await;
    for (key, who) in [("kb", "b@example.com"), ("kc", "c@example.com")] {
        register(&origin, key, who).await;
        let pending = message(&origin, who, "pending").await;
        confirm(&origin, pending["links"]["confirm"].as_str().unwrap()).await;
    }
    assert_eq!(
        listed(&origin, "c@example.com").await["status"],
        "waitlisted"
    );
    // Another, held in line until t=45, to confirm after the event is archived.
    clock.advance(minutes(15));
    register(&origin, "kd", "d@example.com").await;

    // t=40, nobody looked since A's hold lapsed at t=30: on time, C got
    // A's seat then. The organizer now lowers capacity to 1, which takes
    // no seat away: C keeps it.
    clock.advance(minutes(25));
    let mut lowered = event(json!({"open": true, "capacity": 1}));
    lowered["name"] = json!("Conf 2027, smaller");
    assert_eq!(
        origin.admin("PUT", EVENT, Some(lowered)).await.status(),
        200
    );
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201);
    assert_eq!(listed(&origin, "a@example.com").await["status"], "expired");
    assert_eq!(
        listed(&origin, "c@example.com").await["status"],
        "confirmed"
    );

    // An archived event takes nobody new, but a hold on it can still be
    // confirmed: its link is not dead.
    let archived = origin
        .admin("POST", &format!("{EVENT}/archive"), Some(json!({})))
        .await;
    assert_eq!(archived.status(), 200);
    assert_eq!(register(&origin, "ke", "e@example.com").await.status(), 404);
    let d = message(&origin, "d@example.com", "pending").await;
    let confirmed = confirm(&origin, d["links"]["confirm"].as_str().unwrap()).await;
    assert_eq!(confirmed.status(), 200, "{:?}", confirmed.body());
    assert_eq!(body_json(&confirmed)["status"], "waitlisted");
}

#[tokio::test]
async fn a_closed_event_answers_every_address_alike() {
    let clock = Clock::default();
    let origin = origin_with(&clock, json!({"open": true, "capacity": 5})).await;
    assert_eq!(
        register(&origin, "k1", "ada@example.com").await.status(),
        202
    );
    let mut closed = event(json!({"open": false, "capacity": 5}));
    closed["name"] = json!("Conf 2027, closed");
    assert_eq!(origin.admin("PUT", EVENT, Some(closed)).await.status(), 200);
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201);
    let known = register(&origin, "k2", "ada@example.com").await;
    let unknown = register(&origin, "k3", "bo@example.com").await;
    assert_eq!(known.status(), 409);
    assert_eq!(known.body(), unknown.body());
    let sent: Vec<String> = outbox(&origin)
        .await
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["pending"], "a closed event sends nothing");
}
