//! The edge's key-value store, opened once per instance. KV is a cache: a
//! failing store counts as a miss and a failed write is dropped, so reads go
//! on from memory and the origin. Each instance logs once when an outage
//! starts and once when it ends.

use crate::error::EdgeError;
use spin_sdk::key_value::Store;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

thread_local! {
    static STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
    static FAILING: Cell<bool> = const { Cell::new(false) };
}

/// The default store, opened once per instance and reused: opening it
/// costs more than a get.
async fn store() -> Result<Rc<Store>, EdgeError> {
    if let Some(store) = STORE.with_borrow(Clone::clone) {
        return Ok(store);
    }
    let opened = Rc::new(Store::open_default().await.map_err(error)?);
    Ok(STORE.with_borrow_mut(|slot| slot.get_or_insert(opened).clone()))
}

fn error(e: impl std::fmt::Debug) -> EdgeError {
    EdgeError::Store(format!("{e:?}"))
}

/// `Some` when the store answered; logs the edges of an outage.
fn answered<T>(result: Result<T, EdgeError>) -> Option<T> {
    match result {
        Ok(value) => {
            if FAILING.replace(false) {
                eprintln!("edge: key-value store answers again");
            }
            Some(value)
        }
        Err(e) => {
            if !FAILING.replace(true) {
                eprintln!("edge: {e}; serving from memory and the origin");
            }
            None
        }
    }
}

/// Whether the last call to the store failed.
pub fn failing() -> bool {
    FAILING.get()
}

/// The value under `key`, or `None` when there is none or the store fails.
pub async fn get(key: &str) -> Option<Vec<u8>> {
    let kv = answered(store().await)?;
    answered(kv.get(key).await.map_err(error)).flatten()
}

/// The JSON value under `key`, or `None` when absent, unreadable or the
/// store fails.
pub async fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    get(key)
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Stores `value`; `false` when the store could not take it.
pub async fn set(key: &str, value: &[u8]) -> bool {
    let Some(kv) = answered(store().await) else {
        return false;
    };
    answered(kv.set(key, value).await.map_err(error)).is_some()
}

pub async fn set_json(key: &str, value: &impl serde::Serialize) -> bool {
    match serde_json::to_vec(value) {
        Ok(bytes) => set(key, &bytes).await,
        Err(_) => false,
    }
}

pub async fn delete(key: &str) {
    if let Some(kv) = answered(store().await) {
        answered(kv.delete(key).await.map_err(error));
    }
}

/// Every key that starts with `prefix`, read as a stream so the whole key
/// set is never held; empty when the store fails.
pub async fn keys_with_prefix(prefix: &str) -> Vec<String> {
    let Some(kv) = answered(store().await) else {
        return Vec::new();
    };
    let mut keys = kv.get_keys().await;
    let mut found = Vec::new();
    while let Some(key) = keys.next().await {
        if key.starts_with(prefix) {
            found.push(key);
        }
    }
    answered(keys.result().await.map_err(error));
    found
}
