//! A registration burst through the edge and the origin together, as in
//! production: the development manifest (`spin.toml`: one app, the edge
//! forwarding writes signed to the origin's private route, Spin's default
//! instance reuse) served over HTTP on a loopback port, and clients on
//! HTTP/1.1 keep-alive connections, one each, as `wrk` sends them.
//!
//! One event with 500 seats, created and published through the organizer
//! API, registering without confirmation by email (`confirm_email: false`)
//! so that every answer names the seat it decided; then the same at 64
//! clients with confirmation on, the default for new events, where every
//! answer is a 202 and each registration is held with its seat or place
//! (a confirmation token where a manage token was). Either way the seats
//! held are checked in the organizer's list. In the host, that case then
//! crosses the hold's timer: the app's wall clock is moved past the
//! 30-minute hold and the same clients go on registering, so the first
//! decisions expire every hold of the burst that nobody confirmed (and
//! their latency shows what that costs). At 1, 16, 64 and 256 clients, closed loop (each client sends its
//! next registration when the last is answered) for a fixed time, a fresh
//! app per run and several runs per case: registrations per second (201
//! answers), p50, p99 and max latency over every answer, and the answers by
//! status (a 503 with `Retry-After` or a 429 is a refusal, counted, not a
//! failure). Each registration has its own Idempotency-Key, email and
//! attendee address: the edge trusts 127.0.0.1 as a proxy and reads the
//! attendee from `X-Forwarded-For`, so the per-address limit stays as users
//! get it and no address nears it. After every run the organizer's list
//! must show the capacity held: the bench panics on an overbooking, never
//! on a time. The baseline, in the same app right after each run: the same
//! clients for the same time replaying keys already decided, which crosses
//! the same edge, limiter, signature and origin read but no decision; the
//! ratio shows what deciding costs. In the host, the same burst at 64
//! clients then runs with the edge→origin link slow (+250 ms), hung and
//! refusing; and in either mode, on PostgreSQL, with the origin→PostgreSQL
//! link slow (1 and 5 ms each way), hung and refusing
//! (`system_tests::relay` between the origin and the server). Then, per
//! engine, contention: two events registering at once (32 clients each)
//! against one alone, and 64 clients registering while 200 bogus
//! cancellations a second (wrong ids and tokens, each from an address of
//! its own, so that all of them reach the origin) arrive, against the
//! same 64 in quiet.
//!
//! Build the components first
//! (`cargo build --target wasm32-wasip2 --profile wasm -p edge -p origin`),
//! then:
//!   cargo bench -p system-tests --bench registration_burst
//!     in the test host (`spin_test_host::Server`, in this process);
//!   REG_BENCH_MODE=spin cargo bench -p system-tests --bench registration_burst
//!     (or `-- --spin`) under `spin up` (Spin 4.1+ on the PATH), each run a
//!     `spin up` in its own process group with its own state directory;
//!   REG_BENCH_MODE=both (or `-- --both`) runs each case in the host and
//!     then under `spin up`, one row each, side by side from one run.
//! The origin's database is Spin's SQLite and then, in the same run, a
//! PostgreSQL: a throwaway cluster on loopback (`system_tests::postgres`,
//! on the same cores), a fresh database per run, the origin pointed at it
//! by `database_url` as operators point theirs; `REG_BENCH_DATABASES`
//! (default `sqlite,postgres`) picks them.
//! `REG_BENCH_SECS` (default 8, as `wrk -d 8`) sets each run's length,
//! `REG_BENCH_RUNS` (default 3) the runs per case, the median by
//! throughput printed; `REG_BENCH_CLIENTS` (default `1,16,64,256`) the
//! client counts; `REG_BENCH_PARTS` (default `clients,contention,links`)
//! which parts run: the client counts (with the confirming case), the
//! contention cases, the links in trouble. The components' logs go to
//! stderr.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::{Value, json};
use spin_test_host::clock::Clock;
use spin_test_host::{App, AppOptions, LinkFault, Server};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use system_tests::load::ms;
use system_tests::processes::{Engine, Launcher, Running, connect, free_port, wait_ready};
use system_tests::relay::{self, Relay};
use system_tests::{ADMIN_TOKEN, dev_manifest};

const SLUG: &str = "burst";
const CAPACITY: u64 = 500;
/// The hold a confirming event gives each registration: the default.
const HOLD_MINUTES: u32 = eventfront_domain::model::DEFAULT_HOLD_MINUTES;
const CLIENTS: [usize; 4] = [1, 16, 64, 256];
/// Variables set on the development app; everything else as the manifest
/// has it (the default registration limit included).
const VARIABLES: [(&str, &str); 3] = [
    ("admin_token", ADMIN_TOKEN),
    ("seed_demo", "false"),
    // The clients are the attendees' proxy: the limit counts the address
    // each registration names in `X-Forwarded-For`.
    ("trusted_proxies", "127.0.0.1"),
];
/// An exchange unanswered after this counts as no answer; longer than the
/// edge's write timeouts, so it only ends true hangs.
const GIVE_UP: Duration = Duration::from_secs(60);

