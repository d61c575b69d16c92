//! An in-process host that runs Spin 4.1 applications the way `spin up`
//! does (manifest, routes, variables, key-value, SQLite, outbound HTTP,
//! service chaining, instance reuse), so that tests exercise the real
//! `.wasm` components without the Spin CLI.

mod app;
mod bindings;
mod engine;
mod kv;
pub mod manifest;
pub mod outbound;
mod pool;
pub mod proxy;
mod routing;
pub mod runtime_config;
mod server;
mod sqlite;
mod state;
pub mod variables;

pub use app::{App, AppOptions};
pub use outbound::LinkFault;
pub use pool::ReuseLimits;
pub use server::Server;
