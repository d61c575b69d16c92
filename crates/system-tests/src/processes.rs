//! Apps as separate processes, for the figures that must come from the
//! engine users deploy on: `up` under the project's test host or under
//! Spin (4.1+ on the PATH) with the very same arguments, links between
//! them that can be slowed, hung or cut (the test host's `proxy`), and
//! clients that reach them over TCP. The region simulation and the edge
//! benchmark run on it.
//!
//! Every child runs in its own process group, stopped as a group (SIGTERM,
//! then SIGKILL after a grace period): `spin up` serves from a
//! `spin trigger` child that outlives `spin up` itself when only that is
//! killed.

use crate::load::{Answer, Reader, ms};
use bytes::Bytes;
use eventfront_domain::signing::{Direction, Message, Secret};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped child's group gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(5);
/// How long an app gets to start serving.
const READY: Duration = Duration::from_secs(60);

/// What serves the apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Host,
    Spin,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Host => "host",
            Engine::Spin => "spin up",
        }
    }

    /// The engines the command line asks for: `--both` (the host, then
    /// Spin), `--spin`, or `default` when neither is given.
    pub fn asked(default: &[Engine]) -> Vec<Engine> {
        let flag = |name: &str| std::env::args().any(|a| a == name);
        if flag("--both") {
            vec![Engine::Host, Engine::Spin]
        } else if flag("--spin") {
            vec![Engine::Spin]
        } else {
            default.to_vec()
        }
    }
}

/// A child process in its own process group, so that stopping it also
/// stops whatever it started.
pub struct Running {
    name: String,
    child: Child,
    /// Commands for a proxy: how its link behaves from now on.
    stdin: Option<ChildStdin>,
    stopped: bool,
}

impl Running {
    fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            stopped: false,
        }
    }

    fn group(&self) -> Pid {
        Pid::from_child(&self.child)
    }

    /// Tells a proxy how its link behaves: `pass`, `delay MS`, `hang`,
    /// `refuse`.
    pub fn tell(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("only proxies take commands");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{} did not take {command:?}: {e}", self.name));
    }

    /// Whether anything of the group is left, reaping the child itself.
    fn alive(&mut self) -> bool {
        let _ = self.child.try_wait();
        test_kill_process_group(self.group()).is_ok()
    }
}

/// Stops every group: SIGTERM to all at once, SIGKILL to those still there
/// after the grace period.
pub fn stop(children: &mut [Running]) {
    let mut children: Vec<&mut Running> = children.iter_mut().filter(|c| !c.stopped).collect();
    for child in &children {
        let _ = kill_process_group(child.group(), Signal::TERM);
    }
    let started = Instant::now();
    while children.iter_mut().any(|c| c.alive()) && started.elapsed() < GRACE {
        std::thread::sleep(Duration::from_millis(50));
    }
    for child in &mut children {
        if child.alive() {
            eprintln!(
                "{}: its group still ran {GRACE:?} after SIGTERM: killed",
                child.name
            );
            let _ = kill_process_group(child.group(), Signal::KILL);
        }
        let _ = child.child.wait();
        // The id may now be reused: never signal it again.
        child.stopped = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stop(std::slice::from_mut(self));
    }
}

/// A loopback port nothing listens on, for an app about to start. Taken
/// below Linux's ephemeral range (32768 and up): a port from that range
/// could be given to an outgoing connection meanwhile, and the app would
/// then fail to listen. Each process starts at its own place in the range
/// so that two runs at once rarely try the same ports.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(n < SPAN, "no free loopback port left");
        let port = (FIRST + start.wrapping_add(n) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A temporary directory for apps' state and logs, removed when dropped,
/// but kept (and named on stderr) when dropped by a panic, so that the
/// logs of a run that went wrong can be read.
pub struct StateDir(Option<tempfile::TempDir>);

impl StateDir {
    pub fn new() -> Self {
        Self(Some(tempfile::tempdir().expect("a temporary directory")))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("held until dropped").path()
    }
}

impl Default for StateDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!(
                "the apps' state and logs are kept in {}",
                dir.keep().display()
            );
        }
    }
}

/// How many requests an instance serves, in all and at once, before a new
/// one is made: `spin up`'s `--max-instance-reuse-count` and
/// `--max-instance-concurrent-reuse-count`; `None` keeps its defaults.
pub type Reuse = Option<(usize, usize)>;

