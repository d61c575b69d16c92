//! A registration burst against the origin through the test host:
//! registrations per second and p50/p99 latency at 1, 16 and 64 concurrent
//! clients, for a capacity-limited and an unlimited event, with a check
//! that no run overbooked. Prints figures (median of 3 runs per setting);
//! never passes or fails on time.
//!
//! Run with `cargo bench -p system-tests --bench registration_burst` after
//! the components are built (`./scripts/test` builds them).

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use system_tests::{OriginApp, json as body_json};

const REGISTRATIONS: usize = 1_000;
const RUNS: usize = 3;
const LIMITED_CAPACITY: u64 = 500;

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn burst(concurrency: usize, capacity: Option<u64>) -> Run {
    let origin = Arc::new(OriginApp::start(|o| o).await);
    let event = json!({
        "name": "Burst", "timezone": "UTC",
        "starts_at": "2027-01-01T09:00:00Z", "ends_at": "2027-01-01T18:00:00Z",
        "registration": {"open": true, "capacity": capacity}
    });
    origin
        .admin("PUT", "/api/admin/events/burst", Some(event))
        .await;
    origin
        .admin("POST", "/api/admin/events/burst/publish", Some(json!({})))
        .await;

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let clients = (0..concurrency).map(|_| {
        let origin = origin.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= REGISTRATIONS {
                    return latencies;
                }
                let request = http::Request::post("/api/events/burst/registrations")
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("burst-{i}"))
                    .body(Bytes::from(
                        json!({"name": "P", "email": format!("p{i}@example.com")}).to_string(),
                    ))
                    .unwrap();
                let sent = Instant::now();
                let response = origin.signed(request).await;
                latencies.push(sent.elapsed());
                assert_eq!(response.status(), 201, "{:?}", response.body());
            }
        })
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed();

    let listing: Value = body_json(
        &origin
            .admin("GET", "/api/admin/events/burst/registrations", None)
            .await,
    );
    let confirmed = listing["confirmed"].as_u64().unwrap();
    let expected = capacity
        .unwrap_or(REGISTRATIONS as u64)
        .min(REGISTRATIONS as u64);
    assert_eq!(confirmed, expected, "overbooked or lost registrations");

    latencies.sort();
    Run {
        per_second: REGISTRATIONS as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

#[tokio::main]
async fn main() {
    println!(
        "registration burst: {REGISTRATIONS} registrations per run, median of {RUNS} runs, \
         {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>8} {:>12} {:>10} {:>10}",
        "event", "clients", "reg/s", "p50 ms", "p99 ms"
    );
    for (label, capacity) in [("limited", Some(LIMITED_CAPACITY)), ("unlimited", None)] {
        for concurrency in [1, 16, 64] {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(burst(concurrency, capacity).await);
            }
            runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
            let median = &runs[RUNS / 2];
            println!(
                "{label:<10} {concurrency:>8} {:>12.0} {:>10.2} {:>10.2}",
                median.per_second,
                median.p50.as_secs_f64() * 1e3,
                median.p99.as_secs_f64() * 1e3
            );
        }
    }
    println!("no run overbooked: confirmed seats equalled min(capacity, registrations) every time");
}
