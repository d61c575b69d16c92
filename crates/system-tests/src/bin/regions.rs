//! A region simulation on one machine: the origin and three edges (eu, us,
//! ap) as separate apps on loopback ports, deployed as users get them
//! (default staleness window), each edge with its own KV and a delayed link
//! to the origin; many attendees per edge read the agenda for several
//! staleness windows over the link as set, then hung, then refusing, and
//! tables show what they saw.
//!
//! `./scripts/regions` builds and runs it with the project's test host;
//! `./scripts/regions --spin` runs the apps under `spin up` instead (Spin
//! 4.1+ on the PATH), and `--both` runs the host and then Spin and prints
//! their figures side by side. Options: `--delays 80,150,250` (round trips
//! in milliseconds), `--secs 20` (per phase), `--clients 32` (per edge),
//! `--publishes 5` (how many publishes' reach is measured).
//!
//! Every child runs in its own process group, stopped as a group (SIGTERM,
//! then SIGKILL after a grace period) at the end, on Ctrl-C and on a panic:
//! `spin up` serves from a `spin trigger` child that outlives `spin up`
//! itself when only that is killed.

use bytes::Bytes;
use eventfront_domain::signing::{Direction, Message, Secret};
use http_body_util::{BodyExt, Full};
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use system_tests::load::{Answer, Figures, Reader, agenda_mix, ms, read_load};

const DEMO: &str = "wasm-edge-summit-2027";
const SECRET: &str = "region-simulation-signing-secret";
const ADMIN: &str = "region-simulation-admin-token-0123456789";
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
/// Sequential reads through each edge to the origin.
const VIA_ORIGIN_READS: usize = 50;
/// How long a stopped child's group gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// A child process in its own process group, so that stopping it also
/// stops whatever it started.
struct Running {
    name: String,
    child: Child,
    /// Commands for a proxy: how its link behaves from now on.
    stdin: Option<ChildStdin>,
    stopped: bool,
}

impl Running {
    fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            stopped: false,
        }
    }

    fn group(&self) -> Pid {
        Pid::from_child(&self.child)
    }

    /// Tells a proxy how its link behaves: `pass`, `delay MS`, `hang`,
    /// `refuse`.
    fn tell(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("only proxies take commands");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{} did not take {command:?}: {e}", self.name));
    }

    /// Whether anything of the group is left, reaping the child itself.
    fn alive(&mut self) -> bool {
        let _ = self.child.try_wait();
        test_kill_process_group(self.group()).is_ok()
    }
}

