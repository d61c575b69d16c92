//! Shared set-up for Eventfront's component and end-to-end tests: where the
//! built components and the manifest are, and apps started from them.

pub mod browser;
pub mod fake_origin;
pub mod load;
pub mod postgres;
pub mod processes;
pub mod relay;
pub mod stub;

use bytes::Bytes;
use eventfront_domain::signing::{Direction, Message, Secret};
use spin_test_host::clock::Clock;
use spin_test_host::{App, AppOptions};
use std::path::{Path, PathBuf};

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// How long a test waits for something that happens after an answer
/// (a delivery, a refill, a revalidation) before it gives up: long enough
/// that a loaded machine never reaches it, since nothing a test checks
/// depends on how fast it happens (benchmarks measure that).
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// Asks `check` every few milliseconds until it gives a value, and returns
/// it; fails the test, with `what` and the last thing `check` saw, after
/// `PATIENCE`.
pub async fn eventually<T, S: std::fmt::Debug>(
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, S>,
) -> T {
    let started = std::time::Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) if started.elapsed() > PATIENCE => {
                panic!("{what}: not after {PATIENCE:?}; last saw {seen:#?}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A built component, checked to exist.
pub fn component_wasm(component: &str) -> PathBuf {
    let wasm = workspace_root().join(format!("target/wasm32-wasip2/wasm/{component}.wasm"));
    assert!(
        wasm.exists(),
        "{} is missing: run ./scripts/test, which builds the components first",
        wasm.display()
    );
    wasm
}

/// The development manifest, checked for the components it names.
pub fn dev_manifest() -> PathBuf {
    component_wasm("edge");
    component_wasm("origin");
    workspace_root().join("spin.toml")
}

/// Whether the origins these tests start run on PostgreSQL: with
/// `EVENTFRONT_TEST_DATABASE=postgres` each gets a database of its own on
/// the test process's throwaway cluster (`postgres`); otherwise Spin's
/// SQLite, as `spin up` gives it.
pub fn origin_on_postgres() -> bool {
    match std::env::var("EVENTFRONT_TEST_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("EVENTFRONT_TEST_DATABASE is `sqlite` or `postgres`, not {other:?}"),
    }
}

/// The origin alone on a public route, as in production, with its state in
/// `state` so that tests can read its database.
pub struct OriginApp {
    pub app: App,
    pub state: tempfile::TempDir,
    /// The origin's PostgreSQL database, when it runs on one.
    postgres: Option<String>,
    /// The origin's wall clock: requests are signed at its time.
    clock: Clock,
}

impl OriginApp {
    /// `deploy/origin.toml`, with test secrets, no edges unless the options
    /// name some, and outbound calls allowed to loopback ports.
    pub async fn start(options: impl FnOnce(AppOptions) -> AppOptions) -> Self {
        let postgres = match origin_on_postgres() {
            true => Some(postgres::database().await),
            false => None,
        };
        Self::start_on(postgres, options).await
    }

    /// `start`, on PostgreSQL whatever `EVENTFRONT_TEST_DATABASE` says: for
    /// what only PostgreSQL has.
    pub async fn start_on_postgres(options: impl FnOnce(AppOptions) -> AppOptions) -> Self {
        Self::start_on(Some(postgres::database().await), options).await
    }

    /// `start`, on the PostgreSQL database at `url` (one of
    /// `postgres::database()`'s) that the test prepared.
    pub async fn start_on_database(
        url: String,
        options: impl FnOnce(AppOptions) -> AppOptions,
    ) -> Self {
        Self::start_on(Some(url), options).await
    }

    async fn start_on(
        postgres: Option<String>,
        options: impl FnOnce(AppOptions) -> AppOptions,
    ) -> Self {
        component_wasm("origin");
        let state = tempfile::tempdir().unwrap();
        let mut base = AppOptions::new(workspace_root().join("deploy/origin.toml"))
            .variable("signing_secret", SIGNING_SECRET)
            .variable("admin_token", ADMIN_TOKEN)
            .variable("seed_demo", "true")
            .variable("edge_urls", "")
            .variable("edge_hosts", "http://127.0.0.1:*")
            // Webhooks reach the tests' stand-ins on loopback.
            .variable("webhook_hosts", "http://127.0.0.1:*")
            .variable("webhook_private_hosts", "true")
            .variable("public_url", "https://events.example.test");
        base.state_dir = Some(state.path().join("state"));
        if let Some(url) = &postgres {
            for (name, value) in postgres::origin_variables(url.clone()) {
                base = base.variable(name, value);
            }
        }
        let options = options(base);
        let clock = options.clock.clone();
        let app = App::start(options).await.expect("the origin starts");
        Self {
            app,
            state,
            postgres,
            clock,
        }
    }

    /// Sends `request` signed as an edge would sign it, at the time on the
    /// origin's clock (which a test may have moved).
    pub async fn signed(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let now = self.clock.since_epoch().as_secs() as i64;
        let signed = sign_as(Direction::ToOrigin, request, SIGNING_SECRET, now);
        self.app.send(signed).await
    }

    /// A signed organizer request with the admin token.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> http::Response<Bytes> {
        self.signed(admin_request(method, path, body)).await
    }

    /// Creates the event `slug` as `event` describes it and publishes it.
    pub async fn publish_event(&self, slug: &str, event: serde_json::Value) {
        let path = format!("/api/admin/events/{slug}");
        let created = self.admin("PUT", &path, Some(event)).await;
        assert_eq!(created.status(), 201, "{:?}", created.body());
        let published = self
            .admin(
                "POST",
                &format!("{path}/publish"),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(published.status(), 201, "{:?}", published.body());
    }

    /// The rows `sql` gives on the origin's database (whichever engine it
    /// runs on), each cell as JSON: integers, text or null.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<serde_json::Value>> {
        use serde_json::Value;
        match &self.postgres {
            Some(url) => {
                let client = postgres::client(url).await;
                let rows = client.query(sql, &[]).await.expect(sql);
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                use tokio_postgres::types::Type;
                                match *row.columns()[i].type_() {
                                    Type::INT8 => row.get::<_, Option<i64>>(i).into(),
                                    Type::INT4 => row.get::<_, Option<i32>>(i).into(),
                                    Type::BOOL => row.get::<_, Option<bool>>(i).into(),
                                    _ => row.get::<_, Option<String>>(i).into(),
                                }
                            })
                            .collect()
                    })
                    .collect()
            }
            None => {
                let sql = sql.to_string();
                self.on_sqlite(move |db| {
                    let mut statement = db.prepare(&sql).expect(&sql);
                    let columns = statement.column_count();
                    statement
                        .query_map([], |r| {
                            (0..columns)
                                .map(|i| {
                                    Ok(match r.get_ref(i)? {
                                        rusqlite::types::ValueRef::Integer(n) => Value::from(n),
                                        rusqlite::types::ValueRef::Text(t) => {
                                            Value::from(String::from_utf8_lossy(t).into_owned())
                                        }
                                        rusqlite::types::ValueRef::Real(f) => Value::from(f),
                                        rusqlite::types::ValueRef::Null => Value::Null,
                                        rusqlite::types::ValueRef::Blob(_) => {
                                            panic!("{sql}: the origin stores no blobs")
                                        }
                                    })
                                })
                                .collect()
                        })
                        .expect(&sql)
                        .collect::<Result<_, _>>()
                        .expect(&sql)
                })
                .await
            }
        }
    }

    /// How many waiting-room arrivals the edges reported, all events
    /// together.
    pub async fn arrivals_reported(&self) -> i64 {
        self.rows("SELECT CAST(coalesce(sum(count), 0) AS BIGINT) FROM waiting_room_arrivals")
            .await[0][0]
            .as_i64()
            .expect("a count")
    }

    /// Runs the one statement `sql` on the origin's database, as something
    /// outside the origin changing it: the rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        match &self.postgres {
            Some(url) => postgres::client(url)
                .await
                .execute(sql, &[])
                .await
                .expect(sql),
            None => {
                let sql = sql.to_string();
                self.on_sqlite(move |db| db.execute(&sql, []).expect(&sql) as u64)
                    .await
            }
        }
    }

    /// The registrations of event `slug` as its organizer lists them.
    pub async fn registrations(&self, slug: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/admin/events/{slug}/registrations");
        let listed = self.admin("GET", &path, None).await;
        assert_eq!(listed.status(), 200, "{:?}", listed.body());
        let mut list = json(&listed);
        match list["registrations"].take() {
            serde_json::Value::Array(rows) => rows,
            other => panic!("no registrations listed: {other}"),
        }
    }

    /// Takes the origin's write lock of the whole database from outside,
    /// as a migration of another instance would, until the returned lock
    /// is dropped: no event's transaction begins meanwhile.
    pub async fn hold_write_lock(&self) -> WriteLock {
        match &self.postgres {
            Some(url) => {
                let client = postgres::client(url).await;
                client
                    .batch_execute(&format!(
                        "BEGIN; SELECT pg_advisory_xact_lock({ORIGIN_PG_WRITE_LOCK})"
                    ))
                    .await
                    .unwrap();
                WriteLock::Postgres(client)
            }
            None => {
                let db = self.sqlite();
                // The origin's own background work (reports, pushes) may
                // be writing: its turn first. Never a blocking wait, which
                // would stop the origin, running on this thread, from
                // finishing.
                eventually("the origin's write lock", async || {
                    db.execute_batch("BEGIN IMMEDIATE")
                        .map_err(|e| e.to_string())
                })
                .await;
                WriteLock::Sqlite(db)
            }
        }
    }

    /// Takes one event's write lock from outside, as another instance
    /// deciding for that event would, until the returned lock is dropped;
    /// `None` on SQLite, whose one write lock is the whole database's.
    pub async fn hold_event_lock(&self, slug: &str) -> Option<WriteLock> {
        let url = self.postgres.as_ref()?;
        let client = postgres::client(url).await;
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock_shared({ORIGIN_PG_WRITE_LOCK}),
                     pg_advisory_xact_lock({ORIGIN_PG_EVENT_LOCKS}, hashtext('{slug}'))"
            ))
            .await
            .unwrap();
        Some(WriteLock::Postgres(client))
    }

    /// The origin's PostgreSQL database, when it runs on one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres.as_deref()
    }

    /// A connection of the test's own to the origin's SQLite file.
    fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.sqlite_path()).unwrap()
    }

    fn sqlite_path(&self) -> PathBuf {
        self.state.path().join("state/sqlite_db.db")
    }

    /// Runs `work` on a connection to the origin's SQLite file
    /// (`on_sqlite_file`).
    async fn on_sqlite<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
    ) -> T {
        on_sqlite_file(self.sqlite_path(), work).await
    }

    /// Every row of every table, for before/after comparisons; but where
    /// the pushes of seat counts stand, which the origin's own background
    /// work writes after a change (the demo's first publish, say), never a
    /// request.
    pub async fn dump(&self) -> Vec<String> {
        let tables = if self.postgres.is_some() {
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        };
        let tables = self.rows(tables).await;
        assert!(!tables.is_empty(), "the origin's tables are found");
        let mut out = Vec::new();
        for table in tables {
            let table = table[0].as_str().expect("a table name").to_string();
            if table == "seat_count_pushes" {
                continue;
            }
            for row in self.rows(&format!("SELECT * FROM \"{table}\"")).await {
                let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
                out.push(format!("{table}: {}", cells.join(" | ")));
            }
        }
        // Sorted here: an order the engines give alike, ties included.
        out.sort();
        out
    }
}

