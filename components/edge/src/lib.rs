//! The edge: serves attendees from the point of presence nearest them, out
//! of Spin key-value storage with a per-instance memory tier in front, and
//! forwards writes to the origin, signed. This file is the Spin glue; the
//! work is in the modules.

mod assets;
mod cache;
mod config;
mod error;
mod forward;
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
    match routes::route(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
