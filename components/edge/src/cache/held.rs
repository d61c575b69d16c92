//! One event's snapshot in an instance's memory. Documents are read from KV
//! the first time this instance needs them (one get), then kept, as stored
//! and gzipped under `{name}.gz`; JSON documents are parsed once, and
//! answers cut from them (one session, a filtered agenda, a calendar) are
//! rendered once per version.

use super::fetch::{self, Fetched};
use super::head::Head;
use super::instance::instance;
use super::{Failure, doc_key, snapshot_docs, store_snapshot};
use crate::error::EdgeError;
use crate::kv;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Held {
    pub head: Head,
    slug: String,
    docs: Arc<Mutex<HashMap<String, Bytes>>>,
    parsed: Arc<Mutex<HashMap<String, Arc<serde_json::Value>>>>,
    rendered: Arc<Mutex<RenderedAnswers>>,
    /// When memory last checked this against KV.
    pub loaded: Instant,
}

/// An answer cut from the documents, with its ETag, and gzipped with its
/// own where that was worth it.
#[derive(Clone)]
pub struct Rendered {
    pub etag: String,
    pub body: Bytes,
    pub gzipped: Option<(String, Bytes)>,
}

impl Rendered {
    pub fn new(body: Bytes) -> Self {
        Self {
            etag: eventfront_domain::snapshot::etag(&body),
            body,
            gzipped: None,
        }
    }

    /// With a gzipped form too, when the body is large enough to gain.
    pub fn compressed(body: Bytes) -> Self {
        let mut rendered = Self::new(body);
        if rendered.body.len() >= super::COMPRESS_FROM {
            let tag = super::gzipped_tag(&rendered.etag);
            rendered.gzipped = Some((tag, super::gzip(&rendered.body)));
        }
        rendered
    }
}

impl Rendered {
    /// The memory it holds, near enough.
    fn weight(&self) -> usize {
        let gzipped = self
            .gzipped
            .as_ref()
            .map_or(0, |(tag, body)| tag.len() + body.len());
        self.etag.len() + self.body.len() + gzipped
    }
}

/// At most this many rendered answers are kept per version: enough for
/// every session and speaker of a large event; queries made up to churn
/// it only cost their own rendering.
const RENDERED: usize = 1024;
/// And at most this many bytes of them, so that many large answers (a
/// filtered agenda per made-up query) cannot fill an instance's memory.
const RENDERED_BYTES: usize = 8 << 20;

/// The answers rendered for one version, and the bytes they hold.
#[derive(Default)]
struct RenderedAnswers {
    answers: HashMap<String, Rendered>,
    bytes: usize,
}

impl RenderedAnswers {
    /// Keeps `answer` under `key`, starting over first when it would pass
    /// either bound.
    fn keep(&mut self, key: &str, answer: Rendered) {
        let weight = answer.weight();
        if self.answers.len() >= RENDERED || self.bytes + weight > RENDERED_BYTES {
            self.answers.clear();
            self.bytes = 0;
        }
        if let Some(replaced) = self.answers.insert(key.to_string(), answer) {
            self.bytes -= replaced.weight();
        }
        self.bytes += weight;
    }
}

/// What a document's gzipped form adds to its name.
const GZ: &str = ".gz";

/// The key of a document's gzipped form.
pub fn gzipped(name: &str) -> String {
    format!("{name}{GZ}")
}

impl Held {
    pub fn from_head(slug: &str, head: Head) -> Self {
        Self {
            head,
            slug: slug.to_string(),
            docs: Default::default(),
            parsed: Default::default(),
            rendered: Default::default(),
            loaded: Instant::now(),
        }
    }

    /// A snapshot just fetched, with every document already in memory.
    pub fn with_docs(slug: &str, head: Head, docs: HashMap<String, Bytes>) -> Self {
        let held = Self::from_head(slug, head);
        *held.docs.lock().unwrap_or_else(|e| e.into_inner()) = docs;
        held
    }

    /// The same documents under a refreshed head (same version).
    pub fn renewed(&self, head: Head) -> Self {
        Self {
            head,
            slug: self.slug.clone(),
            docs: self.docs.clone(),
            parsed: self.parsed.clone(),
            rendered: self.rendered.clone(),
            loaded: Instant::now(),
        }
    }

    pub fn etag(&self, name: &str) -> Option<&str> {
        self.head
            .etags
            .get(name.trim_end_matches(GZ))
            .map(String::as_str)
    }

