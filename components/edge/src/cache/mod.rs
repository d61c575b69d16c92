//! The edge's three tiers for one event's published snapshot: this
//! instance's memory (rechecked against KV every `MEMORY_RECHECK`), Spin's
//! key-value store (shared by the edge's instances), and the origin. The
//! freshness rule itself is `eventfront_domain::freshness`; this module
//! turns its answers into memory, KV and origin calls. A read never waits
//! for the origin while a copy exists: past the staleness window one read
//! per edge is elected to revalidate in the background. Versions only go
//! up, in memory and in KV. KV is a cache: while it fails, reads go on
//! from memory and the origin.

pub mod counts;
mod fetch;
mod flights;
mod head;
mod held;
mod index;
pub mod instance;
mod lease;
pub mod published;

pub use held::{Held, Rendered, gzipped};
pub use index::holdings;
pub use instance::MEMORY_RECHECK;

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::kv;
use bytes::Bytes;
use eventfront_domain::freshness::{self, Decision, Millis};
use eventfront_domain::push::Part;
use eventfront_domain::snapshot::{Doc, Snapshot};
use fetch::Fetched;
use head::Head;
use instance::instance;
use std::collections::HashMap;
use std::sync::Arc;

/// Why the origin could not give the edge what it needed.
#[derive(Debug, Clone)]
pub enum Failure {
    Gone,
    Unavailable(String),
}

impl From<Failure> for EdgeError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Gone => EdgeError::NotFound,
            Failure::Unavailable(why) => EdgeError::OriginUnavailable(why),
        }
    }
}

/// A cold read's shared outcome.
pub type Cold = Result<Arc<Held>, Failure>;
/// A refill's shared outcome: every document of the version.
pub type Refill = Result<Arc<HashMap<String, Bytes>>, Failure>;

/// A copy to serve, and whether the origin could not confirm it lately.
pub struct Lookup {
    pub held: Arc<Held>,
    pub stale: bool,
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, freshness::millis)
}

/// The event's snapshot from the nearest tier that has it.
pub async fn lookup(config: &Arc<EdgeConfig>, slug: &str) -> Result<Lookup, EdgeError> {
    let instance = instance();
    let held = match instance.held(slug) {
        Some(h) if h.loaded.elapsed() < MEMORY_RECHECK => Some(h),
        in_memory => refresh_from_kv(slug, in_memory).await,
    };
    let now = now_ms();
    let copy = held.as_ref().map(|h| h.head.copy());
    match (held, decide(config, slug, copy, now).await) {
        (Some(held), Decision::Serve { stale, revalidate }) => {
            if revalidate {
                let work = revalidate_copy(slug.to_string(), held.head.clone());
                lease::elect(slug, now, work);
            }
            Ok(Lookup { held, stale })
        }
        _ => {
            let config = config.clone();
            let owned = slug.to_string();
            let held = instance
                .cold
                .join(slug, move || cold(config, owned))
                .await?;
            Ok(Lookup { held, stale: false })
        }
    }
}

/// The freshness rule for `copy` (if any is held) at `now`; the lease
/// named `key` is read only once the copy is past its window.
async fn decide(
    config: &EdgeConfig,
    key: &str,
    copy: Option<freshness::Copy>,
    now: Millis,
) -> Decision {
    let lease = match &copy {
        Some(c) if !freshness::within_window(c, now, config.staleness) => {
            lease::current(key, now).await
        }
        _ => None,
    };
    freshness::decide(copy.as_ref(), lease.as_ref(), now, config.staleness)
}

/// KV's head merged with memory's copy; memory wins when newer, and is
/// trusted for another recheck interval when KV has nothing or fails.
async fn refresh_from_kv(slug: &str, in_memory: Option<Arc<Held>>) -> Option<Arc<Held>> {
    let instance = instance();
    let held = match (head::read(slug).await, in_memory) {
        (None, None) => return None,
        (None, Some(h)) => h.renewed(h.head.clone()),
        (Some(head), Some(h)) if h.head.version > head.version => h.renewed(h.head.clone()),
        (Some(head), Some(h)) if h.head.version == head.version => h.renewed(Head {
            checked_at_ms: head.checked_at_ms.max(h.head.checked_at_ms),
            ..h.head.clone()
        }),
        (Some(head), _) => Held::from_head(slug, head),
    };
    Some(instance.remember(slug, Arc::new(held)))
}

