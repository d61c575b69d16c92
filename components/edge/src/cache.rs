//! The edge's three tiers for one event's published snapshot: this
//! instance's memory (rechecked against KV every `MEMORY_RECHECK`), Spin's
//! key-value store (shared by the edge's instances, rechecked against the
//! origin once older than the staleness window), and the origin itself.
//! Versions only go up: nothing replaces a copy with an older one. KV is
//! a cache: while it fails, reads go on from memory and the origin.

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::snapshot::{Doc, Snapshot};
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long this instance trusts its memory before asking KV whether a
/// newer version arrived (another instance may have stored it).
pub const MEMORY_RECHECK: Duration = Duration::from_millis(50);

/// How long reads are served stale, without asking, after the origin
/// failed to answer a revalidation.
const REVALIDATE_BACKOFF: Duration = Duration::from_secs(1);

/// What the edge holds of one event, as kept in KV under `head/{slug}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub version: u64,
    /// Unix seconds when this version came from the origin.
    pub fetched_at: i64,
    /// Unix seconds when the origin last confirmed it is current.
    pub checked_at: i64,
    pub etags: BTreeMap<String, String>,
}

/// One event's snapshot in memory. Documents are read from KV the first
/// time this instance needs them (one get), then kept: as stored, and
/// gzipped under `{name}.gz`.
pub struct Held {
    pub head: Head,
    slug: String,
    docs: Arc<Mutex<HashMap<String, Bytes>>>,
    /// Documents parsed once, for reads that cut pieces out of them.
    parsed: Arc<Mutex<HashMap<String, Arc<serde_json::Value>>>>,
    loaded: Instant,
}

/// The key of a document's gzipped form.
pub fn gzipped(name: &str) -> String {
    format!("{name}.gz")
}

impl Held {
    fn from_head(slug: &str, head: Head) -> Self {
        Self {
            head,
            slug: slug.to_string(),
            docs: Default::default(),
            parsed: Default::default(),
            loaded: Instant::now(),
        }
    }

    /// The same documents under a refreshed head.
    fn renewed(&self, head: Head) -> Self {
        Self {
            head,
            slug: self.slug.clone(),
            docs: self.docs.clone(),
            parsed: self.parsed.clone(),
            loaded: Instant::now(),
        }
    }

    pub fn etag(&self, name: &str) -> Option<&str> {
        self.head
            .etags
            .get(name.trim_end_matches(".gz"))
            .map(String::as_str)
    }

    /// A document (or its `.gz` form), from memory, else from KV, else
    /// from the origin.
    pub async fn body(&self, key: &str) -> Result<Bytes, EdgeError> {
        if let Some(body) = self.in_memory(key) {
            return Ok(body);
        }
        let stored = kv_get(&format!("doc/{}/{}/{key}", self.slug, self.head.version)).await;
        let Some(stored) = stored else {
            return self.refill(key).await;
        };
        let body = Bytes::from(stored);
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), body.clone());
        Ok(body)
    }

    fn in_memory(&self, key: &str) -> Option<Bytes> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// KV lost the document (a Redis evicting under `maxmemory`) or fails:
    /// the origin's snapshot fills memory while it is still this version.
    /// One fetch per event at a time: concurrent reads wait and find it.
    async fn refill(&self, key: &str) -> Result<Bytes, EdgeError> {
        let gate = fetch_gate(&self.slug);
        let _turn = gate.lock().await;
        if let Some(body) = self.in_memory(key) {
            return Ok(body);
        }
        let config = EdgeConfig::get().await?;
        let why = match fetch(&config, &self.slug, None).await {
            Fetched::Snapshot(snapshot) if snapshot.version == self.head.version => {
                let docs = snapshot_docs(&snapshot);
                let body = docs.get(key).cloned();
                self.docs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(docs);
                return body.ok_or(EdgeError::NotFound);
            }
            Fetched::Snapshot(newer) => {
                // The next read serves the newer version whole.
                store_snapshot(&newer).await;
                format!("{} moved on from v{}", self.slug, self.head.version)
            }
            Fetched::Gone => return Err(EdgeError::NotFound),
            Fetched::NotModified => "the origin answered 304 unasked".to_string(),
            Fetched::Unavailable(why) => why,
        };
        Err(EdgeError::OriginUnavailable(format!(
            "{key} of {} v{} is in neither memory nor KV: {why}",
            self.slug, self.head.version
        )))
    }

    /// A document as JSON, parsed the first time this instance needs it.
    pub async fn json(&self, name: &str) -> Result<Arc<serde_json::Value>, EdgeError> {
        if let Some(value) = self
            .parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(value.clone());
        }
        let body = self.body(name).await?;
        let value: Arc<serde_json::Value> = Arc::new(
            serde_json::from_slice(&body)
                .map_err(|e| EdgeError::Store(format!("cached {name}: {e}")))?,
        );
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), value.clone());
        Ok(value)
    }
}