enum Mode {
    Host,
    Spin(PathBuf),
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Host => "host",
            Mode::Spin(_) => "spin",
        }
    }
}

/// The engines asked for, in the order they run each case; empty when
/// Spin is asked for and no `spin` is on the PATH.
fn modes() -> Vec<Mode> {
    let asked = std::env::var("REG_BENCH_MODE").unwrap_or_default();
    let arg = |name: &str| std::env::args().any(|a| a == name);
    let (host, spin) = match asked.as_str() {
        "" | "host" if arg("--both") => (true, true),
        "" | "host" => (!arg("--spin"), arg("--spin")),
        "spin" => (false, true),
        "both" => (true, true),
        other => panic!("REG_BENCH_MODE is `host`, `spin` or `both`, not {other:?}"),
    };
    let mut modes = Vec::new();
    if host {
        modes.push(Mode::Host);
    }
    if spin {
        let path = std::env::var_os("PATH").unwrap_or_default();
        match std::env::split_paths(&path)
            .map(|dir| dir.join("spin"))
            .find(|candidate| candidate.is_file())
        {
            Some(spin) => modes.push(Mode::Spin(spin)),
            None => return Vec::new(),
        }
    }
    modes
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} takes a whole number, not {v:?}"))
    })
}

/// The development app on a loopback port with fresh state. Dropping it
/// stops the app before its state directory is removed.
struct Served {
    addr: SocketAddr,
    /// The app in this process (host mode), whose links can be broken.
    app: Option<App>,
    /// Its wall clock (host mode), which the bench can move past a hold.
    clock: Option<Clock>,
    /// Between the origin and PostgreSQL, when the run breaks that link.
    relay: Option<Relay>,
    _server: Option<Server>,
    _spin: Option<Running>,
    _state: tempfile::TempDir,
}

