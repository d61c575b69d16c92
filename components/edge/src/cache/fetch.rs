//! Asking the origin for an event's snapshot, conditionally when a version
//! is held, and what its answer means for the edge.

use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::snapshot::Snapshot;

pub enum Fetched {
    Snapshot(Snapshot),
    NotModified,
    Gone,
    Unavailable(String),
}

pub async fn snapshot(slug: &str, held_version: Option<u64>) -> Fetched {
    let headers: Vec<(http::HeaderName, http::HeaderValue)> = held_version
        .and_then(|v| Snapshot::etag_for(v).parse().ok())
        .map(|etag| (http::header::IF_NONE_MATCH, etag))
        .into_iter()
        .collect();
    let target = format!("/_origin/events/{slug}/snapshot");
    let answer = origin::call(
        &http::Method::GET,
        &target,
        &headers,
        Bytes::new(),
        None,
        FETCH_TIMEOUT,
    )
    .await;
    match answer {
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
