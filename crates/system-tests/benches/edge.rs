//! Edge benchmarks, printing figures (never passing or failing on time):
//!
//! (a) agenda reads from the edge as users deploy it (`deploy/edge.toml`
//!     and `deploy/origin.toml` as two apps linked over loopback TCP, the
//!     default staleness window), with instance reuse on (Spin's default)
//!     and off: 64 clients for a minute per case, long enough to cross many
//!     staleness windows and backoffs, over a healthy, a slow (250 ms), a
//!     hung and a refusing origin link, each broken only after a warm-up so
//!     the edge holds a copy. Throughput is compared with a baseline
//!     component that returns the same bytes from memory with the same
//!     reuse settings, headers included; a case whose reads were mostly
//!     stale is compared with the baseline serving the two headers that
//!     mark a stale copy (`xbase`), and with the runtime's floor, the same
//!     component answering a tiny body (`xfloor`). All cases run side by
//!     side in rounds that read the floor, the baselines and then each case
//!     in turn, so that all meet the same machine; throughput is the median
//!     of the rounds' ratios, latencies are compared with the healthy
//!     link's. In this process, the edge's KV gets and sets per thousand
//!     reads say what each case cost the store.
//! (b) publish-to-every-edge propagation for 10 edges, p50/p99 over 50
//!     publishes.
//!
//! Run with `cargo bench -p system-tests --bench edge` after the components
//! are built (`./scripts/test` builds them): the apps in this process, the
//! test host's, with its KV counts. `-- --spin` runs every app as a process
//! of its own under `spin up` (Spin 4.1+ on the PATH), and `-- --both` runs
//! them so under the test host's `up` (`cargo build --release -p
//! spin-test-host` first) and then under `spin up`, and prints both
//! engines' figures side by side; readers then come over TCP, each on a
//! kept-alive connection as `wrk` and browsers read. `EDGE_BENCH_SECS=5`
//! (or `-- --quick`) shortens each case for a smoke run; such a run crosses
//! too few windows to be read as a result. `EDGE_BENCH_PARTS=propagation`
//! (or `reads`) runs one part alone. The tables go to stdout, the
//! components' own logs to stderr (`2>/dev/null` to drop them).

use bytes::Bytes;
use serde_json::json;
use spin_test_host::{App, AppOptions, LinkFault, ReuseLimits};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use system_tests::load::{Figures, Reader, Run, agenda_mix, ms, run_load};
use system_tests::processes::{
    Browser, Engine, Launcher, Reuse, Running, StateDir, free_port, publish_reach, send, stop,
    wait_ready,
};
use system_tests::{EdgeApp, Topology, component_wasm, json as body_json, topology, topology_with};

const DEMO: &str = "wasm-edge-summit-2027";
const CLIENTS: usize = 64;
/// Unmeasured reads before a case: instances made, the copy in KV.
const WARM_UP: Duration = Duration::from_secs(3);
const QUICK_SECS: u64 = 8;
/// Each case's time is split into this many rounds; a round reads the
/// baseline and then every case, as long each.
const ROUNDS: u32 = 4;

/// The origin links each case reads through.
const LINKS: [(&str, Option<LinkFault>); 4] = [
    ("loopback", None),
    (
        "origin +250 ms",
        Some(LinkFault::Delay(Duration::from_millis(250))),
    ),
    ("origin hung", Some(LinkFault::Hang)),
    ("origin refusing", Some(LinkFault::Cut)),
];

/// How long each case reads: a minute unless told otherwise.
fn case_duration() -> Duration {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = match std::env::var("EDGE_BENCH_SECS") {
        Ok(secs) => secs
            .parse()
            .expect("EDGE_BENCH_SECS takes whole seconds, e.g. 60"),
        Err(_) if quick => QUICK_SECS,
        Err(_) => 60,
    };
    Duration::from_secs(secs)
}

fn with_reuse(reuse: ReuseLimits) -> impl Fn(AppOptions) -> AppOptions {
    move |mut options| {
        options.reuse = reuse;
        options
    }
}