pub fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// A copy to serve, and whether the origin could not confirm it lately.
pub struct Lookup {
    pub held: Arc<Held>,
    pub stale: bool,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn memory() -> &'static Mutex<HashMap<String, Arc<Held>>> {
    static MEMORY: OnceLock<Mutex<HashMap<String, Arc<Held>>>> = OnceLock::new();
    MEMORY.get_or_init(Default::default)
}

fn held_in_memory(slug: &str) -> Option<Arc<Held>> {
    memory()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(slug)
        .cloned()
}

/// At most this many events are kept in an instance's memory; beyond it
/// the one loaded longest ago makes room (KV still has it).
const MEMORY_EVENTS: usize = 32;

fn remember(slug: &str, held: Arc<Held>) {
    let mut memory = memory().lock().unwrap_or_else(|e| e.into_inner());
    if memory.len() >= MEMORY_EVENTS && !memory.contains_key(slug) {
        let oldest = memory
            .iter()
            .min_by_key(|(_, h)| h.loaded)
            .map(|(slug, _)| slug.clone());
        if let Some(oldest) = oldest {
            memory.remove(&oldest);
        }
    }
    let newer_known = memory
        .get(slug)
        .is_some_and(|h| h.head.version > held.head.version);
    if !newer_known {
        memory.insert(slug.to_string(), held);
    }
}

/// One fetch per event at a time in this instance: concurrent cold reads
/// wait for it instead of all asking the origin.
fn fetch_gate(slug: &str) -> Arc<futures::lock::Mutex<()>> {
    static GATES: OnceLock<Mutex<HashMap<String, Arc<futures::lock::Mutex<()>>>>> = OnceLock::new();
    GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(slug.to_string())
        .or_default()
        .clone()
}

/// The default store, opened once per instance and reused: opening it
/// costs more than a get.
pub async fn store() -> Result<Rc<Store>, EdgeError> {
    thread_local! {
        static STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
    }
    if let Some(store) = STORE.with_borrow(Clone::clone) {
        return Ok(store);
    }
    let opened = Rc::new(Store::open_default().await.map_err(kv_error)?);
    Ok(STORE.with_borrow_mut(|slot| slot.get_or_insert(opened).clone()))
}

pub fn kv_error(e: impl std::fmt::Debug) -> EdgeError {
    EdgeError::Store(format!("{e:?}"))
}

/// A failing store counts as a miss: what memory and the origin can serve
/// is served. Each instance logs when an outage starts and when it ends.
fn kv_or_miss<T>(result: Result<T, EdgeError>) -> Option<T> {
    static FAILING: AtomicBool = AtomicBool::new(false);
    match result {
        Ok(value) => {
            if FAILING.swap(false, Ordering::Relaxed) {
                eprintln!("edge: key-value store answers again");
            }
            Some(value)
        }
        Err(e) => {
            if !FAILING.swap(true, Ordering::Relaxed) {
                eprintln!("edge: {e}; serving from memory and the origin");
            }
            None
        }
    }
}

/// The value under `key`, or `None` when there is none or the store fails.
pub async fn kv_get(key: &str) -> Option<Vec<u8>> {
    let kv = kv_or_miss(store().await)?;
    kv_or_miss(kv.get(key).await.map_err(kv_error)).flatten()
}