/// Stops every group: SIGTERM to all at once, SIGKILL to those still there
/// after the grace period.
fn stop(children: &mut [Running]) {
    let mut children: Vec<&mut Running> = children.iter_mut().filter(|c| !c.stopped).collect();
    for child in &children {
        let _ = kill_process_group(child.group(), Signal::TERM);
    }
    let started = Instant::now();
    while children.iter_mut().any(|c| c.alive()) && started.elapsed() < GRACE {
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in &mut children {
        if child.alive() {
            eprintln!(
                "{}: its group still ran {GRACE:?} after SIGTERM: killed",
                child.name
            );
            let _ = kill_process_group(child.group(), Signal::KILL);
        }
        let _ = child.child.wait();
        // The id may now be reused: never signal it again.
        child.stopped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stop(std::slice::from_mut(self));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct Tools {
    root: PathBuf,
    host: PathBuf,
    spin: bool,
    state: PathBuf,
}

impl Tools {
    /// `up` under the test host or under Spin, with variables as Spin reads them.
    fn up(&self, manifest: &str, port: u16, name: &str, variables: &[(&str, String)]) -> Running {
        let program = if self.spin {
            PathBuf::from("spin")
        } else {
            self.host.clone()
        };
        let mut command = Command::new(program);
        command
            .arg("up")
            .arg("-f")
            .arg(self.root.join(manifest))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(self.state.join(name))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", key.to_uppercase()), value);
        }
        Running::spawn(name, &mut command)
    }

    /// A link from `port` to `to`, taking commands on its standard input.
    fn proxy(&self, port: u16, to: u16, delay_ms: u64) -> Running {
        Running::spawn(
            &format!("proxy :{port} to :{to}"),
            Command::new(&self.host)
                .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--to", &format!("http://127.0.0.1:{to}")])
                .args(["--delay-ms", &delay_ms.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null()),
        )
    }
}

async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Option<(u16, http::HeaderMap, Bytes)> {
    let stream = tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .ok()?;
    // A connection per read, as a first visit makes (and so no Nagle stall
    // on a kept-alive one); closed with a reset so that thousands of reads
    // a second do not use up the ports in TIME_WAIT.
    stream.set_zero_linger().ok()?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = sender
        .send_request(request.body(Full::new(body)).ok()?)
        .await
        .ok()?;
    let (parts, body) = response.into_parts();
    Some((
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.ok()?.to_bytes(),
    ))
}

/// An attendee reading from one edge over TCP.
struct Attendee(u16);

impl Reader for Attendee {
    async fn read(&mut self, path: &str) -> Answer {
        send(self.0, "GET", path, &[], Bytes::new())
            .await
            .map_or(Answer::NONE, |(status, headers, _)| {
                Answer::of(status, &headers)
            })
    }
}

async fn wait_ready(port: u16, path: &str) -> Bytes {
    let started = Instant::now();
    loop {
        if let Some((200, _, body)) = send(port, "GET", path, &[], Bytes::new()).await {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "port {port} never answered {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// p50 and p99 of sequential reads that the edge forwards to the origin
/// every time: the organizer's draft (the edge answers attendee reads, and
/// its health, from what it holds).
async fn via_origin(port: u16) -> (f64, f64) {
    let path = format!("/api/admin/events/{DEMO}/draft");
    let auth = [("authorization".to_string(), format!("Bearer {ADMIN}"))];
    let mut samples = Vec::with_capacity(VIA_ORIGIN_READS);
    for _ in 0..VIA_ORIGIN_READS {
        let started = Instant::now();
        let answer = send(port, "GET", &path, &auth, Bytes::new()).await;
        assert_eq!(answer.map(|a| a.0), Some(200), "{path}");
        samples.push(ms(started.elapsed()));
    }
    samples.sort_by(f64::total_cmp);
    (
        samples[VIA_ORIGIN_READS / 2],
        samples[VIA_ORIGIN_READS * 99 / 100],
    )
}

/// What serves the apps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Host,
    Spin,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Host => "host",
            Engine::Spin => "spin up",
        }
    }
}

struct Options {
    engines: Vec<Engine>,
    delays: Vec<u64>,
    phase: Duration,
    clients: usize,
    publishes: usize,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
        };
        let number = |name: &str, default: u64| {
            value(name).map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a whole number"))
            })
        };
        let flag = |name: &str| args.iter().any(|a| a == name);
        let engines = if flag("--both") {
            vec![Engine::Host, Engine::Spin]
        } else if flag("--spin") {
            vec![Engine::Spin]
        } else {
            vec![Engine::Host]
        };
        Self {
            engines,
            delays: value("--delays")
                .unwrap_or("80,150,250")
                .split(',')
                .map(|d| {
                    d.trim()
                        .parse()
                        .expect("--delays takes milliseconds, e.g. 80,150,250")
                })
                .collect(),
            // Four of the default 5 s staleness windows.
            phase: Duration::from_secs(number("--secs", 20)),
            clients: number("--clients", 32) as usize,
            publishes: number("--publishes", 5).max(1) as usize,
        }
    }
}