/// The advisory lock every write transaction of the origin takes on
/// PostgreSQL, shared or (for the whole database) exclusive, and the key
/// space of one event's locks (`PG_WRITE_LOCK` and `PG_EVENT_LOCKS` in
/// components/origin/src/db.rs).
const ORIGIN_PG_WRITE_LOCK: i64 = 0x6576_656e_7466_726f;
const ORIGIN_PG_EVENT_LOCKS: i32 = 0x4576_6e74;

/// The origin's write lock held by a test, released (its transaction
/// rolled back with its connection) when dropped.
pub enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

/// An edge alone, as in production: its own KV, its origin at `origin_url`,
/// served on a loopback port so that the origin can notify it.
pub struct EdgeApp {
    pub app: App,
    pub server: spin_test_host::Server,
    state: tempfile::TempDir,
}

impl EdgeApp {
    /// The keys of the edge's default store whose values contain `needle`.
    pub fn kv_keys_holding(&self, needle: &str) -> Vec<String> {
        let db = rusqlite::Connection::open(self.state.path().join("state/sqlite_key_value.db"))
            .unwrap();
        let mut keys = db
            .prepare(
                "SELECT key FROM spin_key_value
                 WHERE store = 'default' AND instr(CAST(value AS TEXT), ?1) > 0 ORDER BY key",
            )
            .unwrap();
        keys.query_map([needle], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The size of the largest value in the edge's default store.
    pub fn kv_largest_value(&self) -> usize {
        let db = rusqlite::Connection::open(self.state.path().join("state/sqlite_key_value.db"))
            .unwrap();
        db.query_row(
            "SELECT coalesce(max(length(value)), 0) FROM spin_key_value WHERE store = 'default'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    }

    /// Every key in the edge's default key-value store.
    pub fn kv_keys(&self) -> Vec<String> {
        let db = rusqlite::Connection::open(self.state.path().join("state/sqlite_key_value.db"))
            .unwrap();
        let mut keys = db
            .prepare("SELECT key FROM spin_key_value WHERE store = 'default' ORDER BY key")
            .unwrap();
        keys.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `deploy/edge.toml` for `region`, with the test signing secret.
    pub async fn start(
        region: &str,
        origin_url: &str,
        options: impl FnOnce(AppOptions) -> AppOptions,
    ) -> Self {
        component_wasm("edge");
        let state = tempfile::tempdir().unwrap();
        let manifest = workspace_root().join("deploy/edge.toml");
        let mut base = AppOptions::new(&manifest)
            .variable("region", region)
            .variable("origin_url", origin_url)
            .variable("signing_secret", SIGNING_SECRET);
        base.state_dir = Some(state.path().join("state"));
        let app = App::start(options(base)).await.expect("the edge starts");
        let server = spin_test_host::Server::bind(app.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self { app, server, state }
    }
}

/// Adds the edge signature headers to `request`.
pub fn sign(request: http::Request<Bytes>, secret: &str) -> http::Request<Bytes> {
    sign_as(Direction::ToOrigin, request, secret, unix_now())
}

/// Adds the origin's signature headers to a notice for an edge.
pub fn sign_notice(request: http::Request<Bytes>, secret: &str) -> http::Request<Bytes> {
    sign_as(Direction::ToEdge, request, secret, unix_now())
}

/// A notice of `version` of `slug` carrying `part` as the origin sends
/// one: gzipped, its digest in `Content-Digest`, a random query of its
/// own, signed with the test secret.
pub fn push_notice(
    slug: &str,
    version: u64,
    part: eventfront_domain::push::Part,
) -> http::Request<Bytes> {
    use eventfront_domain::push;
    let notice = push::Notice {
        slug: eventfront_domain::Slug::parse(slug).unwrap(),
        version,
        archived: false,
        nonce: None,
        push: Some(part),
        seats: None,
    };
    let body = push::gzip(&serde_json::to_vec(&notice).unwrap());
    let request = http::Request::post(format!(
        "/_edge/publish?notice={}",
        uuid::Uuid::new_v4().simple()
    ))
    .header("content-type", "application/json")
    .header("content-encoding", "gzip")
    .header(
        eventfront_domain::signing::CONTENT_DIGEST_HEADER,
        eventfront_domain::signing::content_digest(&body),
    )
    .body(Bytes::from(body))
    .unwrap();
    sign_notice(request, SIGNING_SECRET)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign_as(
    direction: Direction,
    request: http::Request<Bytes>,
    secret: &str,
    now: i64,
) -> http::Request<Bytes> {
    let (mut parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let secret = Secret::new(secret).unwrap();
    let message = Message::new(direction, parts.method.as_str(), &target, &body)
        .covering(|name| parts.headers.get(name).and_then(|v| v.to_str().ok()));
    for (name, value) in secret.sign(&message, now) {
        parts.headers.insert(name, value.parse().unwrap());
    }
    http::Request::from_parts(parts, body)
}

/// An organizer request with the admin token and, if given, a JSON body.
pub fn admin_request(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> http::Request<Bytes> {
    organizer_request(ADMIN_TOKEN, method, path, body)
}

/// An organizer request with `token` as its bearer token.
pub fn organizer_request(
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> http::Request<Bytes> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    request.body(body).unwrap()
}

/// An organizer account for `email` with `grants`, created with the
/// bootstrap token through `app` (an edge, or the whole app), and an API
/// token minted for it: its id and the token.
pub async fn organizer_account(
    app: &spin_test_host::App,
    email: &str,
    grants: serde_json::Value,
) -> (String, String) {
    let body = serde_json::json!({ "email": email, "name": email, "grants": grants });
    let created = app
        .send(admin_request("POST", "/api/admin/accounts", Some(body)))
        .await;
    assert_eq!(created.status(), 201, "{:?}", created.body());
    let id = json(&created)["id"].as_str().unwrap().to_string();
    let tokens = format!("/api/admin/accounts/{id}/tokens");
    let body = serde_json::json!({ "name": "tests" });
    let minted = app.send(admin_request("POST", &tokens, Some(body))).await;
    assert_eq!(minted.status(), 201, "{:?}", minted.body());
    let token = json(&minted)["token"].as_str().unwrap().to_string();
    (id, token)
}

/// An event "Conf 2027" of `capacity` seats, open for registration without
/// confirmation by email, as `OriginApp::publish_event` takes it.
pub fn open_event(capacity: u32) -> serde_json::Value {
    serde_json::json!({
        "name": "Conf 2027", "timezone": "UTC",
        "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T17:00:00Z",
        "registration": {"open": true, "capacity": capacity, "confirm_email": false}
    })
}

/// A public registration for `slug`, as a browser sends it to the edge.
pub fn registration(slug: &str, key: &str, name: &str, email: &str) -> http::Request<Bytes> {
    http::Request::post(format!("/api/events/{slug}/registrations"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Bytes::from(
            serde_json::json!({ "name": name, "email": email }).to_string(),
        ))
        .unwrap()
}

/// The development app with its own temporary state.
pub async fn dev_app(options: impl FnOnce(AppOptions) -> AppOptions) -> App {
    App::start(options(AppOptions::new(dev_manifest())))
        .await
        .expect("the development app starts")
}

/// Runs `work` on a connection to the SQLite file at `path`, off this
/// thread. An origin under test runs on the test's thread: a statement
/// waiting here for a lock one of its transactions holds would keep it
/// from ever committing, and fail with `database is locked` after
/// rusqlite's 5 s (a clean-clone CI run once did, under load).
pub async fn on_sqlite_file<T: Send + 'static>(
    path: PathBuf,
    work: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
) -> T {
    let done =
        tokio::task::spawn_blocking(move || work(&rusqlite::Connection::open(path).unwrap())).await;
    done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

pub fn json(response: &http::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(response.body())
        )
    })
}

/// One origin served on loopback and edges, one per region, that it
/// notifies; each edge with its own KV and the given staleness window.
pub struct Topology {
    pub origin: OriginApp,
    pub origin_server: spin_test_host::Server,
    pub edges: Vec<EdgeApp>,
}

pub async fn topology(regions: &[&str], staleness_secs: &str) -> Topology {
    topology_with(
        regions,
        |o| o.variable("staleness_secs", staleness_secs),
        |o| o,
    )
    .await
}

/// Like [`topology`], with the edges' and the origin's options set by the
/// caller: nothing set gives the apps as deployed (default staleness).
pub async fn topology_with(
    regions: &[&str],
    edge_options: impl Fn(AppOptions) -> AppOptions,
    origin_options: impl FnOnce(AppOptions) -> AppOptions,
) -> Topology {
    // The origin must know the edges' addresses before it starts, and the
    // edges the origin's: its socket is bound first and kept, so that no
    // edge can be given the same port meanwhile.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_url = format!("http://{}", reserved.local_addr().unwrap());
    let mut edges = Vec::new();
    for region in regions {
        edges.push(EdgeApp::start(region, &origin_url, &edge_options).await);
    }
    let edge_urls = edges
        .iter()
        .map(|e| e.server.url())
        .collect::<Vec<_>>()
        .join(",");
    let origin = OriginApp::start(|o| origin_options(o.variable("edge_urls", edge_urls))).await;
    let origin_server = spin_test_host::Server::on(origin.app.clone(), reserved).unwrap();
    Topology {
        origin,
        origin_server,
        edges,
    }
}

/// Moves `clock` to just after the start of its next minute: per-minute
/// counts (attempts per client) then stay in one window for the next 59 s
/// of a test, wherever on the wall clock the test happens to run.
pub fn at_a_minutes_start(clock: &Clock) {
    let into_minute = clock.since_epoch().as_millis() % 60_000;
    clock.advance(std::time::Duration::from_millis(
        (60_000 - into_minute + 100) as u64,
    ));
}

/// A small deterministic generator for randomized tests: from the same
/// seed, the same numbers.
pub struct Lcg(u64);

impl Lcg {
    /// Seeded from the environment variable `replay` when it is set (to
    /// replay a failing history), else from the clock; the seed is printed
    /// either way.
    pub fn seeded(replay: &str) -> Self {
        let seed = std::env::var(replay).map_or_else(
            |_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            },
            |s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("{replay} is a number, not {s:?}"))
            },
        );
        println!("seed {seed} ({replay}={seed} replays it)");
        Self(seed)
    }

    /// From `seed` as given, printing nothing: one of several generators
    /// drawn from a seeded one.
    pub fn from_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// A number below `below`.
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// The first session with a seat limit among `sessions` (a JSON array of
/// sessions, as a draft or a sessions document holds them): one of the
/// demo's workshops.
pub fn workshop(sessions: &serde_json::Value) -> serde_json::Value {
    sessions
        .as_array()
        .expect("a list of sessions")
        .iter()
        .find(|s| s["capacity"].is_number())
        .expect("a session with seats")
        .clone()
}

/// A request carrying a registration's bearer token, as its links send it.
pub fn with_token(method: &str, path: String, token: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap()
}
