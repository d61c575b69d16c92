//! Organizer accounts through the real edge and origin: every organizer
//! route and method against every role (a refusal is 403 and changes
//! nothing), grants for one event, API tokens within their accounts,
//! revocation at once, the audit log naming who and from where, and the
//! organization never losing its last way in.

use bytes::Bytes;
use eventfront_domain::access::{Action, Role};
use eventfront_domain::routes::Route;
use serde_json::{Value, json};
use spin_test_host::App;
use std::net::SocketAddr;
use system_tests::{
    ADMIN_TOKEN, Topology, json as body_json, organizer_account, organizer_request, topology,
};

const DEMO: &str = "wasm-edge-summit-2027";

fn from(address: &str) -> SocketAddr {
    format!("{address}:4000").parse().unwrap()
}

/// An organizer request sent through the edge from `address`.
async fn call(
    edge: &App,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> http::Response<Bytes> {
    let request = organizer_request(token, method, path, body);
    edge.send_from(request, from("198.51.100.7")).await
}

fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// A path for `route` on the demo event, with an id that names nothing.
fn sample_path(route: Route) -> String {
    route
        .template()
        .replace("{slug}", DEMO)
        .replace("{id}", "00000000-0000-4000-8000-000000000000")
}

#[tokio::test]
async fn every_organizer_route_refuses_every_role_it_does_not_allow_and_changes_nothing() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let mut holders = Vec::new();
    for role in Role::ALL {
        let email = format!("{}@example.org", role_name(role));
        let (_, token) = organizer_account(edge, &email, json!([{ "role": role }])).await;
        holders.push((role, token));
    }
    // The owner goes last: what it may do includes turning the bootstrap
    // token off.
    holders.reverse();
    let mut refused = 0;
    for (role, token) in &holders {
        for &route in Route::ALL {
            for method in route.methods() {
                let Some(action) = Action::of(route, method) else {
                    continue;
                };
                let path = sample_path(route);
                let body = (method == "PUT" || method == "POST").then(|| json!({}));
                let grants = [eventfront_domain::access::Grant::everywhere(*role)];
                let event = action.on_event().then_some(DEMO);
                let allowed = eventfront_domain::access::may(&grants, action, event);
                let before = (!allowed).then_some(t.origin.dump().await);
                let answer = call(edge, token, method, &path, body).await;
                let status = answer.status().as_u16();
                if allowed {
                    assert!(
                        ![401, 403].contains(&status),
                        "{role:?} {method} {path}: {status}"
                    );
                    continue;
                }
                refused += 1;
                assert_eq!(status, 403, "{role:?} {method} {path}");
                assert_eq!(
                    answer.headers()["content-type"],
                    "application/problem+json",
                    "{role:?} {method} {path}"
                );
                assert_eq!(body_json(&answer)["status"], 403);
                assert_eq!(
                    before.unwrap(),
                    t.origin.dump().await,
                    "{role:?} {method} {path} changed the database"
                );
            }
        }
    }
    assert!(refused > 40, "{refused} refusals were tried");
    // Any signed-in organizer may ask who they are.
    for (role, token) in &holders[1..] {
        let me = call(edge, token, "GET", "/api/admin/me", None).await;
        assert_eq!(me.status(), 200, "{role:?}");
        assert_eq!(body_json(&me)["grants"], json!([{ "role": role }]));
    }
}

/// A role for one event is worth nothing on another, nor on the accounts.
#[tokio::test]
async fn a_grant_for_one_event_reaches_no_other() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let grants = json!([{ "role": "editor", "event": "summit" }]);
    let (_, token) = organizer_account(edge, "ed@example.org", grants).await;
    let event = json!({
        "name": "Summit", "timezone": "UTC",
        "starts_at": "2027-03-01T09:00:00Z", "ends_at": "2027-03-01T17:00:00Z"
    });
    let own = call(
        edge,
        &token,
        "PUT",
        "/api/admin/events/summit",
        Some(event.clone()),
    )
    .await;
    assert_eq!(own.status(), 201);
    let demo = format!("/api/admin/events/{DEMO}");
    for (method, path) in [
        ("PUT", demo.clone()),
        ("GET", format!("{demo}/draft")),
        ("GET", "/api/admin/accounts".to_string()),
        ("POST", "/api/admin/events/summit/publish".to_string()),
    ] {
        let body = (method != "GET").then(|| event.clone());
        let answer = call(edge, &token, method, &path, body).await;
        assert_eq!(answer.status(), 403, "{method} {path}");
    }
}