/// Starts apps and links under one engine, each app with its own state
/// directory under `state`.
pub struct Launcher {
    root: PathBuf,
    host: PathBuf,
    engine: Engine,
    state: PathBuf,
}

impl Launcher {
    /// The test host is the release build of `spin-test-host` (the scripts
    /// build it); Spin is whichever `spin` is on the PATH.
    pub fn new(engine: Engine, state: &Path) -> Self {
        let root = crate::workspace_root();
        Self {
            host: root.join("target/release/spin-test-host"),
            root,
            engine,
            state: state.to_path_buf(),
        }
    }

    /// `up` of the manifest at `manifest` (relative to the workspace) on
    /// `port`, with variables as Spin reads them from the environment.
    pub fn up(
        &self,
        manifest: &Path,
        port: u16,
        name: &str,
        variables: &[(&str, String)],
        reuse: Reuse,
    ) -> Running {
        let program = match self.engine {
            Engine::Spin => PathBuf::from("spin"),
            Engine::Host => self.host.clone(),
        };
        let mut command = Command::new(program);
        command
            .arg("up")
            .arg("-f")
            .arg(self.root.join(manifest))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(self.state.join(name))
            .stdout(self.log(name))
            .stderr(self.log(name));
        if let Some((requests, concurrent)) = reuse {
            command
                .arg("--max-instance-reuse-count")
                .arg(requests.to_string())
                .arg("--max-instance-concurrent-reuse-count")
                .arg(concurrent.to_string());
        }
        for (key, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", key.to_uppercase()), value);
        }
        Running::spawn(name, &mut command)
    }

    /// Where an app's output goes: `{name}.log` beside the state
    /// directories, read when a run goes wrong.
    fn log(&self, name: &str) -> Stdio {
        std::fs::create_dir_all(&self.state).expect("the state directory");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join(format!("{name}.log")))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// The origin as deployed (`deploy/origin.toml`, the demo event
    /// seeded), signing with `secret`, organizers' token `admin`, notifying
    /// the edges at `edge_ports`.
    pub fn origin(
        &self,
        port: u16,
        (secret, admin): (&str, &str),
        edge_ports: &[u16],
        reuse: Reuse,
    ) -> Running {
        let edge_urls = edge_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let variables = [
            ("signing_secret", secret.to_string()),
            ("admin_token", admin.to_string()),
            ("seed_demo", "true".into()),
            ("edge_urls", edge_urls),
            ("edge_hosts", "http://127.0.0.1:*".into()),
            ("public_url", "http://127.0.0.1:3000".into()),
        ];
        let manifest = Path::new("deploy/origin.toml");
        self.up(manifest, port, "origin", &variables, reuse)
    }

    /// An edge as deployed (`deploy/edge.toml`, the default staleness
    /// window) for `region`, reaching its origin at `origin_port`.
    pub fn edge(
        &self,
        port: u16,
        region: &str,
        origin_port: u16,
        secret: &str,
        reuse: Reuse,
    ) -> Running {
        let variables = [
            ("region", region.to_string()),
            ("origin_url", format!("http://127.0.0.1:{origin_port}")),
            ("signing_secret", secret.to_string()),
        ];
        self.up(
            Path::new("deploy/edge.toml"),
            port,
            region,
            &variables,
            reuse,
        )
    }

