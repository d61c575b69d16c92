//! The production shape, from `deploy/`: an origin app and edge apps, each
//! edge with its own KV, trusting each other only by signature, and a
//! secret rotation that keeps every edge working throughout.

use serde_json::json;
use spin_test_host::manifest::Manifest;
use spin_test_host::runtime_config::RuntimeConfig;
use spin_test_host::{AppOptions, ReuseLimits, Server};
use system_tests::{EdgeApp, OriginApp, json as body_json, registration, workspace_root};

const DEMO: &str = "wasm-edge-summit-2027";
/// The test helpers sign organizer requests with this one.
const OLD: &str = system_tests::SIGNING_SECRET;
const NEW: &str = "the-new-signing-secret-56789";

#[test]
fn every_manifest_and_runtime_config_parses() {
    for manifest in ["spin.toml", "deploy/edge.toml", "deploy/origin.toml"] {
        let parsed = Manifest::load(&workspace_root().join(manifest));
        assert!(parsed.is_ok(), "{manifest}: {:#}", parsed.err().unwrap());
    }
    for config in [
        "deploy/edge.runtime-config.toml",
        "deploy/origin.runtime-config.toml",
    ] {
        let parsed = RuntimeConfig::load(&workspace_root().join(config));
        assert!(parsed.is_ok(), "{config}: {:#}", parsed.err().unwrap());
    }
}

/// Every SpinKube `SpinApp` in `deploy/spinkube/` names only components its
/// app has and sets only variables its manifest declares, takes every
/// secret from a Kubernetes Secret, and leaves no required variable unset.
#[test]
fn spinkube_resources_match_their_manifests() {
    let dir = workspace_root().join("deploy/spinkube");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = yaml_rust2::YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
        let app = &docs[0];
        assert_eq!(
            app["apiVersion"].as_str(),
            Some("core.spinkube.dev/v1alpha1"),
            "{file}"
        );
        assert_eq!(app["kind"].as_str(), Some("SpinApp"), "{file}");
        let components: Vec<&str> = app["spec"]["components"]
            .as_vec()
            .unwrap_or_else(|| panic!("{file}: spec.components lists the components"))
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let manifest = match components.as_slice() {
            ["edge"] => "deploy/edge.toml",
            ["origin"] => "deploy/origin.toml",
            other => panic!("{file}: a SpinApp runs the edge or the origin, not {other:?}"),
        };
        let manifest = Manifest::load(&workspace_root().join(manifest)).unwrap();
        let mut set = std::collections::BTreeSet::new();
        for variable in app["spec"]["variables"].as_vec().into_iter().flatten() {
            let name = variable["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: a variable without a name"));
            let declared = manifest
                .variables
                .get(name)
                .unwrap_or_else(|| panic!("{file}: {name} is not a variable of {}", manifest.name));
            let from_secret = !variable["valueFrom"]["secretKeyRef"]["name"].is_badvalue();
            if declared.secret {
                assert!(
                    from_secret,
                    "{file}: the secret {name} must come from a Secret"
                );
            } else {
                assert!(
                    from_secret || variable["value"].as_str().is_some(),
                    "{file}: {name} has no value"
                );
            }
            set.insert(name.to_string());
        }
        for (name, declared) in &manifest.variables {
            if declared.required {
                assert!(set.contains(name), "{file}: the required {name} is not set");
            }
        }
        checked += 1;
    }
    assert!(checked >= 2, "an edge and an origin SpinApp");
}