/// Serves the app on `database`; on PostgreSQL through a relay, when
/// `relayed`, that the run can break.
async fn serve(mode: &Mode, database: Database, relayed: bool) -> Served {
    let state = tempfile::tempdir().unwrap();
    let mut variables: Vec<(&str, String)> = VARIABLES
        .iter()
        .map(|(name, value)| (*name, value.to_string()))
        .collect();
    let mut relay = None;
    if database == Database::Postgres {
        let mut url: url::Url = system_tests::postgres::database().await.parse().unwrap();
        if relayed {
            let server = format!("127.0.0.1:{}", url.port().unwrap());
            let started = Relay::start(server.parse().unwrap()).await;
            url.set_port(Some(started.addr().port())).unwrap();
            relay = Some(started);
        }
        variables.extend(system_tests::postgres::origin_variables(url.to_string()));
    }
    let (addr, app, server, spin_up) = match mode {
        Mode::Host => {
            let mut options = AppOptions::new(dev_manifest());
            for (name, value) in &variables {
                options = options.variable(name, value);
            }
            options.state_dir = Some(state.path().join("state"));
            let clock = options.clock.clone();
            let app = App::start(options)
                .await
                .expect("the development app starts");
            let server = Server::bind(app.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            (server.addr(), Some((app, clock)), Some(server), None)
        }
        Mode::Spin(_) => {
            let port = free_port();
            let launcher = Launcher::new(Engine::Spin, state.path());
            let up = launcher.up(&dev_manifest(), port, "app", &variables, None);
            wait_ready(port, "/api/health").await;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            (addr, None, None, Some(up))
        }
    };
    let (app, clock) = app.unzip();
    Served {
        addr,
        app,
        clock,
        relay,
        _server: server,
        _spin: spin_up,
        _state: state,
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "a {} answer that is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One kept-alive HTTP/1.1 connection, made again when it breaks.
struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    /// The answer, or `None` when there was none (connection refused or
    /// broken, or nothing within [`GIVE_UP`]).
    async fn exchange(&mut self, request: http::Request<Full<Bytes>>) -> Option<Answer> {
        let answer = tokio::time::timeout(GIVE_UP, async {
            if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
                self.sender = Some(connect(self.addr).await?);
            }
            let sender = self.sender.as_mut()?;
            sender.ready().await.ok()?;
            let (parts, body) = sender.send_request(request).await.ok()?.into_parts();
            Some(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: body.collect().await.ok()?.to_bytes(),
            })
        })
        .await
        .ok()
        .flatten();
        if answer.is_none() {
            self.sender = None;
        }
        answer
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    request.body(Full::new(body)).unwrap()
}

/// An organizer request through the edge, which must succeed.
async fn organizer(client: &mut Client, method: &str, path: &str, body: Option<Value>) -> Value {
    let auth = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let answer = client
        .exchange(request(client.addr, method, path, &auth, body.as_ref()))
        .await
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    assert!(
        (200..300).contains(&answer.status),
        "{method} {path}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// What one registration was answered with.
enum Outcome {
    Confirmed,
    Waitlisted,
    /// 202: held for its address to confirm (seat or line unsaid).
    Pending,
    /// Anything but a 201, by label.
    Other(String),
}

/// Attendee `i`'s address: 10.0.0.1 onwards, one per registration.
fn attendee_address(i: u32) -> Ipv4Addr {
    assert!(
        i < 0x00ff_ffff,
        "more registrations than 10/8 has addresses"
    );
    Ipv4Addr::from(0x0a00_0000 | (i + 1))
}

async fn register(client: &mut Client, slug: &str, i: u32) -> Outcome {
    let body =
        json!({"name": format!("Attendee {i}"), "email": format!("attendee{i}@example.com")});
    let headers = [
        ("idempotency-key", format!("burst-{i}")),
        ("x-forwarded-for", attendee_address(i).to_string()),
    ];
    let path = format!("/api/events/{slug}/registrations");
    let Some(answer) = client
        .exchange(request(client.addr, "POST", &path, &headers, Some(&body)))
        .await
    else {
        return Outcome::Other("no answer".to_string());
    };
    match answer.status {
        201 => match answer.json()["status"].as_str() {
            Some("confirmed") => Outcome::Confirmed,
            Some("waitlisted") => Outcome::Waitlisted,
            _ => panic!(
                "a 201 that is neither confirmed nor waitlisted: {}",
                String::from_utf8_lossy(&answer.body)
            ),
        },
        202 => match answer.json()["status"].as_str() {
            Some("pending") => Outcome::Pending,
            _ => panic!(
                "a 202 that is not pending: {}",
                String::from_utf8_lossy(&answer.body)
            ),
        },
        503 if !answer.headers.contains_key(http::header::RETRY_AFTER) => {
            Outcome::Other("503 without Retry-After".to_string())
        }
        status => Outcome::Other(status.to_string()),
    }
}

/// A label for an answer after which the origin may still have taken the
/// seat: none, or a server error (the edge gives up on a slow origin with
/// a 503 while the origin's transaction may yet commit).
fn may_have_registered(label: &str) -> bool {
    label == "no answer" || label.starts_with('5')
}

/// Answers per second (201s only) and latencies over every answer.
struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Figures {
    fn of(seen: &[(Duration, Outcome)], elapsed: Duration) -> Self {
        let answered = seen
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Other(_)))
            .count();
        let mut latencies: Vec<Duration> = seen.iter().map(|(d, _)| *d).collect();
        latencies.sort_unstable();
        let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
        Self {
            per_second: answered as f64 / elapsed.as_secs_f64(),
            p50: at(50),
            p99: at(99),
            max: latencies[latencies.len() - 1],
        }
    }
}

struct Run {
    figures: Figures,
    /// The same load replaying decided keys (not with a broken link).
    replay: Option<Figures>,
    confirmed: u64,
    waitlisted: u64,
    pending: u64,
    other: BTreeMap<String, u64>,
    /// Holding a seat in the organizer's list: confirmed, or held for
    /// confirmation with a seat.
    seated: u64,
    /// In line in the organizer's list: waitlisted, or held in line.
    waiting: u64,
    /// When the event confirms by email (host only): the same load once
    /// the holds have lapsed.
    after_lapse: Option<Lapse>,
}

/// Registering once a burst's holds have lapsed.
struct Lapse {
    figures: Figures,
    /// Holds expired by then.
    expired: u64,
    /// Seats held afterwards.
    seated: u64,
}

impl Run {
    /// Answers that decided a registration: 201, or 202 when confirming.
    fn decided(&self) -> u64 {
        self.confirmed + self.waitlisted + self.pending
    }

    fn other_total(&self) -> u64 {
        self.other.values().sum()
    }
}

/// `clients` clients on connections of their own, each registering the
/// attendee `pick` names next for event `slug` as soon as its last answer
/// came, for `duration`; registrations under way at the end are waited
/// for and counted. Every answer with its latency, and the time it all
/// took.
async fn closed_loop(
    addr: SocketAddr,
    slug: &'static str,
    clients: usize,
    duration: Duration,
    pick: impl Fn() -> u32 + Send + Sync + 'static,
) -> (Vec<(Duration, Outcome)>, Duration) {
    let pick = Arc::new(pick);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks = (0..clients).map(|_| {
        let pick = pick.clone();
        let mut client = Client::new(addr);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let i = pick();
                let sent = Instant::now();
                let outcome = register(&mut client, slug, i).await;
                seen.push((sent.elapsed(), outcome));
            }
            seen
        })
    });
    let seen = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|client| client.expect("a client panicked"))
        .collect();
    (seen, started.elapsed())
}

/// The edge→origin link inside the development app.
const ORIGIN_LINK: &str = "origin.spin.internal";

/// One case: how many clients, a link broken or not, and whether the
/// event confirms addresses by email.
#[derive(Clone, Copy)]
struct Case {
    clients: usize,
    trouble: Option<Trouble>,
    confirming: bool,
    database: Database,
}

