//! The host serves `spin:postgres` as Spin 4.1 does, proven with the `probe`
//! fixture component against the test process's throwaway PostgreSQL:
//! allowed hosts, pooled sessions that keep an unfinished transaction,
//! database errors with their SQLSTATE, and value conversions.

use bytes::Bytes;
use spin_test_host::{App, AppOptions, ReuseLimits};
use system_tests::{component_wasm, postgres};

/// Two probes on `/a/...` and `/b/...`, each allowed `allowed` (a
/// resolved `allowed_outbound_hosts` list) and given a fresh instance per
/// request, so that anything carried between requests lives in the host.
async fn probes(allowed: &str) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let probe = component_wasm("probe");
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "pg-probes"

[[trigger.http]]
route = "/a/..."
component = "a"

[[trigger.http]]
route = "/b/..."
component = "b"

[component.a]
source = "{probe}"
allowed_outbound_hosts = {allowed}

[component.b]
source = "{probe}"
allowed_outbound_hosts = {allowed}
"#,
        probe = probe.display()
    );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    let mut options = AppOptions::new(&path);
    options.reuse = ReuseLimits {
        max_requests: 1,
        max_concurrent: 1,
        ..ReuseLimits::default()
    };
    (App::start(options).await.expect("the probes start"), dir)
}

/// `postgres://127.0.0.1:PORT` for the database at `url`.
fn authority(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("postgres://127.0.0.1:{}", url.port().unwrap())
}

/// Runs `script` through the probe at `prefix` (`/a` or `/b`) on `address`:
/// every line a command but the last, a query.
async fn run(app: &App, prefix: &str, address: &str, script: &str) -> (u16, String) {
    let request = http::Request::post(format!("{prefix}/pg/run"))
        .header("pg-address", address)
        .body(Bytes::from(script.to_string()))
        .unwrap();
    let response = app.send(request).await;
    let body = String::from_utf8_lossy(response.body()).into_owned();
    (response.status().as_u16(), body)
}

/// The rows of a successful answer, without the column line.
async fn rows(app: &App, prefix: &str, address: &str, script: &str) -> Vec<String> {
    let (status, body) = run(app, prefix, address, script).await;
    assert_eq!(status, 200, "{script}: {body}");
    body.lines().skip(1).map(str::to_string).collect()
}

