//! Edge benchmarks, printing figures (never passing or failing on time):
//!
//! (a) cached agenda reads against a baseline component that returns the
//!     same bytes from memory, in the same host run with the same instance
//!     reuse settings, as a throughput ratio, with reuse on (Spin's default)
//!     and off;
//! (b) publish-to-every-edge propagation for 10 edges, p50/p99 over 50
//!     publishes.
//!
//! Run with `cargo bench -p system-tests --bench edge` after the components
//! are built (`./scripts/test` builds them).

use serde_json::json;
use spin_test_host::{App, AppOptions, ReuseLimits};
use std::sync::Arc;
use std::time::{Duration, Instant};
use system_tests::{EdgeApp, Topology, component_wasm, json as body_json, topology};

const DEMO: &str = "wasm-edge-summit-2027";
const READS: usize = 4_000;
const CLIENTS: usize = 16;
const RUNS: usize = 3;

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(app: &App, path: &str) -> Figures {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|_| {
        let (app, next, path) = (app.clone(), next.clone(), path.to_string());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < READS {
                let sent = Instant::now();
                let response = app.get(&path).await;
                latencies.push(sent.elapsed());
                assert_eq!(response.status(), 200);
            }
            latencies
        })
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    Figures {
        per_second: READS as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

async fn median(app: &App, path: &str) -> Figures {
    load(app, path).await; // warm-up
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(load(app, path).await);
    }
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.swap_remove(RUNS / 2)
}

fn print(label: &str, f: &Figures) {
    println!(
        "  {label:<28} {:>9.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms",
        f.per_second,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
}

async fn reads() {
    let dir = tempfile::tempdir().unwrap();
    for (label, reuse) in [
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
    ] {
        let mut options = AppOptions::new(system_tests::dev_manifest());
        options.reuse = reuse;
        let edge = App::start(options).await.unwrap();
        let path = format!("/api/events/{DEMO}/sessions");
        let agenda = edge.get(&path).await.into_body();
        std::fs::write(dir.path().join("agenda.json"), &agenda).unwrap();
        let manifest = dir.path().join("baseline.toml");
        std::fs::write(
            &manifest,
            format!(
                "spin_manifest_version = 2\n[application]\nname = \"baseline\"\n\
                 [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
                 [component.probe]\nsource = \"{}\"\nfiles = [{{ source = \"{}\", destination = \"/data\" }}]\n",
                component_wasm("probe").display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let mut options = AppOptions::new(&manifest);
        options.reuse = reuse;
        let baseline = App::start(options).await.unwrap();
        assert_eq!(
            baseline.get("/memory/data/agenda.json").await.into_body(),
            agenda
        );

        println!(
            "(a) {label}: {} KB agenda, {CLIENTS} clients, {READS} reads, median of {RUNS}",
            agenda.len() / 1024
        );
        let base = median(&baseline, "/memory/data/agenda.json").await;
        let cached = median(&edge, &path).await;
        print("baseline (memory)", &base);
        print("edge (cached agenda)", &cached);
        println!(
            "  edge / baseline throughput: {:.2}",
            cached.per_second / base.per_second
        );
    }
}

async fn propagation() {
    const EDGES: usize = 10;
    const PUBLISHES: usize = 50;
    let regions: Vec<String> = (0..EDGES).map(|i| format!("r{i}")).collect();
    let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
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
        let started = Instant::now();
        let published = origin
            .admin(
                "POST",
                &format!("/api/admin/events/{DEMO}/publish"),
                Some(json!({"note": n.to_string()})),
            )
            .await;
        let version = body_json(&published)["version"]
            .as_u64()
            .unwrap()
            .to_string();
        // When each edge first serves the new version, polled in turn.
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
        }
    }
    samples.sort();
    println!(
        "(b) propagation to {EDGES} edges over {PUBLISHES} publishes (publish request start to each edge serving it): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples[samples.len() / 2].as_secs_f64() * 1e3,
        samples[samples.len() * 99 / 100].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    println!(
        "edge benchmarks on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    reads().await;
    propagation().await;
}
