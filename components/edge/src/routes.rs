//! Which handler answers which method and path.

use crate::cache;
use crate::config::{ClientRules, EdgeConfig};
use crate::error::EdgeError;
use crate::limiter::{self, Limit};
use crate::origin::{REGISTRATION_TIMEOUT, WRITE_TIMEOUT};
use crate::reads::{self, ReadRequest};
use crate::{assets, forward, kv, notice, waiting_room};
use bytes::Bytes;
use eventfront_domain::Slug;
use eventfront_domain::freshness;
use eventfront_domain::headers::TOKEN_REFUSED_HEADER;
use eventfront_domain::respond::{self, Reply, rfc3339};
use eventfront_domain::routes::Route;
use eventfront_domain::snapshot;
use http::Method;
use serde_json::{Map, Value, json};
use spin_sdk::http::Request;
use std::sync::Arc;

pub async fn route(request: Request) -> Result<Reply, EdgeError> {
    let config = EdgeConfig::get().await?;
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let method = request.method().clone();
    let if_none_match = request
        .headers()
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let accepts_gzip = reads::accepts_gzip(
        request
            .headers()
            .get(http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let read = ReadRequest {
        if_none_match: if_none_match.as_deref(),
        query: query.as_deref(),
        accepts_gzip,
    };
    let Some(found) = Route::find(&path) else {
        if path == "/api" || path.starts_with("/api/") || path.starts_with("/_") {
            // Organizer paths say nothing, not even "no such path", to
            // whoever has no token; `/_…` is for operations, never a page.
            if path.starts_with("/api/admin/") {
                organizer_token(&request)?;
            }
            return Err(EdgeError::NotFound);
        }
        if method != Method::GET && method != Method::HEAD {
            return Err(EdgeError::MethodNotAllowed { allow: "GET, HEAD" });
        }
        return assets::serve(&path, read.if_none_match, read.accepts_gzip);
    };
    // Opening a sign-in with a mailed link, or asking for one, needs none.
    let signing_in = matches!(found.route, Route::AdminSignIn | Route::AdminSignInLink);
    if path.starts_with("/api/admin/") && !signing_in {
        organizer_token(&request)?;
    }
    if !found.route.accepts(method.as_str()) {
        return Err(EdgeError::MethodNotAllowed {
            allow: found.route.allow(),
        });
    }
    let slug = || Slug::parse(found.slug).map_err(|_| EdgeError::NotFound);
    match found.route {
        Route::EdgeStatus => status(&config).await,
        Route::EdgePublish => notice::receive(request).await,
        Route::Health => health(&config).await,
        Route::OpenApi => assets::contract(read.if_none_match, read.accepts_gzip),
        Route::Register => {
            let rules = ClientRules::get().await?;
            let client = client_of(&rules, &request);
            Limit::registrations(rules.registrations_per_minute).admit_here(&client)?;
            forward::forward(
                request,
                found.route.body_limit(),
                Some(&client),
                REGISTRATION_TIMEOUT,
            )
            .await
        }
        Route::WaitingRoom if method == Method::POST => {
            let client = client_of(&*ClientRules::get().await?, &request);
            Limit::TICKETS.admit_here(&client)?;
            waiting_room::take(&config, &slug()?).await
        }
        Route::WaitingRoom => waiting_room::place(&config, &slug()?, &request).await,
        // A wrong id or token is counted, so that guessing stops here.
        Route::Registration | Route::ConfirmRegistration | Route::RegistrationSession => {
            let client = client_of(&*ClientRules::get().await?, &request);
            Limit::TOKEN_FAILURES.check_here(&client)?;
            // A confirmation's token is in a header; a body, if any, is ignored.
            let mut answer =
                forward::forward(request, found.route.body_limit(), None, WRITE_TIMEOUT).await?;
            if answer.headers_mut().remove(TOKEN_REFUSED_HEADER).is_some() {
                Limit::TOKEN_FAILURES.record_here(&client);
            }
            Ok(answer)
        }
        Route::AdminEvent
        | Route::AdminDraft
        | Route::AdminSession
        | Route::AdminSessionSeats
        | Route::AdminSpeaker
        | Route::AdminPublish
        | Route::AdminRollback
        | Route::AdminArchive
        | Route::AdminRegistrations
        | Route::AdminRegistration
        | Route::AdminAudit
        | Route::AdminOutbox
        | Route::AdminResend
        | Route::AdminWebhook
        | Route::AdminWaitingRoom
        | Route::AdminMe
        | Route::AdminAccounts
        | Route::AdminAccount
        | Route::AdminAccountTokens
        | Route::AdminToken
        | Route::AdminBootstrapToken
        | Route::AdminAuditAll
        | Route::AdminSignIn
        | Route::AdminSignInLink
        | Route::AdminAccountSignIns
        | Route::AdminSignInById
        | Route::AdminOutboxAll => {
            // A first line in this instance; the count across instances
            // and edges is the origin's, made before it looks at the token.
            let client = client_of(&*ClientRules::get().await?, &request);
            Limit::ADMIN_FAILURES.check_here(&client)?;
            let answer = forward::forward(
                request,
                found.route.body_limit(),
                Some(&client),
                WRITE_TIMEOUT,
            )
            .await?;
            match answer.status() {
                http::StatusCode::UNAUTHORIZED => {
                    // Never the token: who failed, and that they did.
                    eprintln!("edge: failed organizer sign-in from {client}");
                    Limit::ADMIN_FAILURES.record_here(&client);
                }
                http::StatusCode::TOO_MANY_REQUESTS => Limit::ADMIN_FAILURES.record_here(&client),
                _ => {}
            }
            Ok(answer)
        }
        Route::Events => events(&config, &read).await,
        Route::Event => reads::document(&config, slug()?.as_str(), snapshot::EVENT, &read).await,
        Route::Sessions => {
            reads::document(&config, slug()?.as_str(), snapshot::SESSIONS, &read).await
        }
        Route::Speakers => {
            reads::document(&config, slug()?.as_str(), snapshot::SPEAKERS, &read).await
        }
        Route::Changelog => {
            reads::document(&config, slug()?.as_str(), snapshot::CHANGELOG, &read).await
        }
        Route::ChangelogAtom => {
            reads::document(&config, slug()?.as_str(), snapshot::CHANGELOG_ATOM, &read).await
        }
        Route::ScheduleJson => {
            reads::document(&config, slug()?.as_str(), snapshot::SCHEDULE, &read).await
        }
        Route::ScheduleXml => {
            reads::document(&config, slug()?.as_str(), snapshot::SCHEDULE_XML, &read).await
        }
        Route::ScheduleIcs => reads::ics(&config, slug()?.as_str(), None, &read).await,
        Route::SessionIcs => reads::ics(&config, slug()?.as_str(), Some(found.id), &read).await,
        Route::Seats => reads::seats(&config, slug()?.as_str(), &read).await,
        Route::Session => reads::item(&config, slug()?.as_str(), "sessions", found.id, &read).await,
        Route::Speaker => reads::item(&config, slug()?.as_str(), "speakers", found.id, &read).await,
    }
}

/// Organizer requests carry a token, or nothing about them is read.
fn organizer_token(request: &Request) -> Result<(), EdgeError> {
    let signed_in = request
        .headers()
        .get(http::header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(eventfront_domain::sign_in::from_cookie_header)
        .is_some();
    if signed_in || request.headers().contains_key(http::header::AUTHORIZATION) {
        Ok(())
    } else {
        Err(EdgeError::Unauthorized(
            "Organizer requests need a valid bearer token.",
        ))
    }
}

/// Whom per-client limits count. Spin appends its own `spin-client-addr`
/// after any the client sent, so only the last one is Spin's; behind a
/// proxy the operator trusts, the proxy's forwarding header names the
/// client.
fn client_of(rules: &ClientRules, request: &Request) -> String {
    let last = |name: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
    };
    limiter::client_key_behind(
        last("spin-client-addr"),
        last(&rules.client_ip_header),
        &rules.trusted_proxies,
    )
}

/// The edge's region and the version it holds of each event.
async fn status(config: &EdgeConfig) -> Result<Reply, EdgeError> {
    let events: Map<String, Value> = cache::holdings()
        .await
        .into_iter()
        .map(|(slug, e)| {
            let entry = json!({
                "version": e.version,
                "fetched_at": rfc3339(e.fetched_at_ms),
                "checked_at": rfc3339(e.checked_at_ms),
            });
            (slug, entry)
        })
        .collect();
    Ok(respond::json(
        200,
        &json!({ "region": config.region, "events": events }),
    ))
}

/// Published events, each summary from the cache. An event that cannot be
/// served right now is left out rather than failing the whole list.
async fn events(config: &Arc<EdgeConfig>, read: &ReadRequest<'_>) -> Result<Reply, EdgeError> {
    let slugs = match cache::published::list(config).await {
        Some(list) => list.slugs,
        // Never listed and the origin is away: what this edge holds.
        None => cache::holdings().await.into_keys().collect(),
    };
    let mut list = Vec::new();
    let mut newest = 0;
    for slug in slugs {
        let summary = async {
            let lookup = cache::lookup(config, &slug).await?;
            let summary = lookup.held.body(snapshot::SUMMARY).await?;
            Ok::<_, EdgeError>((lookup.held.head.version, summary))
        };
        match summary.await {
            Ok((version, summary)) => {
                list.push(serde_json::from_slice::<Value>(&summary).unwrap_or(Value::Null));
                newest = newest.max(version);
            }
            Err(e) => eprintln!("edge: {slug} left out of the event list: {e}"),
        }
    }
    let body = Bytes::from(json!({ "events": list }).to_string());
    let tag = snapshot::etag(&body);
    let mut reply = respond::conditional(read.if_none_match, &tag, "application/json", body);
    for (name, value) in [
        ("cache-control", reads::CACHE_CONTROL.to_string()),
        ("eventfront-version", newest.to_string()),
        ("eventfront-edge", config.region.clone()),
    ] {
        if let Ok(value) = value.parse() {
            reply.headers_mut().insert(name, value);
        }
    }
    Ok(reply)
}

/// The edge's own view of itself, never a call to the origin: its region,
/// whether its KV store answers, and each event it holds with its version
/// and whether that copy is older than a revalidation should leave it.
async fn health(config: &EdgeConfig) -> Result<Reply, EdgeError> {
    let now = cache::now_ms();
    let overdue = freshness::millis(config.staleness) + freshness::millis(freshness::LEASE_TTL);
    let events: Map<String, Value> = cache::holdings()
        .await
        .into_iter()
        .map(|(slug, e)| {
            let stale = now - e.checked_at_ms >= overdue;
            let entry = json!({
                "version": e.version,
                "checked_at": rfc3339(e.checked_at_ms),
                "stale": stale,
            });
            (slug, entry)
        })
        .collect();
    let kv = if kv::failing() { "failing" } else { "ok" };
    Ok(respond::json(
        200,
        &json!({
            "status": if kv == "ok" { "ok" } else { "degraded" },
            "region": config.region,
            "kv": kv,
            "events": events,
        }),
    ))
}