/// A link broken for a whole run.
#[derive(Clone, Copy)]
enum Trouble {
    /// The edge→origin link, in the host.
    EdgeToOrigin(LinkFault),
    /// The origin→PostgreSQL link, through a relay.
    OriginToDatabase(relay::Fault),
}

/// The origin's database for a case.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Database {
    Sqlite,
    Postgres,
}

impl Database {
    fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "PostgreSQL",
        }
    }
}

/// `runs` runs of one case, each on a fresh app, slowest first.
async fn runs_by_throughput(mode: &Mode, case: Case, duration: Duration, runs: usize) -> Vec<Run> {
    let mut done = Vec::with_capacity(runs);
    for _ in 0..runs {
        done.push(run(mode, case, duration).await);
    }
    done.sort_by(|a, b| a.figures.per_second.total_cmp(&b.figures.per_second));
    done
}

/// One run on a fresh app; with `trouble`, that link is broken once the
/// event is published, and no replay baseline is run.
async fn run(mode: &Mode, case: Case, duration: Duration) -> Run {
    let Case {
        clients,
        trouble,
        confirming,
        database,
    } = case;
    let relayed = matches!(trouble, Some(Trouble::OriginToDatabase(_)));
    let served = serve(mode, database, relayed).await;
    let mut setup = Client::new(served.addr);
    publish(&mut setup, SLUG, confirming).await;

    match trouble {
        Some(Trouble::EdgeToOrigin(fault)) => served
            .app
            .as_ref()
            .expect("the edge→origin link is broken only in the host")
            .links()
            .set(ORIGIN_LINK, fault),
        Some(Trouble::OriginToDatabase(fault)) => {
            served.relay.as_ref().expect("relayed").set(Some(fault))
        }
        None => {}
    }
    let next = Arc::new(AtomicU32::new(0));
    let counter = next.clone();
    let (seen, elapsed) = closed_loop(served.addr, SLUG, clients, duration, move || {
        counter.fetch_add(1, Ordering::Relaxed)
    })
    .await;
    let figures = Figures::of(&seen, elapsed);
    let (mut confirmed, mut waitlisted, mut pending, mut other) = (0, 0, 0, BTreeMap::new());
    for (_, outcome) in &seen {
        match outcome {
            Outcome::Confirmed => confirmed += 1,
            Outcome::Waitlisted => waitlisted += 1,
            Outcome::Pending => pending += 1,
            Outcome::Other(label) => *other.entry(label.clone()).or_default() += 1,
        }
    }
    // The baseline: the same clients for the same time replaying keys
    // already decided, the same path through edge and origin save the
    // decision, in the same app right after.
    let replay = match trouble {
        Some(_) => None,
        None => {
            let decided = seen.len() as u32;
            let again = Arc::new(AtomicU32::new(0));
            let (replays, replay_elapsed) =
                closed_loop(served.addr, SLUG, clients, duration, move || {
                    again.fetch_add(1, Ordering::Relaxed) % decided
                })
                .await;
            Some(Figures::of(&replays, replay_elapsed))
        }
    };
    if let Some(app) = &served.app {
        app.links().heal(ORIGIN_LINK);
    }
    if let Some(relay) = &served.relay {
        relay.set(None);
    }
    let (seated, waiting) = held(&mut setup, SLUG).await;
    let run = Run {
        figures,
        replay,
        confirmed,
        waitlisted,
        pending,
        other,
        seated,
        waiting,
        after_lapse: None,
    };
    check_capacity(&run, clients);
    let after_lapse = match (&served.clock, confirming) {
        (Some(clock), true) => {
            Some(after_lapse(&served, clock, &mut setup, clients, duration, next).await)
        }
        _ => None,
    };
    Run { after_lapse, ..run }
}

/// Creates and publishes event `slug` of `CAPACITY` seats.
async fn publish(setup: &mut Client, slug: &str, confirming: bool) {
    let event = json!({
        "name": "Burst", "timezone": "UTC",
        "starts_at": "2027-01-01T09:00:00Z", "ends_at": "2027-01-01T18:00:00Z",
        "registration": {"open": true, "capacity": CAPACITY, "confirm_email": confirming}
    });
    let admin = format!("/api/admin/events/{slug}");
    organizer(setup, "PUT", &admin, Some(event)).await;
    organizer(setup, "POST", &format!("{admin}/publish"), Some(json!({}))).await;
}

/// Seats held and places in line in the organizer's list of `slug`: a
/// registration holds a seat, or a place in line (`position`), held for
/// confirmation or not.
async fn held(setup: &mut Client, slug: &str) -> (u64, u64) {
    let path = format!("/api/admin/events/{slug}/registrations");
    let listing = organizer(setup, "GET", &path, None).await;
    let (mut seated, mut waiting) = (0, 0);
    for row in listing["registrations"]
        .as_array()
        .unwrap_or_else(|| panic!("the organizer's list has no registrations: {listing}"))
    {
        match (row["status"].as_str(), row["position"].is_null()) {
            (Some("confirmed" | "pending"), true) => seated += 1,
            (Some("waitlisted" | "pending"), false) => waiting += 1,
            _ => {}
        }
    }
    (seated, waiting)
}

