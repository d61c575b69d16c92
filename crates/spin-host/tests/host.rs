//! The host behaves as Spin 4.1 does, proven against the `probe` fixture
//! component (built by the test command before this suite runs).

use bytes::Bytes;
use spin_test_host::{App, AppOptions, LinkFault, ReuseLimits, Server};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn probe_wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let wasm = target.join("wasm32-wasip2/wasm/probe.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: run ./scripts/test, which builds the components first",
        wasm.display()
    );
    wasm
}

/// Writes a manifest into a fresh folder; `{probe}` stands for the fixture.
fn manifest(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"probe-app\"\n{}",
        body.replace("{probe}", &probe_wasm().display().to_string())
            .replace("{fixtures}", &fixtures.display().to_string())
    );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

const ONE_PROBE: &str = r#"
[[trigger.http]]
route = "/..."
component = "probe"

[component.probe]
source = "{probe}"
key_value_stores = ["default"]
sqlite_databases = ["default"]
"#;

/// The probe with the test fixtures mounted at `/assets`.
const WITH_FILES: &str = r#"
[[trigger.http]]
route = "/..."
component = "probe"

[component.probe]
source = "{probe}"
files = [{ source = "{fixtures}/assets", destination = "/assets" }]
"#;

async fn start(options: AppOptions) -> App {
    App::start(options).await.expect("app starts")
}