/// Publishes a version through the origin and reports, per edge, when it
/// first served it (ms after the publish was sent).
async fn publish(origin_port: u16, edge_ports: &[u16]) -> Vec<Option<f64>> {
    // Signed and authorized as the edge would forward it.
    let body = Bytes::from(r#"{"note":"region simulation"}"#);
    let path = format!("/api/admin/events/{DEMO}/publish");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let authorization = format!("Bearer {ADMIN}");
    let sent = |name: &str| match name {
        "authorization" => Some(authorization.as_str()),
        "content-type" => Some("application/json"),
        _ => None,
    };
    let mut headers: Vec<(String, String)> = Secret::new(SECRET)
        .unwrap()
        .sign(
            &Message::new(Direction::ToOrigin, "POST", &path, &body).covering(sent),
            now,
        )
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    headers.push(("authorization".into(), authorization.clone()));
    headers.push(("content-type".into(), "application/json".into()));
    let event = format!("/api/events/{DEMO}");
    let held = send(edge_ports[0], "GET", &event, &[], Bytes::new())
        .await
        .and_then(|r| {
            r.1.get("eventfront-version")?
                .to_str()
                .ok()?
                .parse::<u64>()
                .ok()
        })
        .expect("the edge serves the event");
    let version = (held + 1).to_string();
    let started = Instant::now();
    // Edges are polled while the publish is under way: the organizer's
    // answer waits for the slowest edge, the nearest edges do not.
    let publish =
        tokio::spawn(async move { send(origin_port, "POST", &path, &headers, body).await });
    let mut reached = vec![None; edge_ports.len()];
    while reached.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(30) {
        for (i, port) in edge_ports.iter().enumerate() {
            if reached[i].is_none()
                && let Some((200, headers, _)) = send(*port, "GET", &event, &[], Bytes::new()).await
                && headers
                    .get("eventfront-version")
                    .and_then(|v| v.to_str().ok())
                    == Some(version.as_str())
            {
                reached[i] = Some(ms(started.elapsed()));
            }
        }
    }
    let published = publish.await.ok().flatten().expect("publish answered");
    assert_eq!(published.0, 201, "publish: {:?}", published.2);
    reached
}

/// What one engine's run measured.
struct Report {
    engine: Engine,
    /// Per edge, when each publish was first served there (ms after it was
    /// sent), `None` when not within 30 s.
    reached: Vec<Vec<Option<f64>>>,
    /// Per edge, p50 and p99 of reads forwarded to the origin.
    forwarded: Vec<(f64, f64)>,
    /// Per phase, its title and each edge's figures.
    phases: Vec<(&'static str, Vec<Figures>)>,
}

/// The median and the largest of `reached`, or why there are none.
fn reach(reached: &[Option<f64>]) -> String {
    let mut served: Vec<f64> = reached.iter().flatten().copied().collect();
    if served.len() < reached.len() {
        return format!(
            "{} of {} not within 30 s",
            reached.len() - served.len(),
            reached.len()
        );
    }
    served.sort_by(f64::total_cmp);
    format!(
        "{:.1} / {:.1}",
        served[served.len() / 2],
        served[served.len() - 1]
    )
}

fn print_reports(options: &Options, reports: &[Report]) {
    let engines: Vec<&str> = reports.iter().map(|r| r.engine.name()).collect();
    println!(
        "Region simulation ({}; staleness as deployed; {} publishes)",
        engines.join(", then "),
        options.publishes
    );
    print!("{:<6} {:>9}", "edge", "link RTT");
    for engine in &engines {
        print!(
            " | {engine:>8}: {:>17} {:>24}",
            "via origin p50/p99", "publish reached p50/max"
        );
    }
    println!();
    for (i, region) in REGIONS.iter().enumerate() {
        print!("{region:<6} {:>9}", options.delays[i]);
        for report in reports {
            let (p50, p99) = report.forwarded[i];
            print!(
                " | {:>8}  {:>17} {:>24}",
                "",
                format!("{p50:.2} / {p99:.2}"),
                reach(&report.reached[i])
            );
        }
        println!();
    }
    let phases = reports.first().map_or(0, |r| r.phases.len());
    for phase in 0..phases {
        println!(
            "\n{}: {} clients per edge, {} s, every edge at once (ms)",
            reports[0].phases[phase].0,
            options.clients,
            options.phase.as_secs()
        );
        print!("{:<6} {:>9}", "edge", "link RTT");
        for engine in &engines {
            print!(
                " | {engine:>8}: {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}",
                "req/s", "p50", "p99", "max", "non-200", "stale"
            );
        }
        println!();
        for (i, region) in REGIONS.iter().enumerate() {
            print!("{region:<6} {:>9}", options.delays[i]);
            for report in reports {
                let f = &report.phases[phase].1[i];
                print!(
                    " | {:>8}  {:>8.0} {:>8.2} {:>8.2} {:>9.2} {:>8} {:>8}",
                    "",
                    f.per_second,
                    ms(f.p50),
                    ms(f.p99),
                    ms(f.max),
                    f.non_200,
                    f.stale
                );
            }
            println!();
        }
    }
}

async fn simulate(
    options: &Options,
    engine: Engine,
    state: &std::path::Path,
    running: &mut Vec<Running>,
) -> Report {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = Tools {
        host: root.join("target/release/spin-test-host"),
        root,
        spin: engine == Engine::Spin,
        state: state.to_path_buf(),
    };
    assert!(
        options.delays.len() >= REGIONS.len(),
        "--delays needs one round trip per edge ({})",
        REGIONS.join(", ")
    );
    let origin_port = free_port();
    let edge_ports: Vec<u16> = REGIONS.iter().map(|_| free_port()).collect();
    // Each edge reaches the origin through its own delayed link, and the
    // origin reaches each edge through one delayed the same. The links to
    // the origin are the ones broken later: indexes into `running`.
    let mut to_origin = Vec::new();
    let mut origin_links = Vec::new();
    let mut to_edges = Vec::new();
    for (i, delay) in options.delays.iter().enumerate().take(REGIONS.len()) {
        let (a, b) = (free_port(), free_port());
        origin_links.push(running.len());
        running.push(tools.proxy(a, origin_port, *delay));
        running.push(tools.proxy(b, edge_ports[i], *delay));
        to_origin.push(a);
        to_edges.push(b);
    }
    let edge_urls = to_edges
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    running.push(tools.up(
        "deploy/origin.toml",
        origin_port,
        "origin",
        &[
            ("signing_secret", SECRET.into()),
            ("admin_token", ADMIN.into()),
            ("seed_demo", "true".into()),
            ("edge_urls", edge_urls),
            ("edge_hosts", "http://127.0.0.1:*".into()),
            ("public_url", "http://127.0.0.1:3000".into()),
        ],
    ));
    for (i, region) in REGIONS.iter().enumerate() {
        running.push(tools.up(
            "deploy/edge.toml",
            edge_ports[i],
            region,
            &[
                ("region", region.to_string()),
                ("origin_url", format!("http://127.0.0.1:{}", to_origin[i])),
                ("signing_secret", SECRET.into()),
            ],
        ));
    }
    wait_ready(origin_port, "/health").await;
    let mut sessions = Bytes::new();
    for port in &edge_ports {
        sessions = wait_ready(*port, &format!("/api/events/{DEMO}/sessions")).await;
    }
    let paths = agenda_mix(DEMO, &sessions);

    let mut reached = vec![Vec::new(); edge_ports.len()];
    for _ in 0..options.publishes {
        for (edge, served) in publish(origin_port, &edge_ports)
            .await
            .into_iter()
            .enumerate()
        {
            reached[edge].push(served);
        }
    }
    let forwarded = futures::future::join_all(edge_ports.iter().map(|p| via_origin(*p))).await;
    let mut report = Report {
        engine,
        reached,
        forwarded,
        phases: Vec::new(),
    };

    // The edges already hold a copy; each phase breaks the links to the
    // origin a different way, the first leaves them as set.
    for (title, command) in [
        ("edge reads, links as set", None),
        ("edge reads, origin links hung", Some("hang")),
        ("edge reads, origin links refusing", Some("refuse")),
    ] {
        for (i, &link) in origin_links.iter().enumerate() {
            let healthy = format!("delay {}", options.delays[i]);
            running[link].tell(command.unwrap_or(healthy.as_str()));
        }
        let loads = edge_ports.iter().map(|port| {
            let readers = (0..options.clients).map(|_| Attendee(*port)).collect();
            read_load(readers, options.phase, &paths)
        });
        let figures = futures::future::join_all(loads).await;
        report.phases.push((title, figures));
    }
    report
}

/// Ctrl-C, or SIGTERM from whoever started us.
async fn shutdown_requested() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let mut reports = Vec::new();
    for &engine in &options.engines {
        // Outlives the apps, which keep their state in it.
        let state = tempfile::tempdir().unwrap();
        // Children in their own groups miss the terminal's Ctrl-C: we stop them.
        let mut running = Vec::new();
        let report = tokio::select! {
            report = simulate(&options, engine, state.path(), &mut running) => Some(report),
            () = shutdown_requested() => None,
        };
        stop(&mut running);
        drop(state);
        match report {
            Some(report) => reports.push(report),
            None => {
                eprintln!("interrupted: every app and link stopped");
                std::process::exit(130);
            }
        }
    }
    print_reports(&options, &reports);
}
