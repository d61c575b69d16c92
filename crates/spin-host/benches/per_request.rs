//! What the host itself costs per request: sequential GETs of the `probe`
//! fixture's smallest route, in-process, with Spin's default instance reuse
//! and with a fresh instance per request. Prints medians over several runs;
//! never passes or fails on time.
//!
//! Run with `cargo bench -p spin-test-host` after `./scripts/test` (or the
//! wasm build step of it) has built the fixture.

use spin_test_host::{App, AppOptions, ReuseLimits};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REQUESTS: u32 = 2_000;
const RUNS: usize = 5;

fn probe_manifest(dir: &Path) -> PathBuf {
    let wasm =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/wasm/probe.wasm");
    assert!(wasm.exists(), "build the fixture first: ./scripts/test");
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bench\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
             [component.probe]\nsource = \"{}\"\n",
            wasm.display()
        ),
    )
    .unwrap();
    manifest
}

async fn per_request(app: &App) -> Duration {
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let response = app.get("/instance").await;
        assert_eq!(response.status(), 200);
    }
    started.elapsed() / REQUESTS
}

async fn median_per_request(reuse: ReuseLimits, manifest: &Path) -> Duration {
    let mut options = AppOptions::new(manifest);
    options.reuse = reuse;
    let app = App::start(options).await.unwrap();
    per_request(&app).await; // warm-up: compile cache, first instances
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(per_request(&app).await);
    }
    runs.sort();
    runs[RUNS / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path());
    let reused = median_per_request(ReuseLimits::default(), &manifest).await;
    let fresh = median_per_request(
        ReuseLimits {
            max_requests: 1,
            max_concurrent: 1,
            ..ReuseLimits::default()
        },
        &manifest,
    )
    .await;
    println!("host per-request cost, {REQUESTS} sequential GETs, median of {RUNS} runs");
    println!(
        "  instance reuse 128/16 (Spin default): {:>8.1} µs",
        reused.as_secs_f64() * 1e6
    );
    println!(
        "  fresh instance per request (1/1):     {:>8.1} µs",
        fresh.as_secs_f64() * 1e6
    );
    println!(
        "  fresh / reused:                        {:>8.2}x",
        fresh.as_secs_f64() / reused.as_secs_f64()
    );
}
