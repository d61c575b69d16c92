//! The edge: serves attendees from the point of presence nearest them, out
//! of Spin key-value storage, and forwards writes to the origin. This file
//! is the Spin glue; the work is in the modules.

mod config;
mod error;
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
