//! The edge's key-value store, opened once per instance. KV is a cache: a
//! failing store counts as a miss and a failed write is dropped, so reads go
//! on from memory and the origin. Each instance logs once when an outage
//! starts and once when it ends. A value larger than the store takes
//! (`kv_value_limit`, 1 MiB by default, as on Akamai's EdgeKV) is kept in
//! pieces under `{key}#{i}`, its key holding only how many there are; a
//! read puts them back together, and deleting by prefix takes them along.

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

/// What a pieced value's own key holds, before the count of its pieces.
/// No stored document or JSON value starts with a NUL.
const PIECES: &[u8] = b"\0eventfront-pieces:";

/// How many pieces `stored` says its value is in, if it is a piece count.
fn piece_count(stored: &[u8]) -> Option<usize> {
    std::str::from_utf8(stored.strip_prefix(PIECES)?)
        .ok()?
        .parse()
        .ok()
}

fn piece_key(key: &str, index: usize) -> String {
    format!("{key}#{index}")
}

/// The value under `key` as the store holds it, pieces not followed.
async fn get_stored(key: &str) -> Option<Vec<u8>> {
    let kv = answered(store().await)?;
    answered(kv.get(key).await.map_err(error)).flatten()
}

/// The value under `key`, or `None` when there is none (or a piece of it is
/// missing) or the store fails.
pub async fn get(key: &str) -> Option<Vec<u8>> {
    let stored = get_stored(key).await?;
    let Some(count) = piece_count(&stored) else {
        return Some(stored);
    };
    let mut value = Vec::new();
    for index in 0..count {
        value.extend(Box::pin(get(&piece_key(key, index))).await?);
    }
    Some(value)
}

/// Whether the whole value under `key`, stored as `set_piece` stores it
/// in `pieces` pieces (one: whole), is there, without reading any of it.
pub async fn holds(key: &str, pieces: usize) -> bool {
    let Some(kv) = answered(store().await) else {
        return false;
    };
    let exists = async |key: &str| answered(kv.exists(key).await.map_err(error)) == Some(true);
    if !exists(key).await {
        return false;
    }
    if pieces > 1 {
        for index in 0..pieces {
            if !exists(&piece_key(key, index)).await {
                return false;
            }
        }
    }
    true
}

/// Stores piece `index` of the `count` that `key`'s value comes in (as
/// someone else cut it), and the count under `key`; `false` when the store
/// could not take them.
pub async fn set_piece(key: &str, index: usize, count: usize, piece: &[u8]) -> bool {
    let count_stored = [PIECES, count.to_string().as_bytes()].concat();
    Box::pin(set(&piece_key(key, index), piece)).await && set_stored(key, &count_stored).await
}

/// The JSON value under `key`, or `None` when absent, unreadable or the
/// store fails.
pub async fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    get(key)
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Stores `value`, in pieces when it is larger than the store takes (the
/// pieces first, so a reader never follows a count to missing pieces);
/// `false` when the store could not take it.
pub async fn set(key: &str, value: &[u8]) -> bool {
    // A limit that cannot be read writes nothing: the store is a cache, and
    // the log names the variable.
    let Some(limit) = answered(crate::config::kv_value_limit().await) else {
        return false;
    };
    if value.len() <= limit {
        return set_stored(key, value).await;
    }
    let pieces: Vec<&[u8]> = value.chunks(limit).collect();
    for (index, piece) in pieces.iter().enumerate() {
        if !set_stored(&piece_key(key, index), piece).await {
            return false;
        }
    }
    set_stored(key, &[PIECES, pieces.len().to_string().as_bytes()].concat()).await
}

async fn set_stored(key: &str, value: &[u8]) -> bool {
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

/// Deletes what `key` holds (a pieced value's pieces go with its prefix).
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
