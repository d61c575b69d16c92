//! What `/_edge/status` and `/api/health` report: each event this edge
//! holds with its version and times, kept in KV under `meta/events` and
//! merged with this instance's memory where memory is newer or KV fails.

use super::head::Head;
use super::instance::instance;
use crate::kv;
use eventfront_domain::freshness::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const KEY: &str = "meta/events";

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Entry {
    pub version: u64,
    pub fetched_at_ms: Millis,
    pub checked_at_ms: Millis,
}

impl From<&Head> for Entry {
    fn from(head: &Head) -> Self {
        Self {
            version: head.version,
            fetched_at_ms: head.fetched_at_ms,
            checked_at_ms: head.checked_at_ms,
        }
    }
}

type Index = BTreeMap<String, Entry>;

/// Each event this edge holds: KV's index, and memory where it is newer.
pub async fn holdings() -> Index {
    let mut index: Index = kv::get_json(KEY).await.unwrap_or_default();
    for (slug, held) in instance().all_held() {
        let behind = index.get(&slug).is_none_or(|e| {
            (e.version, e.checked_at_ms) < (held.head.version, held.head.checked_at_ms)
        });
        if behind {
            index.insert(slug, Entry::from(&held.head));
        }
    }
    index
}

pub async fn update(slug: &str, head: &Head) {
    let mut index: Index = kv::get_json(KEY).await.unwrap_or_default();
    if index.get(slug).is_some_and(|e| e.version > head.version) {
        return;
    }
    index.insert(slug.to_string(), Entry::from(head));
    kv::set_json(KEY, &index).await;
}

pub async fn remove(slug: &str) {
    let mut index: Index = kv::get_json(KEY).await.unwrap_or_default();
    if index.remove(slug).is_some() {
        kv::set_json(KEY, &index).await;
    }
}