fn body(response: &http::Response<Bytes>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

async fn put(app: &App, path: &str, value: &str) -> http::Response<Bytes> {
    let request = http::Request::put(path)
        .body(Bytes::from(value.to_string()))
        .unwrap();
    app.send(request).await
}

async fn post(app: &App, path: &str) -> http::Response<Bytes> {
    app.send(http::Request::post(path).body(Bytes::new()).unwrap())
        .await
}

/// `(instance id, requests it has served, requests it is running)`.
fn instance_report(response: &http::Response<Bytes>) -> (u64, u64, u64) {
    let text = body(response);
    let mut parts = text.split(' ').map(|p| p.parse::<u64>().unwrap());
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

#[tokio::test]
async fn key_value_persists_across_requests_instances_and_restarts() {
    let (dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.state_dir = Some(dir.path().join(".spin"));
    options.reuse = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    let app = start(options.clone()).await;
    assert_eq!(put(&app, "/kv/default/greeting", "hej").await.status(), 200);
    let got = app.get("/kv/default/greeting").await;
    assert_eq!((got.status().as_u16(), body(&got).as_str()), (200, "hej"));
    assert_eq!(app.instances_created("probe"), 2, "a fresh instance each");
    let keys = app.get("/keys/default").await;
    assert_eq!(body(&keys), "greeting");
    drop(app);

    let restarted = start(options).await;
    assert_eq!(body(&restarted.get("/kv/default/greeting").await), "hej");
    assert!(dir.path().join(".spin/sqlite_key_value.db").exists());
}

#[tokio::test]
async fn stores_and_databases_are_granted_only_as_the_manifest_says() {
    let (_dir, path) = manifest(
        r#"
[[trigger.http]]
route = "/..."
component = "bare"

[component.bare]
source = "{probe}"
"#,
    );
    let app = start(AppOptions::new(&path)).await;
    let denied = app.get("/kv/default/x").await;
    assert_eq!(denied.status(), 403);
    assert!(body(&denied).contains("AccessDenied"), "{}", body(&denied));
    let unknown = app.get("/kv/nonexistent/x").await;
    assert!(body(&unknown).contains("NoSuchStore"), "{}", body(&unknown));
    let sqlite = post(&app, "/sqlite/default").await;
    assert!(body(&sqlite).contains("AccessDenied"), "{}", body(&sqlite));

    let (_dir, undefined) = manifest(&ONE_PROBE.replace(
        r#"key_value_stores = ["default"]"#,
        r#"key_value_stores = ["default", "cache"]"#,
    ));
    let err = App::start(AppOptions::new(&undefined)).await.err().unwrap();
    assert!(format!("{err:#}").contains("cache"), "{err:#}");
}

#[tokio::test]
async fn sqlite_statements_run_and_stream_rows_back() {
    let (dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.state_dir = Some(dir.path().to_path_buf());
    let app = start(options).await;
    assert_eq!(body(&post(&app, "/sqlite/default").await), "1 hi");
    assert_eq!(body(&post(&app, "/sqlite/default").await), "2 hi");
    let denied = post(&app, "/sqlite/other").await;
    assert!(
        body(&denied).contains("NoSuchDatabase"),
        "{}",
        body(&denied)
    );
    assert!(dir.path().join("sqlite_db.db").exists());
}

#[tokio::test]
async fn an_instance_serves_128_requests_then_is_replaced() {
    let (_dir, path) = manifest(ONE_PROBE);
    let app = start(AppOptions::new(&path)).await;
    let mut served_by: HashMap<u64, u64> = HashMap::new();
    for _ in 0..200 {
        let (id, served, _) = instance_report(&app.get("/instance").await);
        served_by.insert(id, served);
    }
    let mut counts: Vec<u64> = served_by.values().copied().collect();
    counts.sort();
    assert_eq!(
        counts,
        [72, 128],
        "two instances: 128 requests, then the rest"
    );
    assert_eq!(app.instances_created("probe"), 2);
}

#[tokio::test]
async fn one_one_reuse_gives_a_fresh_instance_per_request() {
    let (_dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.reuse = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    let app = start(options).await;
    let mut ids = HashSet::new();
    for _ in 0..5 {
        let (id, served, _) = instance_report(&app.get("/instance").await);
        assert_eq!(served, 1);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn concurrent_requests_share_an_instance_up_to_the_limit() {
    let (_dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.reuse.max_concurrent = 4;
    let app = start(options).await;
    // As under Spin, a burst at a cold component starts an instance per
    // request (no instance is yet there to take them), so warm one first.
    assert_eq!(app.get("/instance").await.status(), 200);
    let requests = (0..12).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { instance_report(&app.get("/instance?sleep=300").await) })
    });
    let reports: Vec<_> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let most_running = reports.iter().map(|r| r.2).max().unwrap();
    let instances: HashSet<u64> = reports.iter().map(|r| r.0).collect();
    assert!(
        most_running > 1,
        "requests ran concurrently in one instance"
    );
    assert!(
        most_running <= 4,
        "never more than 4 at once: {most_running}"
    );
    assert!(
        instances.len() >= 3,
        "12 at once need 3 instances: {instances:?}"
    );
}

#[tokio::test]
async fn an_idle_instance_is_dropped() {
    let (_dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.reuse.idle_timeout = Duration::from_millis(100);
    let app = start(options).await;
    let (first, _, _) = instance_report(&app.get("/instance").await);
    let (again, _, _) = instance_report(&app.get("/instance").await);
    assert_eq!(first, again, "reused while busy");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (later, served, _) = instance_report(&app.get("/instance").await);
    assert_ne!(first, later);
    assert_eq!(served, 1);
}

/// Spin 4.1 keeps an instance until the guest's task ends, so work a guest
/// spawns after answering runs to completion whatever the reuse settings:
/// even a fresh instance per request, or an idle timeout shorter than the
/// work, does not cut it off.
#[tokio::test]
async fn work_spawned_after_the_response_runs_to_completion() {
    let fresh = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    let short_idle = ReuseLimits {
        idle_timeout: Duration::from_millis(50),
        ..ReuseLimits::default()
    };
    for (mode, reuse) in [
        ("Spin's default reuse", ReuseLimits::default()),
        ("a 50 ms idle timeout", short_idle),
        ("a fresh instance per request", fresh),
    ] {
        let (_dir, path) = manifest(ONE_PROBE);
        let mut options = AppOptions::new(&path);
        options.reuse = reuse;
        let app = start(options).await;
        // The work sleeps an hour on the app's clock: answered at all
        // means the answer did not wait for it.
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            post(&app, "/later/default/refilled?sleep=3600000"),
        )
        .await
        .expect("the response did not wait for the spawned work");
        assert_eq!(answer.status(), 202, "{mode}: {}", body(&answer));
        // Longer than the short idle timeout, on real time.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            app.get("/kv/default/refilled").await.status(),
            404,
            "{mode}: the key is written only after the sleep"
        );
        app.clock().advance(Duration::from_secs(3600));
        let started = Instant::now();
        let written = loop {
            let got = app.get("/kv/default/refilled").await;
            if got.status() == 200 {
                break body(&got);
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{mode}: the spawned write never landed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(written, "written after the response", "{mode}");
    }
}

/// Spin bounds the work a guest does after its last response by the
/// request timeout too: the instance is then dropped with the work.
#[tokio::test]
async fn spawned_work_is_cut_off_a_request_timeout_after_the_response() {
    let (_dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.request_timeout = Duration::from_millis(300);
    let app = start(options).await;
    let answer = post(&app, "/later/default/late?sleep=3600000").await;
    assert_eq!(answer.status(), 202);
    let first: u64 = body(&answer).parse().unwrap();
    // Past the timeout on real time, then past the work's sleep.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.clock().advance(Duration::from_secs(3600));
    assert_eq!(app.get("/kv/default/late").await.status(), 404);
    let (next, _, _) = instance_report(&app.get("/instance").await);
    assert_ne!(first, next, "the instance went with its unfinished work");
}

#[tokio::test]
async fn a_trapping_instance_is_dropped() {
    let (_dir, path) = manifest(ONE_PROBE);
    let app = start(AppOptions::new(&path)).await;
    let (before, _, _) = instance_report(&app.get("/instance").await);
    assert_eq!(app.get("/panic").await.status(), 500);
    let (after, served, _) = instance_report(&app.get("/instance").await);
    assert_ne!(before, after, "the trapped instance is not reused");
    assert_eq!(served, 1);
    assert_eq!(app.instances_created("probe"), 2);
}

const WITH_VARIABLES: &str = r#"
[variables]
greeting = { default = "hello" }
region = { required = true }
token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "probe"

[component.probe]
source = "{probe}"
[component.probe.variables]
greeting = "{{ greeting }}"
place = "edge-{{ region }}"
"#;

#[tokio::test]
async fn variables_resolve_with_defaults_templates_and_overrides() {
    let (_dir, path) = manifest(WITH_VARIABLES);
    let app = start(
        AppOptions::new(&path)
            .variable("region", "eu")
            .variable("token", "s3cret"),
    )
    .await;
    assert_eq!(body(&app.get("/var/greeting").await), "hello");
    assert_eq!(body(&app.get("/var/place").await), "edge-eu");
    let undeclared = app.get("/var/token").await;
    assert!(
        body(&undeclared).contains("Undefined"),
        "{}",
        body(&undeclared)
    );
    let invalid = app.get("/var/Bad-Name").await;
    assert!(body(&invalid).contains("InvalidName"), "{}", body(&invalid));

    let overridden = start(
        AppOptions::new(&path)
            .variable("region", "us")
            .variable("token", "t")
            .variable("greeting", "howdy"),
    )
    .await;
    assert_eq!(body(&overridden.get("/var/greeting").await), "howdy");
    assert_eq!(body(&overridden.get("/var/place").await), "edge-us");
}

#[tokio::test]
async fn a_missing_required_variable_stops_the_app_from_starting() {
    let (_dir, path) = manifest(WITH_VARIABLES);
    let err = App::start(AppOptions::new(&path).variable("region", "eu"))
        .await
        .err()
        .expect("start fails");
    let message = format!("{err:#}");
    assert!(message.contains("token"), "{message}");
    assert!(message.contains("SPIN_VARIABLE_TOKEN"), "{message}");
}

const CHAINED: &str = r#"
[variables]
peer = { default = "http://127.0.0.1:1" }

[[trigger.http]]
route = "/front/..."
component = "front"

[[trigger.http]]
route = { private = true }
component = "back"

[component.front]
source = "{probe}"
allowed_outbound_hosts = ["http://back.spin.internal", "{{ peer }}"]

[component.back]
source = "{probe}"
"#;

#[tokio::test]
async fn spin_headers_describe_the_route() {
    let (_dir, path) = manifest(CHAINED);
    let app = start(AppOptions::new(&path)).await;
    let request = http::Request::get("/front/headers?x=1")
        .header("host", "events.example:3000")
        .header("spin-client-addr", "6.6.6.6:1")
        .body(Bytes::new())
        .unwrap();
    let headers = body(&app.send(request).await);
    for expected in [
        "spin-base-path: /",
        "spin-client-addr: 127.0.0.1:0",
        "spin-component-route: /front",
        "spin-full-url: http://events.example:3000/front/headers?x=1",
        "spin-matched-route: /front/...",
        "spin-path-info: /headers",
        "spin-raw-component-route: /front/...",
    ] {
        assert!(headers.contains(expected), "{expected} in\n{headers}");
    }
    // Spin 4.1 keeps a client's `spin-*` headers and appends its own after
    // them; guests must read the last value.
    assert!(
        headers.contains("spin-client-addr: 6.6.6.6:1"),
        "the client's header is kept, as Spin keeps it\n{headers}"
    );
}

#[tokio::test]
async fn private_routes_are_reached_only_by_service_chaining() {
    let (_dir, path) = manifest(CHAINED);
    let app = start(AppOptions::new(&path)).await;
    assert_eq!(app.get("/headers").await.status(), 404);
    assert_eq!(app.get("/instance").await.status(), 404);
    let chained = app
        .get("/front/outbound?url=http://back.spin.internal/headers")
        .await;
    let text = body(&chained);
    assert!(text.starts_with("200 "), "{text}");
    assert!(text.contains("spin-path-info: /headers"), "{text}");
    assert!(text.contains("spin-client-addr: 0.0.0.0:0"), "{text}");
}

#[tokio::test]
async fn outbound_hosts_are_enforced_and_templates_resolve() {
    let (_dir, peer_manifest) = manifest(ONE_PROBE);
    let peer = start(AppOptions::new(&peer_manifest)).await;
    let peer_server = Server::bind(peer, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (_dir, path) = manifest(CHAINED);
    let app = start(AppOptions::new(&path).variable("peer", peer_server.url())).await;

    let allowed = app
        .get(&format!(
            "/front/outbound?url={}/instance",
            peer_server.url()
        ))
        .await;
    assert!(body(&allowed).starts_with("200 "), "{}", body(&allowed));

    let other_port = format!(
        "http://127.0.0.1:{}/instance",
        peer_server.addr().port() + 1
    );
    let denied = app.get(&format!("/front/outbound?url={other_port}")).await;
    assert_eq!(denied.status(), 502);
    assert!(
        body(&denied).contains("HttpRequestDenied"),
        "{}",
        body(&denied)
    );
    let elsewhere = app.get("/front/outbound?url=https://example.com/").await;
    assert!(
        body(&elsewhere).contains("HttpRequestDenied"),
        "{}",
        body(&elsewhere)
    );
}

#[tokio::test]
async fn links_can_be_cut_and_slowed() {
    let (_dir, path) = manifest(CHAINED);
    let app = start(AppOptions::new(&path)).await;
    let chained = "/front/outbound?url=http://back.spin.internal/instance";

    app.links().set("back.spin.internal", LinkFault::Cut);
    let cut = app.get(chained).await;
    assert!(body(&cut).contains("ConnectionRefused"), "{}", body(&cut));

    app.links().set(
        "back.spin.internal",
        LinkFault::Delay(Duration::from_secs(1)),
    );
    let started = Instant::now();
    assert!(body(&app.get(chained).await).starts_with("200 "));
    assert!(started.elapsed() >= Duration::from_secs(1));

    // Healed from an hour's delay: answered at all means undelayed.
    app.links().set(
        "back.spin.internal",
        LinkFault::Delay(Duration::from_secs(3600)),
    );
    app.links().heal("back.spin.internal");
    let healed = tokio::time::timeout(Duration::from_secs(60), app.get(chained))
        .await
        .expect("a healed link is not delayed");
    assert!(body(&healed).starts_with("200 "));
    assert_eq!(app.links().requests("back.spin.internal"), 3, "counted");
    assert_eq!(app.links().requests("elsewhere.spin.internal"), 0);
}

#[tokio::test]
async fn a_runaway_guest_is_stopped_with_a_500() {
    let (_dir, path) = manifest(ONE_PROBE);
    let mut options = AppOptions::new(&path);
    options.request_timeout = Duration::from_millis(500);
    let app = start(options).await;
    // A guest that never yields would hold the request for good.
    let response = tokio::time::timeout(Duration::from_secs(60), app.get("/spin"))
        .await
        .expect("the runaway guest was stopped");
    assert_eq!(response.status(), 500);
    assert_eq!(
        app.get("/instance").await.status(),
        200,
        "the app still serves"
    );
}

#[tokio::test]
async fn files_are_mounted_read_only_where_the_manifest_says() {
    let (_dir, path) = manifest(WITH_FILES);
    let app = start(AppOptions::new(&path)).await;
    let file = app.get("/file/assets/hello.txt").await;
    assert_eq!(body(&file).trim(), "hello from a mounted file");
    assert_eq!(app.get("/file/etc/passwd").await.status(), 404);
}

#[tokio::test]
async fn the_server_answers_over_tcp() {
    let (_dir, path) = manifest(ONE_PROBE);
    let app = start(AppOptions::new(&path)).await;
    let server = Server::bind(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (status, _, text) = http_get(&format!("{}/headers", server.url())).await;
    assert_eq!(status, 200);
    assert!(text.contains("spin-client-addr: 127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!("spin-full-url: {}/headers", server.url())),
        "{text}"
    );
}

#[tokio::test]
async fn the_server_writes_answers_as_spin_does_chunked_unless_sized() {
    let (_dir, path) = manifest(WITH_FILES);
    let app = start(AppOptions::new(&path)).await;
    let server = Server::bind(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The probe's plain answers state no length: Spin streams them chunked.
    let (status, headers, _) = http_get(&format!("{}/headers", server.url())).await;
    assert_eq!(status, 200);
    assert_eq!(headers["transfer-encoding"], "chunked");
    assert!(!headers.contains_key("content-length"));
    // An answer that states its length goes out with it, in one piece.
    let (status, headers, text) =
        http_get(&format!("{}/memory/assets/sized.txt", server.url())).await;
    assert_eq!((status, text.as_str()), (200, "sized\n"));
    assert_eq!(headers["content-length"], "6");
    assert!(!headers.contains_key("transfer-encoding"));
}

/// A minimal HTTP/1.1 GET over a fresh connection.
async fn http_get(url: &str) -> (u16, http::HeaderMap, String) {
    use http_body_util::{BodyExt, Empty};
    let uri: http::Uri = url.parse().unwrap();
    let stream = tokio::net::TcpStream::connect(uri.authority().unwrap().as_str())
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(uri.path())
        .header("host", uri.authority().unwrap().as_str())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn a_hung_link_never_answers_until_healed() {
    let (_dir, path) = manifest(CHAINED);
    let app = start(AppOptions::new(&path)).await;
    let chained = "/front/outbound?url=http://back.spin.internal/instance";

    // The probe sets no timeout of its own, so nothing ends the call.
    app.links().set("back.spin.internal", LinkFault::Hang);
    let hung = tokio::time::timeout(Duration::from_millis(500), app.get(chained)).await;
    assert!(hung.is_err(), "a hung link answered");

    app.links().heal("back.spin.internal");
    assert!(body(&app.get(chained).await).starts_with("200 "));
}

#[tokio::test]
async fn a_guests_timer_runs_on_the_apps_clock() {
    let (_dir, path) = manifest(ONE_PROBE);
    let app = start(AppOptions::new(&path)).await;
    // An hour's sleep ends once the test has moved the clock by an hour,
    // a minute at a time, and not before (less the real time it took).
    let mut sleeping = tokio::spawn({
        let app = app.clone();
        async move { app.get("/instance?sleep=3600000").await.status() }
    });
    let step = Duration::from_secs(60);
    let mut moved = Duration::ZERO;
    let status = loop {
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(5), &mut sleeping).await {
            break done.unwrap();
        }
        assert!(
            moved < Duration::from_secs(48 * 3600),
            "the sleep never ended"
        );
        app.clock().advance(step);
        moved += step;
    };
    assert_eq!(status, 200);
    assert!(moved >= Duration::from_secs(3000), "ended after {moved:?}");
}
