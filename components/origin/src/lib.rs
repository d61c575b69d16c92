//! The origin: Eventfront's source of truth. It owns every event, session,
//! speaker and registration in Spin's `default` SQLite database and answers
//! the edges. This file is the Spin glue; the work is in the modules.

mod admin;
mod audit;
mod auth;
mod db;
mod demo;
mod draft;
mod error;
mod group_commit;
mod outbox;
mod publish;
mod registration;
mod request;
mod routes;
mod schema;
mod seats;
mod sync;

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    match routes::route(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
