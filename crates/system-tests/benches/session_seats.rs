//! Session seats under a burst, through the edge and the origin together
//! (the development manifest in the test host, in this process): an event
//! with 10 workshops of 20 seats each (five time slots, two workshops in
//! each, so that half of all picks a person tries clash), and 64
//! registered attendees who all start at once, each in a closed loop for
//! a fixed time: pick a workshop at random, or release it when they hold
//! it. Every pick and release is a forwarded write that the origin decides
//! under the event's lock. Printed per run and as the median of the runs
//! by throughput: writes per second, p50, p99 and max latency, and the
//! answers by status (a 409 is a clash with a workshop at the same time, a
//! refusal counted, not a failure). The baseline, in the same app right
//! after each run: the same clients for the same time reading their own
//! registration (with its picks), a forwarded read that decides nothing;
//! the ratio shows what deciding costs. After every run each workshop's
//! list must hold at most its 20 seats, nobody waiting while a seat is
//! free, and a line counted 1, 2, 3…: the bench panics on an overbooking
//! or a seat left unpromoted, never on a time.
//!
//! Build the components first
//! (`cargo build --target wasm32-wasip2 --profile wasm -p edge -p origin`),
//! then `cargo bench -p system-tests --bench session_seats`.
//! `SEAT_BENCH_SECS` (default 8) sets each run's length, `SEAT_BENCH_RUNS`
//! (default 3) the runs, `SEAT_BENCH_CLIENTS` (default 64) the clients.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_test_host::App;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use system_tests::load::ms;
use system_tests::{ADMIN_TOKEN, Lcg, admin_request, dev_app, json as body_json, with_token};

const SLUG: &str = "workshops";
const WORKSHOPS: usize = 10;
const SEATS: u64 = 20;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh app with the event published and `clients` registered people
/// (id and manage token), each registering from an address of its own.
async fn prepared(clients: usize) -> (App, Vec<(String, String)>) {
    let app = dev_app(|o| {
        o.variable("admin_token", ADMIN_TOKEN)
            .variable("seed_demo", "false")
            .variable("trusted_proxies", "127.0.0.1")
    })
    .await;
    let admin = format!("/api/admin/events/{SLUG}");
    let event = json!({
        "name": "Workshop day", "timezone": "UTC",
        "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T18:00:00Z",
        "registration": {"open": true, "capacity": 10_000, "confirm_email": false}
    });
    let created = app.send(admin_request("PUT", &admin, Some(event))).await;
    assert_eq!(created.status(), 201, "{:?}", created.body());
    for w in 0..WORKSHOPS {
        let hour = 9 + w / 2;
        let session = json!({
            "title": format!("Workshop {w}"),
            "starts_at": format!("2027-03-01T{hour:02}:00:00Z"),
            "ends_at": format!("2027-03-01T{hour:02}:50:00Z"),
            "capacity": SEATS,
        });
        let path = format!("{admin}/sessions/w{w}");
        let put = app.send(admin_request("PUT", &path, Some(session))).await;
        assert!(put.status().is_success(), "{:?}", put.body());
    }
    let published = app
        .send(admin_request(
            "POST",
            &format!("{admin}/publish"),
            Some(json!({})),
        ))
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
    let mut people = Vec::with_capacity(clients);
    for i in 0..clients {
        let request = http::Request::post(format!("/api/events/{SLUG}/registrations"))
            .header("content-type", "application/json")
            .header("idempotency-key", format!("bench-{i}"))
            .header(
                "x-forwarded-for",
                format!("10.1.{}.{}", i / 250, i % 250 + 1),
            )
            .body(Bytes::from(
                json!({ "name": format!("Person {i}"), "email": format!("p{i}@example.org") })
                    .to_string(),
            ))
            .unwrap();
        let answer = app.send(request).await;
        assert_eq!(answer.status(), 201, "{:?}", answer.body());
        let body = body_json(&answer);
        people.push((
            body["id"].as_str().unwrap().to_string(),
            body["manage_token"].as_str().unwrap().to_string(),
        ));
    }
    (app, people)
}

/// What one run measured.
struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    statuses: BTreeMap<u16, usize>,
}

impl Figures {
    fn of(mut seen: Vec<(Duration, u16)>, elapsed: Duration) -> Self {
        seen.sort_unstable();
        let at = |q: usize| seen[(seen.len() * q / 100).min(seen.len() - 1)].0;
        let mut statuses = BTreeMap::new();
        for (_, status) in &seen {
            *statuses.entry(*status).or_default() += 1;
        }
        Figures {
            per_second: seen.len() as f64 / elapsed.as_secs_f64(),
            p50: at(50),
            p99: at(99),
            max: seen.last().map(|s| s.0).unwrap_or_default(),
            statuses,
        }
    }