/// Stores `value` if the store can take it; a failure is logged, not raised.
pub async fn kv_set(key: &str, value: &[u8]) {
    if let Some(kv) = kv_or_miss(store().await) {
        kv_or_miss(kv.set(key, value).await.map_err(kv_error));
    }
}

async fn stored_head(slug: &str) -> Option<Head> {
    kv_get(&format!("head/{slug}"))
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// The event's snapshot from the nearest tier that has it, revalidated
/// with the origin once older than the staleness window.
pub async fn lookup(config: &EdgeConfig, slug: &str) -> Result<Lookup, EdgeError> {
    let mut held = match held_in_memory(slug) {
        Some(h) if h.loaded.elapsed() < MEMORY_RECHECK => Some(h),
        other => refresh_from_kv(slug, other).await,
    };
    if held.is_none() {
        let gate = fetch_gate(slug);
        let _turn = gate.lock().await;
        held = refresh_from_kv(slug, None).await;
        if held.is_none() {
            return match fetch(config, slug, None).await {
                Fetched::Snapshot(s) => Ok(Lookup {
                    held: store_snapshot(&s).await,
                    stale: false,
                }),
                Fetched::NotModified | Fetched::Unavailable(_) => {
                    Err(EdgeError::OriginUnavailable(format!(
                        "no copy of {slug} and the origin cannot be reached"
                    )))
                }
                Fetched::Gone => Err(EdgeError::NotFound),
            };
        }
    }
    let held = held.expect("checked above");
    if now_secs() - held.head.checked_at < config.staleness.as_secs().max(1) as i64 {
        return Ok(Lookup { held, stale: false });
    }
    revalidate(config, slug, held).await
}

async fn refresh_from_kv(slug: &str, in_memory: Option<Arc<Held>>) -> Option<Arc<Held>> {
    let Some(head) = stored_head(slug).await else {
        // Nothing newer to be had from KV: memory is trusted for another
        // recheck interval rather than asking a failing store every read.
        let kept = in_memory.map(|h| Arc::new(h.renewed(h.head.clone())));
        if let Some(kept) = &kept {
            remember(slug, kept.clone());
        }
        return kept;
    };
    let held = match in_memory {
        Some(h) if h.head.version >= head.version => Arc::new(h.renewed(Head {
            checked_at: head.checked_at.max(h.head.checked_at),
            ..h.head.clone()
        })),
        _ => Arc::new(Held::from_head(slug, head)),
    };
    remember(slug, held.clone());
    Some(held)
}

/// Asks the origin whether `held` is still current; serves it marked stale
/// if the origin cannot say.
async fn revalidate(config: &EdgeConfig, slug: &str, held: Arc<Held>) -> Result<Lookup, EdgeError> {
    // After a failed revalidation, reads are served stale without asking
    // again for a while, so a hanging origin does not slow every read.
    static BACKOFF: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    let backoff = BACKOFF.get_or_init(Default::default);
    let waiting = backoff
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(slug)
        .is_some_and(|until| Instant::now() < *until);
    if waiting {
        return Ok(Lookup { held, stale: true });
    }
    let gate = fetch_gate(slug);
    let _turn = gate.lock().await;
    match fetch(config, slug, Some(held.head.version)).await {
        Fetched::NotModified => {
            let mut head = held.head.clone();
            head.checked_at = now_secs();
            kv_or_miss(write_head(slug, &head).await);
            let fresh = Arc::new(held.renewed(head));
            remember(slug, fresh.clone());
            Ok(Lookup {
                held: fresh,
                stale: false,
            })
        }
        Fetched::Snapshot(snapshot) => Ok(Lookup {
            held: store_snapshot(&snapshot).await,
            stale: false,
        }),
        Fetched::Gone => Err(EdgeError::NotFound),
        Fetched::Unavailable(why) => {
            eprintln!("edge: serving {slug} v{} stale: {why}", held.head.version);
            backoff
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slug.to_string(), Instant::now() + REVALIDATE_BACKOFF);
            Ok(Lookup { held, stale: true })
        }
    }
}

