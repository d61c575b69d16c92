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
//! The apps and links are processes (`system_tests::processes`), stopped
//! at the end, on Ctrl-C and on a panic.

use bytes::Bytes;
use std::path::Path;
use std::time::{Duration, Instant};
use system_tests::load::{Figures, agenda_mix, ms, read_load};
use system_tests::processes::{
    Attendee, Engine, Launcher, Running, StateDir, free_port, publish_reach, send,
    shutdown_requested, stop, wait_ready,
};

const DEMO: &str = "wasm-edge-summit-2027";
const SECRET: &str = "region-simulation-signing-secret";
const ADMIN: &str = "region-simulation-admin-token-0123456789";
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
/// Sequential reads through each edge to the origin.
const VIA_ORIGIN_READS: usize = 50;

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
        Self {
            engines: Engine::asked(&[Engine::Host]),
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
    state: &Path,
    running: &mut Vec<Running>,
) -> Report {
    let tools = Launcher::new(engine, state);
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
    running.push(tools.origin(origin_port, (SECRET, ADMIN), &to_edges, None));
    for (i, region) in REGIONS.iter().enumerate() {
        running.push(tools.edge(edge_ports[i], region, to_origin[i], SECRET, None));
    }
    wait_ready(origin_port, "/health").await;
    let mut sessions = Bytes::new();
    for port in &edge_ports {
        sessions = wait_ready(*port, &format!("/api/events/{DEMO}/sessions")).await;
    }
    let paths = agenda_mix(DEMO, &sessions);

    let mut reached = vec![Vec::new(); edge_ports.len()];
    for _ in 0..options.publishes {
        for (edge, served) in publish_reach(origin_port, &edge_ports, DEMO, SECRET, ADMIN)
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

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let mut reports = Vec::new();
    for &engine in &options.engines {
        // Outlives the apps, which keep their state in it.
        let state = StateDir::new();
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
