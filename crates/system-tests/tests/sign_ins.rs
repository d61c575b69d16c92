//! Organizers' browser sign-ins through the real edge and origin: a cookie
//! no script reads, standing for the token it was opened with; writes it
//! signs refused without their CSRF token; ended by its holder, by an
//! owner, or with its token or account, at once; and over when idle or at
//! its absolute end, on the hosts' clocks moved forward, never slept.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_test_host::App;
use std::time::Duration;
use system_tests::{
    ADMIN_TOKEN, Topology, json as body_json, organizer_account, organizer_request, topology,
    topology_with,
};

const DEMO: &str = "wasm-edge-summit-2027";

async fn call(
    edge: &App,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> http::Response<Bytes> {
    edge.send(organizer_request(token, method, path, body))
        .await
}

/// A request a signed-in browser sends: its cookie, and on writes the
/// CSRF token, if `csrf` is given.
async fn as_browser(
    edge: &App,
    cookie: &str,
    csrf: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> http::Response<Bytes> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("cookie", format!("theme=dark; {cookie}"));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    edge.send(request.body(body).unwrap()).await
}

/// An editor of the demo event with an API token.
async fn editor(edge: &App) -> (String, String) {
    organizer_account(
        edge,
        "ed@example.org",
        json!([{ "role": "editor", "event": DEMO }]),
    )
    .await
}

/// Opens a sign-in with `token`: the cookie (`name=value`), the CSRF
/// token and the sign-in's id.
async fn sign_in(edge: &App, token: &str) -> (String, String, String) {
    let opened = call(edge, token, "POST", "/api/admin/sign-in", Some(json!({}))).await;
    assert_eq!(opened.status(), 201, "{:?}", opened.body());
    let set = opened.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let body = body_json(&opened);
    (
        cookie,
        body["csrf_token"].as_str().unwrap().to_string(),
        body["id"].as_str().unwrap().to_string(),
    )
}

/// Moves every app's clock forward together, as time passes for all.
fn later(t: &Topology, by: Duration) {
    t.origin.app.clock().advance(by);
    for edge in &t.edges {
        edge.app.clock().advance(by);
    }
}

#[tokio::test]
async fn a_sign_in_cookie_stands_for_its_token_and_its_writes_need_the_csrf_token() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (_, token) = editor(edge).await;
    let opened = call(edge, &token, "POST", "/api/admin/sign-in", Some(json!({}))).await;
    assert_eq!(opened.status(), 201);
    let set = opened.headers()["set-cookie"].to_str().unwrap();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/admin",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    let (cookie, csrf, id) = sign_in(edge, &token).await;
    assert!(
        !body_json(&opened).to_string().contains(&token),
        "the token is not echoed"
    );

    let me = as_browser(edge, &cookie, None, "GET", "/api/admin/me", None).await;
    assert_eq!(me.status(), 200);
    let me = body_json(&me);
    assert_eq!(me["actor"], "ed@example.org");
    assert_eq!(me["via"], format!("sign-in:{id}"));

    // A write without the CSRF token (a form another site posts) is
    // refused and changes nothing; with it, it is made.
    let speaker = format!("/api/admin/events/{DEMO}/speakers/ada");
    let before = t.origin.dump().await;
    for forged in [None, Some("0".repeat(64))] {
        let refused = as_browser(
            edge,
            &cookie,
            forged.as_deref(),
            "PUT",
            &speaker,
            Some(json!({ "name": "Ada" })),
        )
        .await;
        assert_eq!(refused.status(), 403);
        assert!(
            body_json(&refused)["detail"]
                .as_str()
                .unwrap()
                .contains("CSRF")
        );
    }
    assert_eq!(before, t.origin.dump().await);
    let saved = as_browser(
        edge,
        &cookie,
        Some(&csrf),
        "PUT",
        &speaker,
        Some(json!({ "name": "Ada" })),
    )
    .await;
    assert_eq!(saved.status(), 200);
    let log = body_json(
        &as_browser(
            edge,
            &cookie,
            None,
            "GET",
            &format!("/api/admin/events/{DEMO}/audit"),
            None,
        )
        .await,
    );
    assert_eq!(log["entries"][0]["actor_via"], format!("sign-in:{id}"));

    // A sign-in opened in the same browser ends the one its cookie held,
    // so that none stays live unseen.
    let (earlier, _, _) = sign_in(edge, &token).await;
    let mut again = organizer_request(&token, "POST", "/api/admin/sign-in", Some(json!({})));
    again
        .headers_mut()
        .insert("cookie", earlier.parse().unwrap());
    assert_eq!(edge.send(again).await.status(), 201);
    let ended = as_browser(edge, &earlier, None, "GET", "/api/admin/me", None).await;
    assert_eq!(ended.status(), 401);

    // Signing out ends it and clears the cookie.
    let out = as_browser(
        edge,
        &cookie,
        Some(&csrf),
        "DELETE",
        "/api/admin/sign-in",
        None,
    )
    .await;
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = as_browser(edge, &cookie, None, "GET", "/api/admin/me", None).await;
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn a_sign_in_ends_when_idle_or_at_its_absolute_end() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (_, token) = editor(edge).await;
    let me = async |cookie: &str| {
        as_browser(edge, cookie, None, "GET", "/api/admin/me", None)
            .await
            .status()
            .as_u16()
    };
    // Idle: used within two hours it lasts; left two hours, it is over.
    let (idle, _, _) = sign_in(edge, &token).await;
    later(&t, Duration::from_secs(119 * 60));
    assert_eq!(me(&idle).await, 200);
    later(&t, Duration::from_secs(119 * 60));
    assert_eq!(me(&idle).await, 200, "its use two hours ago kept it");
    later(&t, Duration::from_secs(121 * 60));
    assert_eq!(me(&idle).await, 401, "idle for two hours");
    // Absolute: used every 90 minutes, it is over twelve hours after it began.
    let (busy, _, _) = sign_in(edge, &token).await;
    for _ in 0..7 {
        later(&t, Duration::from_secs(90 * 60));
        assert_eq!(me(&busy).await, 200);
    }
    later(&t, Duration::from_secs(90 * 60));
    assert_eq!(me(&busy).await, 401, "twelve hours after it began");
}