enum Fetched {
    Snapshot(Snapshot),
    NotModified,
    Gone,
    Unavailable(String),
}

async fn fetch(config: &EdgeConfig, slug: &str, held_version: Option<u64>) -> Fetched {
    let headers: Vec<(http::HeaderName, http::HeaderValue)> = held_version
        .and_then(|v| Snapshot::etag_for(v).parse().ok())
        .map(|etag| (http::header::IF_NONE_MATCH, etag))
        .into_iter()
        .collect();
    let target = format!("/_origin/events/{slug}/snapshot");
    match origin::call(
        config,
        &http::Method::GET,
        &target,
        &headers,
        Bytes::new(),
        FETCH_TIMEOUT,
    )
    .await
    {
        Err(e) => Fetched::Unavailable(e.0),
        Ok(answer) => match answer.status.as_u16() {
            304 => Fetched::NotModified,
            404 => Fetched::Gone,
            200 => match serde_json::from_slice::<Snapshot>(&answer.body) {
                Ok(s) if held_version.is_none_or(|v| s.version > v) => Fetched::Snapshot(s),
                Ok(_) => Fetched::NotModified,
                Err(e) => Fetched::Unavailable(format!("unreadable snapshot: {e}")),
            },
            status => Fetched::Unavailable(format!("origin answered {status}")),
        },
    }
}

/// Fetches version `version` (or newer) unless something at least as new
/// is held; used when the origin announces a publish.
pub async fn ensure_version(
    config: &EdgeConfig,
    slug: &str,
    version: u64,
) -> Result<u64, EdgeError> {
    let gate = fetch_gate(slug);
    let _turn = gate.lock().await;
    let in_memory = held_in_memory(slug).map(|h| h.head.version);
    let held = stored_head(slug).await.map(|h| h.version).max(in_memory);
    if held.is_some_and(|h| h >= version) {
        return Ok(held.unwrap_or(version));
    }
    match fetch(config, slug, held).await {
        Fetched::Snapshot(s) => Ok(store_snapshot(&s).await.head.version),
        Fetched::NotModified => Ok(held.unwrap_or(0)),
        Fetched::Gone => Err(EdgeError::NotFound),
        Fetched::Unavailable(why) => Err(EdgeError::OriginUnavailable(why)),
    }
}

async fn write_head(slug: &str, head: &Head) -> Result<(), EdgeError> {
    let kv = store().await?;
    let bytes = serde_json::to_vec(head).map_err(kv_error)?;
    kv.set(format!("head/{slug}"), &bytes)
        .await
        .map_err(kv_error)?;
    update_index(&kv, slug, head).await
}

/// Keeps a snapshot from the origin in memory, and in KV when the store
/// takes it; never over a newer head.
async fn store_snapshot(snapshot: &Snapshot) -> Arc<Held> {
    let slug = snapshot.slug.as_str();
    let now = now_secs();
    let head = Head {
        version: snapshot.version,
        fetched_at: now,
        checked_at: now,
        etags: snapshot
            .docs
            .iter()
            .map(|(n, d)| (n.clone(), d.etag.clone()))
            .collect(),
    };
    if let Some(current) = stored_head(slug)
        .await
        .filter(|c| c.version > snapshot.version)
    {
        let newer = Arc::new(Held::from_head(slug, current));
        remember(slug, newer.clone());
        return newer;
    }
    let held = Held::from_head(slug, head);
    let docs = snapshot_docs(snapshot);
    kv_or_miss(persist(&held, &docs).await);
    *held.docs.lock().unwrap_or_else(|e| e.into_inner()) = docs;
    let held = Arc::new(held);
    remember(slug, held.clone());
    held
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

/// Documents first, then the head that points at them, so a reader never
/// finds a head without its documents.
async fn persist(held: &Held, docs: &HashMap<String, Bytes>) -> Result<(), EdgeError> {
    let kv = store().await?;
    for (key, body) in docs {
        kv.set(
            format!("doc/{}/{}/{key}", held.slug, held.head.version),
            body,
        )
        .await
        .map_err(kv_error)?;
    }
    write_head(&held.slug, &held.head).await
}

/// What `/_edge/status` reports, kept under `meta/events`.
const INDEX_KEY: &str = "meta/events";

fn index_entry(head: &Head) -> serde_json::Value {
    serde_json::json!({
        "version": head.version,
        "fetched_at": head.fetched_at,
        "checked_at": head.checked_at,
    })
}

/// Each event this edge holds, with its version and times: the index in
/// KV, and this instance's memory where it is newer or KV fails.
pub async fn holdings() -> BTreeMap<String, serde_json::Value> {
    let mut held: BTreeMap<String, serde_json::Value> = kv_get(INDEX_KEY)
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    for (slug, in_memory) in memory().lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let behind = held
            .get(slug)
            .and_then(|e| e["version"].as_u64())
            .is_none_or(|v| v < in_memory.head.version);
        if behind {
            held.insert(slug.clone(), index_entry(&in_memory.head));
        }
    }
    held
}

