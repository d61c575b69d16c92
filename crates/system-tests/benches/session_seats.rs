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
//! or a seat left unpromoted, never on a time. Then it times how long the
//! edge's live counts (`/api/events/{slug}/seats`, pushed by the origin at
//! most once a second) take to show those lists exactly.
//!
//! The origin's database is Spin's SQLite, then, in the same run, a
//! PostgreSQL on loopback (`system_tests::postgres`, on the same cores),
//! then the same PostgreSQL through a relay 1 ms away each way (a managed
//! server in another zone); `SEAT_BENCH_DATABASES` (default
//! `sqlite,postgres,postgres-away`) picks them. Then the
//! same burst on SQLite with the edge→origin link slow (+250 ms), hung and
//! refusing, the overbooking check made once it is healed
//! (`SEAT_BENCH_PARTS`, default `clients,links`, picks the parts).
//!
//! Build the components first
//! (`cargo build --target wasm32-wasip2 --profile wasm -p edge -p origin`),
//! then `cargo bench -p system-tests --bench session_seats`.
//! `SEAT_BENCH_SECS` (default 8) sets each run's length, `SEAT_BENCH_RUNS`
//! (default 3) the runs, `SEAT_BENCH_CLIENTS` (default 64) the clients.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_test_host::{App, LinkFault};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use system_tests::load::ms;
use system_tests::relay::{self, Relay};
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

/// The origin's database for a run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    Sqlite,
    Postgres,
    /// PostgreSQL through a relay that delays each way by 1 ms: a managed
    /// server in another zone, as operators have them.
    PostgresAway,
}

impl Database {
    fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "PostgreSQL on loopback",
            Database::PostgresAway => "PostgreSQL 1 ms away each way",
        }
    }
}

/// A fresh app and what keeps it running.
struct Prepared {
    app: App,
    /// Registered attendees: id and manage token.
    people: Vec<(String, String)>,
    _relay: Option<Relay>,
}

/// Where the edge reaches the origin in the development app.
const ORIGIN_LINK: &str = "origin.spin.internal";