/// A `redis-server` on a free loopback port, stopped when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    /// On a free port; a port another test took in the meantime makes
    /// this server exit, and another port is tried.
    fn start() -> Self {
        (0..5)
            .find_map(|_| Self::try_start_on(free_loopback_addr().port()))
            .expect("redis-server starts on a free port")
    }

    fn start_on(port: u16) -> Self {
        Self::try_start_on(port).expect("redis-server starts on its port")
    }

    /// A server on `port` once it answers as this process, or `None` if
    /// another server answers there or it exited first (the port was
    /// taken).
    fn try_start_on(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        // Stopped however this ends, the assertion below included.
        let mut redis = Self { child, port };
        let this_server = format!("process_id:{}", redis.child.id());
        let started = std::time::Instant::now();
        loop {
            let info = redis.cli(&["INFO", "server"]);
            if info.lines().any(|line| line.trim() == this_server) {
                return Some(redis);
            }
            let another = info.contains("process_id:");
            if another || redis.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "redis-server started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

/// What `redis-cli` prints for `args` against the server on `port`.
fn cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is installed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address no one listens on yet, for a server started later.
fn free_loopback_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// An edge trusted by the origin, its default store in Redis.
fn on_redis(options: AppOptions, runtime_config: &std::path::Path) -> AppOptions {
    let mut options = options.variable("signing_secret", OLD);
    options.runtime_config = Some(runtime_config.to_path_buf());
    options
}

/// A runtime config putting the default store in the Redis on `port`.
fn redis_runtime_config(dir: &tempfile::TempDir, port: u16) -> std::path::PathBuf {
    let path = dir.path().join("runtime-config.toml");
    std::fs::write(
        &path,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn an_edge_on_redis_serves_exactly_what_an_edge_on_the_default_store_serves() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = redis_runtime_config(&dir, redis.port);
    let (_origin, server) = origin_on_port((OLD, ""), "").await;
    let default_store =
        EdgeApp::start("eu", &server.url(), |o| o.variable("signing_secret", OLD)).await;
    let on_redis = EdgeApp::start("us", &server.url(), |o| on_redis(o, &runtime_config)).await;
    for path in [
        format!("/api/events/{DEMO}"),
        format!("/api/events/{DEMO}/sessions"),
        format!("/api/events/{DEMO}/sessions?q=rust&tz=Asia/Tokyo"),
        format!("/api/events/{DEMO}/speakers"),
        format!("/api/events/{DEMO}/changelog"),
        format!("/api/events/{DEMO}/schedule.ics"),
    ] {
        let (a, b) = (
            default_store.app.get(&path).await,
            on_redis.app.get(&path).await,
        );
        assert_eq!(
            (a.status().as_u16(), b.status().as_u16()),
            (200, 200),
            "{path}"
        );
        assert_eq!(a.body(), b.body(), "{path}");
        assert_eq!(a.headers().get("etag"), b.headers().get("etag"), "{path}");
    }
    assert_eq!(
        redis.cli(&["EXISTS", &format!("head/{DEMO}")]),
        "1",
        "the edge wrote to Redis"
    );
}

/// An origin on a loopback port with `secrets` (current, previous).
async fn origin_on_port(secrets: (&str, &str), edge_urls: &str) -> (OriginApp, Server) {
    let origin = OriginApp::start(|o| {
        o.variable("signing_secret", secrets.0)
            .variable("signing_secret_previous", secrets.1)
            .variable("edge_urls", edge_urls)
    })
    .await;
    let server = Server::bind(origin.app.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (origin, server)
}

#[tokio::test]
async fn an_edge_with_the_wrong_secret_is_refused() {
    let (_origin, server) = origin_on_port((OLD, ""), "").await;
    let stranger = EdgeApp::start("xx", &server.url(), |o| o.variable("signing_secret", NEW)).await;
    let refused = stranger.app.get(&format!("/api/events/{DEMO}")).await;
    assert_eq!(
        refused.status(),
        503,
        "the origin answered 401, so the edge has nothing to serve"
    );
    let trusted = EdgeApp::start("eu", &server.url(), |o| o.variable("signing_secret", OLD)).await;
    assert_eq!(
        trusted
            .app
            .get(&format!("/api/events/{DEMO}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rotating_the_signing_secret_keeps_every_edge_working() {
    // Mid-rotation: the origin signs with the new secret and still accepts
    // the old; one edge has switched, the other not yet. Each accepts both.
    let origin_addr = free_loopback_addr();
    let origin_url = format!("http://{origin_addr}");
    let edge_old = EdgeApp::start("eu", &origin_url, |o| {
        o.variable("signing_secret", OLD)
            .variable("signing_secret_previous", NEW)
    })
    .await;
    let edge_new = EdgeApp::start("us", &origin_url, |o| {
        o.variable("signing_secret", NEW)
            .variable("signing_secret_previous", OLD)
    })
    .await;
    let urls = format!("{},{}", edge_old.server.url(), edge_new.server.url());
    let origin = OriginApp::start(|o| {
        o.variable("signing_secret", NEW)
            .variable("signing_secret_previous", OLD)
            .variable("edge_urls", urls)
    })
    .await;
    let _server = Server::bind(origin.app.clone(), origin_addr).await.unwrap();

    for edge in [&edge_old, &edge_new] {
        assert_eq!(
            edge.app.get(&format!("/api/events/{DEMO}")).await.status(),
            200
        );
        let registered = edge
            .app
            .send(registration(
                DEMO,
                &format!("rotation-{}", edge.server.url()),
                "R",
                &format!("r{}@example.com", edge.server.addr().port()),
            ))
            .await;
        assert_eq!(
            registered.status(),
            201,
            "writes signed with either secret are accepted"
        );
    }
    let published = origin
        .admin(
            "POST",
            &format!("/api/admin/events/{DEMO}/publish"),
            Some(json!({"note": "rotation"})),
        )
        .await;
    let edges = body_json(&published)["edges"].as_array().unwrap().clone();
    assert!(
        edges.iter().all(|e| e["acknowledged"] == true),
        "both edges accept notices signed with the new secret: {edges:?}"
    );
}

/// KV is the edge's cache, not its source of truth: with its Redis gone the
/// edge keeps serving what it holds, fetches what it lacks from the origin,
/// forwards registrations and takes publishes; when Redis is back, the
/// edge stores in it again.
#[tokio::test]
async fn an_edge_outlives_an_outage_of_its_redis() {
    let redis = Redis::start();
    let port = redis.port;
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = redis_runtime_config(&dir, port);
    let origin_addr = free_loopback_addr();
    let edge = EdgeApp::start("us", &format!("http://{origin_addr}"), |o| {
        on_redis(o, &runtime_config)
    })
    .await;
    let origin = OriginApp::start(|o| {
        o.variable("signing_secret", OLD)
            .variable("edge_urls", edge.server.url())
    })
    .await;
    let _server = Server::bind(origin.app.clone(), origin_addr).await.unwrap();
    let held = format!("/api/events/{DEMO}/sessions");
    assert_eq!(edge.app.get(&held).await.status(), 200);
    assert_eq!(redis.cli(&["EXISTS", &format!("head/{DEMO}")]), "1");

    drop(redis);
    // Past the 50 ms for which an instance trusts its memory without KV
    // (the edge's clock, not the wall's).
    edge.app
        .clock()
        .advance(std::time::Duration::from_millis(100));
    for path in [
        held,
        format!("/api/events/{DEMO}/speakers"),
        format!("/api/events/{DEMO}/schedule.ics"),
        "/api/events".to_string(),
    ] {
        assert_eq!(edge.app.get(&path).await.status(), 200, "{path}");
    }
    let registered = edge
        .app
        .send(registration(
            DEMO,
            "redis-outage",
            "Grace Hopper",
            "grace@example.com",
        ))
        .await;
    assert_eq!(registered.status(), 201, "registrations never wait for KV");
    let publish_path = format!("/api/admin/events/{DEMO}/publish");
    let publish =
        |note: &'static str| origin.admin("POST", &publish_path, Some(json!({ "note": note })));
    let published = body_json(&publish("during the outage").await);
    assert_eq!(published["edges"][0]["acknowledged"], true, "{published}");
    let event = edge.app.get(&format!("/api/events/{DEMO}")).await;
    assert_eq!(event.headers()["eventfront-version"], "2");
    let status = body_json(&edge.app.get("/_edge/status").await);
    assert_eq!(
        status["events"][DEMO]["version"], 2,
        "the status the organizer page watches: {status}"
    );

    let redis = Redis::start_on(port);
    let published = body_json(&publish("after the outage").await);
    assert_eq!(published["edges"][0]["acknowledged"], true, "{published}");
    let head: serde_json::Value =
        serde_json::from_str(&redis.cli(&["GET", &format!("head/{DEMO}")])).unwrap();
    assert_eq!(head["version"], 3, "the edge reconnected to Redis");
}

/// Instances leave their waiting-room counts in the edge's store for the
/// edge's one reporter; with the store down, each reports its own, and
/// none is lost.
#[tokio::test]
async fn waiting_room_arrivals_reach_the_origin_while_the_store_is_down() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = redis_runtime_config(&dir, redis.port);
    let origin_addr = free_loopback_addr();
    let edge = EdgeApp::start("us", &format!("http://{origin_addr}"), |o| {
        on_redis(o, &runtime_config)
    })
    .await;
    let origin = OriginApp::start(|o| o.variable("edge_urls", edge.server.url())).await;
    let _server = Server::bind(origin.app.clone(), origin_addr).await.unwrap();
    origin
        .publish_event("conf", system_tests::open_event(10))
        .await;
    let opens = origin.app.clock().since_epoch().as_millis() as i64 + 60_000;
    let room = json!({
        "opens_at": jiff::Timestamp::from_millisecond(opens).unwrap().to_string(),
        "prequeue_minutes": 5, "per_minute": 60,
    });
    let set = origin
        .admin("PUT", "/api/admin/events/conf/waiting-room", Some(room))
        .await;
    assert_eq!(set.status(), 200, "{:?}", set.body());
    let take = async || {
        let request = http::Request::post("/api/events/conf/waiting-room")
            .body(bytes::Bytes::new())
            .unwrap();
        assert_eq!(edge.app.send(request).await.status(), 201);
    };
    let reported = async |n: i64| {
        system_tests::eventually("the arrivals reported", async || {
            match origin.arrivals_reported().await {
                seen if seen == n => Ok(()),
                seen => {
                    for clock in [edge.app.clock(), origin.app.clock()] {
                        clock.advance(std::time::Duration::from_millis(250));
                    }
                    Err(seen)
                }
            }
        })
        .await
    };
    take().await;
    reported(1).await;
    assert!(
        redis
            .cli(&["KEYS", "arrivals-lead/conf"])
            .contains("arrivals-lead/conf"),
        "reported through the store"
    );

    drop(redis);
    for _ in 0..3 {
        take().await;
    }
    reported(4).await;
}

/// A Redis under `maxmemory` may evict any key: an edge that finds the head
/// but not a document it points at gets the document from the origin.
#[tokio::test]
async fn an_edge_refills_a_document_its_redis_evicted() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = redis_runtime_config(&dir, redis.port);
    let (_origin, server) = origin_on_port((OLD, ""), "").await;
    // A fresh instance per request: nothing is remembered between reads.
    let edge = EdgeApp::start("eu", &server.url(), |o| {
        let mut o = on_redis(o, &runtime_config);
        o.reuse = ReuseLimits {
            max_requests: 1,
            max_concurrent: 1,
            ..ReuseLimits::default()
        };
        o
    })
    .await;
    let path = format!("/api/events/{DEMO}/sessions");
    let before = edge.app.get(&path).await;
    assert_eq!(before.status(), 200);
    let evicted = format!("doc/{DEMO}/1/sessions");
    assert_eq!(redis.cli(&["DEL", &evicted]), "1");
    let after = edge.app.get(&path).await;
    assert_eq!(after.status(), 200);
    assert_eq!(after.body(), before.body());
}
