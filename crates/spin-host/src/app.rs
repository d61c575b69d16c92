//! A running Spin application: the manifest's components compiled and
//! granted what the manifest says, incoming requests routed to them, and
//! their outbound requests checked against `allowed_outbound_hosts`, routed
//! in-process for `*.spin.internal`, and subject to injected link faults.

use crate::clock::Clock;
use crate::engine::{engine, load_component};
use crate::kv::{Counted, KvBackend, KvCounts, RedisKv, SqliteKv};
use crate::manifest::{ComponentDecl, FileMount, Manifest};
use crate::outbound::{AllowedHost, LinkFault, Links, permits};
use crate::pool::{GuestRequest, InstancePool, ReuseLimits, StoreFactory};
use crate::postgres::PgPools;
use crate::routing::{RouteMatch, Router, internal_match};
use crate::runtime_config::{KvStoreConfig, RuntimeConfig, SqliteConfig};
use crate::sqlite::SqliteDb;
use crate::state::{ComponentCaps, InstanceState, SpinHost};
use crate::variables::Variables;
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::{Accessor, Linker, ResourceTable};
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::{DirPerms, FilePerms, TrappableError, WasiCtx};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks};

/// How to start an app; `AppOptions::new(manifest)` gives Spin's defaults.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest: PathBuf,
    /// Where the default key-value store and SQLite database live; `None`
    /// keeps them in temporary files removed with the app.
    pub state_dir: Option<PathBuf>,
    /// Variable overrides, keyed as Spin reads them (`SPIN_VARIABLE_NAME`).
    pub env: HashMap<String, String>,
    /// Run only these components (selective deployment).
    pub components: Option<Vec<String>>,
    /// Spin's runtime configuration file: backends for stores and databases.
    pub runtime_config: Option<PathBuf>,
    pub reuse: ReuseLimits,
    /// A request with no response after this gets a 500, and work a guest
    /// spawned is cut off this long after its last response, as Spin's
    /// `--request-timeout` does. Spin sets none by default; the host keeps
    /// 30 s so that a hung guest fails a test rather than hanging it.
    pub request_timeout: Duration,
    /// The clock every instance reads, wall and monotonic; a test may move
    /// it forward.
    pub clock: Clock,
    /// Where components' stdout and stderr go, as with `spin up --log-dir`:
    /// appended to `{component}_stdout.txt` and `{component}_stderr.txt`
    /// there (without the copy on the terminal Spin also prints); `None`
    /// inherits the host's.
    pub log_dir: Option<PathBuf>,
}

impl AppOptions {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            state_dir: None,
            env: HashMap::new(),
            components: None,
            runtime_config: None,
            reuse: ReuseLimits::default(),
            request_timeout: Duration::from_secs(30),
            clock: Clock::default(),
            log_dir: None,
        }
    }

    /// Sets a variable the way `SPIN_VARIABLE_<NAME>=value spin up` does.
    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env
            .insert(crate::variables::env_key(name), value.into());
        self
    }
}

/// A started app. Cloning is cheap; all clones are the same app.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    manifest: Manifest,
    router: Router,
    components: HashMap<String, Arc<InstancePool>>,
    /// Each component's grants, which its instances share.
    caps: HashMap<String, Arc<ComponentCaps>>,
    links: Links,
    /// The clock its instances read and wait on.
    clock: Clock,
    // Kept alive for the app's lifetime: temporary state lives here.
    state: StateFiles,
}

/// Where each store and database label lives: Spin's defaults in the
/// state folder, overridden or extended by the runtime configuration.
struct StateFiles {
    kv: HashMap<String, Arc<dyn KvBackend>>,
    /// The same stores, for their operation counts.
    kv_counted: HashMap<String, Arc<Counted>>,
    sqlite: HashMap<String, Arc<SqliteDb>>,
    _temporary: Option<tempfile::TempDir>,
}