#[tokio::test]
async fn an_owner_ends_a_sign_in_and_revoking_its_token_or_account_ends_it_at_once() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    let (account, token) = editor(edge).await;
    let me = async |cookie: &str| {
        as_browser(edge, cookie, None, "GET", "/api/admin/me", None)
            .await
            .status()
            .as_u16()
    };
    let (first, _, first_id) = sign_in(edge, &token).await;
    let (second, _, _) = sign_in(edge, &token).await;
    let listed = body_json(
        &call(
            edge,
            ADMIN_TOKEN,
            "GET",
            &format!("/api/admin/accounts/{account}/sign-ins"),
            None,
        )
        .await,
    );
    let sign_ins = listed["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 2, "{listed}");
    assert!(sign_ins.iter().all(|s| s["live"] == true));
    let ended = call(
        edge,
        ADMIN_TOKEN,
        "DELETE",
        &format!("/api/admin/sign-ins/{first_id}"),
        None,
    )
    .await;
    assert_eq!(ended.status(), 204);
    assert_eq!(me(&first).await, 401);
    assert_eq!(me(&second).await, 200);
    // The token it stands for, revoked, takes the sign-in with it.
    let tokens = body_json(
        &call(
            edge,
            ADMIN_TOKEN,
            "GET",
            &format!("/api/admin/accounts/{account}/tokens"),
            None,
        )
        .await,
    );
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap();
    let revoked = call(
        edge,
        ADMIN_TOKEN,
        "DELETE",
        &format!("/api/admin/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(me(&second).await, 401);
    // So does the account, for a sign-in another of its tokens opened.
    let minted = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        &format!("/api/admin/accounts/{account}/tokens"),
        Some(json!({ "name": "second" })),
    )
    .await;
    let (third, _, _) = sign_in(edge, body_json(&minted)["token"].as_str().unwrap()).await;
    assert_eq!(me(&third).await, 200);
    let gone = call(
        edge,
        ADMIN_TOKEN,
        "DELETE",
        &format!("/api/admin/accounts/{account}"),
        None,
    )
    .await;
    assert_eq!(gone.status(), 204);
    assert_eq!(me(&third).await, 401);
    // A sign-in the bootstrap token opened ends when an owner turns it off.
    let (bootstrap, _, _) = sign_in(edge, ADMIN_TOKEN).await;
    assert_eq!(me(&bootstrap).await, 200);
    let owner = call(
        edge,
        ADMIN_TOKEN,
        "POST",
        "/api/admin/accounts",
        Some(json!({ "email": "own@example.org", "name": "Own", "grants": [{ "role": "owner" }] })),
    )
    .await;
    assert_eq!(owner.status(), 201);
    let off = call(
        edge,
        ADMIN_TOKEN,
        "DELETE",
        "/api/admin/bootstrap-token",
        None,
    )
    .await;
    assert_eq!(off.status(), 204);
    assert_eq!(me(&bootstrap).await, 401);
}

/// Asks for a sign-in link for `email` from `from`.
async fn ask_link(edge: &App, email: &str, from: &str) -> http::Response<Bytes> {
    let request = http::Request::post("/api/admin/sign-in-link")
        .header("content-type", "application/json")
        .body(Bytes::from(json!({ "email": email }).to_string()))
        .unwrap();
    edge.send_from(request, format!("{from}:5000").parse().unwrap())
        .await
}

/// Opens a sign-in with a link's secret, no token at all.
async fn redeem(edge: &App, secret: &str) -> http::Response<Bytes> {
    let request = http::Request::post("/api/admin/sign-in")
        .header("content-type", "application/json")
        .body(Bytes::from(json!({ "link": secret }).to_string()))
        .unwrap();
    edge.send(request).await
}

/// The secrets of the links of `kind` (`sign_in_link`, `invitation`) the
/// development outbox holds for `to`, newest first.
async fn mailed(edge: &App, to: &str, kind: &str) -> Vec<String> {
    let outbox = body_json(&call(edge, ADMIN_TOKEN, "GET", "/api/admin/outbox", None).await);
    outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"] == to && m["kind"] == kind)
        .map(|m| {
            let text = m["text"].as_str().unwrap();
            let (_, rest) = text.split_once("#sign-in=").expect("the mail holds a link");
            rest.split_whitespace().next().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_sign_in_link_is_answered_alike_for_any_address_and_opens_one_sign_in_within_its_lifetime()
 {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    editor(edge).await;
    let unknown = ask_link(edge, "nobody@example.org", "203.0.113.9").await;
    let known = ask_link(edge, "ED@example.org", "203.0.113.9").await;
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.body(), known.body(), "nothing tells the two apart");
    assert!(
        mailed(edge, "nobody@example.org", "sign_in_link")
            .await
            .is_empty()
    );
    let links = mailed(edge, "ed@example.org", "sign_in_link").await;
    assert_eq!(links.len(), 1);
    assert_eq!(redeem(edge, "not-a-link").await.status(), 401);

    let opened = redeem(edge, &links[0]).await;
    assert_eq!(opened.status(), 201, "{:?}", opened.body());
    let cookie = opened.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let me = body_json(&as_browser(edge, &cookie, None, "GET", "/api/admin/me", None).await);
    assert_eq!(me["actor"], "ed@example.org");
    assert_eq!(me["grants"], json!([{ "role": "editor", "event": DEMO }]));
    assert_eq!(redeem(edge, &links[0]).await.status(), 401, "used once");

    // A link left sixteen minutes is over.
    assert_eq!(
        ask_link(edge, "ed@example.org", "203.0.113.9")
            .await
            .status(),
        202
    );
    let late = mailed(edge, "ed@example.org", "sign_in_link").await[0].clone();
    later(&t, Duration::from_secs(16 * 60));
    assert_eq!(redeem(edge, &late).await.status(), 401);
}

#[tokio::test]
async fn sign_in_links_are_limited_per_address_and_per_inbox() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    system_tests::at_a_minutes_start(t.origin.app.clock());
    for n in 0..5 {
        let asked = ask_link(edge, &format!("p{n}@example.org"), "203.0.113.20").await;
        assert_eq!(asked.status(), 202);
    }
    let sixth = ask_link(edge, "p5@example.org", "203.0.113.20").await;
    assert_eq!(sixth.status(), 429);
    assert!(sixth.headers().contains_key("retry-after"));
    for n in 0..3 {
        let asked = ask_link(edge, "one@example.org", &format!("203.0.113.{}", 30 + n)).await;
        assert_eq!(asked.status(), 202);
    }
    let fourth = ask_link(edge, "One+tag@example.org", "203.0.113.40").await;
    assert_eq!(fourth.status(), 429, "one inbox, however written");
    let other = ask_link(edge, "two@example.org", "203.0.113.41").await;
    assert_eq!(
        other.status(),
        202,
        "other inboxes and addresses are unaffected"
    );
}

#[tokio::test]
async fn a_new_account_is_mailed_an_invitation_that_signs_in_once_within_a_week() {
    let t = topology(&["eu"], "60").await;
    let edge = &t.edges[0].app;
    editor(edge).await;
    let invitations = mailed(edge, "ed@example.org", "invitation").await;
    assert_eq!(invitations.len(), 1);
    later(&t, Duration::from_secs(6 * 24 * 60 * 60));
    let opened = redeem(edge, &invitations[0]).await;
    assert_eq!(opened.status(), 201);
    assert_eq!(body_json(&opened)["opened_with"], "link");
    assert_eq!(
        redeem(edge, &invitations[0]).await.status(),
        401,
        "used once"
    );
    // An invitation left more than a week is over.
    organizer_account(edge, "late@example.org", json!([])).await;
    let late = mailed(edge, "late@example.org", "invitation").await;
    later(&t, Duration::from_secs(8 * 24 * 60 * 60));
    assert_eq!(redeem(edge, &late[0]).await.status(), 401);
}

/// No token, sign-in cookie, CSRF token or link secret reaches a log: the
/// components' stdout and stderr, kept in files as `spin up --log-dir`
/// keeps them, over a tour of every way in and every refusal.
#[tokio::test]
async fn no_secret_reaches_a_log() {
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path().to_path_buf();
    let t = topology_with(
        &["eu"],
        |mut o| {
            o.log_dir = Some(dir.join("edge"));
            o
        },
        |mut o| {
            o.log_dir = Some(dir.join("origin"));
            o
        },
    )
    .await;
    let edge = &t.edges[0].app;
    let (_, token) = editor(edge).await;
    let mut secrets = vec![ADMIN_TOKEN.to_string(), token.clone()];
    for wrong in [
        "eft_0123456789abcdef",
        "not-the-admin-token-0123456789abcdef",
    ] {
        secrets.push(wrong.to_string());
        let refused = call(edge, wrong, "GET", "/api/admin/me", None).await;
        assert_eq!(refused.status(), 401);
    }
    let (cookie, csrf, _) = sign_in(edge, &token).await;
    secrets.push(cookie.split_once('=').unwrap().1.to_string());
    secrets.push(csrf.clone());
    let speaker = format!("/api/admin/events/{DEMO}/speakers/ada");
    let body = Some(json!({ "name": "Ada" }));
    let forged = as_browser(edge, &cookie, None, "PUT", &speaker, body.clone()).await;
    assert_eq!(forged.status(), 403);
    let saved = as_browser(edge, &cookie, Some(&csrf), "PUT", &speaker, body).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(
        ask_link(edge, "ed@example.org", "203.0.113.9")
            .await
            .status(),
        202
    );
    for link in mailed(edge, "ed@example.org", "sign_in_link").await {
        secrets.push(link.clone());
        assert_eq!(redeem(edge, &link).await.status(), 201);
        assert_eq!(redeem(edge, &link).await.status(), 401);
    }
    for link in mailed(edge, "ed@example.org", "invitation").await {
        secrets.push(link);
    }
    let out = as_browser(
        edge,
        &cookie,
        Some(&csrf),
        "DELETE",
        "/api/admin/sign-in",
        None,
    )
    .await;
    assert_eq!(out.status(), 204);
    assert_eq!(
        as_browser(edge, &cookie, None, "GET", "/api/admin/me", None)
            .await
            .status(),
        401
    );

    let mut logged = String::new();
    for side in ["edge", "origin"] {
        for entry in std::fs::read_dir(dir.join(side)).unwrap() {
            logged.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    assert!(
        logged.contains("failed organizer sign-in"),
        "the components' logs are kept: {logged}"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a log holds {secret}");
    }
}