/// The baseline's paths for the agenda's answers, fresh and stale.
#[derive(Default)]
struct Baseline {
    fresh: Vec<String>,
    stale: Vec<String>,
    /// The runtime's floor: a tiny answer, from memory.
    floor: Vec<String>,
}

const SECRET: &str = "edge-bench-signing-secret-0123456789";
const ADMIN: &str = "edge-bench-admin-token-0123456789abcdef";

/// The two ways instances are reused: Spin's default, and a fresh
/// instance per request.
fn reuse_modes() -> [(&'static str, ReuseLimits); 2] {
    [
        (
            "instance reuse 128/16 (Spin default)",
            ReuseLimits::default(),
        ),
        (
            "fresh instance per request (1/1)",
            ReuseLimits {
                max_requests: 1,
                max_concurrent: 1,
                ..ReuseLimits::default()
            },
        ),
    ]
}

fn in_process(app: &App) -> impl Fn() -> Vec<App> {
    move || vec![app.clone(); CLIENTS]
}

fn over_tcp(port: u16) -> impl Fn() -> Vec<Browser> {
    move || (0..CLIENTS).map(|_| Browser::new(port)).collect()
}

/// An answer as the baseline must serve it: headers and body.
type Served = (http::HeaderMap, Bytes);

/// The in-memory baseline's files and manifest: the probe component
/// serving `answers` (the responses the edge gives, bodies and headers)
/// from memory; its paths in the same order, for those answers as they are
/// and as a stale copy is served (with the two headers that mark it).
fn baseline_files(dir: &Path, answers: &[Served]) -> (PathBuf, Baseline) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut paths = Baseline::default();
    for (i, (headers, body)) in answers.iter().enumerate() {
        // Headers, a blank line, the body: what the probe's `/memory/` serves.
        let head: String = headers
            .iter()
            .filter(|(name, _)| *name != http::header::CONTENT_LENGTH)
            .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap()))
            .collect();
        for (variant, extra, list) in [
            ("fresh", "", &mut paths.fresh),
            ("stale", "age: 7\neventfront-stale: 1\n", &mut paths.stale),
        ] {
            let mut file = format!("{head}{extra}\n").into_bytes();
            file.extend_from_slice(body);
            std::fs::write(data.join(format!("{i}.{variant}.http")), file).unwrap();
            list.push(format!("/memory/data/{i}.{variant}.http"));
        }
    }
    std::fs::write(data.join("floor.http"), "content-type: text/plain\n\nok").unwrap();
    paths.floor.push("/memory/data/floor.http".into());
    let manifest = dir.join("baseline.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"baseline\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
             [component.probe]\nsource = \"{}\"\nfiles = [{{ source = \"{}\", destination = \"/data\" }}]\n",
            component_wasm("probe").display(),
            data.display()
        ),
    )
    .unwrap();
    (manifest, paths)
}

/// The baseline serves what the edge answered: as many headers (its own
/// `Content-Length` among them) and the same body.
fn same_answer(
    path: &str,
    served: &http::HeaderMap,
    body: &[u8],
    headers: &http::HeaderMap,
    edge_body: &[u8],
) {
    assert_eq!(
        served.len(),
        headers.len(),
        "{path}: {served:?} against {headers:?}"
    );
    assert_eq!(body, edge_body, "{path}");
}

/// KV gets and sets per thousand reads, for the edge's rows.
type KvPerThousand = Option<(f64, f64)>;

/// One case's figures, as a table row shows them.
struct Row {
    label: &'static str,
    figures: Figures,
    /// Throughput against the baseline's (the median of the rounds' ratios).
    xbase: f64,
    /// And against the floor's.
    xfloor: f64,
    /// p99 and max against the healthy link's, for a broken link.
    against_healthy: Option<(f64, f64)>,
    kv: KvPerThousand,
}

/// The figures of one reuse mode: the floor's and the baselines' rows,
/// then each case's.
struct Table {
    rows: Vec<Row>,
    /// What was read and how long, for the table's title.
    reading: String,
}