/// What the burst's holds cost once they lapse: the clock moved past the
/// hold (host only), the same clients registering newcomers, the first of
/// whose decisions expires every lapsed hold (the event's whole burst,
/// but the few confirmed) before it decides. Never more seats than there are.
async fn after_lapse(
    served: &Served,
    clock: &Clock,
    setup: &mut Client,
    clients: usize,
    duration: Duration,
    next: Arc<AtomicU32>,
) -> Lapse {
    clock.advance(Duration::from_secs(u64::from(HOLD_MINUTES) * 60 + 60));
    let (seen, elapsed) = closed_loop(served.addr, SLUG, clients, duration, move || {
        next.fetch_add(1, Ordering::Relaxed)
    })
    .await;
    let listing = organizer(
        setup,
        "GET",
        &format!("/api/admin/events/{SLUG}/registrations"),
        None,
    )
    .await;
    let seated = listing["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            matches!(r["status"].as_str(), Some("confirmed" | "pending")) && r["position"].is_null()
        })
        .count() as u64;
    assert!(
        seated <= CAPACITY,
        "OVERBOOKED after the holds lapsed: {seated} seats held for {CAPACITY}"
    );
    Lapse {
        figures: Figures::of(&seen, elapsed),
        expired: listing["expired"].as_u64().unwrap_or(0),
        seated,
    }
}

/// The capacity held: never more seats held than there are, every
/// confirmation answered holds one, every registration listed was answered
/// (or got an unclear answer), and nobody in line while a seat was free.
/// A seat may also have gone to a registration answered with a server
/// error or nothing, whose retry with its key would be answered its seat.
fn check_capacity(run: &Run, clients: usize) {
    let case = format!("{clients} clients");
    assert!(
        run.seated <= CAPACITY && run.confirmed <= CAPACITY,
        "OVERBOOKED at {case}: {} seats held in the organizer's list and {} confirmations \
         answered, for {CAPACITY} seats",
        run.seated,
        run.confirmed
    );
    assert!(
        run.confirmed <= run.seated,
        "at {case}: {} confirmations answered but only {} seats held in the organizer's list",
        run.confirmed,
        run.seated
    );
    let unclear: u64 = run
        .other
        .iter()
        .filter(|(label, _)| may_have_registered(label))
        .map(|(_, n)| n)
        .sum();
    let listed = run.seated + run.waiting;
    assert!(
        listed >= run.decided() && listed - run.decided() <= unclear,
        "at {case}: {listed} registrations in the organizer's list, {} answered, and only \
         {unclear} answers that could account for the difference",
        run.decided()
    );
    assert!(
        run.waiting == 0 || run.seated == CAPACITY,
        "at {case}: {} in line while only {} of {CAPACITY} seats were held",
        run.waiting,
        run.seated
    );
}

fn other_column(run: &Run) -> String {
    let total = run.other_total();
    if total == 0 {
        return "0".to_string();
    }
    let labels: Vec<String> = run
        .other
        .iter()
        .map(|(label, n)| format!("{label}: {n}"))
        .collect();
    format!("{total} ({})", labels.join(", "))
}