    /// A link from `port` to `to`, taking commands on its standard input.
    pub fn proxy(&self, port: u16, to: u16, delay_ms: u64) -> Running {
        Running::spawn(
            &format!("proxy :{port} to :{to}"),
            Command::new(&self.host)
                .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--to", &format!("http://127.0.0.1:{to}")])
                .args(["--delay-ms", &delay_ms.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null()),
        )
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An answer: status, headers and body.
pub type Exchanged = (u16, http::HeaderMap, Bytes);

/// A connection to `addr`, for one request or many.
pub async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    // Closed with a reset, so that thousands of connections a second do
    // not use up the ports in TIME_WAIT; and, as wrk does, no Nagle delay
    // on the client's side.
    stream.set_zero_linger().ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Option<Exchanged> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    sender.ready().await.ok()?;
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

/// One request on a connection of its own, as a first visit makes.
pub async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Option<Exchanged> {
    let mut sender = connect(loopback(port)).await?;
    exchange(&mut sender, port, method, path, headers, body).await
}

/// An attendee reading over a new connection each time.
pub struct Attendee(pub u16);

impl Reader for Attendee {
    async fn read(&mut self, path: &str) -> Answer {
        send(self.0, "GET", path, &[], Bytes::new())
            .await
            .map_or(Answer::NONE, |(status, headers, _)| {
                Answer::of(status, &headers)
            })
    }
}

/// A browser reading over one kept-alive connection (as `wrk` does), made
/// again when it breaks, sending the same headers with every read.
pub struct Browser {
    port: u16,
    headers: Vec<(String, String)>,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Browser {
    pub fn new(port: u16) -> Self {
        Self::with_headers(port, Vec::new())
    }

    pub fn with_headers(port: u16, headers: Vec<(String, String)>) -> Self {
        Self {
            port,
            headers,
            connection: None,
        }
    }
}

impl Reader for Browser {
    async fn read(&mut self, path: &str) -> Answer {
        if self.connection.as_ref().is_none_or(|c| c.is_closed()) {
            self.connection = connect(loopback(self.port)).await;
        }
        let Some(sender) = self.connection.as_mut() else {
            return Answer::NONE;
        };
        match exchange(sender, self.port, "GET", path, &self.headers, Bytes::new()).await {
            Some((status, headers, _)) => Answer::of(status, &headers),
            None => {
                self.connection = None;
                Answer::NONE
            }
        }
    }
}

/// Waits until `port` answers `path` with 200, and returns the body.
pub async fn wait_ready(port: u16, path: &str) -> Bytes {
    let started = Instant::now();
    loop {
        if let Some((200, _, body)) = send(port, "GET", path, &[], Bytes::new()).await {
            return body;
        }
        assert!(
            started.elapsed() < READY,
            "port {port} never answered {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The version of `slug` an edge serves, if it serves it.
pub async fn served_version(port: u16, slug: &str) -> Option<u64> {
    let (status, headers, _) = send(
        port,
        "GET",
        &format!("/api/events/{slug}"),
        &[],
        Bytes::new(),
    )
    .await?;
    (status == 200).then_some(())?;
    headers
        .get("eventfront-version")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Publishes `slug` through the origin as an edge would forward the
/// organizer's request (signed with `secret`, with the bearer `admin`), and
/// reports, per edge, when it first served the new version (ms after the
/// publish was sent), `None` when not within 30 s. The edges are polled
/// while the publish is under way: the organizer's answer waits for the
/// slowest edge, the nearest edges do not.
pub async fn publish_reach(
    origin_port: u16,
    edge_ports: &[u16],
    slug: &str,
    secret: &str,
    admin: &str,
) -> Vec<Option<f64>> {
    let body = Bytes::from(r#"{"note":"publish reach"}"#);
    let path = format!("/api/admin/events/{slug}/publish");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let authorization = format!("Bearer {admin}");
    let sent = |name: &str| match name {
        "authorization" => Some(authorization.as_str()),
        "content-type" => Some("application/json"),
        _ => None,
    };
    let mut headers: Vec<(String, String)> = Secret::new(secret)
        .unwrap()
        .sign(
            &Message::new(Direction::ToOrigin, "POST", &path, &body).covering(sent),
            now,
        )
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    headers.push(("authorization".into(), authorization.clone()));
    headers.push(("content-type".into(), "application/json".into()));
    let held = served_version(edge_ports[0], slug)
        .await
        .expect("the edge serves the event");
    let started = Instant::now();
    let publish =
        tokio::spawn(async move { send(origin_port, "POST", &path, &headers, body).await });
    let mut reached = vec![None; edge_ports.len()];
    while reached.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(30) {
        for (i, port) in edge_ports.iter().enumerate() {
            if reached[i].is_none() && served_version(*port, slug).await == Some(held + 1) {
                reached[i] = Some(ms(started.elapsed()));
            }
        }
    }
    let published = publish.await.ok().flatten().expect("publish answered");
    assert_eq!(published.0, 201, "publish: {:?}", published.2);
    reached
}

/// Ctrl-C, or SIGTERM from whoever started us: children in groups of their
/// own miss the terminal's Ctrl-C, so whoever waits on this stops them.
pub async fn shutdown_requested() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
