//! The production shape, from `deploy/`: an origin app and edge apps, each
//! edge with its own KV, trusting each other only by signature, and a
//! secret rotation that keeps every edge working throughout.

use bytes::Bytes;
use serde_json::json;
use spin_test_host::Server;
use spin_test_host::manifest::Manifest;
use system_tests::{EdgeApp, OriginApp, json as body_json, workspace_root};

const DEMO: &str = "wasm-edge-summit-2027";
/// The test helpers sign organizer requests with this one.
const OLD: &str = system_tests::SIGNING_SECRET;
const NEW: &str = "the-new-signing-secret-56789";

#[test]
fn every_manifest_parses() {
    for manifest in ["spin.toml", "deploy/edge.toml", "deploy/origin.toml"] {
        let parsed = Manifest::load(&workspace_root().join(manifest));
        assert!(parsed.is_ok(), "{manifest}: {:#}", parsed.err().unwrap());
    }
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
    let port_probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin_addr = port_probe.local_addr().unwrap();
    drop(port_probe);
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
            .send(
                http::Request::post(format!("/api/events/{DEMO}/registrations"))
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("rotation-{}", edge.server.url()))
                    .body(Bytes::from(
                        json!({"name": "R", "email": format!("r{}@example.com", edge.server.addr().port())})
                            .to_string(),
                    ))
                    .unwrap(),
            )
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