#[tokio::main]
async fn main() {
    let modes = modes();
    if modes.is_empty() {
        println!(
            "registration burst: spin mode asked for, but no `spin` is on the PATH; \
             nothing measured (install Spin 4.1+ or run without REG_BENCH_MODE=spin / --spin)"
        );
        return;
    }
    let duration = Duration::from_secs(env_number("REG_BENCH_SECS", 8).max(1));
    let runs = env_number("REG_BENCH_RUNS", 3).max(1) as usize;
    let mode_lines: Vec<String> = modes
        .iter()
        .map(|mode| match mode {
            Mode::Host => "host: the test host in this process, sharing its cores with the clients"
                .to_string(),
            Mode::Spin(spin) => format!("spin: `{} up`, a process of its own", spin.display()),
        })
        .collect();
    println!(
        "registration burst through the edge and the origin (spin.toml), {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mode_lines.join("; then, case by case, ")
    );
    // With both engines, each case runs in one and then the other, and
    // its rows are named by engine.
    let label = |what: &str, mode: &Mode| match modes.len() {
        1 => what.to_string(),
        _ => format!("{what} {}", mode.name()),
    };
    println!(
        "one event of {CAPACITY} seats; per case {runs} run(s) of {} s, each on a fresh app, \
         the median by reg/s shown; keep-alive HTTP/1.1, one connection per client, closed loop",
        duration.as_secs()
    );
    println!(
        "reg/s counts decided answers (201 confirmed or waitlisted; 202 pending when the event \
         confirms by email); latencies cover every answer; replay/s is the same load replaying \
         decided keys right after, in the same app (the path without the decision), and \
         xreplay the ratio\n"
    );
    println!("clients   | reg/s | p50 ms | p99 ms | max ms | decided | replay/s | xreplay | other");
    let print = |label: &str, done: &[Run]| {
        let median = &done[done.len() / 2];
        let f = &median.figures;
        println!(
            "{label:>9} | {:>5.0} | {:>6.2} | {:>6.2} | {:>6.1} | {:>7} | {:>8.0} | {:>7.2} | {}",
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            median.decided(),
            median.replay.as_ref().map_or(0.0, |r| r.per_second),
            median
                .replay
                .as_ref()
                .map_or(0.0, |r| f.per_second / r.per_second),
            other_column(median)
        );
        let throughputs: Vec<String> = done
            .iter()
            .map(|r| format!("{:.0}", r.figures.per_second))
            .collect();
        println!(
            "        runs {} reg/s; median run: {} confirmed, {} waitlisted, {} pending; \
             organizer's list: {} of {CAPACITY} seats held, {} in line",
            throughputs.join(", "),
            median.confirmed,
            median.waitlisted,
            median.pending,
            median.seated,
            median.waiting
        );
    };
    let cases: Vec<usize> = match std::env::var("REG_BENCH_CLIENTS") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("REG_BENCH_CLIENTS lists whole numbers, not {n:?}"))
            })
            .collect(),
        Err(_) => CLIENTS.to_vec(),
    };
    let databases: Vec<Database> = std::env::var("REG_BENCH_DATABASES")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|name| match name.trim() {
            "sqlite" => Database::Sqlite,
            "postgres" => Database::Postgres,
            other => panic!("REG_BENCH_DATABASES lists sqlite and postgres, not {other:?}"),
        })
        .collect();
    let parts =
        std::env::var("REG_BENCH_PARTS").unwrap_or_else(|_| "clients,contention,links".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    for &database in databases.iter().filter(|_| part("clients")) {
        println!("\norigin on {}", database.name());
        for &clients in &cases {
            for mode in &modes {
                let case = Case {
                    clients,
                    trouble: None,
                    confirming: false,
                    database,
                };
                print(
                    &label(&clients.to_string(), mode),
                    &runs_by_throughput(mode, case, duration, runs).await,
                );
            }
        }
        // The default for new events: every answer a 202, each registration
        // held with its seat or place for its address to confirm.
        let confirming = Case {
            clients: 64,
            trouble: None,
            confirming: true,
            database,
        };
        for mode in &modes {
            let done = runs_by_throughput(mode, confirming, duration, runs).await;
            print(&label("64 ✉", mode), &done);
            if let Some(lapse) = &done[done.len() / 2].after_lapse {
                let f = &lapse.figures;
                println!(
                    "  then the clock moved past the {HOLD_MINUTES}-minute hold, the same load: \
                     {:.0} reg/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {} holds expired, \
                     {} of {CAPACITY} seats held",
                    f.per_second,
                    ms(f.p50),
                    ms(f.p99),
                    ms(f.max),
                    lapse.expired,
                    lapse.seated
                );
            }
        }
    }
    println!(
        "\n64 ✉: 64 clients, the event confirming addresses by email (the default for new events)"
    );
    for &database in databases.iter().filter(|_| part("contention")) {
        for mode in &modes {
            contention_cases(mode, database, duration, runs).await;
        }
    }
    if part("links") {
        // Only the host can break the edge→origin link.
        if let Some(host) = modes.iter().find(|mode| matches!(mode, Mode::Host)) {
            link_cases(host, duration, runs).await;
        }
        if databases.contains(&Database::Postgres) {
            for mode in &modes {
                database_link_cases(mode, duration, runs).await;
            }
        }
    }
    println!("\ncapacity held in every run: never more than {CAPACITY} seats held");
}

/// The burst at 64 clients while a link is in trouble.
const LINK_CLIENTS: usize = 64;

/// The same burst at 64 clients with the edge→origin link slow, hung and
/// refusing (the host can break it; `spin up` cannot): what attendees wait
/// and are told when the origin is in trouble. A registration the edge
/// cannot confirm is a 503 with `Retry-After`, after the edge's write
/// timeout when the origin hangs.
async fn link_cases(mode: &Mode, duration: Duration, runs: usize) {
    println!("\n{LINK_CLIENTS} clients, edge→origin link in trouble (median of {runs} by reg/s)");
    troubled(
        mode,
        duration,
        runs,
        Database::Sqlite,
        [
            ("+250 ms", LinkFault::Delay(Duration::from_millis(250))),
            ("hung", LinkFault::Hang),
            ("refusing", LinkFault::Cut),
        ]
        .map(|(label, fault)| (label, Trouble::EdgeToOrigin(fault))),
    )
    .await;
}

