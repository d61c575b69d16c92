//! A region simulation on one machine: the origin and three edges (eu, us,
//! ap) as separate apps on loopback ports, each edge with its own KV and a
//! delayed link to the origin, then a table of what attendees would see.
//!
//! `./scripts/regions` builds and runs it with the project's test host;
//! `./scripts/regions --spin` runs the apps under `spin up` instead (Spin
//! 4.1+ on the PATH). Delays are round trips in milliseconds:
//! `--delays 80,150,250`.

use bytes::Bytes;
use eventfront_domain::signing::Secret;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEMO: &str = "wasm-edge-summit-2027";
const SECRET: &str = "region-simulation-signing-secret";
const ADMIN: &str = "region-simulation-admin";
const READS: usize = 200;

/// A child process stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    state: tempfile::TempDir,
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
            .arg(self.state.path().join(name))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", key.to_uppercase()), value);
        }
        Running(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}")),
        )
    }

    fn proxy(&self, port: u16, to: u16, delay_ms: u64) -> Running {
        let child = Command::new(&self.host)
            .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--to", &format!("http://127.0.0.1:{to}")])
            .args(["--delay-ms", &delay_ms.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start a delaying proxy");
        Running(child)
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

async fn wait_ready(port: u16, path: &str) {
    let started = Instant::now();
    while send(port, "GET", path, &[], Bytes::new())
        .await
        .map(|r| r.0)
        != Some(200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "port {port} never answered {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn percentiles(port: u16, path: &str) -> (f64, f64) {
    let mut samples = Vec::with_capacity(READS);
    for _ in 0..READS {
        let started = Instant::now();
        let answer = send(port, "GET", path, &[], Bytes::new()).await;
        assert_eq!(answer.map(|a| a.0), Some(200), "{path}");
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    (samples[READS / 2], samples[READS * 99 / 100])
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spin = args.iter().any(|a| a == "--spin");
    let delays: Vec<u64> = args
        .iter()
        .position(|a| a == "--delays")
        .and_then(|i| args.get(i + 1))
        .map_or("80,150,250", String::as_str)
        .split(',')
        .map(|d| {
            d.trim()
                .parse()
                .expect("--delays takes milliseconds, e.g. 80,150,250")
        })
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tools = Tools {
        host: root.join("target/release/spin-test-host"),
        root,
        spin,
        state: tempfile::tempdir().unwrap(),
    };
    let regions = ["eu", "us", "ap"];
    let origin_port = free_port();
    let edge_ports: Vec<u16> = regions.iter().map(|_| free_port()).collect();
    let mut running = Vec::new();
    // Each edge reaches the origin through its own delayed link, and the
    // origin reaches each edge through one delayed the same.
    let mut to_origin = Vec::new();
    let mut to_edges = Vec::new();
    for (i, delay) in delays.iter().enumerate().take(regions.len()) {
        let (a, b) = (free_port(), free_port());
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
            ("edge_urls", edge_urls),
            ("edge_hosts", "http://127.0.0.1:*".into()),
        ],
    ));
    for (i, region) in regions.iter().enumerate() {
        running.push(tools.up(
            "deploy/edge.toml",
            edge_ports[i],
            region,
            &[
                ("region", region.to_string()),
                ("origin_url", format!("http://127.0.0.1:{}", to_origin[i])),
                ("signing_secret", SECRET.into()),
                ("staleness_secs", "60".into()),
            ],
        ));
    }
    wait_ready(origin_port, "/health").await;
    for port in &edge_ports {
        wait_ready(*port, &format!("/api/events/{DEMO}/sessions")).await;
    }

    // A publish, signed and authorized as the edge would forward it.
    let body = Bytes::from(r#"{"note":"region simulation"}"#);
    let path = format!("/api/admin/events/{DEMO}/publish");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut headers: Vec<(String, String)> = Secret::new(SECRET)
        .unwrap()
        .sign("POST", &path, now, &body)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    headers.push(("authorization".into(), format!("Bearer {ADMIN}")));
    headers.push(("content-type".into(), "application/json".into()));
    // Edges are polled while the publish is under way: the organizer's
    // answer waits for the slowest edge, the nearest edges do not.
    let held = send(
        edge_ports[0],
        "GET",
        &format!("/api/events/{DEMO}"),
        &[],
        Bytes::new(),
    )
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
    let publish =
        tokio::spawn(async move { send(origin_port, "POST", &path, &headers, body).await });
    let mut reached = vec![None; regions.len()];
    while reached.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(30) {
        for (i, port) in edge_ports.iter().enumerate() {
            if reached[i].is_none()
                && let Some((200, headers, _)) = send(
                    *port,
                    "GET",
                    &format!("/api/events/{DEMO}"),
                    &[],
                    Bytes::new(),
                )
                .await
                && headers
                    .get("eventfront-version")
                    .and_then(|v| v.to_str().ok())
                    == Some(version.as_str())
            {
                reached[i] = Some(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }

    let published = publish.await.ok().flatten().expect("publish answered");
    assert_eq!(published.0, 201, "publish: {:?}", published.2);

    println!(
        "Region simulation ({}; {READS} reads per column; times in ms)",
        if spin { "spin up" } else { "project test host" }
    );
    println!(
        "{:<6} {:>9} {:>20} {:>22} {:>16}",
        "edge", "link RTT", "edge read p50/p99", "via origin p50/p99", "publish reached"
    );
    for (i, region) in regions.iter().enumerate() {
        let (edge_p50, edge_p99) =
            percentiles(edge_ports[i], &format!("/api/events/{DEMO}/sessions")).await;
        let (origin_p50, origin_p99) = percentiles(edge_ports[i], "/api/health").await;
        let reach = reached[i].map_or("not within 30 s".to_string(), |ms| format!("{ms:.1}"));
        println!(
            "{region:<6} {:>9} {:>20} {:>22} {reach:>16}",
            delays.get(i).copied().unwrap_or(0),
            format!("{edge_p50:.2} / {edge_p99:.2}"),
            format!("{origin_p50:.2} / {origin_p99:.2}"),
        );
    }
    drop(running);
}
