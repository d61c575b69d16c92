//! A throwaway PostgreSQL for tests: one cluster per test process, made
//! with `initdb` in a temporary folder on first use and served on a free
//! loopback port with trust authentication, and a fresh database for each
//! caller of [`database`], so that tests sharing the cluster stay apart.
//! It also serves TLS, with a certificate for 127.0.0.1 and `localhost`
//! signed by a certificate authority made for it ([`certificate_authority`]),
//! for clients that ask (`sslmode=require`).
//!
//! The server must not outlive the test process, however that ends (a
//! panic, `exit`, a kill): it runs under a small `sh` supervisor whose
//! standard input is a pipe only this process writes to. When the process
//! is gone the pipe reads end-of-file, and the supervisor stops the server
//! (`SIGQUIT`, an immediate shutdown) and removes the folder.
//!
//! PostgreSQL refuses to run as root; under root the cluster runs as the
//! `postgres` system user that Debian's package creates.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The database superuser, who may log in from loopback without a password.
const SUPERUSER: &str = "postgres";

/// The supervisor: `$1` is the cluster's folder, the rest the server's
/// command line. Fd 3 keeps the test process's pipe (a background job's
/// standard input is /dev/null); the server gets neither it nor stdout,
/// so that the log printed when the server ends is all that stdout carries.
const SUPERVISOR: &str = r#"
dir=$1; shift
exec 3<&0
"$@" </dev/null >"$dir/server.log" 2>&1 3<&- &
server=$!
(read -r _ <&3; kill -QUIT "$server") >/dev/null 2>&1 &
exec 3<&-
wait "$server"
cat "$dir/server.log"
rm -rf "$dir"
"#;

/// A URL for a new, empty database of its own on the test process's cluster,
/// e.g. `postgres://postgres@127.0.0.1:41234/db_3?sslmode=disable`.
pub async fn database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let cluster = Cluster::get();
    let name = format!("db_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    client(&cluster.url("postgres"))
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    cluster.url(&name)
}

/// The variables that put an origin on the database at `url` (one of
/// `database()`'s): `database_url`, and `database_host` granting the
/// cluster's address.
pub fn origin_variables(url: String) -> [(&'static str, String); 2] {
    [
        ("database_url", url),
        ("database_host", "postgres://127.0.0.1:*".to_string()),
    ]
}

/// The PEM certificate of the authority that signed the cluster's own.
pub fn certificate_authority() -> &'static str {
    &Cluster::get().certificate_authority
}

/// A connection of the test's own to `url`, outside any app under test.
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// The running cluster.
struct Cluster {
    port: u16,
    certificate_authority: String,
    // Never written: dropping it (when the process ends) is the signal.
    _lifeline: ChildStdin,
}

impl Cluster {
    fn get() -> &'static Self {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        CLUSTER.get_or_init(|| {
            let bin = bin_dir();
            let owner = server_user();
            // A port picked free can be taken before the server binds it.
            let mut failures = Vec::new();
            for _ in 0..3 {
                match Self::start(&bin, owner) {
                    Ok(cluster) => return cluster,
                    Err(e) => failures.push(e),
                }
            }
            panic!("PostgreSQL did not start:\n{}", failures.join("\n---\n"))
        })
    }

    fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    fn start(bin: &Path, owner: Option<(u32, u32)>) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("eventfront-postgres-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        let data = dir.join("data");
        let initdb = as_owner(bin.join("initdb"), owner, &dir)
            .args(["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .args(["--username", SUPERUSER, "--pgdata"])
            .arg(&data)
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&initdb.stdout),
                String::from_utf8_lossy(&initdb.stderr)
            ));
        }
        let certificate_authority = serve_tls(&data, owner)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut supervisor = as_owner("sh", owner, &dir)
            .args(["-c", SUPERVISOR, "sh"])
            .arg(&dir)
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=200"])
            .args(["-c", "ssl=on", "-c", "ssl_cert_file=server.crt"])
            .args(["-c", "ssl_key_file=server.key"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let lifeline = supervisor.stdin.take().expect("stdin is piped");
        wait_until_ready(bin, port, &mut supervisor)?;
        Ok(Self {
            port,
            certificate_authority,
            _lifeline: lifeline,
        })
    }
}

/// Writes a certificate for the server (127.0.0.1 and `localhost`) and
/// its key into `data`, the key readable by `owner` alone as PostgreSQL
/// demands, signed by a new authority whose certificate it returns.
fn serve_tls(data: &Path, owner: Option<(u32, u32)>) -> Result<String, String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let failed = |e: rcgen::Error| format!("making the test certificates: {e}");
    let authority_key = KeyPair::generate().map_err(failed)?;
    let mut authority = CertificateParams::default();
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Eventfront test authority");
    let authority_certificate = authority.self_signed(&authority_key).map_err(failed)?;
    let issuer = Issuer::new(authority, authority_key);
    let server_key = KeyPair::generate().map_err(failed)?;
    let server = CertificateParams::new(["127.0.0.1".to_string(), "localhost".to_string()])
        .and_then(|params| params.signed_by(&server_key, &issuer))
        .map_err(failed)?;
    use std::os::unix::fs::{OpenOptionsExt, chown};
    for (name, text, mode) in [
        ("server.crt", server.pem(), 0o644),
        ("server.key", server_key.serialize_pem(), 0o600),
    ] {
        let path = data.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
            .map_err(|e| format!("writing {name}: {e}"))?;
        if let Some((uid, gid)) = owner {
            chown(&path, Some(uid), Some(gid)).map_err(|e| format!("chown {name}: {e}"))?;
        }
    }
    Ok(authority_certificate.pem())
}

/// Polls `pg_isready` until the server accepts connections; an error, with
/// the server's log, if it ends first or takes too long.
fn wait_until_ready(bin: &Path, port: u16, supervisor: &mut Child) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args([
                "--quiet",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .status()
            .map_err(|e| format!("running pg_isready: {e}"))?;
        if ready.success() {
            return Ok(());
        }
        if let Some(status) = supervisor.try_wait().map_err(|e| e.to_string())? {
            let mut log = String::new();
            if let Some(mut stdout) = supervisor.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut stdout, &mut log);
            }
            return Err(format!("the server ended ({status}):\n{log}"));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the server on port {port} was not ready in 60 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `program`, to run as `owner` when one is given, from `dir`.
fn as_owner(
    program: impl AsRef<std::ffi::OsStr>,
    owner: Option<(u32, u32)>,
    dir: &Path,
) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = owner {
        std::os::unix::process::CommandExt::uid(&mut command, uid);
        std::os::unix::process::CommandExt::gid(&mut command, gid);
    }
    command.current_dir(dir);
    command
}

/// The user the server runs as: `postgres` under root, else the caller.
fn server_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd is readable");
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    });
    Some(ids.expect(
        "PostgreSQL refuses to run as root and there is no `postgres` user \
         (scripts/test installs Debian's postgresql package, which creates it)",
    ))
}

/// Where `initdb` and `postgres` are: the newest of Debian's
/// /usr/lib/postgresql/<major>/bin, else wherever `initdb` is on PATH.
fn bin_dir() -> PathBuf {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    if let Some((_, bin)) = debian {
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .expect("PostgreSQL's initdb is installed (scripts/test installs the postgresql package)")
}
