//! The edge's freshness promise through the test host, against a stand-in
//! origin that counts and stalls what the edge asks: readers never wait for
//! the origin while a copy exists, one revalidation per window across all
//! instances, none within the window, a missed publish caught within the
//! bound, unknown slugs kept from the origin, and versions that never go
//! back.

use bytes::Bytes;
use serde_json::json;
use spin_test_host::ReuseLimits;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use system_tests::fake_origin::{Behaviour, FakeOrigin};
use system_tests::load::concurrent_gets;
use system_tests::{EdgeApp, SIGNING_SECRET, eventually, json as body_json, sign_notice};

const DEMO: &str = "wasm-edge-summit-2027";
const SESSIONS: &str = "/api/events/wasm-edge-summit-2027/sessions";

/// Spin's instance reuse turned off: every request gets a fresh instance.
fn fresh_instances() -> ReuseLimits {
    ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    }
}

async fn edge(origin: &FakeOrigin, staleness: &str, reuse: ReuseLimits) -> EdgeApp {
    let edge = EdgeApp::start("eu", &origin.url, |mut o| {
        o.reuse = reuse;
        o.variable("staleness_secs", staleness)
    })
    .await;
    let warm = edge.app.get(SESSIONS).await;
    assert_eq!(warm.status(), 200, "{:?}", warm.body());
    edge
}

fn header<'a>(response: &'a http::Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn version(response: &http::Response<Bytes>) -> u64 {
    header(response, "eventfront-version")
        .unwrap()
        .parse()
        .unwrap()
}

/// `clients` concurrent reads; each one's status, staleness and latency.
async fn burst(edge: &EdgeApp, clients: usize) -> Vec<(u16, bool, Duration)> {
    concurrent_gets(&edge.app, SESSIONS, clients)
        .await
        .into_iter()
        .map(|(answer, latency)| (answer.status, answer.stale, latency))
        .collect()
}

#[tokio::test]
async fn readers_answer_from_the_copy_while_the_origin_hangs() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "1", ReuseLimits::default()).await;
    origin.behave(Behaviour::Hung);
    edge.app.clock().advance(Duration::from_millis(1_100));

    // Past the window: one read is elected to revalidate, and it hangs in
    // the background; nobody waits for it.
    let first = burst(&edge, 64).await;
    // After the revalidation timed out (3 s on the edge's clock) the copy
    // is marked stale.
    edge.app.clock().advance(Duration::from_millis(3_100));
    eventually("marked stale", async || match burst(&edge, 1).await[0] {
        (200, true, _) => Ok(()),
        seen => Err(seen),
    })
    .await;
    let later = burst(&edge, 64).await;
    for (status, _, latency) in first.iter().chain(&later) {
        assert_eq!(*status, 200);
        // A read that waited for the revalidation would have taken its
        // timeout, 3 s of real time here.
        assert!(
            *latency < Duration::from_millis(2_500),
            "a read waited {latency:?}"
        );
    }
    assert!(later.iter().all(|(_, stale, _)| *stale), "marked stale");
    assert_eq!(origin.calls().conditional.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_revalidation_per_window_across_fresh_instances() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "1", fresh_instances()).await;
    const WINDOWS: usize = 4;
    for window in 1..=WINDOWS {
        // Past the window on the edge's clock: a burst over fresh instances
        // elects one of them to revalidate; the others serve the copy.
        edge.app.clock().advance(Duration::from_millis(1_100));
        for (status, _, _) in burst(&edge, 16).await {
            assert_eq!(status, 200);
        }
        eventually("this window's revalidation", async || {
            match origin.calls().conditional.load(Ordering::SeqCst) {
                asked if asked >= window => Ok(()),
                asked => Err(asked),
            }
        })
        .await;
    }
    // The election is a lease in KV, which has no atomic write: two
    // instances may both win one window, never more.
    let revalidations = origin.calls().conditional.load(Ordering::SeqCst);
    assert!(
        (WINDOWS..=2 * WINDOWS).contains(&revalidations),
        "{revalidations} revalidations over {WINDOWS} windows"
    );
    assert!(edge.app.instances_created("edge") > 16, "fresh instances");
}

#[tokio::test]
async fn fresh_instances_within_the_window_never_ask_the_origin() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "5", fresh_instances()).await;
    for _ in 0..10 {
        for (status, stale, _) in burst(&edge, 10).await {
            assert_eq!(status, 200);
            assert!(!stale);
        }
    }
    let calls = origin.calls();
    assert_eq!(calls.conditional.load(Ordering::SeqCst), 0);
    assert_eq!(calls.full.load(Ordering::SeqCst), 1, "the warm-up only");
    assert_eq!(calls.lists.load(Ordering::SeqCst), 1, "the warm-up only");
}

