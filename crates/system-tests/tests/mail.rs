//! The outbox delivered through a mail provider's HTTP API (Postmark's
//! `POST /email` shape), against a local sink that checks each request:
//! nothing is lost while the provider is down, and every message reaches a
//! receiver that drops duplicates exactly once.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_test_host::AppOptions;
use spin_test_host::clock::Clock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use system_tests::{OriginApp, eventually, json as body_json, open_event, registration, stub};

const TOKEN: &str = "server-token-for-tests";
const FROM: &str = "Conf <events@example.test>";
const EVENT: &str = "/api/admin/events/conf";

/// A stand-in provider: answers every request with `status` and keeps
/// what it was sent.
struct Sink {
    url: String,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// One request the sink got, in order.
#[derive(Clone)]
struct Seen {
    answered: u16,
    token: String,
    content_type: String,
    /// `METHOD /path`.
    target: String,
    body: Value,
}

async fn sink() -> Sink {
    let status = Arc::new(AtomicU16::new(503));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (answer, kept) = (status.clone(), seen.clone());
    let url = stub::serve(move |parts, body| {
        let answered = answer.load(Ordering::SeqCst);
        kept.lock().unwrap().push(Seen {
            answered,
            token: stub::header(&parts, "x-postmark-server-token"),
            content_type: stub::header(&parts, "content-type"),
            target: format!("{} {}", parts.method, parts.uri.path()),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        std::future::ready(answered)
    })
    .await;
    Sink { url, status, seen }
}

/// An origin sending through `provider`, with an event `conf` of
/// `capacity` seats that does not confirm by email.
async fn sending_through(
    provider: &Sink,
    capacity: u32,
    more: impl FnOnce(AppOptions) -> AppOptions,
) -> OriginApp {
    let origin = OriginApp::start(|o| {
        more(
            o.variable("mail_api_url", &provider.url)
                .variable("mail_api_token", TOKEN)
                .variable("mail_from", FROM),
        )
    })
    .await;
    origin.publish_event("conf", open_event(capacity)).await;
    origin
}

async fn outbox(origin: &OriginApp) -> Vec<Value> {
    let listed = origin.admin("GET", &format!("{EVENT}/outbox"), None).await;
    body_json(&listed)["messages"].as_array().unwrap().clone()
}

/// Polls the outbox until `done` holds for it.
async fn outbox_until(
    origin: &OriginApp,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually(what, async || {
        let messages = outbox(origin).await;
        if done(&messages) {
            Ok(messages)
        } else {
            Err(messages)
        }
    })
    .await
}

async fn register(origin: &OriginApp, key: &str, email: &str) -> u16 {
    let request = registration("conf", key, "P", email);
    origin.signed(request).await.status().as_u16()
}

#[tokio::test]
async fn the_outbox_survives_a_provider_that_is_down_and_delivers_each_message_once() {
    let provider = sink().await;
    let origin = sending_through(&provider, 1, |o| o).await;

    // The provider is down: the registrations are answered all the same,
    // and their messages wait as failed, with why.
    assert_eq!(register(&origin, "k1", "one@example.com").await, 201);
    assert_eq!(register(&origin, "k2", "two@example.com").await, 201);
    let failed = outbox_until(&origin, "both tried and failed", |m| {
        m.len() == 2 && m.iter().all(|m| m["state"] == "failed")
    })
    .await;
    for message in &failed {
        // At least one try; a loaded machine may let the 5 s backoff pass
        // and the delivery task try again before this look.
        assert!(message["attempts"].as_u64() >= Some(1), "{message:#}");
        assert_eq!(message["last_error"], "the provider answered 503");
        assert!(message["next_try_at"].is_string());
    }

    // The provider is back and the backoff has passed (moved in the
    // database, not slept): the next write sends everything that is due.
    provider.status.store(200, Ordering::SeqCst);
    origin
        .execute("UPDATE outbox SET next_try_ms = 0 WHERE state = 'failed'")
        .await;
    assert_eq!(register(&origin, "k3", "three@example.com").await, 201);
    let sent = outbox_until(&origin, "all sent", |m| {
        m.len() == 3 && m.iter().all(|m| m["state"] == "sent")
    })
    .await;
    for message in &sent {
        assert!(message["sent_at"].is_string());
        assert!(message["last_error"].is_null());
        assert!(
            message["text"].is_null() && message["links"]["manage"].is_null(),
            "a live manage link is shown only for development mail"
        );
    }

    // Every request was Postmark's, and each message reached the provider.
    let seen = provider.seen.lock().unwrap().clone();
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for Seen {
        answered,
        token,
        content_type,
        target,
        body,
    } in &seen
    {
        assert_eq!(
            (token.as_str(), content_type.as_str(), target.as_str()),
            (TOKEN, "application/json", "POST /email")
        );
        assert_eq!(body["From"], FROM);
        assert_eq!(body["MessageStream"], "outbound");
        let id = body["Headers"][0]["Value"].as_str().unwrap().to_string();
        assert_eq!(body["Metadata"]["eventfront_message_id"], id.as_str());
        assert!(body["TextBody"].as_str().unwrap().contains("Conf 2027"));
        assert!(body["HtmlBody"].as_str().unwrap().starts_with("<p>"));
        if *answered == 200 {
            *delivered.entry(id).or_default() += 1;
        }
    }
    let ids: BTreeSet<String> = sent
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        delivered.keys().cloned().collect::<BTreeSet<_>>(),
        ids,
        "every message, and only those"
    );
    assert!(delivered.values().all(|n| *n == 1), "{delivered:?}");
    let to: BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.answered == 200)
        .map(|s| s.body["To"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        BTreeSet::from(["one@example.com", "two@example.com", "three@example.com"])
    );

    // An address the provider refuses (422) is not tried again.
    provider.status.store(422, Ordering::SeqCst);
    assert_eq!(register(&origin, "k4", "four@example.com").await, 201);
    let refused = outbox_until(&origin, "the refusal recorded", |m| {
        m.len() == 4 && m[0]["state"] == "rejected"
    })
    .await;
    assert_eq!(refused[0]["last_error"], "the provider answered 422");
    assert!(refused[0]["next_try_at"].is_null());
}

#[tokio::test]
async fn one_inbox_is_sent_at_most_its_hourly_share_whatever_tags_name_it() {
    const LIMIT: usize = 3;
    let provider = sink().await;
    provider.status.store(200, Ordering::SeqCst);
    let origin = sending_through(&provider, 100, |o| {
        o.variable("mail_per_address_per_hour", LIMIT.to_string())
    })
    .await;
    // A stranger registers one inbox 50 times, under a new tag each time,
    // and a neighbour once.
    for i in 0..50 {
        let address = format!("Victim+{i}@example.com");
        assert_eq!(register(&origin, &format!("k{i}"), &address).await, 201);
    }
    assert_eq!(
        register(&origin, "neighbour", "neighbour@example.com").await,
        201
    );
    let settled = outbox_until(&origin, "every message sent or withheld", |m| {
        m.len() == 51
            && m.iter()
                .all(|m| m["state"] == "sent" || m["state"] == "withheld")
    })
    .await;
    let count = |state: &str, to_victim: bool| {
        settled
            .iter()
            .filter(|m| m["state"] == state)
            .filter(|m| m["to"].as_str().unwrap().starts_with("Victim") == to_victim)
            .count()
    };
    assert_eq!(count("sent", true), LIMIT);
    assert_eq!(count("withheld", true), 50 - LIMIT);
    assert_eq!(
        count("sent", false),
        1,
        "another inbox of the domain is not held back"
    );
    let withheld = settled.iter().find(|m| m["state"] == "withheld").unwrap();
    assert!(
        withheld["last_error"]
            .as_str()
            .unwrap()
            .contains("this inbox"),
        "{withheld:#}"
    );
    let reached_victim = provider
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| {
            s.body["To"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Victim")
        })
        .count();
    assert_eq!(reached_victim, LIMIT, "the provider was asked for no more");
}

#[tokio::test]
async fn without_a_provider_messages_stay_in_the_development_outbox() {
    let origin = OriginApp::start(|o| o).await;
    let draft = origin
        .admin("GET", "/api/admin/events/wasm-edge-summit-2027/draft", None)
        .await;
    assert_eq!(draft.status(), 200);
    let request = http::Request::post("/api/events/wasm-edge-summit-2027/registrations")
        .header("content-type", "application/json")
        .header("idempotency-key", "dev-1")
        .body(Bytes::from(
            json!({"name": "Dev", "email": "dev@example.com"}).to_string(),
        ))
        .unwrap();
    assert_eq!(origin.signed(request).await.status(), 201);
    let listed = origin
        .admin(
            "GET",
            "/api/admin/events/wasm-edge-summit-2027/outbox",
            None,
        )
        .await;
    let messages = body_json(&listed)["messages"].clone();
    assert_eq!(messages[0]["state"], "development");
    assert_eq!(messages[0]["attempts"], 0);
    assert!(messages[0]["links"]["manage"].is_string());
}

#[tokio::test]
async fn a_webhook_that_never_answers_never_holds_back_an_email() {
    let provider = sink().await;
    provider.status.store(200, Ordering::SeqCst);
    let clock = Clock::default();
    let origin = sending_through(&provider, 100, |mut o| {
        o.clock = clock.clone();
        o
    })
    .await;
    // Takes each delivery and never answers it.
    let hung = stub::serve(|_, _| std::future::pending::<u16>()).await;
    let set = origin
        .admin(
            "PUT",
            &format!("{EVENT}/webhook"),
            Some(json!({"url": format!("{hung}/hook"), "secret": "whsec-never-answers-0123"})),
        )
        .await;
    assert_eq!(set.status(), 200);

    for n in 0..15 {
        let email = format!("p{n}@example.com");
        assert_eq!(register(&origin, &format!("k{n}"), &email).await, 201);
    }
    // Every email goes out while the first webhook tried still hangs: no
    // try at a webhook has ended (it ends only at the send's timeout, on
    // the clock this test holds), so none was waited for.
    let states = "SELECT channel, state, attempts FROM outbox ORDER BY channel, id";
    let outbox = eventually("every email sent", async || {
        let rows = origin.rows(states).await;
        let sent = rows
            .iter()
            .filter(|r| r[0] == "email" && r[1] == "sent")
            .count();
        if sent == 15 { Ok(rows) } else { Err(rows) }
    })
    .await;
    let webhooks: Vec<_> = outbox.iter().filter(|r| r[0] == "webhook").collect();
    assert_eq!(webhooks.len(), 15);
    assert!(
        webhooks.iter().all(|r| r[1] == "queued" && r[2] == 0),
        "no webhook try had ended: {webhooks:?}"
    );

    // The send's timeout passes: the hung try is recorded, and its lane
    // goes on to the next.
    clock.advance(Duration::from_secs(11));
    let recorded = eventually("a hung webhook recorded", async || {
        let rows = origin
            .rows("SELECT last_error FROM outbox WHERE channel = 'webhook' AND state = 'failed'")
            .await;
        rows.first().cloned().ok_or(rows)
    })
    .await;
    assert_eq!(recorded[0], "the webhook did not answer within 10s");
}

/// An organizer's invitation takes registrants' mail path: it goes out
/// through the provider after its answer, with nothing else to set it
/// going, and the organization's outbox shows it sent.
#[tokio::test]
async fn an_invitation_goes_out_through_the_provider() {
    let provider = sink().await;
    provider.status.store(200, Ordering::SeqCst);
    let origin = sending_through(&provider, 10, |o| o).await;
    let account =
        json!({ "email": "ed@example.org", "name": "Ed", "grants": [{ "role": "viewer" }] });
    let created = origin
        .admin("POST", "/api/admin/accounts", Some(account))
        .await;
    assert_eq!(created.status(), 201);
    let sent = eventually("the invitation sent", async || {
        let seen = provider.seen.lock().unwrap().clone();
        match seen.iter().find(|s| s.body["To"] == "ed@example.org") {
            Some(found) => Ok(found.body.clone()),
            None => Err(seen.len()),
        }
    })
    .await;
    assert!(sent["Subject"].as_str().unwrap().contains("invited"));
    assert!(
        sent["TextBody"]
            .as_str()
            .unwrap()
            .contains("/admin/#sign-in=")
    );
    let mail = body_json(&origin.admin("GET", "/api/admin/outbox", None).await);
    assert_eq!(mail["messages"][0]["kind"], "invitation");
    eventually("the invitation marked sent", async || {
        let mail = body_json(&origin.admin("GET", "/api/admin/outbox", None).await);
        match mail["messages"][0]["state"].as_str() {
            Some("sent") => Ok(()),
            other => Err(other.map(str::to_string)),
        }
    })
    .await;
}
