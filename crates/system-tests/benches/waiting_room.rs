//! A registration opening through the waiting room, and the same opening
//! without it, through the real components in the test host (one origin on
//! SQLite and three edges, `eu`, `us` and `ap`, in this process), printing
//! figures, never passing or failing on time.
//!
//! (a) The opening: `WR_BENCH_ARRIVALS` people (default 100,000) arrive in
//!     the first minute, 10% of them in the pre-queue's last 10 s before
//!     `opens_at`, the rest in a spike that decays over the minute (half
//!     within 6 s). Each takes a real signed ticket from an edge (in turn
//!     `eu`, `us`, `ap`, whose clocks are 20 ms apart), each from an address
//!     of its own. The room admits `WR_BENCH_RATE` a minute (default 12,000);
//!     every admitted person registers through the edge that issued the
//!     ticket, in the second the origin admits them; sampled waiting pages
//!     ask their place every second at each edge, so that every edge reports.
//!     The origin is cut off from every edge for 30 s in the middle of the
//!     minute. A simulated second lasts a real second, or longer when its
//!     work takes longer, so the components' background work (reporters,
//!     pushes and their timeouts) runs at its real speed. The event has
//!     seats for half of the crowd. Printed: the requests per second the
//!     origin saw (registrations, and reports per edge), against the rate;
//!     Kendall's tau between ticket order and admission order and between
//!     arrival order and admission order; tickets admitted ahead of an
//!     earlier ticket; arrivals the origin counted against tickets issued;
//!     who got the seats; and overbooking.
//! (b) The same crowd with no room: each person registers at their arrival,
//!     and again a second later while answered 503 (as the page retries),
//!     up to 10 times: the origin's requests per second, the 503s, who got
//!     the seats, and overbooking.
//! (c) What the waiting check costs an edge: 64 clients, each asking its own
//!     ticket's place, against the same clients reading the event from the
//!     edge's cache, in alternating runs of `WR_BENCH_SECS` (default 8),
//!     three each: throughput ratio (median), p50, p99 and max. In this
//!     process by default; `-- --spin` runs it as deployed instead (the
//!     origin and an edge from `deploy/*.toml` under `spin up`, the demo
//!     event, Spin's default instance reuse, clients on kept-alive TCP
//!     connections), and `-- --both` so under the test host's `up` and
//!     then under `spin up` (`cargo build --release -p spin-test-host`
//!     first). Under the engines, one address takes at most 30 tickets a
//!     minute, so clients share the tickets it got.
//!
//! Build the components first
//! (`cargo build --target wasm32-wasip2 --profile wasm -p edge -p origin`),
//! then `cargo bench -p system-tests --bench waiting_room`.
//! `WR_BENCH_PARTS` (default `room,no-room,check`) picks the parts;
//! `WR_BENCH_TRACE=path` writes (a)'s seconds to a CSV file. The edges'
//! link to the origin in (a) and (b): `WR_BENCH_LINK=slow:<ms>` answers
//! every request that much later, as a far origin does (default `near`,
//! loopback); `WR_BENCH_OUTAGE=hung` makes (a)'s outage a link that
//! accepts and never answers, where by default it refuses, as a dead
//! origin's does.

use bytes::Bytes;
use eventfront_domain::waiting_room::TICKET_HEADER;
use futures::StreamExt;
use serde_json::{Value, json};
use spin_test_host::{App, LinkFault};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use system_tests::load::{Answer, Figures, Reader, Run, ms, run_load};
use system_tests::processes::{
    Browser, Engine, Launcher, StateDir, free_port, send, stop, wait_ready,
};
use system_tests::{
    EdgeApp, Lcg, SIGNING_SECRET, Topology, json as body_json, open_event, topology_with,
};

const SLUG: &str = "opening";
/// The event the origin seeds as deployed (`seed_demo`).
const DEMO: &str = "wasm-edge-summit-2027";
const ROOM: &str = "/api/admin/events/opening/waiting-room";
/// Requests in flight at once from the simulated crowd.
const CONCURRENCY: usize = 64;
/// When the outage starts, in simulated seconds from the start, and how long.
const OUTAGE: (u64, u64) = (20, 30);
/// Waiting pages sampled per edge per simulated second.
const SAMPLED_PAGES: usize = 8;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn parts() -> Vec<String> {
    std::env::var("WR_BENCH_PARTS")
        .unwrap_or_else(|_| "room,no-room,check".into())
        .split(',')
        .map(str::to_string)
        .collect()
}

