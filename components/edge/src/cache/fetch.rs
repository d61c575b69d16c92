//! Asking the origin for what the edge caches (an event's snapshot, its
//! seat counts), conditionally when a version is held, and what its
//! answer means for the edge.

use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::seat_counts::SeatCounts;
use eventfront_domain::snapshot::Snapshot;

pub enum Fetched<T> {
    /// Newer than what is held.
    Fresh(T),
    NotModified,
    Gone,
    Unavailable(String),
}

pub async fn snapshot(slug: &str, held_version: Option<u64>) -> Fetched<Snapshot> {
    let target = format!("/_origin/events/{slug}/snapshot");
    let etag = held_version.map(Snapshot::etag_for);
    conditional(&target, etag, |s: &Snapshot| {
        held_version.is_none_or(|v| s.version > v)
    })
    .await
}

pub async fn seat_counts(slug: &str, held_version: Option<u64>) -> Fetched<SeatCounts> {
    let target = format!("/_origin/events/{slug}/seats");
    let etag = held_version.map(SeatCounts::etag_for);
    conditional(&target, etag, |c: &SeatCounts| {
        held_version.is_none_or(|v| c.version > v)
    })
    .await
}

/// `GET target`, sent with `If-None-Match: etag` when a version is held;
/// an answer that is not `newer` than it counts as not modified.
async fn conditional<T: serde::de::DeserializeOwned>(
    target: &str,
    etag: Option<String>,
    newer: impl Fn(&T) -> bool,
) -> Fetched<T> {
    let headers: Vec<(http::HeaderName, http::HeaderValue)> = etag
        .and_then(|etag| etag.parse().ok())
        .map(|etag| (http::header::IF_NONE_MATCH, etag))
        .into_iter()
        .collect();
    let answer = origin::call(
        &http::Method::GET,
        target,
        &headers,
        Bytes::new(),
        None,
        FETCH_TIMEOUT,
    )
    .await;
    match answer {
        Err(e) => Fetched::Unavailable(e.why),
        Ok(answer) => match answer.status.as_u16() {
            304 => Fetched::NotModified,
            404 => Fetched::Gone,
            200 => match serde_json::from_slice::<T>(&answer.body) {
                Ok(fresh) if newer(&fresh) => Fetched::Fresh(fresh),
                Ok(_) => Fetched::NotModified,
                Err(e) => Fetched::Unavailable(format!("unreadable answer to {target}: {e}")),
            },
            status => Fetched::Unavailable(format!("origin answered {status}")),
        },
    }
}