fn print_table(title: &str, engines: &[(Engine, Table)], in_process: bool) {
    println!("(a) {title}: {}", engines[0].1.reading);
    let columns = |engine: &str| {
        format!(
            "{engine:>8}: {:>8} {:>6} {:>6} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8}",
            "req/s",
            "xbase",
            "xfloor",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99/lo",
            "max/lo",
            "non-200",
            "stale"
        )
    };
    print!("  {:<18}", "case");
    for (engine, _) in engines {
        print!(
            " | {}",
            columns(if in_process { "in-proc" } else { engine.name() })
        );
    }
    if in_process {
        print!(" {:>7} {:>7}", "kv get", "kv set");
    }
    println!();
    for (i, row) in engines[0].1.rows.iter().enumerate() {
        print!("  {:<18}", row.label);
        for (_, table) in engines {
            let r = &table.rows[i];
            let f = &r.figures;
            let relative = |n: Option<f64>| n.map_or("-".to_string(), |n| format!("{n:.2}"));
            print!(
                " | {:>8}  {:>8.0} {:>6.2} {:>6.2} {:>8.2} {:>8.2} {:>9.2} {:>7} {:>7} {:>8} {:>8}",
                "",
                f.per_second,
                r.xbase,
                r.xfloor,
                ms(f.p50),
                ms(f.p99),
                ms(f.max),
                relative(r.against_healthy.map(|h| h.0)),
                relative(r.against_healthy.map(|h| h.1)),
                f.non_200,
                f.stale,
            );
        }
        if in_process {
            let per_thousand = |n: Option<f64>| n.map_or("-".to_string(), |n| format!("{n:.1}"));
            print!(
                " {:>7} {:>7}",
                per_thousand(row.kv.map(|(gets, _)| gets)),
                per_thousand(row.kv.map(|(_, sets)| sets)),
            );
        }
        println!();
    }
}

/// The median of the rounds' edge/baseline throughput ratios.
fn median_ratio(edge: &[Run], base: &[Run]) -> f64 {
    let mut ratios: Vec<f64> = edge
        .iter()
        .zip(base)
        .map(|(e, b)| e.per_second() / b.per_second())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    if ratios.len().is_multiple_of(2) {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    } else {
        ratios[mid]
    }
}

/// Where one case reads: its readers and its paths.
struct Case<F> {
    label: &'static str,
    readers: F,
    paths: Vec<String>,
}

/// Reads the floor, the baseline (fresh and stale) and then every case,
/// in `ROUNDS` rounds, after a warm-up of each; `break_links` runs between
/// the warm-up and the first round. Returns the rows: the floor's and the
/// baselines' first.
async fn rounds<R: Reader, F: Fn() -> Vec<R>>(
    baseline: &F,
    memory: &Baseline,
    cases: &[Case<F>],
    break_links: impl FnOnce(),
    duration: Duration,
) -> Vec<Row> {
    run_load(baseline(), WARM_UP, &memory.fresh).await;
    for case in cases {
        run_load((case.readers)(), WARM_UP, &case.paths).await;
    }
    break_links();
    let reference = [
        ("floor (tiny body)", &memory.floor),
        ("baseline (memory)", &memory.fresh),
        ("baseline, stale", &memory.stale),
    ];
    let mut reference_runs: Vec<Vec<Run>> = reference.iter().map(|_| Vec::new()).collect();
    let mut case_runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for ((_, paths), runs) in reference.iter().zip(&mut reference_runs) {
            runs.push(run_load(baseline(), duration / ROUNDS, paths).await);
        }
        for (case, runs) in cases.iter().zip(&mut case_runs) {
            runs.push(run_load((case.readers)(), duration / ROUNDS, &case.paths).await);
        }
    }
    let [floor, fresh, stale] = &reference_runs[..] else {
        unreachable!("three references")
    };
    let mut rows: Vec<Row> = reference
        .iter()
        .zip(&reference_runs)
        .map(|((label, _), runs)| Row {
            label,
            figures: Figures::of(runs),
            xbase: median_ratio(runs, fresh),
            xfloor: median_ratio(runs, floor),
            against_healthy: None,
            kv: None,
        })
        .collect();
    let healthy = Figures::of(&case_runs[0]);
    for (i, (case, runs)) in cases.iter().zip(&case_runs).enumerate() {
        let figures = Figures::of(runs);
        // Against the baseline serving what the case mostly answered.
        let base = if figures.stale * 2 > figures.reads {
            stale
        } else {
            fresh
        };
        let relative = |ours: Duration, theirs: Duration| ours.as_secs_f64() / theirs.as_secs_f64();
        rows.push(Row {
            label: case.label,
            xbase: median_ratio(runs, base),
            xfloor: median_ratio(runs, floor),
            against_healthy: (i > 0).then(|| {
                (
                    relative(figures.p99, healthy.p99),
                    relative(figures.max, healthy.max),
                )
            }),
            figures,
            kv: None,
        });
    }
    rows
}