async fn update_index(kv: &Store, slug: &str, head: &Head) -> Result<(), EdgeError> {
    let mut index: BTreeMap<String, serde_json::Value> =
        match kv.get(INDEX_KEY).await.map_err(kv_error)? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => BTreeMap::new(),
        };
    let older = index
        .get(slug)
        .and_then(|e| e["version"].as_u64())
        .is_some_and(|v| v > head.version);
    if !older {
        index.insert(slug.to_string(), index_entry(head));
        kv.set(INDEX_KEY, &serde_json::to_vec(&index).map_err(kv_error)?)
            .await
            .map_err(kv_error)?;
    }
    Ok(())
}

/// Which events are published: the origin's list, kept like a snapshot
/// (memory, then KV under `meta/published`, then the origin once older
/// than the staleness window); without the origin, the events held here.
pub async fn published_slugs(config: &EdgeConfig) -> Result<Vec<String>, EdgeError> {
    #[derive(Clone, Serialize, Deserialize)]
    struct Published {
        checked_at: i64,
        slugs: Vec<String>,
    }
    // Trusted until the instant stored with it.
    static MEMORY: Mutex<Option<(Instant, Published)>> = Mutex::new(None);
    const KEY: &str = "meta/published";
    let window = config.staleness.as_secs().max(1) as i64;
    let remembered = MEMORY.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some((until, list)) = &remembered
        && Instant::now() < *until
    {
        return Ok(list.slugs.clone());
    }
    let stored: Option<Published> = kv_get(KEY)
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let keep = |list: Published, trust: Duration| {
        *MEMORY.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now() + trust, list.clone()));
        list.slugs
    };
    if let Some(list) = stored
        .clone()
        .filter(|l| now_secs() - l.checked_at < window)
    {
        return Ok(keep(list, MEMORY_RECHECK));
    }
    let answer = origin::call(
        config,
        &http::Method::GET,
        "/_origin/events",
        &[],
        Bytes::new(),
        FETCH_TIMEOUT,
    )
    .await;
    let fresh = answer.ok().filter(|a| a.status.is_success()).and_then(|a| {
        let body: serde_json::Value = serde_json::from_slice(&a.body).ok()?;
        let slugs = body["events"]
            .as_array()?
            .iter()
            .filter_map(|e| e["slug"].as_str().map(String::from))
            .collect();
        Some(Published {
            checked_at: now_secs(),
            slugs,
        })
    });
    match (fresh, stored) {
        (Some(list), _) => {
            let bytes = serde_json::to_vec(&list).map_err(kv_error)?;
            kv_set(KEY, &bytes).await;
            Ok(keep(list, MEMORY_RECHECK))
        }
        // The origin is away: the last list, without asking again for a window.
        (None, Some(list)) => Ok(keep(list, config.staleness)),
        // Never listed and the origin is away: what this edge holds.
        (None, None) => Ok(holdings().await.into_keys().collect()),
    }
}