impl StateFiles {
    fn open(state_dir: Option<&Path>, runtime: &RuntimeConfig) -> Result<Self> {
        let (dir, temporary) = match state_dir {
            Some(dir) => (dir.to_path_buf(), None),
            None => {
                let tmp = tempfile::tempdir()?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create state folder {}", dir.display()))?;
        // Spin's default store: every `spin` label shares one file per path.
        let mut files: HashMap<PathBuf, Arc<std::sync::Mutex<rusqlite::Connection>>> =
            HashMap::new();
        let mut spin_store = |path: PathBuf, label: &str| -> Result<Arc<dyn KvBackend>> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let db = match files.get(&path) {
                Some(db) => db.clone(),
                None => {
                    let db = SqliteKv::open_database(&path)?;
                    files.insert(path, db.clone());
                    db
                }
            };
            Ok(Arc::new(SqliteKv::new(db, label)))
        };
        let mut kv: HashMap<String, Arc<dyn KvBackend>> = HashMap::new();
        if !runtime.key_value_stores.contains_key(DEFAULT_LABEL) {
            kv.insert(
                DEFAULT_LABEL.into(),
                spin_store(dir.join("sqlite_key_value.db"), DEFAULT_LABEL)?,
            );
        }
        for (label, store) in &runtime.key_value_stores {
            let backend: Arc<dyn KvBackend> = match store {
                KvStoreConfig::Spin { path } => spin_store(path.clone(), label)?,
                KvStoreConfig::Redis { url } => Arc::new(
                    RedisKv::connect(url)
                        .with_context(|| format!("key_value_store.{label}: cannot reach {url}"))?,
                ),
            };
            kv.insert(label.clone(), backend);
        }
        let kv_counted: HashMap<String, Arc<Counted>> = kv
            .into_iter()
            .map(|(label, backend)| (label, Arc::new(Counted::new(backend))))
            .collect();
        let kv = kv_counted
            .iter()
            .map(|(label, counted)| (label.clone(), counted.clone() as Arc<dyn KvBackend>))
            .collect();
        let mut sqlite = HashMap::new();
        sqlite.insert(
            DEFAULT_LABEL.to_string(),
            Arc::new(SqliteDb::file(&dir.join("sqlite_db.db"))),
        );
        for (label, database) in &runtime.sqlite_databases {
            match database {
                SqliteConfig::Spin { path } => {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    sqlite.insert(label.clone(), Arc::new(SqliteDb::file(path)));
                }
                SqliteConfig::Libsql { url } => anyhow::bail!(
                    "sqlite_database.{label}: libSQL ({url}) runs only under Spin; this test host has no libSQL server"
                ),
            }
        }
        Ok(Self {
            kv,
            kv_counted,
            sqlite,
            _temporary: temporary,
        })
    }
}

impl App {
    pub async fn start(options: AppOptions) -> Result<Self> {
        let mut manifest = Manifest::load(&options.manifest)?;
        if let Some(ids) = &options.components {
            manifest.retain_components(ids)?;
        }
        let variables = Variables::resolve(&manifest.variables, &options.env)?;
        let runtime = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let state = StateFiles::open(options.state_dir.as_deref(), &runtime)?;
        let linker = linker()?;
        // Instances reach their own app for service chaining, so the app is
        // built knowing its own (weak) address; errors travel out in a cell.
        let mut failure = None;
        let inner = Arc::new_cyclic(|weak: &Weak<AppInner>| {
            let mut components = HashMap::new();
            let mut caps = HashMap::new();
            for decl in manifest.components.values() {
                match component_pool(decl, &variables, &state, &linker, weak, &options) {
                    Ok((pool, granted)) => {
                        components.insert(decl.id.clone(), Arc::new(pool));
                        caps.insert(decl.id.clone(), granted);
                    }
                    Err(e) => {
                        failure.get_or_insert(e.context(format!("component {:?}", decl.id)));
                    }
                }
            }
            AppInner {
                router: Router::new(&manifest.http_triggers),
                manifest: manifest.clone(),
                components,
                caps,
                links: Links::default(),
                clock: options.clock.clone(),
                state,
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(Self { inner }),
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.manifest.name
    }

    /// Fault injection on this app's outbound links.
    pub fn links(&self) -> &Links {
        &self.inner.links
    }

    /// The clock this app's instances read and wait on, for a test to
    /// move or stop.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// How many operations the key-value store `label` has served so far.
    pub fn kv_counts(&self, label: &str) -> KvCounts {
        self.inner
            .state
            .kv_counted
            .get(label)
            .map_or_else(KvCounts::default, |c| c.counts())
    }

    /// How many instances of a component have been made so far.
    pub fn instances_created(&self, component: &str) -> usize {
        self.inner
            .components
            .get(component)
            .map_or(0, |p| p.instances_created())
    }

    /// Leaves every idle PostgreSQL session of `component` for `address`
    /// inside an open transaction that ran `statement`, as a request that
    /// trapped between `BEGIN` and `COMMIT` leaves its session under Spin
    /// 4.1 (its pool hands the session on as it is); says how many.
    pub async fn leave_postgres_transactions_open(
        &self,
        component: &str,
        address: &str,
        statement: &str,
    ) -> Result<usize> {
        let caps = self
            .inner
            .caps
            .get(component)
            .with_context(|| format!("no component {component:?}"))?;
        caps.postgres
            .leave_transactions_open(address, statement)
            .await
    }

    /// Handles a request from outside the app, as Spin's HTTP trigger does.
    pub async fn handle(
        &self,
        request: http::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        client: SocketAddr,
    ) -> http::Response<Bytes> {
        let path = request.uri().path().to_string();
        match self.inner.router.route(&path) {
            Some(matched) => self.inner.run(&matched, request, &client.to_string()).await,
            None => plain(http::StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// Convenience for tests: a request with an in-memory body.
    pub async fn send(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        self.send_from(request, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
    }

    /// Convenience for tests: a request with an in-memory body from `client`.
    pub async fn send_from(
        &self,
        request: http::Request<Bytes>,
        client: SocketAddr,
    ) -> http::Response<Bytes> {
        let request = request.map(|b| Full::new(b).map_err(|e| match e {}).boxed_unsync());
        self.handle(request, client).await
    }

    /// Convenience for tests: `GET path`.
    pub async fn get(&self, path: &str) -> http::Response<Bytes> {
        let request = http::Request::get(path)
            .body(Bytes::new())
            .expect("a path is a valid URI");
        self.send(request).await
    }
}

impl AppInner {
    async fn run(
        &self,
        matched: &RouteMatch,
        request: http::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        client: &str,
    ) -> http::Response<Bytes> {
        let Some(pool) = self.components.get(&matched.component) else {
            return plain(http::StatusCode::NOT_FOUND, "Not Found");
        };
        let request = match self.guest_request(matched, request, client) {
            Ok(r) => r,
            Err(_) => return plain(http::StatusCode::BAD_REQUEST, "Bad Request"),
        };
        match pool.handle(request).await {
            Ok(response) => response,
            Err(e) => {
                eprintln!("[{}] {e:#}", matched.component);
                plain(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                )
            }
        }
    }

    /// Rebuilds the absolute URL the guest sees and adds the `spin-*` headers.
    fn guest_request(
        &self,
        matched: &RouteMatch,
        request: http::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        client: &str,
    ) -> Result<GuestRequest> {
        let (mut parts, body) = request.into_parts();
        let authority = match parts.uri.authority() {
            Some(a) => a.to_string(),
            None => parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
                .to_string(),
        };
        let scheme = parts.uri.scheme_str().unwrap_or("http").to_string();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let full_url = format!("{scheme}://{authority}{path_and_query}");
        parts.uri = full_url.parse()?;
        // As Spin 4.1 does: the client's headers stay, `spin-*` ones
        // included, and Spin's own are appended after them, so a guest that
        // reads the first value of `spin-client-addr` reads the client's.
        for (name, value) in matched.spin_headers(&full_url, client) {
            parts.headers.append(name, value.parse()?);
        }
        Ok(http::Request::from_parts(parts, body))
    }

    async fn send_outbound(
        self: Arc<Self>,
        caps: &ComponentCaps,
        request: GuestRequest,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<UnsyncBoxBody<Bytes, ErrorCode>>, TrappableError<ErrorCode>> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri
            .host()
            .ok_or(ErrorCode::HttpRequestUriInvalid)?
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        if !permits(&caps.allowed_hosts, &caps.id, &scheme, &host, port) {
            return Err(ErrorCode::HttpRequestDenied.into());
        }
        let default_port = matches!((scheme.as_str(), port), ("http", 80) | ("https", 443));
        let link = if default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let fault = self.links.send(&link);
        match fault {
            Some(LinkFault::Cut) => return Err(ErrorCode::ConnectionRefused.into()),
            Some(LinkFault::LoseAnswer) => {}
            Some(LinkFault::Delay(delay)) => tokio::time::sleep(delay).await,
            Some(LinkFault::Hang) => {
                // What `default_send_request` does with a peer that never
                // answers: wait for the first byte as long as the guest
                // allows (wasmtime's default when it sets nothing), then
                // give up. A guest with its own shorter timeout ends first.
                let wait = options
                    .and_then(|o| o.first_byte_timeout)
                    .unwrap_or(HUNG_PEER_DEFAULT_WAIT);
                tokio::time::sleep(wait).await;
                return Err(ErrorCode::ConnectionReadTimeout.into());
            }
            None => {}
        }
        if let Some(component) = host.strip_suffix(".spin.internal") {
            if !self.components.contains_key(component) {
                // Spin treats an unknown chaining target as a host error.
                return Err(TrappableError::trap(wasmtime::format_err!(
                    "unknown routing destination {component:?}"
                )));
            }
            let matched = internal_match(component, uri.path());
            let response = self.run(&matched, request, CHAINED_CLIENT_ADDR).await;
            if fault == Some(LinkFault::LoseAnswer) {
                return Err(ErrorCode::ConnectionTerminated.into());
            }
            return Ok(response.map(|b| Full::new(b).map_err(|e| match e {}).boxed_unsync()));
        }
        let (response, io) = wasmtime_wasi_http::p3::default_send_request(request, options).await?;
        // The connection task must keep running while the guest reads the body.
        tokio::spawn(io);
        if fault == Some(LinkFault::LoseAnswer) {
            // The peer did the work; its answer is lost on the way back.
            let _ = response.into_body().collect().await;
            return Err(ErrorCode::ConnectionTerminated.into());
        }
        Ok(response.map(|b| b.boxed_unsync()))
    }
}

fn plain(status: http::StatusCode, text: &'static str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from_static(text.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}

fn linker() -> Result<Linker<InstanceState>> {
    use crate::bindings::spin;
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    spin::key_value::key_value::add_to_linker::<_, SpinHost>(&mut linker, InstanceState::spin)?;
    spin::variables::variables::add_to_linker::<_, SpinHost>(&mut linker, InstanceState::spin)?;
    spin::sqlite::sqlite::add_to_linker::<_, SpinHost>(&mut linker, InstanceState::spin)?;
    spin::postgres::postgres::add_to_linker::<_, SpinHost>(&mut linker, InstanceState::spin)?;
    wait_on_the_apps_clock(&mut linker)?;
    Ok(linker)
}

/// Guest timers (`wasi:clocks/monotonic-clock`'s waits, which
/// `spin_sdk::time::sleep` makes) on the app's clock instead of
/// wasmtime's real-time ones: they end as Spin's do while the clock runs,
/// and when a test moves it, as the deadlines guests compare with do.
fn wait_on_the_apps_clock(linker: &mut Linker<InstanceState>) -> Result<()> {
    fn clock(accessor: &Accessor<InstanceState>) -> Clock {
        accessor.with(|mut access| access.get().clock.clone())
    }
    linker.allow_shadowing(true);
    let mut monotonic = linker.instance("wasi:clocks/monotonic-clock@0.3.0")?;
    monotonic.func_wrap_concurrent("wait-until", |accessor, (when,): (u64,)| {
        let clock = clock(accessor);
        Box::pin(async move {
            clock.wait_until(Duration::from_nanos(when)).await;
            Ok(())
        })
    })?;
    monotonic.func_wrap_concurrent("wait-for", |accessor, (how_long,): (u64,)| {
        let clock = clock(accessor);
        Box::pin(async move {
            clock.wait_for(Duration::from_nanos(how_long)).await;
            Ok(())
        })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// wasmtime's first-byte timeout for outbound requests that set none.
const HUNG_PEER_DEFAULT_WAIT: Duration = Duration::from_secs(600);

/// The client address Spin reports for a request made by service chaining.
const CHAINED_CLIENT_ADDR: &str = "0.0.0.0:0";

/// The labels every app defines, as in Spin without a runtime config.
const DEFAULT_LABEL: &str = "default";

/// A component's stdout and stderr files in `dir`, named as Spin names
/// them, opened to append (created with the directory if need be).
fn component_logs(dir: &Path, component: &str) -> Result<(OutputFile, OutputFile)> {
    std::fs::create_dir_all(dir)?;
    let open = |suffix: &str| -> Result<OutputFile> {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join(format!("{component}_{suffix}.txt")))?;
        Ok(OutputFile::new(file))
    };
    Ok((open("stdout")?, open("stderr")?))
}

fn component_pool(
    decl: &ComponentDecl,
    variables: &Variables,
    state: &StateFiles,
    linker: &Linker<InstanceState>,
    app: &Weak<AppInner>,
    options: &AppOptions,
) -> Result<(InstancePool, Arc<ComponentCaps>)> {
    let kv_defined: HashSet<String> = state.kv.keys().cloned().collect();
    let mut kv: HashMap<String, Arc<dyn KvBackend>> = HashMap::new();
    for label in &decl.key_value_stores {
        let backend = state.kv.get(label).with_context(|| {
            format!("key_value_stores names {label:?}, which no runtime config defines")
        })?;
        kv.insert(label.clone(), backend.clone());
    }
    let sqlite_defined: HashSet<String> = state.sqlite.keys().cloned().collect();
    let mut sqlite = HashMap::new();
    for name in &decl.sqlite_databases {
        let db = state.sqlite.get(name).with_context(|| {
            format!("sqlite_databases names {name:?}, which no runtime config defines")
        })?;
        sqlite.insert(name.clone(), db.clone());
    }
    let component_variables = decl
        .variables
        .iter()
        .map(|(name, template)| Ok((name.clone(), variables.render(template)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    // As in Spin, an entry a variable left empty grants nothing rather
    // than failing: an optional endpoint (such as `database_host`).
    let allowed_hosts = decl
        .allowed_outbound_hosts
        .iter()
        .map(|entry| Ok((entry.contains("{{"), variables.render(entry)?)))
        .filter(|resolved| {
            !matches!(resolved, Ok((true, r)) if ["", "http://", "https://"].contains(&r.as_str()))
        })
        .map(|resolved| resolved.and_then(|(_, r)| AllowedHost::parse(&r)))
        .collect::<Result<Vec<_>>>()?;
    let caps = Arc::new(ComponentCaps {
        id: decl.id.clone(),
        kv,
        kv_defined,
        sqlite,
        sqlite_defined,
        variables: component_variables,
        allowed_hosts,
        postgres: PgPools::default(),
    });

    let component = load_component(&decl.source)?;
    let pre = ServicePre::new(linker.instantiate_pre(&component)?)?;
    let mounts = Arc::new(file_mounts(&decl.files, &options.manifest)?);
    let environment = decl.environment.clone();
    let app = app.clone();
    let clock = options.clock.clone();
    let granted = caps.clone();
    let logs = match &options.log_dir {
        Some(dir) => Some(component_logs(dir, &decl.id)?),
        None => None,
    };
    let new_store: StoreFactory = Arc::new(move || {
        let mut wasi = WasiCtx::builder();
        match &logs {
            Some((stdout, stderr)) => wasi.stdout(stdout.clone()).stderr(stderr.clone()),
            None => wasi.inherit_stdout().inherit_stderr(),
        };
        wasi.wall_clock(clock.clone());
        wasi.monotonic_clock(clock.clone());
        for (key, value) in &environment {
            wasi.env(key, value);
        }
        for (host, guest) in &mounts.dirs {
            wasi.preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)?;
        }
        let state = InstanceState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: Box::new(OutboundHooks {
                app: app.clone(),
                caps: caps.clone(),
            }),
            caps: caps.clone(),
            clock: clock.clone(),
        };
        Ok(Store::new(engine(), state))
    });
    let pool = InstancePool::new(pre, new_store, options.reuse, options.request_timeout);
    Ok((pool, granted))
}

/// Folders preopened for a component, with the temporary copy that glob
/// patterns are gathered into.
struct Mounts {
    dirs: Vec<(PathBuf, String)>,
    _gathered: Option<tempfile::TempDir>,
}

fn file_mounts(files: &[FileMount], manifest: &Path) -> Result<Mounts> {
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut dirs = Vec::new();
    let mut gathered: Option<tempfile::TempDir> = None;
    for mount in files {
        match mount {
            FileMount::Directory {
                source,
                destination,
            } => {
                ensure!(
                    source.is_dir(),
                    "files: {} is not a folder",
                    source.display()
                );
                dirs.push((source.clone(), destination.clone()));
            }
            FileMount::Pattern(pattern) => {
                let root = match &gathered {
                    Some(dir) => dir.path().to_path_buf(),
                    None => {
                        let dir = tempfile::tempdir()?;
                        let path = dir.path().to_path_buf();
                        gathered = Some(dir);
                        dirs.push((path.clone(), "/".to_string()));
                        path
                    }
                };
                let full = base.join(pattern);
                let full = full.to_str().context("file pattern is not UTF-8")?;
                for entry in glob::glob(full)? {
                    let entry = entry?;
                    if entry.is_file() {
                        let relative = entry.strip_prefix(base)?;
                        let target = root.join(relative);
                        if let Some(parent) = target.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        std::fs::copy(&entry, &target)?;
                    }
                }
            }
        }
    }
    Ok(Mounts {
        dirs,
        _gathered: gathered,
    })
}

/// Outbound HTTP for one component's instances.
struct OutboundHooks {
    app: Weak<AppInner>,
    caps: Arc<ComponentCaps>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<UnsyncBoxBody<Bytes, ErrorCode>>,
                    Box<dyn Future<Output = Result<(), ErrorCode>> + Send>,
                ),
                TrappableError<ErrorCode>,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: GuestRequest,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), ErrorCode>> + Send>,
    ) -> SendFuture {
        let app = self.app.upgrade();
        let caps = self.caps.clone();
        Box::new(async move {
            let app = app.ok_or(ErrorCode::InternalError(Some("app stopped".into())))?;
            let response = app.send_outbound(&caps, request, options).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
