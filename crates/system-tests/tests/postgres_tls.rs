//! The origin on PostgreSQL over TLS, as `deploy/` runs it: `sslmode=require`
//! and the server's certificate verified, against the system's roots and the
//! authority named in `database_ca_root` (which managed servers such as
//! Amazon RDS need).

use bytes::Bytes;
use serde_json::json;
use system_tests::{OriginApp, postgres};

/// An origin on a new database of the test cluster, its `database_url`
/// requiring TLS, with `ca_root` as its `database_ca_root`; and the plain
/// URL the test reads that database with.
async fn origin_over_tls(ca_root: Option<&str>) -> OriginApp {
    let url = postgres::database().await;
    let over_tls = url.replace("sslmode=disable", "sslmode=require");
    assert_ne!(over_tls, url);
    OriginApp::start_on_database(url, |options| {
        let options = options.variable("database_url", over_tls);
        match ca_root {
            Some(pem) => options.variable("database_ca_root", pem),
            None => options,
        }
    })
    .await
}

fn event() -> serde_json::Value {
    json!({
        "name": "Conf 2027",
        "timezone": "Europe/Paris",
        "starts_at": "2027-03-01T09:00:00+01:00",
        "ends_at": "2027-03-01T17:00:00+01:00",
        "venue": "Hall",
        "registration": {"open": true, "capacity": 10, "confirm_email": false}
    })
}

#[tokio::test]
async fn the_origin_reaches_postgres_over_tls_verified_against_its_authority() {
    let origin = origin_over_tls(Some(postgres::certificate_authority())).await;
    origin.publish_event("conf", event()).await;
    let registered = origin
        .signed(
            http::Request::post("/api/events/conf/registrations")
                .header("content-type", "application/json")
                .header("idempotency-key", "k1")
                .body(Bytes::from(
                    json!({"name": "Ada", "email": "ada@example.com"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(registered.status(), 201, "{:?}", registered.body());
    // From outside: the origin's sessions (kept in Spin's pool) are all
    // encrypted; the test's own, in plain text, is left out.
    let sessions = origin
        .rows(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl)
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
        )
        .await;
    let (all, encrypted) = (&sessions[0][0], &sessions[0][1]);
    assert!(all.as_i64().unwrap() >= 1, "{sessions:?}");
    assert_eq!(all, encrypted, "every session of the origin uses TLS");
}

#[tokio::test]
async fn a_server_whose_certificate_is_not_trusted_is_never_used() {
    // The cluster's authority is known to no system: without it in
    // `database_ca_root`, the server's certificate does not verify.
    let origin = origin_over_tls(None).await;
    let refused = origin
        .admin("PUT", "/api/admin/events/conf", Some(event()))
        .await;
    assert_eq!(refused.status(), 503, "{:?}", refused.body());
    let body = String::from_utf8_lossy(refused.body()).to_lowercase();
    assert!(
        !body.contains("certificate") && !body.contains("tls") && !body.contains("127.0.0.1"),
        "no detail of the failure leaks: {body}"
    );
    let tables = origin
        .rows("SELECT count(*) FROM pg_tables WHERE tablename = 'events'")
        .await;
    assert_eq!(tables, [[0]], "nothing reached the server");
}
