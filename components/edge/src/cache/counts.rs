//! An event's live seat counts at the edge (`eventfront_domain::seat_counts`),
//! kept apart from its snapshot (they change with every seat, the snapshot
//! with a publish) but in the same three tiers: this instance's memory
//! (rechecked against KV every `MEMORY_RECHECK`), KV (`seats/{slug}`), and
//! the origin. The origin pushes each change, at most once a second per
//! event; past the staleness window one read per edge revalidates in the
//! background under the snapshot's freshness rule and lease, so what an
//! edge serves lags the origin by at most its window even when a push was
//! lost. A read never waits for the origin while a copy exists, and
//! versions only go up.

use super::fetch::{self, Fetched};
use super::instance::{MEMORY_RECHECK, instance};
use super::{Failure, lease, now_ms, published};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::kv;
use eventfront_domain::freshness::{self, Decision, Millis};
use eventfront_domain::seat_counts::SeatCounts;
use eventfront_domain::waiting_room::Live;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::OnceLock;

/// The counts of one event as this edge holds them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub version: u64,
    /// When the origin last gave or confirmed this version.
    pub checked_at_ms: Millis,
    /// The document as served (small: a few hundred bytes a session).
    pub body: String,
    /// The event's waiting room, read from `body` once per copy: a
    /// waiting page asks often.
    #[serde(skip)]
    room: OnceLock<Option<Arc<Live>>>,
}

impl Counts {
    fn of(counts: &SeatCounts, now: Millis) -> Self {
        Self {
            version: counts.version,
            checked_at_ms: now,
            body: serde_json::to_string(counts).unwrap_or_default(),
            room: OnceLock::new(),
        }
    }

    /// The event's waiting room, if it has one.
    pub fn waiting_room(&self) -> Result<Option<Arc<Live>>, serde_json::Error> {
        if let Some(room) = self.room.get() {
            return Ok(room.clone());
        }
        let document: SeatCounts = serde_json::from_str(&self.body)?;
        let room = document.waiting_room.map(Arc::new);
        Ok(self.room.get_or_init(|| room).clone())
    }

    fn copy(&self) -> freshness::Copy {
        freshness::Copy {
            version: self.version,
            checked_at: self.checked_at_ms,
        }
    }
}

/// A cold fetch's shared outcome.
pub type ColdCounts = Result<Arc<Counts>, Failure>;

fn kv_key(slug: &str) -> String {
    format!("seats/{slug}")
}

/// Also the name of its revalidation lease, apart from the snapshot's.
fn lease_key(slug: &str) -> String {
    kv_key(slug)
}

/// `slug`'s counts from the nearest tier that has them, and whether the
/// origin could not confirm them lately.
pub async fn lookup(
    config: &Arc<EdgeConfig>,
    slug: &str,
) -> Result<(Arc<Counts>, bool), EdgeError> {
    let instance = instance();
    let held = match instance.counts(slug, MEMORY_RECHECK) {
        Some(counts) => Some(counts),
        // Memory is still served while KV fails.
        None => match stored(slug).await {
            Some(counts) => Some(instance.remember_counts(slug, counts)),
            None => instance.counts(slug, std::time::Duration::MAX),
        },
    };
    let now = now_ms();
    let key = lease_key(slug);
    let copy = held.as_ref().map(|c| c.copy());
    match (held, super::decide(config, &key, copy, now).await) {
        (Some(held), Decision::Serve { stale, revalidate }) => {
            if revalidate {
                lease::elect(&key, now, revalidate_counts(slug.to_string(), held.version));
            }
            Ok((held, stale))
        }
        _ => {
            let config = config.clone();
            let owned = slug.to_string();
            let held = instance
                .counts_cold
                .join(slug, move || cold(config, owned))
                .await?;
            Ok((held, false))
        }
    }
}

/// What KV holds of `slug`'s counts (nothing while it fails).
async fn stored(slug: &str) -> Option<Arc<Counts>> {
    kv::get_json::<Counts>(&kv_key(slug)).await.map(Arc::new)
}

/// No copy anywhere: the origin's, unless the published list says there
/// is no such event, or the last attempt failed and its backoff runs.
async fn cold(config: Arc<EdgeConfig>, slug: String) -> ColdCounts {
    if published::names(&config, &slug).await == Some(false) {
        return Err(Failure::Gone);
    }
    let key = lease_key(&slug);
    let now = now_ms();
    let unreachable = || {
        Failure::Unavailable(format!(
            "no seat counts of {slug} and the origin cannot be reached"
        ))
    };
    if lease::current(&key, now)
        .await
        .is_some_and(|l| l.active(now) && l.failed)
    {
        return Err(unreachable());
    }
    lease::announce(&key, now).await;
    let (result, answered) = match fetch::seat_counts(&slug, None).await {
        Fetched::Fresh(counts) => (Ok(keep(&slug, Counts::of(&counts, now_ms())).await), true),
        Fetched::Gone => (Err(Failure::Gone), true),
        Fetched::NotModified | Fetched::Unavailable(_) => (Err(unreachable()), false),
    };
    lease::release(&key, answered).await;
    result
}

/// Background work of the read elected past the window: whether the
/// origin answered.
async fn revalidate_counts(slug: String, version: u64) -> bool {
    match fetch::seat_counts(&slug, Some(version)).await {
        Fetched::NotModified => {
            confirm(&slug, version).await;
            true
        }
        Fetched::Fresh(counts) => {
            keep(&slug, Counts::of(&counts, now_ms())).await;
            true
        }
        Fetched::Gone => {
            forget(&slug).await;
            true
        }
        Fetched::Unavailable(why) => {
            eprintln!("edge: serving the seat counts of {slug} v{version} stale: {why}");
            false
        }
    }
}

/// Keeps `counts` unless a newer version is held; returns what is held.
async fn keep(slug: &str, counts: Counts) -> Arc<Counts> {
    let instance = instance();
    let standing = match stored(slug).await {
        Some(held) if held.version > counts.version => held,
        _ => {
            let counts = Arc::new(counts);
            kv::set_json(&kv_key(slug), &*counts).await;
            counts
        }
    };
    instance.remember_counts(slug, standing)
}

/// The origin confirmed `version` as current: it is fresh again, unless
/// a newer one arrived meanwhile.
async fn confirm(slug: &str, version: u64) {
    let held = match stored(slug).await {
        Some(held) => Some(held),
        None => instance().counts(slug, std::time::Duration::MAX),
    };
    if let Some(held) = held.filter(|h| h.version == version) {
        let renewed = Counts {
            checked_at_ms: now_ms(),
            ..(*held).clone()
        };
        keep(slug, renewed).await;
    }
}

/// `counts`, pushed by the origin, kept unless a newer version is held;
/// returns the version held now.
pub async fn apply_push(counts: &SeatCounts) -> u64 {
    let slug = counts.event.as_str();
    keep(slug, Counts::of(counts, now_ms())).await.version
}

/// The event is no longer published: its counts go too.
pub async fn forget(slug: &str) {
    instance().forget_counts(slug);
    kv::delete(&kv_key(slug)).await;
}
