//! The head of an event in KV (`head/{slug}`): which version the edge holds,
//! when it came and when the origin last confirmed it. Every write re-reads
//! the head first and never puts a lower version over a higher one; a 304
//! refreshes the time only of the version it confirmed.

use super::index;
use crate::kv;
use eventfront_domain::freshness::{self, Copy, Millis};
use eventfront_domain::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub version: u64,
    /// When this version came from the origin (ms since the epoch).
    pub fetched_at_ms: Millis,
    /// When the origin last confirmed it is current (ms since the epoch).
    pub checked_at_ms: Millis,
    pub etags: BTreeMap<String, String>,
}

impl Head {
    pub fn of(snapshot: &Snapshot, now: Millis) -> Self {
        Self {
            version: snapshot.version,
            fetched_at_ms: now,
            checked_at_ms: now,
            etags: snapshot
                .docs
                .iter()
                .map(|(name, doc)| (name.clone(), doc.etag.clone()))
                .collect(),
        }
    }

    /// What the freshness rule needs of it.
    pub fn copy(&self) -> Copy {
        Copy {
            version: self.version,
            checked_at: self.checked_at_ms,
        }
    }
}

fn key(slug: &str) -> String {
    format!("head/{slug}")
}

pub async fn read(slug: &str) -> Option<Head> {
    kv::get_json(&key(slug)).await
}

/// Writes `head` unless KV holds a newer version, and returns the head that
/// stands. The same version keeps the later confirmation time.
pub async fn write(slug: &str, head: Head) -> Head {
    let current = read(slug).await;
    let standing = match current {
        Some(current) if !freshness::may_replace(Some(&current.copy()), head.version) => {
            return current;
        }
        Some(current) if current.version == head.version => Head {
            checked_at_ms: head.checked_at_ms.max(current.checked_at_ms),
            ..head
        },
        _ => head,
    };
    if kv::set_json(&key(slug), &standing).await {
        index::update(slug, &standing).await;
    }
    standing
}

/// The origin answered 304 for `held`: the head is confirmed at `now` if
/// it still names that version. Returns the head that stands.
pub async fn confirm(slug: &str, held: &Head, now: Millis) -> Head {
    let current = read(slug).await;
    if !freshness::confirms(current.as_ref().map(Head::copy).as_ref(), held.version) {
        return current.unwrap_or_else(|| held.clone());
    }
    let confirmed = Head {
        checked_at_ms: now,
        ..current.unwrap_or_else(|| held.clone())
    };
    if kv::set_json(&key(slug), &confirmed).await {
        index::update(slug, &confirmed).await;
    }
    confirmed
}

/// The origin no longer publishes the event.
pub async fn remove(slug: &str) {
    kv::delete(&key(slug)).await;
    index::remove(slug).await;
}