/// No copy anywhere: the origin's snapshot, unless the published list says
/// there is no such event (then the origin is not asked at all). One
/// instance fetches while the others wait for its head to appear in KV;
/// after a failure everyone is answered at once until the backoff ends.
async fn cold(config: Arc<EdgeConfig>, slug: String) -> Cold {
    if published::names(&config, &slug).await == Some(false) {
        return Err(Failure::Gone);
    }
    let unreachable = || {
        Failure::Unavailable(format!(
            "no copy of {slug} and the origin cannot be reached"
        ))
    };
    let now = now_ms();
    match lease::current(&slug, now).await {
        Some(lease) if lease.active(now) && lease.failed => return Err(unreachable()),
        Some(lease) if lease.active(now) => match fetched_elsewhere(&slug).await {
            Elsewhere::Stored(held) => return Ok(held),
            Elsewhere::Failed => return Err(unreachable()),
            Elsewhere::Ended => {}
        },
        _ => {}
    }
    lease::announce(&slug, now).await;
    let (result, answered) = match fetch::snapshot(&slug, None).await {
        Fetched::Fresh(snapshot) => (Ok(store_snapshot(&snapshot).await), true),
        Fetched::Gone => (Err(Failure::Gone), true),
        Fetched::NotModified | Fetched::Unavailable(_) => (Err(unreachable()), false),
    };
    lease::release(&slug, answered).await;
    result
}

/// How often a cold read waiting for another instance's fetch looks in KV.
const COLD_POLL: std::time::Duration = std::time::Duration::from_millis(20);

enum Elsewhere {
    Stored(Arc<Held>),
    Failed,
    /// The lease ended with nothing stored (KV lost it, or the fetcher
    /// died): this read fetches itself.
    Ended,
}

/// Waits for another instance's cold fetch: until its head is in KV, or its
/// lease says it failed or is gone.
async fn fetched_elsewhere(slug: &str) -> Elsewhere {
    loop {
        spin_sdk::time::sleep(COLD_POLL).await;
        if let Some(head) = head::read(slug).await {
            let held = Arc::new(Held::from_head(slug, head));
            return Elsewhere::Stored(instance().remember(slug, held));
        }
        let now = now_ms();
        match lease::stored(slug).await {
            Some(lease) if lease.active(now) && lease.failed => return Elsewhere::Failed,
            Some(lease) if lease.active(now) => {}
            _ => return Elsewhere::Ended,
        }
    }
}

/// Background work of the read elected past the window: asks the origin
/// whether `held` is still current. Returns whether the origin answered.
async fn revalidate_copy(slug: String, held: Head) -> bool {
    let instance = instance();
    match fetch::snapshot(&slug, Some(held.version)).await {
        Fetched::NotModified => {
            let standing = head::confirm(&slug, &held, now_ms()).await;
            let renewed = match instance.held(&slug) {
                Some(h) if h.head.version == standing.version => h.renewed(standing),
                _ => Held::from_head(&slug, standing),
            };
            instance.remember(&slug, Arc::new(renewed));
            true
        }
        Fetched::Fresh(snapshot) => {
            store_snapshot(&snapshot).await;
            true
        }
        Fetched::Gone => {
            withdraw(&slug).await;
            true
        }
        Fetched::Unavailable(why) => {
            eprintln!("edge: serving {slug} v{} stale: {why}", held.version);
            false
        }
    }
}

/// The origin archived `slug` at `version`: unless a newer version is
/// held (published after the archive, its notice overtaking this one), it
/// leaves this instance's memory, the published list and KV, documents
/// included; other instances drop their memory copy at their next
/// revalidation. Returns whether it was withdrawn.
pub async fn withdraw_archived(slug: &str, version: u64) -> bool {
    if held_version(slug).await.is_some_and(|h| h > version) {
        return false;
    }
    withdraw(slug).await;
    true
}

/// The origin no longer publishes `slug`.
async fn withdraw(slug: &str) {
    eprintln!("edge: {slug} is no longer published");
    instance().forget(slug);
    head::remove(slug).await;
    published::remove(slug).await;
    counts::forget(slug).await;
    spin_sdk::wasip3::spawn(remove_documents(slug.to_string(), |_| true));
}

/// The version this edge holds of `slug`, in memory or KV, if any.
async fn held_version(slug: &str) -> Option<u64> {
    let in_memory = instance().held(slug).map(|h| h.head.version);
    head::read(slug).await.map(|h| h.version).max(in_memory)
}

/// Fetches version `version` (or newer) unless something at least as new
/// is held; used when the origin announces a publish without its documents.
pub async fn ensure_version(slug: &str, version: u64) -> Result<u64, EdgeError> {
    let held = held_version(slug).await;
    if held.is_some_and(|h| h >= version) {
        return Ok(held.unwrap_or(version));
    }
    let result = match fetch::snapshot(slug, held).await {
        Fetched::Fresh(s) => Ok(store_snapshot(&s).await.head.version),
        Fetched::NotModified => Ok(held.unwrap_or(0)),
        Fetched::Gone => Err(EdgeError::NotFound),
        Fetched::Unavailable(why) => Err(EdgeError::OriginUnavailable(why)),
    };
    if result.is_ok() {
        published::add(slug).await;
    }
    result
}

/// What a pushed part of a version did.
pub enum Pushed {
    /// The version is held now (or a newer one was already): the version held.
    Held(u64),
    /// Its pieces are stored; this many documents of the version are still
    /// missing a piece that another part brings.
    Awaiting(usize),
}