#[tokio::test]
async fn open_is_refused_unless_allowed_outbound_hosts_names_the_address() {
    let url = postgres::database().await;
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let (allowed, _dir) = probes(&format!(r#"["{}"]"#, authority(&url))).await;
    assert_eq!(
        rows(&allowed, "/a", &url, "SELECT 1 AS one").await,
        ["int32:1"]
    );
    // The key=value form is checked the same way.
    let key_value = format!(
        "host=127.0.0.1 port={port} user=postgres dbname={} sslmode=disable",
        url::Url::parse(&url)
            .unwrap()
            .path()
            .trim_start_matches('/')
    );
    assert_eq!(
        rows(&allowed, "/a", &key_value, "SELECT 2").await,
        ["int32:2"]
    );

    let (elsewhere, _dir) = probes(r#"["postgres://127.0.0.1:1", "http://127.0.0.1:*"]"#).await;
    let (status, body) = run(&elsewhere, "/a", &url, "SELECT 1").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        format!("connection-failed address postgres://127.0.0.1:{port} is not permitted")
    );
    let (none, _dir) = probes("[]").await;
    let (_, body) = run(&none, "/a", &key_value, "SELECT 1").await;
    assert!(
        body.starts_with("connection-failed address postgres://127.0.0.1:"),
        "{body}"
    );

    // Allowed and asking for TLS, which the cluster serves with a
    // certificate of a test authority no system trusts: without that
    // authority as the guest's CA root, the server fails verification
    // (tests/postgres_tls.rs connects with it).
    let tls = url.replace("sslmode=disable", "sslmode=require");
    let (_, body) = run(&allowed, "/a", &tls, "SELECT 1").await;
    assert!(
        body.starts_with("connection-failed") && body.contains("certificate verify failed"),
        "{body}"
    );
}

/// The committed rows of `seen`, as a connection outside the app sees them.
async fn rows_seen(outside: &tokio_postgres::Client) -> i64 {
    let row = outside.query_one("SELECT count(*) FROM seen", &[]);
    row.await.unwrap().get(0)
}

#[tokio::test]
async fn an_unfinished_transaction_carries_over_on_the_pooled_session() {
    let url = postgres::database().await;
    let outside = postgres::client(&url).await;
    outside
        .batch_execute("CREATE TABLE seen (n integer PRIMARY KEY)")
        .await
        .unwrap();
    let (app, _dir) = probes(r#"["postgres://127.0.0.1:*"]"#).await;

    // A guest begins, inserts and returns without committing.
    let leaked = rows(
        &app,
        "/a",
        &url,
        "BEGIN\nINSERT INTO seen VALUES (1)\nSELECT pg_backend_pid()",
    )
    .await;
    // The next request, in a fresh instance, gets the same session and so
    // runs inside that transaction: it sees the row no one committed.
    let next = rows(
        &app,
        "/a",
        &url,
        "SELECT pg_backend_pid(), (SELECT count(*) FROM seen)",
    )
    .await;
    assert_eq!(next, [format!("{}|int64:1", leaked[0])]);
    assert_eq!(app.instances_created("a"), 2);
    // Nobody else sees it.
    assert_eq!(rows_seen(&outside).await, 0);
    // Pools are per component, as in Spin: another component's session is
    // another backend, outside the transaction.
    let other = rows(
        &app,
        "/b",
        &url,
        "SELECT pg_backend_pid(), (SELECT count(*) FROM seen)",
    )
    .await;
    assert_ne!(other[0].split('|').next(), leaked[0].split('|').next());
    assert!(other[0].ends_with("|int64:0"), "{other:?}");

    // Committing later, from yet another request, commits the leaked row.
    rows(&app, "/a", &url, "COMMIT\nSELECT 1").await;
    assert_eq!(rows_seen(&outside).await, 1);
}

#[tokio::test]
async fn a_session_left_in_a_failed_transaction_is_replaced() {
    let url = postgres::database().await;
    let (app, _dir) = probes(r#"["postgres://127.0.0.1:*"]"#).await;
    let pid = "SELECT pg_backend_pid()";
    let first = rows(&app, "/a", &url, pid).await;
    assert_eq!(
        rows(&app, "/a", &url, pid).await,
        first,
        "one session, reused"
    );
    let (status, body) = run(&app, "/a", &url, "BEGIN\nSELECT 1 / 0").await;
    assert!(
        status == 500 && body.starts_with("db-error 22012 "),
        "{body}"
    );
    // Recycling runs statements, which a failed transaction refuses: the
    // pool drops that session and opens another.
    assert_ne!(rows(&app, "/a", &url, pid).await, first);
}

#[tokio::test]
async fn database_errors_carry_their_sqlstate() {
    let url = postgres::database().await;
    postgres::client(&url)
        .await
        .batch_execute("CREATE TABLE taken (n integer PRIMARY KEY)")
        .await
        .unwrap();
    let (app, _dir) = probes(r#"["postgres://127.0.0.1:*"]"#).await;
    // Through `execute`…
    let (status, body) = run(
        &app,
        "/a",
        &url,
        "INSERT INTO taken VALUES (1)\nINSERT INTO taken VALUES (1)\nSELECT 1",
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with(
            "db-error 23505 ERROR duplicate key value violates unique constraint \"taken_pkey\" \
             | Key (n)=(1) already exists. | "
        ),
        "{body}"
    );
    assert!(body.contains("constraint=taken_pkey"), "{body}");
    assert!(body.contains("table=taken"), "{body}");
    // …and through `query`, where the error ends the row stream.
    let (_, body) = run(&app, "/a", &url, "INSERT INTO taken VALUES (1) RETURNING n").await;
    assert!(body.starts_with("db-error 23505 ERROR "), "{body}");
    let (_, body) = run(&app, "/a", &url, "SELECT * FROM missing").await;
    assert!(body.starts_with("db-error 42P01 ERROR "), "{body}");
}

#[tokio::test]
async fn values_round_trip_as_spin_converts_them() {
    let url = postgres::database().await;
    let (app, _dir) = probes(r#"["postgres://127.0.0.1:*"]"#).await;
    let request = http::Request::post("/a/pg/roundtrip")
        .header("pg-address", &url)
        .body(Bytes::new())
        .unwrap();
    let response = app.send(request).await;
    let body = String::from_utf8_lossy(response.body()).into_owned();
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(
        body.lines().collect::<Vec<_>>(),
        [
            "i8:DbDataType::Int64|i4:DbDataType::Int32|f8:DbDataType::Floating64|t:DbDataType::Str|\
             n:DbDataType::Str|b:DbDataType::Boolean|by:DbDataType::Binary|j:DbDataType::Jsonb|\
             d:DbDataType::Decimal",
            "int64:-9007199254740993|int32:-7|float64:2.5|str:h\u{e9}llo|null|bool:true|\
             binary:00ff10|jsonb:{\"a\":[1,2]}|decimal:12345.678900",
        ]
    );
    // The parameters were bound as the column types, not as text.
    let stored = postgres::client(&url)
        .await
        .query_one(
            "SELECT n IS NULL, encode(by, 'hex'), j -> 'a' ->> 1, d::text FROM roundtrip",
            &[],
        )
        .await
        .unwrap();
    assert!(stored.get::<_, bool>(0));
    assert_eq!(stored.get::<_, String>(1), "00ff10");
    assert_eq!(stored.get::<_, String>(2), "2");
    assert_eq!(stored.get::<_, String>(3), "12345.678900");

    // Spin's quirks: types with no WIT case come back as their wire bytes,
    // a query with no row has no columns, and `timestamptz` fails.
    assert_eq!(
        run(
            &app,
            "/a",
            &url,
            "SELECT '{\"k\": 1}'::json AS j, 'x'::name AS n"
        )
        .await,
        (
            200,
            "j:DbDataType::Other(\"json\")|n:DbDataType::Other(\"name\")\n\
             unsupported:{\"k\": 1}|unsupported:x"
                .to_string()
        )
    );
    assert_eq!(
        run(&app, "/a", &url, "SELECT 1 WHERE false").await,
        (200, String::new())
    );
    let (status, body) = run(&app, "/a", &url, "SELECT now()").await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("query-failed") && body.contains("timestamptz"),
        "{body}"
    );
}