/// When each person arrives, in milliseconds from the start: 10% in the
/// 10 s before the opening, the rest from the opening on, exponentially
/// fewer over the minute.
fn arrivals(n: usize, random: &mut Lcg) -> Vec<u64> {
    let mut at: Vec<u64> = (0..n)
        .map(|i| {
            if i % 10 == 0 {
                random.next(10_000)
            } else {
                let u = (random.next(1 << 30) as f64 + 1.0) / (1u64 << 30) as f64;
                10_000 + ((-u.ln() * 8_700.0) as u64).min(49_999)
            }
        })
        .collect();
    at.sort_unstable();
    at
}

/// Whether the room is open in simulated second `second` (it opens 10 s
/// after the start).
fn schedule_opened(second: u64) -> bool {
    second >= 10
}

/// An address of its own for person `i`, as a trusted proxy names it.
fn address(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

struct Opening {
    t: Topology,
    origin_link: String,
    link: Link,
}

/// The edges' link to the origin, as `WR_BENCH_LINK` and `WR_BENCH_OUTAGE`
/// set it.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// How much later every answer comes outside the outage, if at all.
    slow: Option<Duration>,
    /// What the link does during the outage.
    outage: LinkFault,
}

impl Link {
    fn configured() -> Self {
        let slow = match std::env::var("WR_BENCH_LINK").as_deref() {
            Err(_) | Ok("near") => None,
            Ok(other) => Some(Duration::from_millis(
                other
                    .strip_prefix("slow:")
                    .and_then(|ms| ms.parse().ok())
                    .expect("WR_BENCH_LINK is near or slow:<ms>"),
            )),
        };
        let outage = match std::env::var("WR_BENCH_OUTAGE").as_deref() {
            Err(_) | Ok("refused") => LinkFault::Cut,
            Ok("hung") => LinkFault::Hang,
            Ok(other) => panic!("WR_BENCH_OUTAGE is refused or hung, not {other}"),
        };
        Self { slow, outage }
    }

    fn describe(&self) -> String {
        let normal = self.slow.map_or("near (loopback)".to_string(), |d| {
            format!("{} ms slower each answer", d.as_millis())
        });
        let outage = match self.outage {
            LinkFault::Hang => "hung",
            _ => "refused",
        };
        format!("edges' link to the origin: {normal}; during (a)'s outage: {outage}")
    }
}

impl Opening {
    async fn start(seats: usize) -> Self {
        let t = topology_with(
            &["eu", "us", "ap"],
            |o| {
                o.variable("trusted_proxies", "127.0.0.1")
                    .variable("registrations_per_minute", "0")
            },
            |o| {
                o.variable("seed_demo", "false")
                    .variable("registrations_per_minute", "0")
            },
        )
        .await;
        t.origin.publish_event(SLUG, open_event(seats as u32)).await;
        // Clocks 20 ms apart: `us` 20 ms ahead of `eu`, `ap` 20 ms behind.
        let skew = [20, 40, 0];
        for (edge, ms) in t.edges.iter().zip(skew) {
            edge.app.clock().advance(Duration::from_millis(ms));
        }
        t.origin.app.clock().advance(Duration::from_millis(20));
        let origin_link = t.origin_server.addr().to_string();
        let opening = Self {
            t,
            origin_link,
            link: Link::configured(),
        };
        opening.cut(false);
        opening
    }

    fn now_ms(&self) -> i64 {
        self.t.origin.app.clock().since_epoch().as_millis() as i64
    }

    fn edge(&self, i: usize) -> &EdgeApp {
        &self.t.edges[i % self.t.edges.len()]
    }

    /// Requests every edge has sent the origin so far.
    fn origin_requests(&self) -> Vec<usize> {
        self.t
            .edges
            .iter()
            .map(|e| e.app.links().requests(&self.origin_link))
            .collect()
    }

