//! Attendee reads, answered from the cached snapshot: whole documents as
//! stored, or a session, a speaker or a filtered agenda cut from them; each
//! with an ETag, `If-None-Match` support and cache headers.

use crate::cache::{self, Held, Lookup, Rendered, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::items;
use bytes::Bytes;
use eventfront_domain::filter::{SessionFilter, named_speakers, speaker_names};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::seat_counts::SeatCounts;
use eventfront_domain::snapshot;
use serde_json::{Value, json};
use std::sync::Arc;

/// Browsers and CDNs may reuse a response briefly, and keep serving it
/// while revalidating or while the edge is in trouble (RFC 5861).
pub const CACHE_CONTROL: &str =
    "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400";

pub struct ReadRequest<'a> {
    pub if_none_match: Option<&'a str>,
    pub query: Option<&'a str>,
    pub accepts_gzip: bool,
}

/// Whether an `Accept-Encoding` value admits gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|value| {
        value.split(',').any(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let coding = pieces.next().unwrap_or("");
            let refused = pieces
                .filter_map(|p| p.strip_prefix("q="))
                .any(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

fn reply(
    config: &EdgeConfig,
    lookup: &Lookup,
    request: &ReadRequest<'_>,
    tag: &str,
    body: Bytes,
) -> Reply {
    typed_reply(config, lookup, request, tag, "application/json", body)
}

fn typed_reply(
    config: &EdgeConfig,
    lookup: &Lookup,
    request: &ReadRequest<'_>,
    tag: &str,
    content_type: &str,
    body: Bytes,
) -> Reply {
    let mut reply = respond::conditional(request.if_none_match, tag, content_type, body);
    let served = Served {
        version: lookup.held.head.version,
        checked_at_ms: lookup.held.head.checked_at_ms,
        stale: lookup.stale,
        cache_control: CACHE_CONTROL,
    };
    served.head(config, &mut reply);
    reply
}

/// What a read served, as its headers tell.
struct Served {
    version: u64,
    /// When the origin last confirmed it.
    checked_at_ms: i64,
    /// The origin could not confirm it lately: its age is told.
    stale: bool,
    cache_control: &'static str,
}

impl Served {
    fn head(&self, config: &EdgeConfig, reply: &mut Reply) {
        let headers = reply.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        };
        set("vary", "Accept-Encoding".to_string());
        set("cache-control", self.cache_control.to_string());
        set("eventfront-version", self.version.to_string());
        set("eventfront-edge", config.region.clone());
        if self.stale {
            let age_ms = (now_ms() - self.checked_at_ms).max(0);
            set("age", (age_ms / 1000).to_string());
            set("eventfront-stale", "1".to_string());
        }
    }
}

/// Seat counts change with every pick: browsers reuse them for a moment
/// only, and the edge's own bound (its staleness window) does the rest.
const SEATS_CACHE_CONTROL: &str = "public, max-age=1, stale-if-error=3600";

/// `GET /api/events/{slug}/seats`: the event's live seat counts.
pub async fn seats(
    config: &Arc<EdgeConfig>,
    slug: &str,
    request: &ReadRequest<'_>,
) -> Result<Reply, EdgeError> {
    let (counts, stale) = cache::counts::lookup(config, slug).await?;
    let tag = SeatCounts::etag_for(counts.version);
    let mut reply = respond::conditional(
        request.if_none_match,
        &tag,
        "application/json",
        Bytes::from(counts.body.clone()),
    );
    let served = Served {
        version: counts.version,
        checked_at_ms: counts.checked_at_ms,
        stale,
        cache_control: SEATS_CACHE_CONTROL,
    };
    served.head(config, &mut reply);
    Ok(reply)
}

fn doc_tag(lookup: &Lookup, name: &str) -> Result<String, EdgeError> {
    lookup
        .held
        .etag(name)
        .map(String::from)
        .ok_or_else(|| EdgeError::Store(format!("snapshot without {name}")))
}

async fn doc(lookup: &Lookup, name: &str) -> Result<(String, Bytes), EdgeError> {
    Ok((doc_tag(lookup, name)?, lookup.held.body(name).await?))
}

/// A stored document as it is.
pub async fn document(
    config: &Arc<EdgeConfig>,
    slug: &str,
    name: &str,
    request: &ReadRequest<'_>,
) -> Result<Reply, EdgeError> {
    let lookup = cache::lookup(config, slug).await?;
    if name == snapshot::SESSIONS && request.query.is_some_and(|q| !q.is_empty()) {
        return filtered_sessions(config, &lookup, request).await;
    }
    let media_type = snapshot::media_type(name);
    if !request.accepts_gzip {
        let (tag, body) = doc(&lookup, name).await?;
        return Ok(typed_reply(
            config, &lookup, request, &tag, media_type, body,
        ));
    }
    let tag = cache::gzipped_tag(&doc_tag(&lookup, name)?);
    let zipped = lookup.held.body(&cache::gzipped(name)).await?;
    Ok(gzipped_reply(
        config, &lookup, request, &tag, media_type, zipped,
    ))
}

fn gzipped_reply(
    config: &EdgeConfig,
    lookup: &Lookup,
    request: &ReadRequest<'_>,
    tag: &str,
    content_type: &str,
    zipped: Bytes,
) -> Reply {
    let mut reply = typed_reply(config, lookup, request, tag, content_type, zipped);
    reply.headers_mut().insert(
        http::header::CONTENT_ENCODING,
        http::HeaderValue::from_static("gzip"),
    );
    reply
}

/// The agenda cut by the query's filters (see `eventfront_domain::filter`),
/// times shown in `tz` when it is given; rendered once per version.
async fn filtered_sessions(
    config: &EdgeConfig,
    lookup: &Lookup,
    request: &ReadRequest<'_>,
) -> Result<Reply, EdgeError> {
    let query = request.query.unwrap_or("");
    let filter = SessionFilter::parse(query).map_err(EdgeError::BadQuery)?;
    let held = &lookup.held;
    let key = format!("sessions?{}", filter.cache_key());
    let answer = held
        .rendered(&key, || render_sessions(held, filter))
        .await?;
    match answer.gzipped.filter(|_| request.accepts_gzip) {
        Some((tag, zipped)) => Ok(gzipped_reply(
            config,
            lookup,
            request,
            &tag,
            "application/json",
            zipped,
        )),
        None => Ok(reply(config, lookup, request, &answer.etag, answer.body)),
    }
}

/// Who speaks, by name: the agenda names its speakers itself, but one
/// published before it did so needs the speakers document.
async fn named_in(held: &Held, sessions: &Arc<Value>) -> Result<Arc<Value>, EdgeError> {
    if sessions.get("speakers").is_some() {
        Ok(sessions.clone())
    } else {
        held.json(snapshot::SPEAKERS).await
    }
}

async fn render_sessions(held: &Held, filter: SessionFilter) -> Result<Rendered, EdgeError> {
    if filter.names_places() {
        filter
            .check_against(&*held.json(snapshot::EVENT).await?)
            .map_err(EdgeError::BadQuery)?;
    }
    let sessions = held.json(snapshot::SESSIONS).await?;
    let speakers = named_in(held, &sessions).await?;
    let names = speaker_names(&speakers);
    // Filter on the event's own dates first, then show times in `tz`.
    let mut list: Vec<Value> = sessions["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| filter.matches(s, &names))
        .cloned()
        .collect();
    if let Some(zone) = &filter.render_in {
        for session in list.iter_mut() {
            for field in ["starts_at", "ends_at"] {
                let instant = session[field]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                if let Some(instant) = instant {
                    session[field] = json!(snapshot::render_time(instant, zone));
                }
            }
        }
    }
    let named = named_speakers(&list, &speakers);
    let mut answer = json!({ "version": sessions["version"], "sessions": list, "speakers": named });
    if let Some(zone) = &filter.render_in {
        answer["timezone"] = json!(zone.iana_name().unwrap_or("UTC"));
    }
    // One day of a large agenda is worth compressing.
    Ok(Rendered::compressed(Bytes::from(answer.to_string())))
}

/// One session with its speakers embedded, or one speaker with their
/// sessions embedded: from memory; rendered from the documents when this
/// instance has them parsed (no KV at all, unknown ids included); else as
/// stored for the version; else rendered and stored, so that the instances
/// after this one answer it from the head and one key, as a document.
pub async fn item(
    config: &Arc<EdgeConfig>,
    slug: &str,
    kind: &str,
    id: &str,
    request: &ReadRequest<'_>,
) -> Result<Reply, EdgeError> {
    let lookup = cache::lookup(config, slug).await?;
    let held = &lookup.held;
    let key = items::key(kind, id);
    let answer = held
        .rendered(&key, || async {
            let version = held.head.version;
            if let (Some(sessions), Some(speakers)) = (
                held.parsed(snapshot::SESSIONS),
                held.parsed(snapshot::SPEAKERS),
            ) {
                return items::render(&sessions, &speakers, version, kind, id)
                    .map(Rendered::new)
                    .ok_or(EdgeError::NotFound);
            }
            if let Some(stored) = held.stored(&key).await {
                return Ok(Rendered::new(stored));
            }
            let sessions = held.json(snapshot::SESSIONS).await?;
            let speakers = held.json(snapshot::SPEAKERS).await?;
            let body = items::render(&sessions, &speakers, version, kind, id)
                .ok_or(EdgeError::NotFound)?;
            held.store(&key, body.clone());
            Ok(Rendered::new(body))
        })
        .await?;
    Ok(reply(config, &lookup, request, &answer.etag, answer.body))
}

/// The whole agenda, or one session, as iCalendar.
pub async fn ics(
    config: &Arc<EdgeConfig>,
    slug: &str,
    session: Option<&str>,
    request: &ReadRequest<'_>,
) -> Result<Reply, EdgeError> {
    let lookup = cache::lookup(config, slug).await?;
    // The whole-agenda export takes the agenda's filters, so a personal
    // agenda is `?sessions=a,b,c`; calendars are always in UTC.
    let (key, filter) = match session {
        Some(id) => (format!("ics/{id}"), SessionFilter::default()),
        None => {
            let query = request.query.unwrap_or("");
            let filter = SessionFilter::parse(query).map_err(EdgeError::BadQuery)?;
            (format!("ics?{}", filter.cache_key()), filter)
        }
    };
    let held = &lookup.held;
    let answer = held
        .rendered(&key, || render_ics(held, session, filter))
        .await?;
    Ok(typed_reply(
        config,
        &lookup,
        request,
        &answer.etag,
        "text/calendar; charset=utf-8",
        answer.body,
    ))
}

async fn render_ics(
    held: &Held,
    session: Option<&str>,
    filter: SessionFilter,
) -> Result<Rendered, EdgeError> {
    let event = held.json(snapshot::EVENT).await?;
    filter.check_against(&event).map_err(EdgeError::BadQuery)?;
    let sessions = held.json(snapshot::SESSIONS).await?;
    let speakers = named_in(held, &sessions).await?;
    let changelog = held.json(snapshot::CHANGELOG).await?;
    let names = speaker_names(&speakers);
    let chosen: Vec<&Value> = sessions["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| session.is_none_or(|id| s["id"] == id) && filter.matches(s, &names))
        .collect();
    if session.is_some() && chosen.is_empty() {
        return Err(EdgeError::NotFound);
    }
    let stamp = changelog["changelog"][0]["published_at"]
        .as_str()
        .unwrap_or("1970-01-01T00:00:00Z");
    let speakers = speakers["speakers"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    Ok(Rendered::new(Bytes::from(
        eventfront_domain::ics::calendar(&event, &chosen, speakers, stamp),
    )))
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_offered_only_when_accepted() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
