//! After a publish the origin tells every configured edge at once, signed,
//! within a timeout, and records which edges acknowledged.

use eventfront_domain::signing::{
    Direction, Message, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER, Verifier,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use system_tests::{OriginApp, SIGNING_SECRET, eventually, json as body_json, stub};
use tokio::sync::Semaphore;

/// A stand-in edge that records the notices it gets and answers with
/// `status` once the test releases it (at once if it is not `held`).
struct FakeEdge {
    url: String,
    /// Whether each was signed, its body, and when it came.
    notices: Arc<Mutex<Vec<(bool, Value, Instant)>>>,
    release: Arc<Semaphore>,
}

async fn fake_edge(status: u16, held: bool) -> FakeEdge {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let release = Arc::new(Semaphore::new(if held {
        0
    } else {
        Semaphore::MAX_PERMITS
    }));
    let (seen, gate) = (notices.clone(), release.clone());
    let url = stub::serve(move |parts, body| {
        let (seen, gate) = (seen.clone(), gate.clone());
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
                    )
                    .covering(|name| parts.headers.get(name).and_then(|v| v.to_str().ok())),
                    header(TIMESTAMP_HEADER).as_deref(),
                    header(SIGNATURE_HEADER).as_deref(),
                    now,
                )
                .is_ok();
            seen.lock().unwrap().push((
                genuine,
                serde_json::from_slice(&body).unwrap(),
                Instant::now(),
            ));
            gate.acquire().await.unwrap().forget();
            status
        }
    })
    .await;
    FakeEdge {
        url,
        notices,
        release,
    }
}

#[tokio::test]
async fn publish_notifies_every_edge_concurrently_signed_and_records_acks() {
    let slow_a = fake_edge(204, true).await;
    let slow_b = fake_edge(204, true).await;
    let refusing = fake_edge(401, false).await;
    let silent = fake_edge(204, true).await;
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

    let publish = origin.admin(
        "POST",
        "/api/admin/events/conf/publish",
        Some(json!({"note": "go"})),
    );
    // The slow edges answer once every edge has its notice; the silent
    // one never does, and is given up after the origin's 2 s timeout.
    let answer = async {
        eventually("every edge notified", async || {
            let told: Vec<usize> = [&slow_a, &slow_b, &refusing, &silent]
                .iter()
                .map(|e| e.notices.lock().unwrap().len())
                .collect();
            if told == [1; 4] { Ok(()) } else { Err(told) }
        })
        .await;
        slow_a.release.add_permits(1);
        slow_b.release.add_permits(1);
    };
    let (published, ()) = futures::future::join(publish, answer).await;
    assert_eq!(published.status(), 201);
    // Told at once: one after another, each edge would have been told
    // only after the one before it answered or timed out (2 s).
    let arrivals: Vec<Instant> = [&slow_a, &slow_b, &refusing, &silent]
        .iter()
        .map(|e| e.notices.lock().unwrap()[0].2)
        .collect();
    let spread = *arrivals.iter().max().unwrap() - *arrivals.iter().min().unwrap();
    assert!(spread < Duration::from_secs(2), "told over {spread:?}");

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

    let mut nonces = std::collections::BTreeSet::new();
    for edge in [&slow_a, &slow_b, &refusing, &silent] {
        let notices = edge.notices.lock().unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].0, "the notice is signed with the shared secret");
        let mut notice = notices[0].1.clone();
        let nonce = notice.as_object_mut().unwrap().remove("nonce").unwrap();
        nonces.insert(nonce.as_str().unwrap().to_string());
        assert_eq!(notice, json!({"slug": "conf", "version": 1}));
    }
    assert_eq!(nonces.len(), 4, "no two notices alike");
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
