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
//!     mark a stale copy. All cases run side by side in rounds that read
//!     the baselines and then each case in turn, so that all meet the same
//!     machine; throughput is the median of the rounds' ratios, latencies
//!     are compared with the healthy link's. The edge's KV gets and sets
//!     per thousand reads say what each case cost the store.
//! (b) publish-to-every-edge propagation for 10 edges, p50/p99 over 50
//!     publishes.
//!
//! Run with `cargo bench -p system-tests --bench edge` after the components
//! are built (`./scripts/test` builds them). `EDGE_BENCH_SECS=5` (or
//! `-- --quick`) shortens each case for a smoke run; such a run crosses too
//! few windows to be read as a result. `EDGE_BENCH_PARTS=propagation` (or
//! `reads`) runs one part alone. The tables go to stdout, the components'
//! own logs to stderr (`2>/dev/null` to drop them).

use serde_json::json;
use spin_test_host::{App, AppOptions, LinkFault, ReuseLimits};
use std::time::{Duration, Instant};
use system_tests::load::{Figures, Run, agenda_mix, ms, run_load};
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
}

fn clients(app: &App) -> Vec<App> {
    vec![app.clone(); CLIENTS]
}

/// The in-memory baseline: the probe component serving `answers` (the
/// responses the edge gives, bodies and headers) from memory; its paths in
/// the same order, for those answers as they are and as a stale copy is
/// served (with the two headers that mark it).
async fn baseline(
    dir: &std::path::Path,
    answers: &[http::Response<bytes::Bytes>],
    reuse: ReuseLimits,
) -> (App, Baseline) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut paths = Baseline::default();
    for (i, answer) in answers.iter().enumerate() {
        // Headers, a blank line, the body: what the probe's `/memory/` serves.
        let head: String = answer
            .headers()
            .iter()
            .filter(|(name, _)| *name != http::header::CONTENT_LENGTH)
            .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap()))
            .collect();
        for (variant, extra, list) in [
            ("fresh", "", &mut paths.fresh),
            ("stale", "age: 7\neventfront-stale: 1\n", &mut paths.stale),
        ] {
            let mut file = format!("{head}{extra}\n").into_bytes();
            file.extend_from_slice(answer.body());
            std::fs::write(data.join(format!("{i}.{variant}.http")), file).unwrap();
            list.push(format!("/memory/data/{i}.{variant}.http"));
        }
    }
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
    let app = App::start(with_reuse(reuse)(AppOptions::new(&manifest)))
        .await
        .unwrap();
    for (path, answer) in paths.fresh.iter().zip(answers) {
        let served = app.get(path).await;
        assert_eq!(served.headers().len(), answer.headers().len(), "{path}");
        assert_eq!(served.body(), answer.body(), "{path}");
    }
    (app, paths)
}

/// KV gets and sets per thousand reads, for the edge's rows.
type KvPerThousand = Option<(f64, f64)>;

fn print_row(label: &str, f: &Figures, xbase: f64, healthy: Option<&Figures>, kv: KvPerThousand) {
    let relative = |ours: Duration, theirs: fn(&Figures) -> Duration| {
        healthy.map_or("-".to_string(), |h| {
            format!("{:.2}", ours.as_secs_f64() / theirs(h).as_secs_f64())
        })
    };
    let per_thousand = |n: Option<f64>| n.map_or("-".to_string(), |n| format!("{n:.1}"));
    println!(
        "  {label:<18} {:>8.0} {:>6.2} {:>8.2} {:>8.2} {:>9.2} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7}",
        f.per_second,
        xbase,
        ms(f.p50),
        ms(f.p99),
        ms(f.max),
        relative(f.p99, |h| h.p99),
        relative(f.max, |h| h.max),
        f.non_200,
        f.stale,
        per_thousand(kv.map(|(gets, _)| gets)),
        per_thousand(kv.map(|(_, sets)| sets)),
    );
}