    fn print(&self, what: &str) {
        println!(
            "{what:<34} {:>8.0}/s  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  {:?}",
            self.per_second,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.statuses
        );
    }
}

/// Every client picks and releases at random for `duration`, all at once.
async fn burst(app: &App, people: &[(String, String)], duration: Duration, seed: u64) -> Figures {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = people.iter().enumerate().map(|(i, (id, token))| {
        let (app, id, token) = (app.clone(), id.clone(), token.clone());
        tokio::spawn(async move {
            let mut random = Lcg::from_seed(seed.wrapping_add(i as u64));
            let mut held: HashSet<usize> = HashSet::new();
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let w = random.next(WORKSHOPS as u64) as usize;
                let method = if held.contains(&w) { "DELETE" } else { "POST" };
                let path = format!("/api/registrations/{id}/sessions/w{w}");
                let sent = Instant::now();
                let status = app.send(with_token(method, path, &token)).await.status();
                seen.push((sent.elapsed(), status.as_u16()));
                match (method, status.as_u16()) {
                    ("POST", 200 | 201) => {
                        held.insert(w);
                    }
                    ("DELETE", 200) => {
                        held.remove(&w);
                    }
                    _ => {}
                }
            }
            seen
        })
    });
    let seen = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(|c| c.expect("a client panicked"))
        .collect();
    Figures::of(seen, started.elapsed())
}

/// The same clients reading their own registration for `duration`.
async fn baseline(app: &App, people: &[(String, String)], duration: Duration) -> Figures {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = people.iter().map(|(id, token)| {
        let (app, id, token) = (app.clone(), id.clone(), token.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let path = format!("/api/registrations/{id}");
                let status = app.send(with_token("GET", path, &token)).await.status();
                seen.push((sent.elapsed(), status.as_u16()));
            }
            seen
        })
    });
    let seen = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(|c| c.expect("a client panicked"))
        .collect();
    Figures::of(seen, started.elapsed())
}

/// Panics unless every workshop holds at most its seats, nobody waits
/// while one is free, and its line is counted 1, 2, 3…
async fn check_no_overbooking(app: &App) -> (u64, u64) {
    let (mut seated, mut waiting) = (0, 0);
    for w in 0..WORKSHOPS {
        let path = format!("/api/admin/events/{SLUG}/sessions/w{w}/seats");
        let listed = app.send(admin_request("GET", &path, None)).await;
        assert_eq!(listed.status(), 200);
        let listed: Value = body_json(&listed);
        let (s, q) = (
            listed["seated"].as_u64().unwrap(),
            listed["waiting"].as_u64().unwrap(),
        );
        assert!(s <= SEATS, "w{w} overbooked: {s} seated");
        assert!(s == SEATS || q == 0, "w{w}: {q} wait while a seat is free");
        let positions: Vec<u64> = listed["picks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["position"].as_u64())
            .collect();
        assert_eq!(positions, (1..=q).collect::<Vec<_>>(), "w{w}'s line");
        seated += s;
        waiting += q;
    }
    (seated, waiting)
}

#[tokio::main]
async fn main() {
    let secs = setting("SEAT_BENCH_SECS", 8);
    let runs = setting("SEAT_BENCH_RUNS", 3);
    let clients = setting("SEAT_BENCH_CLIENTS", 64) as usize;
    let duration = Duration::from_secs(secs);
    let seed = Lcg::seeded("SEAT_BENCH_SEED").next(u64::MAX);
    println!(
        "session seats: {clients} clients, {WORKSHOPS} workshops of {SEATS} seats, {secs} s per run, \
         {runs} runs, the test host (in process)"
    );
    let mut measured = Vec::new();
    for run in 0..runs {
        let (app, people) = prepared(clients).await;
        let picks = burst(&app, &people, duration, seed.wrapping_add(run)).await;
        let (seated, waiting) = check_no_overbooking(&app).await;
        let reads = baseline(&app, &people, duration).await;
        picks.print(&format!("run {run}: picks and releases"));
        reads.print(&format!("run {run}: baseline (own registration)"));
        println!(
            "run {run}: {seated} seated, {waiting} in line after the run; deciding costs {:.2}× a forwarded read",
            reads.per_second / picks.per_second
        );
        measured.push((picks, reads));
    }
    measured.sort_by(|a, b| a.0.per_second.total_cmp(&b.0.per_second));
    let (picks, reads) = &measured[measured.len() / 2];
    picks.print("median: picks and releases");
    reads.print("median: baseline (own registration)");
}
