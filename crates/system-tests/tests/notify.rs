//! After a publish the origin tells every configured edge at once, signed,
//! within a timeout, and records which edges acknowledged.

use eventfront_domain::signing::{
    Direction, Message, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER, Verifier,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use system_tests::{OriginApp, SIGNING_SECRET, json as body_json, stub};

/// A stand-in edge that records the notices it gets and answers after `delay`
/// with `status`.
struct FakeEdge {
    url: String,
    notices: Arc<Mutex<Vec<(bool, Value)>>>,
}

async fn fake_edge(delay: Duration, status: u16) -> FakeEdge {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = notices.clone();
    let url = stub::serve(move |parts, body| {
        let seen = seen.clone();
        async move {
            let header = |n: &str| Some(stub::header(&parts, n)).filter(|v| !v.is_empty());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let genuine = Verifier::new(vec![Secret::new(SIGNING_SECRET).unwrap()])
                .verify(
                    &Message::new(
                        Direction::ToEdge,
                        parts.method.as_str(),
                        parts.uri.path(),
                        &body,
                    ),
                    header(TIMESTAMP_HEADER).as_deref(),
                    header(SIGNATURE_HEADER).as_deref(),
                    now,
                )
                .is_ok();
            seen.lock()
                .unwrap()
                .push((genuine, serde_json::from_slice(&body).unwrap()));
            tokio::time::sleep(delay).await;
            status
        }
    })
    .await;
    FakeEdge { url, notices }
}

#[tokio::test]
async fn publish_notifies_every_edge_concurrently_signed_and_records_acks() {
    let slow_a = fake_edge(Duration::from_millis(600), 204).await;
    let slow_b = fake_edge(Duration::from_millis(600), 204).await;
    let refusing = fake_edge(Duration::ZERO, 401).await;
    let silent = fake_edge(Duration::from_secs(30), 204).await;
    let urls = [&slow_a, &slow_b, &refusing, &silent]
        .iter()
        .map(|e| e.url.clone())
        .collect::<Vec<_>>()
        .join(",");
    let origin = OriginApp::start(|o| o.variable("edge_urls", urls)).await;
    let event = json!({
        "name": "Conf", "timezone": "Europe/Berlin",
        "starts_at": "2027-05-01T09:00:00+02:00", "ends_at": "2027-05-01T18:00:00+02:00"
    });
    origin
        .admin("PUT", "/api/admin/events/conf", Some(event))
        .await;

    let started = Instant::now();
    let published = origin
        .admin(
            "POST",
            "/api/admin/events/conf/publish",
            Some(json!({"note": "go"})),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(published.status(), 201);
    assert!(
        took < Duration::from_millis(3_500),
        "bounded by the 2 s timeout, not the sum: {took:?}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "waited for the silent edge's timeout: {took:?}"
    );

    let edges = body_json(&published)["edges"].as_array().unwrap().clone();
    let outcome = |url: &str| {
        edges
            .iter()
            .find(|e| e["edge"] == url)
            .map(|e| e["outcome"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(outcome(&slow_a.url), "acknowledged");
    assert_eq!(outcome(&slow_b.url), "acknowledged");
    assert_eq!(outcome(&refusing.url), "refused (401)");
    assert_eq!(outcome(&silent.url), "timed out");

    for edge in [&slow_a, &slow_b, &refusing, &silent] {
        let notices = edge.notices.lock().unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].0, "the notice is signed with the shared secret");
        assert_eq!(notices[0].1, json!({"slug": "conf", "version": 1}));
    }
    let recorded = origin.dump().await;
    assert!(
        recorded
            .iter()
            .filter(|row| row.starts_with("edge_notices:"))
            .count()
            == 4,
        "{recorded:?}"
    );
}
