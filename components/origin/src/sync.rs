//! What edges fetch: the list of published events, each event's current
//! snapshot and its live seat counts, answered conditionally so an edge
//! that is up to date gets a 304 and no body.

use crate::db::{Db, int, text};
use crate::error::OriginError;
use crate::request::Incoming;
use crate::seat_counts;
use eventfront_domain::Slug;
use eventfront_domain::conditional::none_match;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::seat_counts::SeatCounts;
use eventfront_domain::snapshot::Snapshot;
use serde_json::json;

/// `GET /_origin/events`
pub async fn events(db: &Db) -> Result<Reply, OriginError> {
    let rows = db
        .rows(
            "SELECT slug, current_version FROM published_events ORDER BY slug",
            [],
        )
        .await?;
    let events: Vec<_> = rows
        .iter()
        .map(|r| json!({ "slug": r.text("slug"), "version": r.int("current_version") }))
        .collect();
    Ok(respond::json(200, &json!({ "events": events })))
}

/// `GET /_origin/events/{slug}/snapshot[?version=N]`
pub async fn snapshot(db: &Db, slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let wanted = request
        .target
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|p| p.strip_prefix("version=")))
        .map(|v| v.parse::<i64>())
        .transpose()
        .map_err(|_| OriginError::invalid("version", "must be a whole number"))?;
    let current = current_version(db, slug).await?;
    let version = wanted.unwrap_or(current);
    let etag = Snapshot::etag_for(version as u64);
    if none_match(request.header("if-none-match"), &etag) {
        return Ok(tagged(304, Vec::new(), &etag));
    }
    let bundle = db
        .row(
            "SELECT bundle FROM snapshots WHERE event = ? AND version = ?",
            [text(slug.as_str()), int(version)],
        )
        .await?
        .ok_or(OriginError::NotFound("There is no such version."))?;
    Ok(tagged(200, bundle.text("bundle"), &etag))
}

/// `GET /_origin/events/{slug}/seats`: the event's live seat counts, for
/// an edge whose copy is past its window or that holds none. An edge up
/// to date is answered from the counts' version alone.
pub async fn seats(db: &Db, slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let (published, version) = futures::join!(
        current_version(db, slug),
        seat_counts::stored_version(db, slug.as_str())
    );
    published?;
    let version = version?;
    let etag = SeatCounts::etag_for(version);
    if none_match(request.header("if-none-match"), &etag) {
        return Ok(tagged(304, Vec::new(), &etag));
    }
    let counts = seat_counts::document_at(db, slug, version).await?;
    let body = serde_json::to_vec(&counts)
        .map_err(|e| OriginError::Database(format!("unwritable seat counts: {e}")))?;
    Ok(tagged(200, body, &etag))
}

/// The version `slug` is published at; an archived event's versions are
/// withdrawn with it.
async fn current_version(db: &Db, slug: &Slug) -> Result<i64, OriginError> {
    db.row(
        "SELECT current_version FROM published_events WHERE slug = ?",
        [text(slug.as_str())],
    )
    .await?
    .map(|r| r.int("current_version"))
    .ok_or(OriginError::NotFound("There is no such published event."))
}

fn tagged(status: u16, body: impl Into<bytes::Bytes>, etag: &str) -> Reply {
    let mut reply = respond::bytes(status, "application/json", body);
    reply
        .headers_mut()
        .insert(http::header::ETAG, etag.parse().expect("valid etag"));
    reply
}
