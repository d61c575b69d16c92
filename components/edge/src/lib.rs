//! The edge: serves attendees from the point of presence nearest them, out
//! of Spin key-value storage with a per-instance memory tier in front, and
//! forwards writes to the origin, signed. This file is the Spin glue; the
//! work is in the modules.

mod assets;
mod cache;
mod config;
mod cors;
mod error;
mod forward;
mod items;
mod kv;
mod limiter;
mod notice;
mod origin;
mod reads;
mod routes;
mod waiting_room;

use eventfront_domain::headers;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let shared = cors::shared(request.method(), request.uri().path());
    let hsts = hsts_for(&request).await;
    if shared && request.method() == http::Method::OPTIONS {
        let mut preflight = cors::preflight();
        cors::allow(&mut preflight);
        headers::harden(preflight.headers_mut(), hsts);
        return preflight;
    }
    let mut response = match routes::route(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if shared {
        cors::allow(&mut response);
    }
    headers::harden(response.headers_mut(), hsts);
    response
}

/// The `Strict-Transport-Security` max-age for the answer to `request`:
/// the configured one, but none for a request to this machine (`spin up`
/// on a laptop) or while the configuration cannot be read.
async fn hsts_for(request: &Request) -> Option<u64> {
    let host = request.uri().authority().map(|a| a.as_str()).or_else(|| {
        request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
    })?;
    if headers::is_loopback_host(host) {
        return None;
    }
    Some(config::EdgeConfig::get().await.ok()?.hsts_max_age)
}