    /// Cuts the edges off the origin as the outage does, or puts their
    /// link back as it is outside it.
    fn cut(&self, cut: bool) {
        for edge in &self.t.edges {
            let links = edge.app.links();
            match (cut, self.link.slow) {
                (true, _) => links.set(&self.origin_link, self.link.outage),
                (false, Some(delay)) => links.set(&self.origin_link, LinkFault::Delay(delay)),
                (false, None) => links.heal(&self.origin_link),
            }
        }
    }

    async fn cutoff(&self) -> i64 {
        let rows = self
            .t
            .origin
            .rows("SELECT admission FROM waiting_rooms WHERE event = 'opening'")
            .await;
        let admission: Value = serde_json::from_str(rows[0][0].as_str().unwrap()).unwrap();
        admission["cutoff"].as_i64().unwrap()
    }

    /// How many the room has admitted, as its organizer sees it.
    async fn admitted(&self) -> usize {
        let room = self.t.origin.admin("GET", ROOM, None).await;
        body_json(&room)["admitted"].as_u64().unwrap() as usize
    }

    /// Confirmed registrations' emails, and how many are confirmed.
    async fn seated(&self) -> (HashSet<usize>, usize) {
        let rows = self
            .t
            .origin
            .rows(
                "SELECT email FROM registrations WHERE event = 'opening' AND status = 'confirmed'",
            )
            .await;
        let people: HashSet<usize> = rows
            .iter()
            .filter_map(|r| {
                r[0].as_str()?
                    .strip_prefix("p")?
                    .split('@')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        (people, rows.len())
    }
}

fn registration(i: usize, ticket: Option<&str>) -> http::Request<Bytes> {
    let mut body = json!({ "name": format!("Person {i}"), "email": format!("p{i}@example.org") });
    if let Some(ticket) = ticket {
        body["ticket"] = json!(ticket);
    }
    http::Request::post(format!("/api/events/{SLUG}/registrations"))
        .header("content-type", "application/json")
        .header("idempotency-key", format!("person-{i}"))
        .header("x-forwarded-for", address(i))
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn take(i: usize) -> http::Request<Bytes> {
    http::Request::post(format!("/api/events/{SLUG}/waiting-room"))
        .header("x-forwarded-for", address(i))
        .body(Bytes::new())
        .unwrap()
}

fn place(ticket: &str) -> http::Request<Bytes> {
    http::Request::get(format!("/api/events/{SLUG}/waiting-room"))
        .header(TICKET_HEADER, ticket)
        .body(Bytes::new())
        .unwrap()
}

/// Sends `requests` (to the app each names), `CONCURRENCY` at a time:
/// each answer's status, in order.
async fn send_all(requests: Vec<(App, http::Request<Bytes>)>) -> Vec<(u16, Bytes)> {
    futures::stream::iter(requests)
        .map(|(app, request)| async move {
            let answer = app.send(request).await;
            (answer.status().as_u16(), answer.body().clone())
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// Sends each request when its offset from `start` comes (they are in the
/// order of their offsets), `CONCURRENCY` at a time, so that arrivals
/// spread over the second as scheduled, not in one burst at its start
/// (a burst would bunch a second's stamps, which the origin takes as
/// spread over it): each answer's status, in order.
async fn send_spread(
    start: Instant,
    requests: Vec<(Duration, App, http::Request<Bytes>)>,
) -> Vec<(u16, Bytes)> {
    futures::stream::iter(requests)
        .map(|(offset, app, request)| async move {
            tokio::time::sleep_until((start + offset).into()).await;
            let answer = app.send(request).await;
            (answer.status().as_u16(), answer.body().clone())
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// Kendall's tau between two rankings of the same items, over the pairs
/// that neither ranks as a tie: admission comes in steps, each admitting
/// many at once, whom admission order cannot tell apart.
fn kendall_tau(a: &[i64], b: &[i64]) -> f64 {
    // O(n²) on a sample: the full crowd would take minutes.
    let (mut concordant, mut discordant) = (0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            match ((a[i] - a[j]).signum(), (b[i] - b[j]).signum()) {
                (0, _) | (_, 0) => {}
                (x, y) if x == y => concordant += 1.0,
                _ => discordant += 1.0,
            }
        }
    }
    (concordant - discordant) / (concordant + discordant).max(1.0)
}

/// Every `n / 4000`th item: a sample for tau.
fn sample<T: Copy>(items: &[T]) -> Vec<T> {
    let step = (items.len() / 4_000).max(1);
    items.iter().step_by(step).copied().collect()
}

/// How many of something one simulated second saw, and how long that
/// second lasted on the clock (a loaded host stretches some of them).
#[derive(Debug, Clone, Copy)]
struct Tally {
    count: usize,
    ms: usize,
}

impl Tally {
    fn rate(self) -> usize {
        self.count * 1_000 / self.ms.max(1)
    }
}

/// Prints the origin's requests per second of the clock over the seconds
/// a figure applies to (`None`: not one of them, such as the outage's):
/// the median second, the busiest stretch of at least 10 s of clock that
/// no excluded second breaks (its total over its duration, not an average
/// of rates, which would weigh a short second like a long one), and the
/// busiest second.
fn per_second(what: &str, seconds: &[Option<Tally>]) {
    let tallies: Vec<Tally> = seconds.iter().flatten().copied().collect();
    let mut rates: Vec<usize> = tallies.iter().map(|t| t.rate()).collect();
    rates.sort_unstable();
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0);
    let peak = rates.last().copied().unwrap_or(0);
    let busiest_10s = (0..seconds.len())
        .filter_map(|start| {
            let mut total = Tally { count: 0, ms: 0 };
            for tally in &seconds[start..] {
                let tally = (*tally)?;
                total.count += tally.count;
                total.ms += tally.ms;
                if total.ms >= 10_000 {
                    return Some(total.rate());
                }
            }
            None
        })
        .max()
        .unwrap_or(0);
    println!(
        "  {what}: median {median}/s, busiest 10 s {busiest_10s}/s, busiest second {peak}/s, over {} s",
        tallies.len()
    );
}

/// Writes each simulated second's clock duration and tallies (admitted,
/// registrations, reports) as CSV to `path`, to look at where a figure
/// came from without running the opening again.
fn write_trace(path: &str, series: &[&[Option<Tally>]]) {
    let mut csv = String::from("second,ms,admitted,registrations,reports\n");
    for second in 0..series[0].len() {
        let tallies: Vec<Option<Tally>> = series.iter().map(|s| s[second]).collect();
        let ms = tallies.iter().flatten().map(|t| t.ms).next().unwrap_or(0);
        let counts: Vec<String> = tallies
            .iter()
            .map(|t| t.map_or(String::new(), |t| t.count.to_string()))
            .collect();
        csv.push_str(&format!("{second},{ms},{}\n", counts.join(",")));
    }
    std::fs::write(path, csv).expect("the trace is written");
}

/// Ends a simulated second begun at `real`: it lasts a real second at
/// least (longer when its work took longer), so the components' own
/// background work (reporters, pushes, their timeouts) runs at its
/// real speed. A quiet second once passed in tens of milliseconds by
/// moving the clocks, which made each background task look up to 20
/// times slower than it is.
async fn second_done(real: Instant) {
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(real.elapsed())).await;
}

/// Who of the first `seats` arrivals got a seat, as a share.
fn first_come_share(seated: &HashSet<usize>, seats: usize) -> f64 {
    (0..seats).filter(|i| seated.contains(i)).count() as f64 / seats as f64
}

async fn with_room(n: usize, per_minute: u64, random: &mut Lcg) {
    let seats = n / 2;
    let o = Opening::start(seats).await;
    let start = o.now_ms();
    let opens = start + 10_000;
    let room = json!({
        "opens_at": jiff::Timestamp::from_millisecond(opens).unwrap().to_string(),
        "prequeue_minutes": 1, "per_minute": per_minute,
    });
    assert_eq!(
        o.t.origin.admin("PUT", ROOM, Some(room)).await.status(),
        200
    );
    let verifier = eventfront_domain::signing::Verifier::new(vec![
        eventfront_domain::signing::Secret::new(SIGNING_SECRET).unwrap(),
    ]);
    let slug = eventfront_domain::Slug::parse(SLUG).unwrap();
    let schedule = arrivals(n, random);
    // Person i: its ticket, stamp, and the simulated second it was admitted.
    let mut tickets: Vec<Option<(String, i64)>> = vec![None; n];
    let mut admitted_in: Vec<Option<u64>> = vec![None; n];
    let mut registered = vec![false; n];
    let mut next = 0;
    let (mut registrations_per_s, mut reports_per_s) = (Vec::new(), Vec::new());
    let mut admitted_per_s = Vec::new();
    let mut admitted_so_far = 0;
    let mut refused = BTreeMap::<u16, usize>::new();
    let mut second = 0u64;
    let began = Instant::now();
    loop {
        let real = Instant::now();
        let clock = o.now_ms();
        let before = o.origin_requests();
        let outage = (OUTAGE.0..OUTAGE.0 + OUTAGE.1).contains(&second);
        o.cut(outage);
        // This second's arrivals take their tickets, each at its time in
        // the second, while the rest of the second's work goes on.
        let issued = next;
        let mut arriving = Vec::new();
        while next < n && schedule[next] < (second + 1) * 1_000 {
            arriving.push(next);
            next += 1;
        }
        let arrive = send_spread(
            real,
            arriving
                .iter()
                .map(|&i| {
                    let offset = Duration::from_millis(schedule[i] - second * 1_000);
                    (offset, o.edge(i).app.clone(), take(i))
                })
                .collect(),
        );
        let others = async {
            // Sampled waiting pages ask their place at every edge.
            let waiting: Vec<usize> = (0..issued).filter(|&i| admitted_in[i].is_none()).collect();
            let mut asks = Vec::new();
            for edge in 0..3 {
                let at_edge: Vec<usize> =
                    waiting.iter().copied().filter(|i| i % 3 == edge).collect();
                for _ in 0..SAMPLED_PAGES.min(at_edge.len()) {
                    let i = at_edge[random.next(at_edge.len() as u64) as usize];
                    let (sealed, _) = tickets[i].as_ref().unwrap();
                    asks.push((o.edge(i).app.clone(), place(sealed)));
                }
            }
            send_all(asks).await;
            // Those the origin admitted register, through their edge.
            let cutoff = if outage { i64::MIN } else { o.cutoff().await };
            let mut now_in = Vec::new();
            for i in 0..issued {
                let (_, stamp) = tickets[i].as_ref().unwrap();
                if admitted_in[i].is_none() && *stamp <= cutoff {
                    admitted_in[i] = Some(second);
                }
                if admitted_in[i].is_some() && !registered[i] {
                    now_in.push(i);
                }
            }
            let answers = send_all(
                now_in
                    .iter()
                    .map(|&i| {
                        let ticket = tickets[i].as_ref().map(|(t, _)| t.as_str());
                        (o.edge(i).app.clone(), registration(i, ticket))
                    })
                    .collect(),
            )
            .await;
            (now_in, answers)
        };
        let (taken, (now_in, answers)) = futures::join!(arrive, others);
        for (&i, (status, body)) in arriving.iter().zip(taken) {
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
            let sealed = serde_json::from_slice::<Value>(&body).unwrap()["ticket"]
                .as_str()
                .unwrap()
                .to_string();
            let stamp = eventfront_domain::waiting_room::Ticket::open(&sealed, &verifier, &slug)
                .unwrap()
                .stamp;
            tickets[i] = Some((sealed, stamp));
        }
        for (&i, (status, _)) in now_in.iter().zip(&answers) {
            match status {
                201 => registered[i] = true,
                other => *refused.entry(*other).or_default() += 1,
            }
        }
        second_done(real).await;
        let took = (o.now_ms() - clock).max(1) as usize;
        let tally = |count| Tally { count, ms: took };
        let after = o.origin_requests();
        let sent: usize = after.iter().zip(&before).map(|(a, b)| a - b).sum();
        let registrations = answers.len();
        // Seconds the room admits in: open, and the origin in reach.
        if schedule_opened(second) && !outage {
            let admitted = o.admitted().await;
            admitted_per_s.push(Some(tally(admitted.saturating_sub(admitted_so_far))));
            admitted_so_far = admitted;
            registrations_per_s.push(Some(tally(registrations)));
        } else {
            admitted_per_s.push(None);
            registrations_per_s.push(None);
        }
        reports_per_s.push(Some(tally(sent.saturating_sub(registrations))));
        second += 1;
        if next == n && registered.iter().all(|&r| r) {
            break;
        }
        assert!(second < 100_000, "the opening never ended");
    }
    if let Ok(path) = std::env::var("WR_BENCH_TRACE") {
        write_trace(
            &path,
            &[&admitted_per_s, &registrations_per_s, &reports_per_s],
        );
    }
    let counted = o.t.origin.arrivals_reported().await;
    let (seated, confirmed) = o.seated().await;
    println!(
        "\n(a) the opening through the room: {n} arrivals, {per_minute}/min, {seats} seats, \
         {} simulated seconds in {:.0} s",
        second,
        began.elapsed().as_secs_f64()
    );
    println!(
        "  origin's requests per second of the clock, each simulated second's, the rate being {}/s:",
        per_minute / 60
    );
    per_second(
        "admitted by the room, while it admits (open, origin in reach)",
        &admitted_per_s,
    );
    per_second(
        "registrations, while the room admits (the admitted, at once)",
        &registrations_per_s,
    );
    per_second(
        "arrival reports and other requests, three edges together, throughout",
        &reports_per_s,
    );
    let by_stamp: Vec<i64> = (0..n).map(|i| tickets[i].as_ref().unwrap().1).collect();
    let admitted: Vec<i64> = (0..n).map(|i| admitted_in[i].unwrap() as i64).collect();
    let ahead = {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| by_stamp[i]);
        let mut latest = 0;
        let mut early = 0;
        for i in order {
            if admitted[i] < latest {
                early += 1;
            }
            latest = latest.max(admitted[i]);
        }
        early
    };
    // Arrival order: the pre-queue's after its lottery (by stamp), every
    // other person by when they came.
    let arrival_rank: Vec<i64> = (0..n)
        .map(|i| {
            if schedule[i] < 10_000 {
                by_stamp[i] - opens - 10_000_000
            } else {
                schedule[i] as i64
            }
        })
        .collect();
    let pick = |v: &[i64]| sample(v);
    println!(
        "  Kendall tau over pairs admitted at different times, ticket order vs admission order: {:.4}; \
         arrival order vs admission order: {:.4} (a sample of {})",
        kendall_tau(&pick(&by_stamp), &pick(&admitted)),
        kendall_tau(&pick(&arrival_rank), &pick(&admitted)),
        pick(&admitted).len()
    );
    println!("  tickets admitted before an earlier ticket: {ahead}");
    println!(
        "  arrivals counted by the origin: {counted} of {n} tickets issued (the outage: {}..{} s)",
        OUTAGE.0,
        OUTAGE.0 + OUTAGE.1
    );
    println!("  refused registrations by status (retried the next second): {refused:?}");
    println!(
        "  seats: {confirmed} confirmed of {seats}; the first {seats} by ticket order got {:.1}%",
        100.0 * {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| by_stamp[i]);
            order[..seats].iter().filter(|i| seated.contains(i)).count() as f64 / seats as f64
        }
    );
    println!(
        "  the first {seats} arrivals got {:.1}% of the seats; overbooked: {}",
        100.0 * first_come_share(&seated, seats),
        confirmed > seats
    );
}

async fn without_room(n: usize, random: &mut Lcg) {
    let seats = n / 2;
    let o = Opening::start(seats).await;
    let schedule = arrivals(n, random);
    let mut next = 0;
    let mut retrying: Vec<(usize, u32)> = Vec::new();
    let mut per_second_counts = Vec::new();
    let (mut unavailable, mut gave_up) = (0, 0);
    let mut second = 0u64;
    let began = Instant::now();
    while next < n || !retrying.is_empty() {
        let real = Instant::now();
        let clock = o.now_ms();
        let mut sending: Vec<(usize, u32)> = std::mem::take(&mut retrying);
        while next < n && schedule[next] < (second + 1) * 1_000 {
            sending.push((next, 0));
            next += 1;
        }
        let answers = send_all(
            sending
                .iter()
                .map(|&(i, _)| (o.edge(i).app.clone(), registration(i, None)))
                .collect(),
        )
        .await;
        for (&(i, tries), (status, _)) in sending.iter().zip(&answers) {
            if *status == 503 {
                unavailable += 1;
                if tries < 10 {
                    retrying.push((i, tries + 1));
                } else {
                    gave_up += 1;
                }
            }
        }
        second_done(real).await;
        let took = (o.now_ms() - clock).max(1) as usize;
        per_second_counts.push(Some(Tally {
            count: sending.len(),
            ms: took,
        }));
        second += 1;
    }
    let (seated, confirmed) = o.seated().await;
    println!(
        "\n(b) the same opening without a room: {n} arrivals, {seats} seats, {second} simulated seconds in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    per_second("origin's registrations", &per_second_counts);
    println!("  answered 503: {unavailable}; gave up after 10 tries: {gave_up}");
    println!(
        "  the first {seats} arrivals got {:.1}% of the seats; {confirmed} confirmed; overbooked: {}",
        100.0 * first_come_share(&seated, seats),
        confirmed > seats
    );
}

/// A client asking its own ticket's place (the path read is the room's).
struct Waiting {
    app: App,
    ticket: String,
}

impl Reader for Waiting {
    async fn read(&mut self, path: &str) -> Answer {
        let request = http::Request::get(path)
            .header(TICKET_HEADER, &self.ticket)
            .body(Bytes::new())
            .unwrap();
        let answer = self.app.send(request).await;
        Answer::of(answer.status().as_u16(), answer.headers())
    }
}

/// A room that opens in an hour, its pre-queue issuing tickets now.
fn room_opening_in_an_hour(now_ms: i64) -> Value {
    json!({
        "opens_at": jiff::Timestamp::from_millisecond(now_ms + 3_600_000).unwrap().to_string(),
        "prequeue_minutes": 120, "per_minute": 600,
    })
}

/// Runs of 64 clients reading `event` from an edge, and of 64 clients
/// asking their ticket's place at `room`, alternating, three each.
async fn alternate<R: Reader, W: Reader>(
    readers: impl Fn() -> Vec<R>,
    waiting: impl Fn() -> Vec<W>,
    (event, room): (&str, &str),
    duration: Duration,
) -> (Vec<Run>, Vec<Run>) {
    let (mut reads, mut checks) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        reads.push(run_load(readers(), duration, &[event.to_string()]).await);
        checks.push(run_load(waiting(), duration, &[room.to_string()]).await);
    }
    (reads, checks)
}

/// (c) in this process: the test host's apps, requests sent in process.
async fn check_in_process(duration: Duration) -> (Vec<Run>, Vec<Run>) {
    let o = Opening::start(100).await;
    let room = room_opening_in_an_hour(o.now_ms());
    assert_eq!(
        o.t.origin.admin("PUT", ROOM, Some(room)).await.status(),
        200
    );
    let edge = &o.t.edges[0].app;
    let mut tickets = Vec::new();
    for i in 0..CONCURRENCY {
        let taken = edge.send(take(i)).await;
        assert_eq!(taken.status(), 201);
        tickets.push(body_json(&taken)["ticket"].as_str().unwrap().to_string());
    }
    let waiting = || {
        tickets
            .iter()
            .map(|ticket| Waiting {
                app: edge.clone(),
                ticket: ticket.clone(),
            })
            .collect()
    };
    let paths = (
        &*format!("/api/events/{SLUG}"),
        &*format!("/api/events/{SLUG}/waiting-room"),
    );
    alternate(|| vec![edge.clone(); CONCURRENCY], waiting, paths, duration).await
}

/// (c) as deployed: the origin and an edge as processes under `engine`
/// (`deploy/*.toml`, the demo event, Spin's default instance reuse), read
/// over kept-alive TCP connections.
async fn check_as_processes(engine: Engine, duration: Duration) -> (Vec<Run>, Vec<Run>) {
    const SECRET: &str = "wr-bench-signing-secret-0123456789";
    const ADMIN: &str = "wr-bench-admin-token-0123456789abcdef";
    let state = StateDir::new();
    let tools = Launcher::new(engine, state.path());
    let (origin, edge) = (free_port(), free_port());
    let mut running = vec![
        tools.origin(origin, (SECRET, ADMIN), &[edge], None),
        tools.edge(edge, "bench", origin, SECRET, None),
    ];
    let event = format!("/api/events/{DEMO}");
    let room = format!("{event}/waiting-room");
    wait_ready(edge, &event).await;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let organizer = [
        ("authorization".to_string(), format!("Bearer {ADMIN}")),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let body = Bytes::from(room_opening_in_an_hour(now_ms).to_string());
    let admin_path = format!("/api/admin/events/{DEMO}/waiting-room");
    let put = send(edge, "PUT", &admin_path, &organizer, body).await;
    assert_eq!(put.map(|(status, ..)| status), Some(200), "the room opens");
    // The edge knows of the room once a place is asked for with no ticket
    // and refused for that, not for there being no room.
    let started = Instant::now();
    while send(edge, "GET", &room, &[], Bytes::new())
        .await
        .map(|(s, ..)| s)
        == Some(404)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the edge never heard of the room"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One address takes at most `Limit::TICKETS` a minute: clients share
    // what it got (a ticket's place costs the same whoever asks).
    let mut tickets = Vec::new();
    for _ in 0..CONCURRENCY {
        if let Some((201, _, body)) = send(edge, "POST", &room, &[], Bytes::new()).await {
            let taken: Value = serde_json::from_slice(&body).unwrap();
            tickets.push(taken["ticket"].as_str().unwrap().to_string());
        }
    }
    assert!(!tickets.is_empty(), "the edge issued no ticket");
    let waiting = || {
        (0..CONCURRENCY)
            .map(|i| {
                let ticket = tickets[i % tickets.len()].clone();
                Browser::with_headers(edge, vec![(TICKET_HEADER.to_string(), ticket)])
            })
            .collect()
    };
    let readers = || (0..CONCURRENCY).map(|_| Browser::new(edge)).collect();
    let runs = alternate(readers, waiting, (&event, &room), duration).await;
    stop(&mut running);
    runs
}

/// (c): in this process, or with `--spin` or `--both` as processes under
/// each engine asked for, each engine's figures printed as it ends.
async fn check_cost(secs: u64) {
    let duration = Duration::from_secs(secs);
    let engines = Engine::asked(&[]);
    if engines.is_empty() {
        let runs = check_in_process(duration).await;
        print_check("the test host, in this process", secs, runs);
    }
    for engine in engines {
        let runs = check_as_processes(engine, duration).await;
        print_check(
            &format!("{}, as processes over TCP", engine.name()),
            secs,
            runs,
        );
    }
}

fn print_check(engine: &str, secs: u64, (reads, checks): (Vec<Run>, Vec<Run>)) {
    let line = |what: &str, f: &Figures| {
        println!(
            "  {what:<28} {:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  non-200 {}",
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            f.non_200
        )
    };
    let mut ratios: Vec<f64> = checks
        .iter()
        .zip(&reads)
        .map(|(c, r)| c.per_second() / r.per_second())
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "\n(c) the waiting check at one edge, {engine}, {CONCURRENCY} clients, 3 × {secs} s each:"
    );
    line("cached read of the event", &Figures::of(&reads));
    line("a ticket's place", &Figures::of(&checks));
    println!(
        "  place ÷ cached read, median of the runs: {:.2}",
        ratios[1]
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = setting("WR_BENCH_ARRIVALS", 100_000) as usize;
    let rate = setting("WR_BENCH_RATE", 12_000);
    let secs = setting("WR_BENCH_SECS", 8);
    let mut random = Lcg::seeded("WR_BENCH_SEED");
    println!("engine of (a) and (b): the test host, in this process; origin on SQLite");
    println!("{}", Link::configured().describe());
    let parts = parts();
    if parts.iter().any(|p| p == "room") {
        with_room(n, rate, &mut Lcg::from_seed(random.next(u64::MAX))).await;
    }
    if parts.iter().any(|p| p == "no-room") {
        without_room(n, &mut Lcg::from_seed(random.next(u64::MAX))).await;
    }
    if parts.iter().any(|p| p == "check") {
        check_cost(secs).await;
    }
}