/// The same burst with the origin→PostgreSQL link slow (1 ms each way, a
/// server in another zone; 5 ms, one farther away or on a bad day; tokio's
/// timer rounds each up to the next millisecond), hung (nothing passes,
/// connections stay open) and refusing (connections reset): what attendees
/// wait and are told when the database is in trouble, and that nothing is
/// overbooked meanwhile.
async fn database_link_cases(mode: &Mode, duration: Duration, runs: usize) {
    println!(
        "\n{LINK_CLIENTS} clients, origin→PostgreSQL link in trouble, {} (median of {runs} by \
         reg/s)",
        mode.name()
    );
    troubled(
        mode,
        duration,
        runs,
        Database::Postgres,
        [
            (
                "+1 ms each way",
                relay::Fault::Delay(Duration::from_millis(1)),
            ),
            (
                "+5 ms each way",
                relay::Fault::Delay(Duration::from_millis(5)),
            ),
            ("hung", relay::Fault::Hang),
            ("refusing", relay::Fault::Refuse),
        ]
        .map(|(label, fault)| (label, Trouble::OriginToDatabase(fault))),
    )
    .await;
}

/// Runs and prints one case per labelled trouble.
async fn troubled(
    mode: &Mode,
    duration: Duration,
    runs: usize,
    database: Database,
    cases: impl IntoIterator<Item = (&str, Trouble)>,
) {
    println!("link            | reg/s | p50 ms | p99 ms | max ms | decided | other");
    for (label, trouble) in cases {
        let case = Case {
            clients: LINK_CLIENTS,
            trouble: Some(trouble),
            confirming: false,
            database,
        };
        let done = runs_by_throughput(mode, case, duration, runs).await;
        let median = &done[runs / 2];
        let f = &median.figures;
        println!(
            "{label:<15} | {:>5.0} | {:>6.2} | {:>6.2} | {:>6.1} | {:>7} | {}",
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            median.decided(),
            other_column(median)
        );
    }
}

/// Clients per event when two events register at once.
const PAIR_CLIENTS: usize = 32;
/// Bogus cancellations a second during the flood case, each from an
/// address of its own (a distributed flood: the edge's per-client count
/// of wrong links never stops it, so every one reaches the origin).
const FLOOD_PER_SECOND: u32 = 200;
/// Connections the flood is sent over.
const FLOOD_CONNECTIONS: u32 = 8;

/// Two cases of contention, on a fresh app per run, each measured against
/// a baseline in the same app: two events registering at once (32 clients
/// each) against one event alone (32 clients); and 64 clients registering
/// while `FLOOD_PER_SECOND` bogus cancellations (wrong ids and tokens)
/// arrive, against the same 64 clients in quiet. Never more seats than
/// there are, in any event.
async fn contention_cases(mode: &Mode, database: Database, duration: Duration, runs: usize) {
    let mut pairs = Vec::with_capacity(runs);
    let mut floods = Vec::with_capacity(runs);
    for run in 0..runs {
        // Which goes first alternates: the first load on a fresh app also
        // warms it.
        let first = if run % 2 == 0 {
            First::Baseline
        } else {
            First::Contended
        };
        pairs.push(two_events(mode, database, duration, first).await);
        floods.push(flooded(mode, database, duration, first).await);
    }
    let median = |mut done: Vec<[Figures; 3]>, by: usize| {
        done.sort_by(|a, b| a[by].per_second.total_cmp(&b[by].per_second));
        done.swap_remove(done.len() / 2)
    };
    let line = |label: &str, f: &Figures, base: &Figures| {
        println!(
            "{label:<26} | {:>5.0} | {:>6.2} | {:>6.2} | {:>6.1} | {:>5.2}",
            f.per_second,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            f.per_second / base.per_second
        );
    };
    println!(
        "\ncontention on {}, {} (median of {runs} by the contended figure; x: against its \
         baseline in the same app)",
        database.name(),
        mode.name()
    );
    println!("case                       | reg/s | p50 ms | p99 ms | max ms | x");
    let [alone, first, second] = median(pairs, 1);
    line("one event alone, 32", &alone, &alone);
    line("two at once: first, 32", &first, &alone);
    line("two at once: second, 32", &second, &alone);
    let [quiet, noisy, flood] = median(floods, 1);
    line("64, quiet", &quiet, &quiet);
    line(
        &format!("64 + {FLOOD_PER_SECOND}/s bogus cancels"),
        &noisy,
        &quiet,
    );
    println!(
        "  the bogus cancellations themselves: {:.0}/s answered 404, p50 {:.2} ms, p99 {:.2} ms",
        flood.per_second,
        ms(flood.p50),
        ms(flood.p99)
    );
}

/// Which load of a contention run goes first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum First {
    Baseline,
    Contended,
}

