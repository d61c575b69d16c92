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

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let shared = cors::shared(request.method(), request.uri().path());
    if shared && request.method() == http::Method::OPTIONS {
        let mut preflight = cors::preflight();
        cors::allow(&mut preflight);
        return preflight;
    }
    let mut response = match routes::route(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if shared {
        cors::allow(&mut response);
    }
    response
}