fn reading(paths: &[String], answers: &[Served], duration: Duration) -> String {
    format!(
        "{CLIENTS} clients, {} s per case after a {} s warm-up, in {ROUNDS} rounds \
         that read the baseline and each case in turn; reading {} in turn ({} KB)",
        duration.as_secs(),
        WARM_UP.as_secs(),
        paths.join(", "),
        answers.iter().map(|(_, body)| body.len()).sum::<usize>() / 1024,
    )
}

/// The reads of one reuse mode with every app in this process.
async fn reads_in_process(reuse: ReuseLimits, duration: Duration) -> Table {
    // A pair of apps per case, so no case inherits another's backoff or
    // stale copy; all of them up at once, so that every round can read
    // each case in turn on the same machine.
    let mut topologies = Vec::new();
    let mut cases = Vec::new();
    for (label, _) in LINKS {
        let topology = topology_with(&["bench"], with_reuse(reuse), with_reuse(reuse)).await;
        let sessions = topology.edges[0]
            .app
            .get(&format!("/api/events/{DEMO}/sessions"))
            .await
            .into_body();
        topologies.push(topology);
        cases.push((label, agenda_mix(DEMO, &sessions)));
    }
    let first = &topologies[0].edges[0].app;
    let mut answers = Vec::new();
    for path in &cases[0].1 {
        let (parts, body) = first.get(path).await.into_parts();
        answers.push((parts.headers, body));
    }
    let dir = tempfile::tempdir().unwrap();
    let (manifest, memory) = baseline_files(dir.path(), &answers);
    let base = App::start(with_reuse(reuse)(AppOptions::new(&manifest)))
        .await
        .unwrap();
    for (path, (headers, body)) in memory.fresh.iter().zip(&answers) {
        let served = base.get(path).await;
        same_answer(path, served.headers(), served.body(), headers, body);
    }
    let cases: Vec<_> = cases
        .into_iter()
        .zip(&topologies)
        .map(|((label, paths), t)| Case {
            label,
            readers: in_process(&t.edges[0].app),
            paths,
        })
        .collect();
    let kv = |t: &Topology| t.edges[0].app.kv_counts("default");
    let mut before = Vec::new();
    let break_links = || {
        for ((_, fault), t) in LINKS.iter().zip(&topologies) {
            if let Some(fault) = fault {
                t.edges[0]
                    .app
                    .links()
                    .set(&t.origin_server.addr().to_string(), *fault);
            }
            before.push(kv(t));
        }
    };
    let mut rows = rounds(&in_process(&base), &memory, &cases, break_links, duration).await;
    for ((row, t), before) in rows[3..].iter_mut().zip(&topologies).zip(before) {
        let after = kv(t);
        let thousands = row.figures.reads as f64 / 1000.0;
        row.kv = Some((
            (after.gets - before.gets) as f64 / thousands,
            (after.sets - before.sets) as f64 / thousands,
        ));
    }
    Table {
        rows,
        reading: reading(&cases[0].paths, &answers, duration),
    }
}