#[tokio::test]
async fn a_token_does_only_what_both_its_grants_and_its_accounts_allow() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (id, owner_token) =
        organizer_account(edge, "own@example.org", json!([{ "role": "owner" }])).await;
    let tokens = format!("/api/admin/accounts/{id}/tokens");
    // A read-only token of an owner.
    let viewer = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        &tokens,
        Some(json!({ "name": "dashboard", "grants": [{ "role": "viewer" }] })),
    )
    .await;
    assert_eq!(viewer.status(), 201);
    let viewer = body_json(&viewer)["token"].as_str().unwrap().to_string();
    let draft = format!("/api/admin/events/{DEMO}/draft");
    let publish = format!("/api/admin/events/{DEMO}/publish");
    assert_eq!(call(edge, &viewer, "GET", &draft, None).await.status(), 200);
    let published = call(edge, &viewer, "POST", &publish, Some(json!({}))).await;
    assert_eq!(published.status(), 403);
    // A token cannot be given more than its account holds.
    let (editor, _) = organizer_account(
        edge,
        "ed@example.org",
        json!([{ "role": "editor", "event": DEMO }]),
    )
    .await;
    let wider = call(
        edge,
        &owner_token,
        "POST",
        &format!("/api/admin/accounts/{editor}/tokens"),
        Some(json!({ "name": "wider", "grants": [{ "role": "publisher", "event": DEMO }] })),
    )
    .await;
    assert_eq!(wider.status(), 422);
    assert_eq!(body_json(&wider)["errors"][0]["field"], "grants");
    // An account's roles narrowed narrow its tokens at once.
    let narrowed = call(
        edge,
        ADMIN_TOKEN,
        "PUT",
        &format!("/api/admin/accounts/{id}"),
        Some(json!({ "name": "Former owner", "grants": [{ "role": "publisher" }] })),
    )
    .await;
    assert_eq!(narrowed.status(), 200);
    let accounts = call(edge, &owner_token, "GET", "/api/admin/accounts", None).await;
    assert_eq!(accounts.status(), 403);
    let published = call(edge, &owner_token, "POST", &publish, Some(json!({}))).await;
    assert_eq!(published.status(), 201);
}

