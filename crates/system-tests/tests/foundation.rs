//! The development app as `spin up` runs it: the edge answers, reaches the
//! origin over the private route, and grants follow the manifest.

use spin_test_host::LinkFault;
use system_tests::{dev_app, json};

#[tokio::test]
async fn edge_reports_its_region_from_a_variable() {
    let app = dev_app(|o| o).await;
    let status = app.get("/_edge/status").await;
    assert_eq!(status.status(), 200);
    assert_eq!(json(&status)["region"], "local");
    assert!(json(&status)["events"].as_object().unwrap().is_empty());

    let app = dev_app(|o| o.variable("region", "eu-west")).await;
    assert_eq!(json(&app.get("/_edge/status").await)["region"], "eu-west");
}

#[tokio::test]
async fn edge_reaches_the_origin_over_the_private_route() {
    let app = dev_app(|o| o).await;
    let event = app.get("/api/events/wasm-edge-summit-2027").await;
    assert_eq!(event.status(), 200, "{:?}", event.body());
    let health = json(&app.get("/api/health").await);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["region"], "local");
    assert_eq!(health["kv"], "ok");
    assert_eq!(health["events"]["wasm-edge-summit-2027"]["version"], 1);
    assert_eq!(health["events"]["wasm-edge-summit-2027"]["stale"], false);
}

#[tokio::test]
async fn the_origin_is_not_reachable_from_outside() {
    let app = dev_app(|o| o).await;
    // Everything public is the edge's: the origin's own paths are not routed to it.
    let direct = app.get("/_origin/events").await;
    assert_eq!(direct.status(), 404);
    assert_eq!(
        direct.headers()["content-type"],
        "application/problem+json",
        "the edge answered, not the origin"
    );
}

#[tokio::test]
async fn an_unreachable_origin_gives_503_with_retry_after_and_health_still_answers() {
    let app = dev_app(|o| o).await;
    app.links().set("origin.spin.internal", LinkFault::Cut);
    let cold = app.get("/api/events/wasm-edge-summit-2027").await;
    assert_eq!(cold.status(), 503);
    assert!(cold.headers().contains_key("retry-after"));
    assert_eq!(json(&cold)["status"], 503);
    // Health is the edge's own state: it never asks the origin.
    let health = app.get("/api/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(json(&health)["status"], "ok");
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_are_problems() {
    let app = dev_app(|o| o).await;
    let post = app
        .send(
            http::Request::post("/_edge/status")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET");
    let missing = app.get("/api/nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json(&missing)["title"], "Not Found");
}