/// What the proxy is told to make of its link.
fn proxy_command(fault: LinkFault) -> String {
    match fault {
        LinkFault::Delay(round_trip) => format!("delay {}", round_trip.as_millis()),
        LinkFault::Hang => "hang".into(),
        LinkFault::Cut => "refuse".into(),
        other => panic!("the proxy has no command for {other:?}"),
    }
}

/// The reads of one reuse mode with every app a process of its own under
/// `engine`: per case an origin, a link to it and an edge, as deployed.
async fn reads_as_processes(engine: Engine, reuse: ReuseLimits, duration: Duration) -> Table {
    let state = StateDir::new();
    let tools = Launcher::new(engine, state.path());
    let reuse: Reuse = Some((reuse.max_requests, reuse.max_concurrent));
    let mut running: Vec<Running> = Vec::new();
    let mut cases = Vec::new();
    let mut links = Vec::new();
    for (label, _) in LINKS {
        let (origin, link, edge) = (free_port(), free_port(), free_port());
        running.push(tools.origin(origin, (SECRET, ADMIN), &[edge], reuse));
        links.push(running.len());
        running.push(tools.proxy(link, origin, 0));
        running.push(tools.edge(edge, &format!("bench-{}", links.len()), link, SECRET, reuse));
        cases.push((label, edge));
    }
    let first_edge = cases[0].1;
    let mut ready = Vec::new();
    for (label, edge) in cases {
        let sessions = wait_ready(edge, &format!("/api/events/{DEMO}/sessions")).await;
        ready.push(Case {
            label,
            readers: over_tcp(edge),
            paths: agenda_mix(DEMO, &sessions),
        });
    }
    let mut answers = Vec::new();
    for path in &ready[0].paths {
        let (_, headers, body) = send(first_edge, "GET", path, &[], Bytes::new())
            .await
            .expect("the edge answers");
        answers.push((headers, body));
    }
    let (manifest, memory) = baseline_files(state.path(), &answers);
    let base = free_port();
    running.push(tools.up(&manifest, base, "baseline", &[], reuse));
    wait_ready(base, &memory.fresh[0]).await;
    for (path, (headers, body)) in memory.fresh.iter().zip(&answers) {
        let (_, served, served_body) = send(base, "GET", path, &[], Bytes::new())
            .await
            .expect("the baseline answers");
        same_answer(path, &served, &served_body, headers, body);
    }
    let break_links = || {
        for ((_, fault), &link) in LINKS.iter().zip(&links) {
            if let Some(fault) = fault {
                running[link].tell(&proxy_command(*fault));
            }
        }
    };
    let rows = rounds(&over_tcp(base), &memory, &ready, break_links, duration).await;
    stop(&mut running);
    Table {
        rows,
        reading: reading(&ready[0].paths, &answers, duration),
    }
}

const PROPAGATION_EDGES: usize = 10;
const PUBLISHES: usize = 50;

fn print_propagation(engine: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "(b) {engine}: propagation to {PROPAGATION_EDGES} edges over {PUBLISHES} publishes \
         (publish request sent to each edge serving it, polled meanwhile): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1]
    );
}