#[tokio::test]
async fn revoking_an_account_or_a_token_takes_effect_at_once() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (id, token) = organizer_account(
        edge,
        "desk@example.org",
        json!([{ "role": "registrations" }]),
    )
    .await;
    let list = format!("/api/admin/events/{DEMO}/registrations");
    assert_eq!(call(edge, &token, "GET", &list, None).await.status(), 200);
    let second = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        &format!("/api/admin/accounts/{id}/tokens"),
        Some(json!({ "name": "second" })),
    )
    .await;
    let second = body_json(&second);
    let revoked = call(
        edge,
        ADMIN_TOKEN,
        "DELETE",
        &format!("/api/admin/tokens/{}", second["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    let second = second["token"].as_str().unwrap();
    assert_eq!(call(edge, second, "GET", &list, None).await.status(), 401);
    assert_eq!(call(edge, &token, "GET", &list, None).await.status(), 200);
    let account = format!("/api/admin/accounts/{id}");
    assert_eq!(
        call(edge, ADMIN_TOKEN, "DELETE", &account, None)
            .await
            .status(),
        204
    );
    assert_eq!(call(edge, &token, "GET", &list, None).await.status(), 401);
    let shown = body_json(&call(edge, ADMIN_TOKEN, "GET", &account, None).await);
    assert!(shown["revoked_at"].is_string(), "{shown}");
    let tokens =
        body_json(&call(edge, ADMIN_TOKEN, "GET", &format!("{account}/tokens"), None).await);
    assert!(
        tokens["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["revoked_at"].is_string()),
        "{tokens}"
    );
    // Its email may be given a new account.
    let again = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        "/api/admin/accounts",
        Some(json!({ "email": "Desk@example.org", "name": "Desk", "grants": [] })),
    )
    .await;
    assert_eq!(again.status(), 201);
    let twice = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        "/api/admin/accounts",
        Some(json!({ "email": "desk@EXAMPLE.org", "name": "Desk", "grants": [] })),
    )
    .await;
    assert_eq!(twice.status(), 409);
}

#[tokio::test]
async fn the_audit_log_names_the_account_how_it_signed_in_and_its_address() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (id, token) = organizer_account(
        edge,
        "ada@example.org",
        json!([{ "role": "editor", "event": DEMO }]),
    )
    .await;
    let me = body_json(&call(edge, &token, "GET", "/api/admin/me", None).await);
    let via = me["via"].as_str().unwrap().to_string();
    assert!(via.starts_with("token:"), "{me}");
    let speaker = format!("/api/admin/events/{DEMO}/speakers/ada");
    let saved = call(
        edge,
        &token,
        "PUT",
        &speaker,
        Some(json!({ "name": "Ada" })),
    )
    .await;
    assert_eq!(saved.status(), 200);
    let log = body_json(
        &call(
            edge,
            &token,
            "GET",
            &format!("/api/admin/events/{DEMO}/audit"),
            None,
        )
        .await,
    );
    let entry = &log["entries"][0];
    assert_eq!(entry["action"], "speaker.saved");
    assert_eq!(entry["actor"], "ada@example.org");
    assert_eq!(entry["actor_account"], id.as_str());
    assert_eq!(entry["actor_via"], via.as_str());
    assert_eq!(entry["address"], Value::Null, "addresses are for owners");
    let event_log = format!("/api/admin/events/{DEMO}/audit");
    let for_owners = call(edge, ADMIN_TOKEN, "GET", &event_log, None).await;
    assert_eq!(
        body_json(&for_owners)["entries"][0]["address"],
        "198.51.100.7"
    );
    // The accounts' own changes are in the whole log, by the bootstrap token.
    let all = body_json(&call(edge, ADMIN_TOKEN, "GET", "/api/admin/audit", None).await);
    let created = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.created")
        .expect("the account's creation is audited");
    assert_eq!(created["actor"], "bootstrap token");
    assert_eq!(created["actor_via"], "bootstrap");
    assert_eq!(created["target"], id.as_str());
    // Nowhere does an entry say only "organizer".
    assert!(
        all["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != "organizer"),
        "{all}"
    );
}

/// The bootstrap token goes off only once an owner account exists, the
/// last owner cannot be revoked or demoted while it is off, and no secret
/// is kept or shown but in the answer that mints it.
#[tokio::test]
async fn the_organization_never_loses_its_last_way_in_and_tokens_are_shown_once() {
    let t: Topology = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let off = "/api/admin/bootstrap-token";
    assert_eq!(
        call(edge, ADMIN_TOKEN, "DELETE", off, None).await.status(),
        409,
        "no owner account yet"
    );
    let (_, editor_token) =
        organizer_account(edge, "ed@example.org", json!([{ "role": "editor" }])).await;
    let (owner, owner_token) =
        organizer_account(edge, "own@example.org", json!([{ "role": "owner" }])).await;
    assert_eq!(
        call(edge, &editor_token, "DELETE", off, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        call(edge, &owner_token, "DELETE", off, None).await.status(),
        204
    );
    let me = call(edge, ADMIN_TOKEN, "GET", "/api/admin/me", None).await;
    assert_eq!(me.status(), 401, "the bootstrap token is off");
    let account = format!("/api/admin/accounts/{owner}");
    let demoted = call(
        edge,
        &owner_token,
        "PUT",
        &account,
        Some(json!({ "name": "Owner", "grants": [{ "role": "editor" }] })),
    )
    .await;
    assert_eq!(demoted.status(), 409);
    assert_eq!(
        call(edge, &owner_token, "DELETE", &account, None)
            .await
            .status(),
        409
    );
    // A second owner makes the first one's revocation safe.
    let second = call(
        edge,
        &owner_token,
        "POST",
        "/api/admin/accounts",
        Some(json!({ "email": "two@example.org", "name": "Two", "grants": [{ "role": "owner" }] })),
    )
    .await;
    assert_eq!(second.status(), 201);
    // Only hashes are kept, and no listing shows a secret.
    let dump = t.origin.dump().await.join("\n");
    for secret in [&owner_token, &editor_token] {
        assert!(
            !dump.contains(secret.as_str()),
            "a token is stored as it is"
        );
        for path in [
            "/api/admin/accounts".to_string(),
            format!("{account}/tokens"),
            "/api/admin/audit".to_string(),
            "/api/admin/me".to_string(),
        ] {
            let answer = call(edge, &owner_token, "GET", &path, None).await;
            assert_eq!(answer.status(), 200, "{path}");
            let text = String::from_utf8_lossy(answer.body());
            assert!(!text.contains(secret.as_str()), "{path} shows a token");
        }
    }
    assert_eq!(
        call(edge, &owner_token, "DELETE", &account, None)
            .await
            .status(),
        204
    );
    assert_eq!(
        call(edge, &owner_token, "GET", "/api/admin/me", None)
            .await
            .status(),
        401
    );
}
