//! The origin: Eventfront's source of truth. It owns every event, session,
//! speaker and registration in Spin's `default` SQLite database (or the
//! PostgreSQL database `database_url` names, see `db`) and answers
//! the edges. This file is the Spin glue; the work is in the modules.

mod accounts;
mod admin;
mod attempts;
mod audit;
mod auth;
mod batch_queue;
mod config;
mod db;
mod delivery;
mod demo;
mod draft;
mod erasure;
mod error;
mod group_commit;
mod idempotency;
mod instance;
mod organizer;
mod outbox;
mod publish;
mod registration;
mod request;
mod retention;
mod routes;
mod schema;
mod sealing;
mod seat_counts;
mod seats;
mod session_seats;
mod sign_ins;
mod sync;
mod tokens;
mod waiting_room;
mod webhooks;

use eventfront_domain::headers;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let writes = !matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    let loopback = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .is_none_or(headers::is_loopback_host);
    let mut answer = match routes::route(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    // No HTTPS pinned for a request to this machine (`spin up`), nor for
    // one that names no host.
    let hsts = (!loopback).then_some(config::get().await.hsts_max_age);
    headers::harden(answer.headers_mut(), hsts);
    // Messages a write put in the outbox go out after its answer; messages
    // waiting for a retry go out on later activity.
    if writes {
        delivery::start();
    } else {
        delivery::start_if_idle();
    }
    answer
}