async fn propagation_in_process() -> Vec<f64> {
    let regions: Vec<String> = (0..PROPAGATION_EDGES).map(|i| format!("r{i}")).collect();
    let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
    // A long window, so that what is measured is the publish notice and not
    // an edge happening to revalidate.
    let Topology {
        origin,
        origin_server: _serving,
        edges,
    } = topology(&regions, "60").await;
    for edge in &edges {
        assert_eq!(
            edge.app.get(&format!("/api/events/{DEMO}")).await.status(),
            200
        );
    }
    let draft = body_json(
        &origin
            .admin("GET", &format!("/api/admin/events/{DEMO}/draft"), None)
            .await,
    );
    let mut session = draft["sessions"][0].clone();
    let id = session["id"].as_str().unwrap().to_string();
    let held = edges[0].app.get(&format!("/api/events/{DEMO}")).await;
    let mut served: u64 = held.headers()["eventfront-version"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut samples = Vec::new();
    for n in 0..PUBLISHES {
        session["title"] = json!(format!("Edition {n}"));
        origin
            .admin(
                "PUT",
                &format!("/api/admin/events/{DEMO}/sessions/{id}"),
                Some(session.clone()),
            )
            .await;
        served += 1;
        let version = served.to_string();
        let started = Instant::now();
        // The edges are polled while the publish is under way: an edge
        // serves a pushed version before the organizer's answer, which
        // waits for every edge.
        let path = format!("/api/admin/events/{DEMO}/publish");
        let publish = origin.admin("POST", &path, Some(json!({"note": n.to_string()})));
        let poll = async {
            let mut pending: Vec<&EdgeApp> = edges.iter().collect();
            while !pending.is_empty() {
                let mut still = Vec::new();
                for edge in pending {
                    let response = edge.app.get(&format!("/api/events/{DEMO}")).await;
                    if response.headers()["eventfront-version"].to_str().unwrap() == version {
                        samples.push(ms(started.elapsed()));
                    } else {
                        still.push(edge);
                    }
                }
                pending = still;
                tokio::task::yield_now().await;
            }
        };
        let (published, ()) = futures::future::join(publish, poll).await;
        assert_eq!(body_json(&published)["version"], served);
    }
    samples
}

/// The same with the origin and every edge a process of its own under
/// `engine`, as deployed (the default staleness window), over TCP.
async fn propagation_as_processes(engine: Engine) -> Vec<f64> {
    let state = StateDir::new();
    let tools = Launcher::new(engine, state.path());
    let origin = free_port();
    let edges: Vec<u16> = (0..PROPAGATION_EDGES).map(|_| free_port()).collect();
    let mut running = vec![tools.origin(origin, (SECRET, ADMIN), &edges, None)];
    for (i, edge) in edges.iter().enumerate() {
        running.push(tools.edge(*edge, &format!("r{i}"), origin, SECRET, None));
    }
    for edge in &edges {
        wait_ready(*edge, &format!("/api/events/{DEMO}")).await;
    }
    let mut samples = Vec::new();
    for _ in 0..PUBLISHES {
        let reached = publish_reach(origin, &edges, DEMO, SECRET, ADMIN).await;
        samples.extend(
            reached
                .into_iter()
                .map(|r| r.expect("every edge serves a publish")),
        );
    }
    stop(&mut running);
    samples
}

#[tokio::main]
async fn main() {
    let duration = case_duration();
    // In this process unless an engine is asked for: then every engine
    // asked serves its apps as processes.
    let engines = Engine::asked(&[]);
    println!(
        "edge benchmarks on {} cores, {}; targets: edge with reuse >= 0.90 x baseline, \
         fresh instances >= 0.50 x; slow, hung and refusing p99 and max within 1.10 x loopback",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if engines.is_empty() {
            "apps in this process (the test host)".to_string()
        } else {
            let names: Vec<_> = engines.iter().map(|e| e.name()).collect();
            format!("apps as processes under {}", names.join(" and "))
        }
    );
    let parts = std::env::var("EDGE_BENCH_PARTS").unwrap_or_else(|_| "reads,propagation".into());
    if parts.split(',').any(|p| p == "reads") {
        for (title, reuse) in reuse_modes() {
            if engines.is_empty() {
                let table = reads_in_process(reuse, duration).await;
                print_table(title, &[(Engine::Host, table)], true);
            } else {
                let mut tables = Vec::new();
                for &engine in &engines {
                    tables.push((engine, reads_as_processes(engine, reuse, duration).await));
                }
                print_table(title, &tables, false);
            }
        }
    }
    if parts.split(',').any(|p| p == "propagation") {
        if engines.is_empty() {
            print_propagation("in this process", propagation_in_process().await);
        }
        for &engine in &engines {
            print_propagation(engine.name(), propagation_as_processes(engine).await);
        }
    }
}