    /// A document (or its `.gz` form), from memory, else from KV, else
    /// from the origin.
    pub async fn body(&self, key: &str) -> Result<Bytes, EdgeError> {
        if let Some(body) = self.in_memory(key) {
            return Ok(body);
        }
        let stored = kv::get(&doc_key(&self.slug, self.head.version, key)).await;
        let Some(stored) = stored else {
            if let Some(name) = key.strip_suffix(GZ) {
                return self.gzipped_here(name, key).await;
            }
            return self.refill(key).await;
        };
        let body = Bytes::from(stored);
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), body.clone());
        Ok(body)
    }

    /// A document of this version as KV holds it, or `None`: never from
    /// the origin, never kept in memory (the caller keeps what it makes
    /// of it).
    pub async fn stored(&self, key: &str) -> Option<Bytes> {
        kv::get(&doc_key(&self.slug, self.head.version, key))
            .await
            .map(Bytes::from)
    }

    /// Keeps `body` in KV as a document of this version, after the
    /// response, for the instances that come after this one.
    pub fn store(&self, key: &str, body: Bytes) {
        let key = doc_key(&self.slug, self.head.version, key);
        spin_sdk::wasip3::spawn(async move {
            kv::set(&key, &body).await;
        });
    }

    /// A document's gzipped form that KV lacks (a version pushed in parts
    /// brings its documents only): made here from the document, once per
    /// version and instance, and kept in KV for the others.
    async fn gzipped_here(&self, name: &str, key: &str) -> Result<Bytes, EdgeError> {
        let body = Box::pin(self.body(name)).await?;
        // A refill from the origin brings the gzipped forms too.
        if let Some(gzipped) = self.in_memory(key) {
            return Ok(gzipped);
        }
        let gzipped = super::gzip(&body);
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), gzipped.clone());
        self.store(key, gzipped.clone());
        Ok(gzipped)
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
    /// Concurrent reads share one fetch.
    async fn refill(&self, key: &str) -> Result<Bytes, EdgeError> {
        let (slug, version) = (self.slug.clone(), self.head.version);
        let docs = instance()
            .refills
            .join(&format!("{slug}/{version}"), move || {
                refill_docs(slug, version)
            })
            .await?;
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(docs.iter().map(|(k, v)| (k.clone(), v.clone())));
        docs.get(key).cloned().ok_or(EdgeError::NotFound)
    }

    /// A document as JSON if this instance has parsed it already.
    pub fn parsed(&self, name: &str) -> Option<Arc<serde_json::Value>> {
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// A document as JSON, parsed the first time this instance needs it.
    pub async fn json(&self, name: &str) -> Result<Arc<serde_json::Value>, EdgeError> {
        if let Some(value) = self.parsed(name) {
            return Ok(value);
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

    /// The answer kept under `key`, else `render`'s, kept for the next
    /// read of this version. Failures are not kept.
    pub async fn rendered<F: Future<Output = Result<Rendered, EdgeError>>>(
        &self,
        key: &str,
        render: impl FnOnce() -> F,
    ) -> Result<Rendered, EdgeError> {
        let kept = self
            .rendered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answers
            .get(key)
            .cloned();
        if let Some(kept) = kept {
            return Ok(kept);
        }
        let answer = render().await?;
        self.rendered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keep(key, answer.clone());
        Ok(answer)
    }
}

async fn refill_docs(slug: String, version: u64) -> Result<Arc<HashMap<String, Bytes>>, Failure> {
    let why = match fetch::snapshot(&slug, None).await {
        Fetched::Fresh(snapshot) if snapshot.version == version => {
            return Ok(Arc::new(snapshot_docs(&snapshot)));
        }
        Fetched::Fresh(newer) => {
            // The next read serves the newer version whole.
            store_snapshot(&newer).await;
            format!("{slug} moved on from v{version}")
        }
        Fetched::Gone => return Err(Failure::Gone),
        Fetched::NotModified => "the origin answered 304 unasked".to_string(),
        Fetched::Unavailable(why) => why,
    };
    Err(Failure::Unavailable(format!(
        "a document of {slug} v{version} is in neither memory nor KV: {why}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_answers_are_bounded_by_count_and_by_bytes() {
        let mut kept = RenderedAnswers::default();
        let big = Rendered::new(Bytes::from(vec![b'x'; RENDERED_BYTES / 3]));
        for key in ["a", "b", "c"] {
            kept.keep(key, big.clone());
        }
        assert_eq!(
            kept.answers.keys().collect::<Vec<_>>(),
            ["c"],
            "the third would pass the bytes: started over"
        );
        kept.keep("c", big.clone());
        assert_eq!(kept.bytes, big.weight(), "the same key again weighs once");
        let small = Rendered::new(Bytes::from_static(b"{}"));
        for n in 0..RENDERED + 1 {
            kept.keep(&n.to_string(), small.clone());
        }
        assert!(kept.answers.len() <= RENDERED);
        let counted: usize = kept.answers.values().map(Rendered::weight).sum();
        assert_eq!(kept.bytes, counted);
    }
}
