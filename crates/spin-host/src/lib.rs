//! An in-process host that runs Spin 4.1 applications the way `spin up`
//! does (manifest, routes, variables, key-value, SQLite, Postgres, outbound
//! HTTP, service chaining, instance reuse), so that tests exercise the real
//! `.wasm` components without the Spin CLI.

mod app;
mod bindings;
pub mod clock;
mod engine;
mod kv;
pub mod manifest;
pub mod outbound;
mod pool;
mod postgres;
pub mod proxy;
mod routing;
pub mod runtime_config;
mod server;
mod sqlite;
mod state;
pub mod variables;

pub use app::{App, AppOptions};
pub use kv::KvCounts;
pub use outbound::LinkFault;
pub use pool::ReuseLimits;
pub use server::Server;
/// The error type of request bodies handed to `App::handle`.
pub use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