/// A fresh app on `database` with the event published and `clients`
/// registered people, each registering from an address of its own.
async fn prepared(clients: usize, database: Database) -> Prepared {
    let (postgres, relay) = match database {
        Database::Sqlite => (None, None),
        Database::Postgres => (Some(system_tests::postgres::database().await), None),
        Database::PostgresAway => {
            let mut url: url::Url = system_tests::postgres::database().await.parse().unwrap();
            let server = format!("127.0.0.1:{}", url.port().unwrap());
            let relay = Relay::start(server.parse().unwrap()).await;
            relay.set(Some(relay::Fault::Delay(Duration::from_millis(1))));
            url.set_port(Some(relay.addr().port())).unwrap();
            (Some(url.to_string()), Some(relay))
        }
    };
    let app = dev_app(|o| {
        let o = o
            .variable("admin_token", ADMIN_TOKEN)
            .variable("seed_demo", "false")
            .variable("trusted_proxies", "127.0.0.1");
        match postgres {
            None => o,
            Some(url) => system_tests::postgres::origin_variables(url)
                .into_iter()
                .fold(o, |o, (name, value)| o.variable(name, value)),
        }
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
    Prepared {
        app,
        people,
        _relay: relay,
    }
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

/// One attendee in a closed loop: the next request, and what it heard.
trait Attendee: Send + 'static {
    fn next(&mut self) -> http::Request<Bytes>;
    fn heard(&mut self, _status: u16) {}
}

/// Picks a workshop at random, or releases it when holding it.
struct Picker {
    id: String,
    token: String,
    random: Lcg,
    held: HashSet<usize>,
    asked: Option<(usize, bool)>,
}

impl Attendee for Picker {
    fn next(&mut self) -> http::Request<Bytes> {
        let w = self.random.next(WORKSHOPS as u64) as usize;
        let releasing = self.held.contains(&w);
        self.asked = Some((w, releasing));
        let method = if releasing { "DELETE" } else { "POST" };
        let path = format!("/api/registrations/{}/sessions/w{w}", self.id);
        with_token(method, path, &self.token)
    }

    fn heard(&mut self, status: u16) {
        match (self.asked.take(), status) {
            (Some((w, false)), 200 | 201) => {
                self.held.insert(w);
            }
            (Some((w, true)), 200) => {
                self.held.remove(&w);
            }
            _ => {}
        }
    }
}

/// Reads its own registration (with its picks): a forwarded read.
struct Reader {
    id: String,
    token: String,
}

impl Attendee for Reader {
    fn next(&mut self) -> http::Request<Bytes> {
        let path = format!("/api/registrations/{}", self.id);
        with_token("GET", path, &self.token)
    }
}

/// Every attendee in its closed loop for `duration`, all at once.
async fn closed_loop(app: &App, attendees: Vec<impl Attendee>, duration: Duration) -> Figures {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = attendees.into_iter().map(|mut attendee| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let status = app.send(attendee.next()).await.status().as_u16();
                seen.push((sent.elapsed(), status));
                attendee.heard(status);
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

fn pickers(people: &[(String, String)], seed: u64) -> Vec<Picker> {
    people
        .iter()
        .enumerate()
        .map(|(i, (id, token))| Picker {
            id: id.clone(),
            token: token.clone(),
            random: Lcg::from_seed(seed.wrapping_add(i as u64)),
            held: HashSet::new(),
            asked: None,
        })
        .collect()
}

fn readers(people: &[(String, String)]) -> Vec<Reader> {
    people
        .iter()
        .map(|(id, token)| Reader {
            id: id.clone(),
            token: token.clone(),
        })
        .collect()
}

/// Panics unless every workshop holds at most its seats, nobody waits
/// while one is free, and its line is counted 1, 2, 3…; answers each
/// workshop's seated and waiting, by id.
async fn check_no_overbooking(app: &App) -> BTreeMap<String, (u64, u64)> {
    let mut lists = BTreeMap::new();
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
        lists.insert(format!("w{w}"), (s, q));
    }
    lists
}

/// How long after the run the edge's live counts show `lists` exactly, up
/// to twice the default staleness window and a revalidation; `None` if
/// they did not by then.
async fn counts_caught_up(app: &App, lists: &BTreeMap<String, (u64, u64)>) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        let answer = app.get(&format!("/api/events/{SLUG}/seats")).await;
        if answer.status() == 200 {
            let counts = body_json(&answer);
            let shown: BTreeMap<String, (u64, u64)> = lists
                .keys()
                .map(|id| {
                    let count = &counts["sessions"][id];
                    let n = |field: &str| count[field].as_u64().unwrap_or(u64::MAX);
                    (id.clone(), (n("seated"), n("waiting")))
                })
                .collect();
            if &shown == lists {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn totals(lists: &BTreeMap<String, (u64, u64)>) -> (u64, u64) {
    lists.values().fold((0, 0), |(s, q), (seated, waiting)| {
        (s + seated, q + waiting)
    })
}

/// `runs` runs on `database`: the burst, the checks, the counts at the
/// edge and the baseline each; the median printed.
async fn clients_case(
    database: Database,
    clients: usize,
    duration: Duration,
    runs: u64,
    seed: u64,
) {
    println!(
        "\n{clients} clients, {} (median of {runs} by writes/s)",
        database.name()
    );
    let mut measured = Vec::new();
    for run in 0..runs {
        let Prepared { app, people, .. } = &prepared(clients, database).await;
        let picks = closed_loop(app, pickers(people, seed.wrapping_add(run)), duration).await;
        let lists = check_no_overbooking(app).await;
        let caught_up = counts_caught_up(app, &lists).await;
        let reads = closed_loop(app, readers(people), duration).await;
        picks.print(&format!("run {run}: picks and releases"));
        reads.print(&format!("run {run}: baseline (own registration)"));
        let (seated, waiting) = totals(&lists);
        let caught_up = caught_up.map_or("not within 15 s".into(), |t| format!("{:.0} ms", ms(t)));
        println!(
            "run {run}: {seated} seated, {waiting} in line after the run; deciding costs {:.2}× a \
             forwarded read; the edge's counts showed them {caught_up} after the run",
            reads.per_second / picks.per_second
        );
        measured.push((picks, reads));
    }
    measured.sort_by(|a, b| a.0.per_second.total_cmp(&b.0.per_second));
    let (picks, reads) = &measured[measured.len() / 2];
    picks.print("median: picks and releases");
    reads.print("median: baseline (own registration)");
}

/// The burst on SQLite with the edge→origin link in trouble for the whole
/// run: what attendees wait and are told (a pick the edge cannot forward
/// is a 503 with `Retry-After`, after its write timeout when the origin
/// hangs), and that nothing is overbooked once the link heals.
async fn link_cases(clients: usize, duration: Duration, seed: u64) {
    println!("\n{clients} clients, SQLite, edge→origin link in trouble");
    for (label, fault) in [
        ("+250 ms", LinkFault::Delay(Duration::from_millis(250))),
        ("hung", LinkFault::Hang),
        ("refusing", LinkFault::Cut),
    ] {
        let Prepared { app, people, .. } = &prepared(clients, Database::Sqlite).await;
        app.links().set(ORIGIN_LINK, fault);
        let picks = closed_loop(app, pickers(people, seed), duration).await;
        app.links().heal(ORIGIN_LINK);
        let (seated, waiting) = totals(&check_no_overbooking(app).await);
        picks.print(&format!("{label}: picks and releases"));
        println!("{label}: {seated} seated, {waiting} in line once healed");
    }
}

#[tokio::main]
async fn main() {
    let secs = setting("SEAT_BENCH_SECS", 8);
    let runs = setting("SEAT_BENCH_RUNS", 3);
    let clients = setting("SEAT_BENCH_CLIENTS", 64) as usize;
    let duration = Duration::from_secs(secs);
    let seed = Lcg::seeded("SEAT_BENCH_SEED").next(u64::MAX);
    let list = |name: &str, default: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(str::trim)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let parts = list("SEAT_BENCH_PARTS", "clients,links");
    println!(
        "session seats: {clients} clients, {WORKSHOPS} workshops of {SEATS} seats, {secs} s per run, \
         {runs} runs, the test host (in process)"
    );
    if parts.iter().any(|p| p == "clients") {
        for database in list("SEAT_BENCH_DATABASES", "sqlite,postgres,postgres-away") {
            let database = match database.as_str() {
                "sqlite" => Database::Sqlite,
                "postgres" => Database::Postgres,
                "postgres-away" => Database::PostgresAway,
                other => panic!(
                    "SEAT_BENCH_DATABASES lists sqlite, postgres and postgres-away, not {other:?}"
                ),
            };
            clients_case(database, clients, duration, runs, seed).await;
        }
    }
    if parts.iter().any(|p| p == "links") {
        link_cases(clients, duration, seed).await;
    }
}