/// Applies one part of `version` of `slug` that the origin pushed, with no
/// request back to it: a whole version is kept like a fetched one; a part
/// of a larger one is stored in KV, and whichever part completes the
/// version (every document of its manifest whole in KV) writes its head.
/// A part of a version no newer than the one held changes nothing.
pub async fn apply_push(slug: &str, version: u64, part: &Part) -> Result<Pushed, EdgeError> {
    if let Some(held) = held_version(slug).await.filter(|h| *h >= version) {
        return Ok(Pushed::Held(held));
    }
    let now = now_ms();
    let head = Head {
        version,
        fetched_at_ms: now,
        checked_at_ms: now,
        etags: part.etags(),
    };
    if part.is_whole() {
        // The gzipped forms are made when first read (`Held::body`): a
        // write to KV fewer per document before the version is served.
        let docs = part
            .pieces
            .iter()
            .map(|p| (p.doc.clone(), Bytes::from(p.text.clone())))
            .collect();
        let held = store_version(slug, head, docs).await;
        published::add(slug).await;
        return Ok(Pushed::Held(held.head.version));
    }
    for piece in &part.pieces {
        let key = doc_key(slug, version, &piece.doc);
        let count = part.manifest[&piece.doc].pieces as usize;
        let text = piece.text.as_bytes();
        let stored = if count == 1 {
            kv::set(&key, text).await
        } else {
            kv::set_piece(&key, piece.index as usize, count, text).await
        };
        if !stored {
            return Err(EdgeError::Store(format!(
                "a pushed piece of {slug} v{version} could not be stored"
            )));
        }
    }
    let mut awaiting = 0;
    for (name, entry) in &part.manifest {
        if !kv::holds(&doc_key(slug, version, name), entry.pieces as usize).await {
            awaiting += 1;
        }
    }
    if awaiting > 0 {
        return Ok(Pushed::Awaiting(awaiting));
    }
    let standing = head::write(slug, head).await;
    if standing.version == version {
        spin_sdk::wasip3::spawn(remove_old_versions(slug.to_string(), version));
    }
    instance().remember(slug, Arc::new(Held::from_head(slug, standing.clone())));
    published::add(slug).await;
    Ok(Pushed::Held(standing.version))
}

/// Where KV keeps document `name` (or its `.gz` form) of `version`.
fn doc_key(slug: &str, version: u64, name: &str) -> String {
    format!("doc/{slug}/{version}/{name}")
}

/// Keeps a snapshot from the origin in memory, and in KV when the store
/// takes it. Returns what is now held.
async fn store_snapshot(snapshot: &Snapshot) -> Arc<Held> {
    let docs = snapshot_docs(snapshot);
    store_version(snapshot.slug.as_str(), Head::of(snapshot, now_ms()), docs).await
}

/// Keeps version `head` of `slug`, all of whose documents are `docs`:
/// documents first, then the head that points at them, so a reader never
/// finds a head without its documents; never over a newer head. Returns
/// what is now held.
async fn store_version(slug: &str, head: Head, docs: HashMap<String, Bytes>) -> Arc<Held> {
    let mut stored = true;
    for (key, body) in &docs {
        stored = stored && kv::set(&doc_key(slug, head.version, key), body).await;
    }
    let standing = if stored {
        head::write(slug, head.clone()).await
    } else {
        head.clone()
    };
    if stored && standing.version == head.version {
        spin_sdk::wasip3::spawn(remove_old_versions(slug.to_string(), head.version));
    }
    let held = if standing.version == head.version {
        Held::with_docs(slug, standing, docs)
    } else {
        Held::from_head(slug, standing)
    };
    instance().remember(slug, Arc::new(held))
}

/// Deletes the documents of versions no reader can still want: older than
/// the one before `current` (a fresh instance that read the previous head a
/// moment ago may still fetch its documents). Runs after the response.
async fn remove_old_versions(slug: String, current: u64) {
    remove_documents(slug, |v| v + 1 < current).await;
}

/// Deletes the stored documents of `slug`'s versions that `doomed` names.
async fn remove_documents(slug: String, doomed: impl Fn(u64) -> bool) {
    let prefix = format!("doc/{slug}/");
    for key in kv::keys_with_prefix(&prefix).await {
        let version = key[prefix.len()..]
            .split_once('/')
            .and_then(|(v, _)| v.parse::<u64>().ok());
        if version.is_some_and(&doomed) {
            kv::delete(&key).await;
        }
    }
}

/// Every document of `snapshot`, as stored and gzipped.
fn snapshot_docs(snapshot: &Snapshot) -> HashMap<String, Bytes> {
    snapshot
        .docs
        .iter()
        .flat_map(|(name, Doc { body, .. })| {
            let body = Bytes::from(body.clone());
            [(gzipped(name), gzip(&body)), (name.clone(), body)]
        })
        .collect()
}

/// Below this, gzip saves less than its own header and a round of work.
pub const COMPRESS_FROM: usize = 1024;

/// The gzipped representation is a different one, with its own tag.
pub fn gzipped_tag(tag: &str) -> String {
    format!("{}-gz\"", tag.trim_end_matches('"'))
}

pub fn gzip(body: &[u8]) -> Bytes {
    Bytes::from(eventfront_domain::push::gzip(body))
}
