//! An organizer's webhook: every change to a registration POSTed as JSON,
//! signed over `t.body` with the organizer's secret, retried until taken;
//! the secret is never shown back nor published to edges.

use bytes::Bytes;
use eventfront_domain::webhook;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use system_tests::{OriginApp, eventually, json as body_json, open_event, registration, stub};

const EVENT: &str = "/api/admin/events/conf";
const SECRET: &str = "whsec-organizer-chosen-0123";

/// A receiver that checks each delivery's signature as the docs say to,
/// and keeps (verified, status answered, body).
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<(bool, u16, Value)>>>,
}

async fn receiver() -> Receiver {
    let status = Arc::new(AtomicU16::new(500));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (answer, kept) = (status.clone(), seen.clone());
    let url = stub::serve(move |parts, body| {
        let now = jiff::Timestamp::now().as_second();
        let signature = stub::header(&parts, "eventfront-signature");
        let verified = webhook::verify(&signature, &body, SECRET, 300, now).is_ok();
        let answered = answer.load(Ordering::SeqCst);
        kept.lock().unwrap().push((
            verified,
            answered,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ));
        std::future::ready(answered)
    })
    .await;
    Receiver {
        url: format!("{url}/hooks/eventfront"),
        status,
        seen,
    }
}

async fn register(origin: &OriginApp, key: &str, email: &str) -> Value {
    let answer = origin.signed(registration("conf", key, "P", email)).await;
    assert_eq!(answer.status(), 201);
    body_json(&answer)
}

async fn webhook_state(origin: &OriginApp) -> Value {
    let shown = origin.admin("GET", &format!("{EVENT}/webhook"), None).await;
    assert_eq!(shown.status(), 200);
    body_json(&shown)
}

#[tokio::test]
async fn registration_events_reach_the_organizers_webhook_signed_and_retried() {
    let hook = receiver().await;
    let origin = OriginApp::start(|o| o).await;
    origin.publish_event("conf", open_event(1)).await;

    let weak = origin
        .admin(
            "PUT",
            &format!("{EVENT}/webhook"),
            Some(json!({"url": "ftp://x", "secret": "short"})),
        )
        .await;
    assert_eq!(weak.status(), 422);
    let refused = body_json(&weak);
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "secret"]);
    let set = origin
        .admin(
            "PUT",
            &format!("{EVENT}/webhook"),
            Some(json!({"url": hook.url, "secret": SECRET})),
        )
        .await;
    assert_eq!(set.status(), 200);
    assert!(
        !String::from_utf8_lossy(set.body()).contains(SECRET),
        "the secret is never shown back"
    );

    // The receiver fails at first: the changes are made all the same.
    let seated = register(&origin, "w1", "one@example.com").await;
    register(&origin, "w2", "two@example.com").await;
    let cancel = http::Request::delete(format!(
        "/api/registrations/{}",
        seated["id"].as_str().unwrap()
    ))
    .header(
        "authorization",
        format!("Bearer {}", seated["manage_token"].as_str().unwrap()),
    )
    .body(Bytes::new())
    .unwrap();
    assert_eq!(origin.signed(cancel).await.status(), 200);
    eventually("four deliveries", async || {
        let seen = hook.seen.lock().unwrap().len();
        if seen >= 4 { Ok(()) } else { Err(seen) }
    })
    .await;
    // The receiver counts a delivery as it arrives, the origin once it
    // was answered: each is recorded soon after.
    eventually("four failures recorded", async || {
        let state = webhook_state(&origin).await;
        let recorded = state["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] == "failed")
            .inspect(|d| assert_eq!(d["last_error"], "the webhook answered 500"))
            .count();
        if recorded == 4 { Ok(()) } else { Err(state) }
    })
    .await;

    // The receiver is back and the backoff has passed (moved in the
    // database, not slept): the next write sends everything due.
    hook.status.store(200, Ordering::SeqCst);
    origin
        .execute("UPDATE outbox SET next_try_ms = 0 WHERE state = 'failed'")
        .await;
    register(&origin, "w3", "three@example.com").await;
    let sent = eventually("five deliveries sent", async || {
        let state = webhook_state(&origin).await;
        let deliveries = state["deliveries"].as_array().unwrap().clone();
        if deliveries.len() == 5 && deliveries.iter().all(|d| d["state"] == "sent") {
            Ok(deliveries)
        } else {
            Err(state)
        }
    })
    .await;

    let seen = hook.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(verified, ..)| *verified),
        "every delivery verifies"
    );
    let taken: Vec<&Value> = seen
        .iter()
        .filter(|(_, status, _)| *status == 200)
        .map(|(.., body)| body)
        .collect();
    let mut types: Vec<&str> = taken.iter().map(|b| b["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "registration.cancelled",
            "registration.confirmed",
            "registration.promoted",
            "registration.waitlisted",
            "registration.waitlisted",
        ]
    );
    let mut ids: Vec<&str> = taken.iter().map(|b| b["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each event taken once, under its own id");
    let sent_ids: Vec<&str> = sent.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| sent_ids.contains(id)));
    let promoted = taken
        .iter()
        .find(|b| b["type"] == "registration.promoted")
        .unwrap();
    assert_eq!(promoted["event"], "conf");
    assert_eq!(promoted["data"]["registration"]["status"], "confirmed");
    assert_eq!(promoted["data"]["registration"]["email"], "two@example.com");

    // Never in a published document (what edges get), never shown back.
    let leaked = origin
        .rows(&format!(
            "SELECT count(*) FROM snapshots WHERE bundle LIKE '%{SECRET}%' OR draft LIKE '%{SECRET}%'"
        ))
        .await;
    assert_eq!(leaked, [[0]]);
    assert!(!webhook_state(&origin).await.to_string().contains(SECRET));

    // Removed: nothing more is sent.
    let removed = origin
        .admin("DELETE", &format!("{EVENT}/webhook"), None)
        .await;
    assert_eq!(removed.status(), 204);
    let gone = origin.admin("GET", &format!("{EVENT}/webhook"), None).await;
    assert_eq!(gone.status(), 404);
    let unheard = register(&origin, "w4", "four@example.com").await;
    let queued = origin
        .rows(&format!(
            "SELECT count(*) FROM outbox WHERE channel = 'webhook' AND registration = '{}'",
            unheard["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(queued, [[0]], "no event queued for a removed webhook");
}

#[tokio::test]
async fn a_webhook_cannot_point_into_the_origins_network() {
    // The shipped defaults: public https hosts only.
    let origin = OriginApp::start(|o| {
        o.variable("webhook_hosts", "https://*:443")
            .variable("webhook_private_hosts", "false")
    })
    .await;
    origin.publish_event("conf", open_event(1)).await;
    let put = async |url: &str| {
        origin
            .admin(
                "PUT",
                &format!("{EVENT}/webhook"),
                Some(json!({"url": url, "secret": SECRET})),
            )
            .await
    };
    for inside in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://origin.spin.internal/api/admin/events",
        "http://hooks.example.org/plain-http",
        "https://hooks.example.org:8443/another-port",
    ] {
        let refused = put(inside).await;
        assert_eq!(refused.status(), 422, "{inside}");
        assert_eq!(body_json(&refused)["errors"][0]["field"], "url", "{inside}");
    }
    assert_eq!(
        put("https://hooks.example.org/eventfront").await.status(),
        200
    );
}