#[tokio::test]
async fn a_missed_publish_is_caught_within_the_bound_by_fresh_instances() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "1", fresh_instances()).await;
    origin.publish(2);
    // Past the window on the edge's clock, the next reads catch up.
    edge.app.clock().advance(Duration::from_millis(1_100));
    eventually("caught up past the window", async || {
        let read = edge.app.get(SESSIONS).await;
        assert_eq!(read.status(), 200);
        match version(&read) {
            2 => Ok(()),
            other => Err(other),
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_slugs_never_reach_the_origin() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "5", ReuseLimits::default()).await;
    for round in 0..3 {
        for n in 0..20 {
            let missing = edge.app.get(&format!("/api/events/no-such-{n}")).await;
            assert_eq!(missing.status(), 404, "round {round}");
        }
    }
    let calls = origin.calls();
    assert_eq!(calls.unknown.load(Ordering::SeqCst), 0);
    assert_eq!(calls.lists.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_late_not_modified_never_takes_the_head_back() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "1", ReuseLimits::default()).await;
    origin.behave(Behaviour::LateNotModified(Duration::from_millis(1_000)));
    edge.app.clock().advance(Duration::from_millis(1_100));
    // This read elects a revalidation of v1, whose 304 is held back.
    assert_eq!(version(&edge.app.get(SESSIONS).await), 1);
    eventually("revalidation started", async || {
        match origin.calls().conditional.load(Ordering::SeqCst) {
            0 => Err(0),
            asked => Ok(asked),
        }
    })
    .await;
    // Meanwhile v2 is published and announced.
    origin.publish(2);
    let notice = sign_notice(
        http::Request::post("/_edge/publish")
            .header("content-type", "application/json")
            .body(Bytes::from(json!({"slug": DEMO, "version": 2}).to_string()))
            .unwrap(),
        SIGNING_SECRET,
    );
    assert_eq!(body_json(&edge.app.send(notice).await)["held"], 2);
    // The late 304 for v1 lands; v2 stays, in memory and in KV.
    eventually("the late 304 sent", async || {
        match origin.calls().late_answers.load(Ordering::SeqCst) {
            0 => Err(0),
            sent => Ok(sent),
        }
    })
    .await;
    for _ in 0..5 {
        assert_eq!(version(&edge.app.get(SESSIONS).await), 2);
    }
    let status = body_json(&edge.app.get("/_edge/status").await);
    assert_eq!(status["events"][DEMO]["version"], 2);
}

#[tokio::test]
async fn a_read_within_the_window_costs_at_most_two_kv_gets_and_no_writes() {
    let origin = FakeOrigin::start().await;
    let fresh = edge(&origin, "30", fresh_instances()).await;
    // A session page too: the first instance to render it stores it
    // under its own key, after its response.
    let sessions = body_json(&fresh.app.get(SESSIONS).await);
    let id = sessions["sessions"][0]["id"].as_str().unwrap();
    let session = format!("{SESSIONS}/{id}");
    assert_eq!(fresh.app.get(&session).await.status(), 200);
    let stored = format!("doc/{DEMO}/1/items/sessions/{id}");
    system_tests::browser::until("the items stored", || async {
        fresh.kv_keys().contains(&stored).then_some(())
    })
    .await;
    let before = fresh.app.kv_counts("default");
    for _ in 0..10 {
        assert_eq!(fresh.app.get(SESSIONS).await.status(), 200);
        let one = fresh.app.get(&session).await;
        assert_eq!(one.status(), 200);
        assert_eq!(body_json(&one)["id"], id);
    }
    let cost = fresh.app.kv_counts("default");
    assert!(cost.gets - before.gets <= 2 * 20, "{before:?} → {cost:?}");
    assert_eq!((cost.sets, cost.deletes), (before.sets, before.deletes));

    // A reused instance answers from memory: at most one head get per
    // memory recheck interval (one more where an interval began before the
    // run), however many reads.
    let reused = edge(&origin, "30", ReuseLimits::default()).await;
    let before = reused.app.kv_counts("default");
    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_millis(40) || reads < 5 {
        assert_eq!(reused.app.get(SESSIONS).await.status(), 200);
        reads += 1;
    }
    let cost = reused.app.kv_counts("default");
    let rechecks = started.elapsed().as_millis() as usize / 50 + 1;
    let instances = reused.app.instances_created("edge");
    assert!(
        cost.gets - before.gets <= (rechecks + 1) * instances,
        "{reads} reads in {instances} instances: {before:?} → {cost:?}"
    );
    assert_eq!((cost.sets, cost.deletes), (before.sets, before.deletes));
    assert_eq!(origin.calls().conditional.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_session_ids_cost_no_kv_once_the_agenda_is_parsed() {
    let origin = FakeOrigin::start().await;
    let edge = edge(&origin, "30", ReuseLimits::default()).await;
    // A filtered agenda has this instance parse the sessions and speakers.
    let filtered = edge.app.get(&format!("{SESSIONS}?q=wasm")).await;
    assert_eq!(filtered.status(), 200);
    let before = edge.app.kv_counts("default");
    let started = Instant::now();
    for i in 0..20 {
        let answer = edge.app.get(&format!("{SESSIONS}/nope-{i}")).await;
        assert_eq!(answer.status(), 404);
    }
    let cost = edge.app.kv_counts("default");
    // Only memory's own rechecks of the head reach KV.
    let rechecks = started.elapsed().as_millis() as usize / 50 + 1;
    assert!(cost.gets - before.gets <= rechecks, "{before:?} → {cost:?}");
    assert_eq!(edge.app.instances_created("edge"), 1);
}
