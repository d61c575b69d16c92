//! Shared set-up for Eventfront's component and end-to-end tests: where the
//! built components and the manifest are, and apps started from them.

use bytes::Bytes;
use spin_test_host::{App, AppOptions};
use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The development manifest, checked for the components it names.
pub fn dev_manifest() -> PathBuf {
    let manifest = workspace_root().join("spin.toml");
    for component in ["edge", "origin"] {
        let wasm = workspace_root().join(format!("target/wasm32-wasip2/wasm/{component}.wasm"));
        assert!(
            wasm.exists(),
            "{} is missing: run ./scripts/test, which builds the components first",
            wasm.display()
        );
    }
    manifest
}

/// The development app with its own temporary state.
pub async fn dev_app(options: impl FnOnce(AppOptions) -> AppOptions) -> App {
    App::start(options(AppOptions::new(dev_manifest())))
        .await
        .expect("the development app starts")
}

pub fn json(response: &http::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(response.body())
        )
    })
}
