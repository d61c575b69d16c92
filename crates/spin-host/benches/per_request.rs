//! What the host itself costs per request, and what a fresh instance adds to
//! it: GETs of the `probe` fixture's smallest route, with Spin's default
//! instance reuse and with a fresh instance per request, from one client and
//! from 16 concurrent ones in-process, and from 16 over HTTP as Spin was
//! measured. Prints req/s (median of
//! several runs), p50/p99/max latency, CPU time per request (which, unlike
//! the others, holds up on a busy machine), and the fresh/reused ratio
//! beside the one measured under a real Spin 4.1; never passes or fails on
//! time. It measures what a request and an instance cost, not a server over
//! time, so it does not wait out the 1 s idle timeout.
//!
//! Run with `cargo bench -p spin-test-host --bench per_request [-- fresh|reuse]`
//! after `./scripts/test` (or the wasm build step of it) has built the
//! fixture.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use spin_test_host::{App, AppOptions, ReuseLimits, Server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REQUESTS: usize = 2_000;
const RUNS: usize = 5;
const CLIENTS: usize = 16;

/// Spin 4.1 serving a tiny component, measured with the same two settings:
/// req/s reused, req/s fresh.
const SPIN_REUSED: f64 = 15_101.0;
const SPIN_FRESH: f64 = 14_532.0;

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

/// How the clients reach the app.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// Calls into the app, as the test suites do.
    InProcess,
    /// HTTP/1.1 over loopback, one keep-alive connection per client, as a
    /// load generator in front of `spin up` would.
    Http,
}

/// One GET of the probe's smallest route.
async fn get(app: &App, http: &mut Option<HttpClient>) {
    let status = match http {
        None => app.get("/instance").await.status(),
        Some(client) => {
            let request = http::Request::get("/instance")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = client.send_request(request).await.unwrap();
            let status = response.status();
            response.into_body().collect().await.unwrap();
            status
        }
    };
    assert_eq!(status, 200);
}

type HttpClient = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(server: &Server) -> HttpClient {
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (client, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    client
}

/// One run: `REQUESTS` GETs from `clients` clients at once. Returns the
/// wall time and every request's latency.
async fn run(app: &App, server: Option<&Server>, clients: usize) -> (Duration, Vec<Duration>) {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(match server {
            Some(server) => Some(connect(server).await),
            None => None,
        });
    }
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut http| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(REQUESTS / clients);
                for _ in 0..REQUESTS / clients {
                    let sent = Instant::now();
                    get(&app, &mut http).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(REQUESTS);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (started.elapsed(), latencies)
}

/// CPU time this process's threads have used so far, where Linux tells it.
fn cpu_time() -> Option<Duration> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split(' ').next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

struct Figures {
    per_second: f64,
    cpu_per_request: Option<Duration>,
    p50: Duration,
    p99: Duration,
    max: Duration,
    instances: usize,
}

async fn measure(reuse: ReuseLimits, via: Via, clients: usize, manifest: &Path) -> Figures {
    let mut options = AppOptions::new(manifest);
    options.reuse = reuse;
    let app = App::start(options).await.unwrap();
    let server = match via {
        Via::InProcess => None,
        Via::Http => Some(
            Server::bind(app.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        ),
    };
    let server = server.as_ref();
    run(&app, server, clients).await; // warm-up: first instances, allocator slots
    let before = app.instances_created("probe");
    let cpu_before = cpu_time();
    let mut rates = Vec::with_capacity(RUNS);
    let mut latencies = Vec::with_capacity(RUNS * REQUESTS);
    for _ in 0..RUNS {
        let (elapsed, mut run_latencies) = run(&app, server, clients).await;
        rates.push(run_latencies.len() as f64 / elapsed.as_secs_f64());
        latencies.append(&mut run_latencies);
    }
    let cpu_per_request = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before) / latencies.len() as u32);
    rates.sort_by(f64::total_cmp);
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Figures {
        per_second: rates[RUNS / 2],
        cpu_per_request,
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
        instances: app.instances_created("probe") - before,
    }
}

fn print(label: &str, f: &Figures) {
    let cpu = f
        .cpu_per_request
        .map_or("n/a".into(), |c| format!("{:.1}", c.as_secs_f64() * 1e6));
    println!(
        "  {label:<36} {:>6.0} req/s  cpu {cpu:>6} µs/req  p50 {:>6.1} µs  p99 {:>7.1} µs  \
         max {:>8.1} µs  ({} instances)",
        f.per_second,
        f.p50.as_secs_f64() * 1e6,
        f.p99.as_secs_f64() * 1e6,
        f.max.as_secs_f64() * 1e6,
        f.instances,
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; anything else selects the cases.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let dir = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(dir.path());
    let fresh_limits = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    println!(
        "host per-request cost, GETs of a tiny route, {REQUESTS} per run, \
         median req/s of {RUNS} runs, latencies over all runs"
    );
    for (via, clients) in [
        (Via::InProcess, 1),
        (Via::InProcess, CLIENTS),
        (Via::Http, CLIENTS),
    ] {
        match via {
            Via::InProcess => println!("{clients} client(s), in-process:"),
            Via::Http => println!("{clients} client(s), HTTP/1.1 keep-alive over loopback:"),
        }
        let reused = if wanted("reuse") {
            let f = measure(ReuseLimits::default(), via, clients, &manifest).await;
            print("instance reuse 128/16 (Spin default)", &f);
            Some(f)
        } else {
            None
        };
        let fresh = if wanted("fresh") {
            let f = measure(fresh_limits, via, clients, &manifest).await;
            print("fresh instance per request (1/1)", &f);
            Some(f)
        } else {
            None
        };
        if let (Some(reused), Some(fresh)) = (reused, fresh) {
            let cpu_ratio = fresh
                .cpu_per_request
                .zip(reused.cpu_per_request)
                .map_or("n/a".into(), |(f, r)| {
                    format!("{:.2}x", f.as_secs_f64() / r.as_secs_f64())
                });
            println!(
                "  reused / fresh throughput {:.2}x, fresh / reused CPU {cpu_ratio}; \
                 Spin 4.1 measured {:.2}x ({SPIN_REUSED:.0} vs {SPIN_FRESH:.0} req/s over HTTP)",
                reused.per_second / fresh.per_second,
                SPIN_REUSED / SPIN_FRESH,
            );
        }
    }
    println!(
        "faster than Spin by design: no sockets or HTTP parsing in-process, and a fresh \
         instance resets only the memory pages it dirtied where Spin resets 2 MiB \
         (engine.rs); the load generator shares the host's cores"
    );
}
