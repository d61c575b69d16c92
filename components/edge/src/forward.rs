//! Writes and organizer requests, forwarded to the origin signed. The edge
//! bounds the body first, passes the origin's answer through, and answers
//! 503 with `Retry-After` when the origin cannot be reached or does not
//! answer in time: never a false confirmation, and never a false refusal
//! of a write the origin may still make (its retry under the same
//! Idempotency-Key gets the one outcome).

use crate::error::EdgeError;
use crate::origin;
use bytes::Bytes;
use eventfront_domain::body::read_limited;
use eventfront_domain::headers::{TOKEN_REFUSED_HEADER, declared_length, is_json};
use eventfront_domain::respond::{self, Reply};
use spin_sdk::http::Request;
use std::time::Duration;

/// Request headers the origin needs; everything else stays at the edge.
const PASSED_ON: [http::HeaderName; 5] = [
    http::header::CONTENT_TYPE,
    http::header::AUTHORIZATION,
    http::header::ACCEPT,
    http::header::IF_NONE_MATCH,
    http::HeaderName::from_static("idempotency-key"),
];

/// What the organizer API also needs: an organizer's sign-in and its CSRF
/// token. Other routes never pass a cookie on (a site's other cookies are
/// not the origin's business, and its signature covers what is passed).
const PASSED_ON_TO_ORGANIZER_API: [http::HeaderName; 2] = [
    http::header::COOKIE,
    http::HeaderName::from_static(eventfront_domain::sign_in::CSRF_HEADER),
];

/// Response headers worth passing back to the client, and the origin's
/// word that a registration's token was refused, which the route acts on
/// and removes (`TOKEN_REFUSED_HEADER`).
const PASSED_BACK: [http::HeaderName; 7] = [
    http::header::CONTENT_TYPE,
    http::header::SET_COOKIE,
    http::header::RETRY_AFTER,
    http::header::ALLOW,
    http::header::WWW_AUTHENTICATE,
    http::header::ETAG,
    http::HeaderName::from_static(TOKEN_REFUSED_HEADER),
];

/// A request body read as it streams in, refused with 413 past `limit`
/// (or when `Content-Length` announces more).
pub async fn bounded<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, EdgeError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if declared_length(headers).is_some_and(|n| n > limit) {
        return Err(EdgeError::TooLarge(limit));
    }
    Ok(read_limited(body, limit).await?)
}

/// Forwards `request` with a body of at most `limit` bytes (methods that
/// carry none, GET, HEAD and DELETE, may send none), waiting for the
/// origin at most `timeout`; `client` is whom the origin counts it against.
pub async fn forward(
    request: Request,
    limit: usize,
    client: Option<&str>,
    timeout: Duration,
) -> Result<Reply, EdgeError> {
    let (parts, body) = request.into_parts();
    let sends_body = matches!(
        parts.method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    );
    let limit = if sends_body { limit } else { 0 };
    let body = bounded(&parts.headers, body, limit).await?;
    // A body must be JSON; a POST that needs none (a resend) may send none.
    if !body.is_empty() && !is_json(&parts.headers) {
        return Err(EdgeError::UnsupportedMediaType);
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let organizer = parts.uri.path().starts_with("/api/admin/");
    let headers: Vec<_> = PASSED_ON
        .iter()
        .chain(
            organizer
                .then_some(&PASSED_ON_TO_ORGANIZER_API)
                .into_iter()
                .flatten(),
        )
        .filter_map(|name| Some((name.clone(), parts.headers.get(name)?.clone())))
        .collect();
    let answer = origin::call(&parts.method, target, &headers, body, client, timeout)
        .await
        .map_err(|e| {
            // A write the origin may still act on is not told it failed.
            if e.maybe_received && sends_body {
                EdgeError::OriginSilent {
                    cause: e.why,
                    keyed: parts.headers.contains_key("idempotency-key"),
                }
            } else {
                EdgeError::OriginUnavailable(e.why)
            }
        })?;
    if answer.status.is_server_error() && answer.status != http::StatusCode::SERVICE_UNAVAILABLE {
        return Err(EdgeError::OriginUnavailable(format!(
            "origin answered {}",
            answer.status
        )));
    }
    let mut reply = respond::bytes(answer.status.as_u16(), "application/json", answer.body);
    for name in PASSED_BACK {
        if let Some(value) = answer.headers.get(&name) {
            reply.headers_mut().insert(name, value.clone());
        }
    }
    reply.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(reply)
}