/// One run of the two-event case: `[alone, first, second]`.
async fn two_events(
    mode: &Mode,
    database: Database,
    duration: Duration,
    first: First,
) -> [Figures; 3] {
    const SOLO: &str = "solo";
    const PAIR: [&str; 2] = ["pair-one", "pair-two"];
    let served = serve(mode, database, false).await;
    let mut setup = Client::new(served.addr);
    for slug in [SOLO, PAIR[0], PAIR[1]] {
        publish(&mut setup, slug, false).await;
    }
    let next = Arc::new(AtomicU32::new(0));
    let attendee = || {
        let next = next.clone();
        move || next.fetch_add(1, Ordering::Relaxed)
    };
    let solo = || closed_loop(served.addr, SOLO, PAIR_CLIENTS, duration, attendee());
    let pair = || async {
        tokio::join!(
            closed_loop(served.addr, PAIR[0], PAIR_CLIENTS, duration, attendee()),
            closed_loop(served.addr, PAIR[1], PAIR_CLIENTS, duration, attendee()),
        )
    };
    let ((seen, elapsed), (one, two)) = if first == First::Baseline {
        let alone = solo().await;
        (alone, pair().await)
    } else {
        let both = pair().await;
        (solo().await, both)
    };
    let alone = Figures::of(&seen, elapsed);
    for slug in [SOLO, PAIR[0], PAIR[1]] {
        let (seated, _) = held(&mut setup, slug).await;
        assert!(
            seated <= CAPACITY,
            "OVERBOOKED: {seated} seats held for {CAPACITY} in {slug}"
        );
    }
    [
        alone,
        Figures::of(&one.0, one.1),
        Figures::of(&two.0, two.1),
    ]
}

/// One run of the flood case: `[quiet, flooded, the flood's own answers]`.
async fn flooded(
    mode: &Mode,
    database: Database,
    duration: Duration,
    first: First,
) -> [Figures; 3] {
    const QUIET: &str = "quiet";
    const FLOODED: &str = "flooded";
    let served = serve(mode, database, false).await;
    let mut setup = Client::new(served.addr);
    publish(&mut setup, QUIET, false).await;
    publish(&mut setup, FLOODED, false).await;
    let next = Arc::new(AtomicU32::new(0));
    let attendee = || {
        let next = next.clone();
        move || next.fetch_add(1, Ordering::Relaxed)
    };
    let calm = || closed_loop(served.addr, QUIET, LINK_CLIENTS, duration, attendee());
    let storm = || async {
        tokio::join!(
            closed_loop(served.addr, FLOODED, LINK_CLIENTS, duration, attendee()),
            bogus_cancels(served.addr, duration),
        )
    };
    let ((quiet, quiet_elapsed), ((seen, elapsed), (bogus, bogus_elapsed))) =
        if first == First::Baseline {
            let quiet = calm().await;
            (quiet, storm().await)
        } else {
            let stormy = storm().await;
            (calm().await, stormy)
        };
    let noisy = Figures::of(&seen, elapsed);
    let quiet = Figures::of(&quiet, quiet_elapsed);
    for slug in [QUIET, FLOODED] {
        let (seated, _) = held(&mut setup, slug).await;
        assert!(
            seated <= CAPACITY,
            "OVERBOOKED: {seated} seats held for {CAPACITY} in {slug}"
        );
    }
    let wrong: Vec<&str> = bogus
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Other(label) if label != "404" => Some(label.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "bogus cancellations must each be a 404: {wrong:?}"
    );
    // Counted as answered: each was a 404, as it should be.
    let answered: Vec<(Duration, Outcome)> = bogus
        .into_iter()
        .map(|(latency, _)| (latency, Outcome::Confirmed))
        .collect();
    [quiet, noisy, Figures::of(&answered, bogus_elapsed)]
}

/// `FLOOD_PER_SECOND` cancellations of registrations that do not exist,
/// with a made-up token, each from an address of its own, for `duration`:
/// every answer with its latency.
async fn bogus_cancels(
    addr: SocketAddr,
    duration: Duration,
) -> (Vec<(Duration, Outcome)>, Duration) {
    let started = Instant::now();
    let every = Duration::from_secs(1) * FLOOD_CONNECTIONS / FLOOD_PER_SECOND;
    let senders = (0..FLOOD_CONNECTIONS).map(|connection| {
        let mut client = Client::new(addr);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u32 = 0;
            while started.elapsed() < duration {
                tick.tick().await;
                n += 1;
                let i = n * FLOOD_CONNECTIONS + connection;
                // 172.16/12: a range no attendee of the bench uses.
                let from = Ipv4Addr::from(0xac10_0000 | (i & 0x000f_ffff));
                let headers = [
                    ("authorization", "Bearer not-a-token".to_string()),
                    ("x-forwarded-for", from.to_string()),
                ];
                let path = format!("/api/registrations/bogus-{i}");
                let sent = Instant::now();
                let outcome = match client
                    .exchange(request(addr, "DELETE", &path, &headers, None))
                    .await
                {
                    Some(answer) => Outcome::Other(answer.status.to_string()),
                    None => Outcome::Other("no answer".to_string()),
                };
                seen.push((sent.elapsed(), outcome));
            }
            seen
        })
    });
    let seen = futures::future::join_all(senders)
        .await
        .into_iter()
        .flat_map(|sender| sender.expect("a flood sender panicked"))
        .collect();
    (seen, started.elapsed())
}