/// The baseline: the probe serving the responses the edge answers `paths`
/// with. Prints the table's head.
async fn baseline_app(
    label: &str,
    dir: &std::path::Path,
    edge: &App,
    paths: &[String],
    reuse: ReuseLimits,
    duration: Duration,
) -> (App, Baseline) {
    let mut answers = Vec::new();
    for path in paths {
        answers.push(edge.get(path).await);
    }
    let (app, memory) = baseline(dir, &answers, reuse).await;
    println!(
        "(a) {label}: {CLIENTS} clients, {} s per case after a {} s warm-up, in {ROUNDS} rounds \
         that read the baseline and each case in turn; reading {} in turn ({} KB)",
        duration.as_secs(),
        WARM_UP.as_secs(),
        paths.join(", "),
        answers.iter().map(|a| a.body().len()).sum::<usize>() / 1024,
    );
    println!(
        "  {:<18} {:>8} {:>6} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7}",
        "case",
        "req/s",
        "xbase",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p99/lo",
        "max/lo",
        "non-200",
        "stale",
        "kv get",
        "kv set"
    );
    run_load(clients(&app), WARM_UP, &memory.fresh).await;
    (app, memory)
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

async fn reads(label: &str, reuse: ReuseLimits, duration: Duration) {
    // A pair of apps per case, so no case inherits another's backoff or
    // stale copy; all of them up at once, so that every round can read
    // each case in turn on the same machine.
    let mut cases = Vec::new();
    for (case, fault) in LINKS {
        let topology = topology_with(&["bench"], with_reuse(reuse), with_reuse(reuse)).await;
        let sessions = topology.edges[0]
            .app
            .get(&format!("/api/events/{DEMO}/sessions"))
            .await
            .into_body();
        let paths = agenda_mix(DEMO, &sessions);
        cases.push((case, fault, topology, paths));
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, _, first, paths) = &cases[0];
    let (base, memory) = baseline_app(
        label,
        dir.path(),
        &first.edges[0].app,
        paths,
        reuse,
        duration,
    )
    .await;
    for (
        _,
        fault,
        Topology {
            origin_server,
            edges,
            ..
        },
        paths,
    ) in &cases
    {
        let edge = &edges[0].app;
        run_load(clients(edge), WARM_UP, paths).await;
        if let Some(fault) = fault {
            edge.links().set(&origin_server.addr().to_string(), *fault);
        }
    }
    let kv_before: Vec<_> = cases
        .iter()
        .map(|(_, _, t, _)| t.edges[0].app.kv_counts("default"))
        .collect();
    let (mut fresh_runs, mut stale_runs) = (Vec::new(), Vec::new());
    let mut edge_runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        fresh_runs.push(run_load(clients(&base), duration / ROUNDS, &memory.fresh).await);
        stale_runs.push(run_load(clients(&base), duration / ROUNDS, &memory.stale).await);
        for ((_, _, topology, paths), runs) in cases.iter().zip(&mut edge_runs) {
            let edge = &topology.edges[0].app;
            runs.push(run_load(clients(edge), duration / ROUNDS, paths).await);
        }
    }
    let loopback = Figures::of(&edge_runs[0]);
    print_row(
        "baseline (memory)",
        &Figures::of(&fresh_runs),
        1.0,
        None,
        None,
    );
    print_row(
        "baseline, stale",
        &Figures::of(&stale_runs),
        1.0,
        None,
        None,
    );
    for (((case, _, topology, _), runs), before) in cases.iter().zip(&edge_runs).zip(kv_before) {
        let figures = Figures::of(runs);
        let after = topology.edges[0].app.kv_counts("default");
        let thousands = figures.reads as f64 / 1000.0;
        let kv = Some((
            (after.gets - before.gets) as f64 / thousands,
            (after.sets - before.sets) as f64 / thousands,
        ));
        // Against the baseline serving what the case mostly answered.
        let base = if figures.stale * 2 > figures.reads {
            &stale_runs
        } else {
            &fresh_runs
        };
        let healthy = (*case != LINKS[0].0).then_some(&loopback);
        print_row(case, &figures, median_ratio(runs, base), healthy, kv);
    }
}

async fn propagation() {
    const EDGES: usize = 10;
    const PUBLISHES: usize = 50;
    let regions: Vec<String> = (0..EDGES).map(|i| format!("r{i}")).collect();
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
                        samples.push(started.elapsed());
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
    samples.sort();
    println!(
        "(b) propagation to {EDGES} edges over {PUBLISHES} publishes (publish request sent to each edge serving it, polled meanwhile): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 99 / 100]),
        ms(samples[samples.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let duration = case_duration();
    println!(
        "edge benchmarks on {} cores; targets: edge with reuse >= 0.90 x baseline, \
         fresh instances >= 0.50 x; slow, hung and refusing p99 and max within 1.10 x loopback",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let parts = std::env::var("EDGE_BENCH_PARTS").unwrap_or_else(|_| "reads,propagation".into());
    if parts.split(',').any(|p| p == "reads") {
        reads(
            "instance reuse 128/16 (Spin default)",
            ReuseLimits::default(),
            duration,
        )
        .await;
        reads(
            "fresh instance per request (1/1)",
            ReuseLimits {
                max_requests: 1,
                max_concurrent: 1,
                ..ReuseLimits::default()
            },
            duration,
        )
        .await;
    }
    if parts.split(',').any(|p| p == "propagation") {
        propagation().await;
    }
}
