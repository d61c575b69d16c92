//! Eventfront's domain: identifiers and parsed inputs (slugs, emails,
//! idempotency keys), the signatures edge and origin trust each other
//! by, the edge's freshness rule, per-client limits and the registration rule. Plain Rust with no spin-sdk, so all of it is tested natively.

pub mod access;
pub mod arrival_reports;
pub mod body;
pub mod client_limit;
pub mod conditional;
pub mod demo;
pub mod feed;
pub mod filter;
pub mod frab;
pub mod freshness;
pub mod headers;
pub mod ics;
pub mod ids;
pub mod lifecycle;
pub mod mail;
pub mod messages;
pub mod model;
pub mod problem;
pub mod push;
pub mod replay;
pub mod respond;
pub mod retention;
pub mod routes;
pub mod sealed;
pub mod seat_counts;
pub mod seats;
pub mod session_seats;
pub mod settings;
pub mod sign_in;
pub mod signing;
pub mod snapshot;
pub mod started;
pub mod validate;
pub mod waiting_room;
pub mod webhook;

pub use ids::{Email, IdempotencyKey, Slug};
pub use problem::{FieldError, Problem};
