//! A published version of an event: the documents the edge serves, built
//! once at publish time, immutable afterwards, each with a strong ETag.
//! An edge read is one document: the event list entry, the event, all
//! sessions, all speakers, or the changelog. Times are rendered in the
//! event's own zone, with their offset.

use crate::feed::AgendaChanges;
use crate::ids::Slug;
use crate::model::{Draft, Session, Speaker};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Names of the documents in every snapshot.
pub const SUMMARY: &str = "summary";
pub const EVENT: &str = "event";
pub const SESSIONS: &str = "sessions";
pub const SPEAKERS: &str = "speakers";
pub const CHANGELOG: &str = "changelog";
/// The frab/c3voc `schedule.json`, and the same in frab's XML.
pub const SCHEDULE: &str = "schedule";
pub const SCHEDULE_XML: &str = "schedule-xml";
/// The changelog as an Atom feed.
pub const CHANGELOG_ATOM: &str = "changelog-atom";

/// The media type a document is served as.
pub fn media_type(name: &str) -> &'static str {
    match name {
        SCHEDULE_XML => "application/xml",
        CHANGELOG_ATOM => "application/atom+xml",
        _ => "application/json",
    }
}

/// One line of the public changelog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangelogEntry {
    pub version: u64,
    pub published_at: Timestamp,
    pub note: String,
    /// What this version changed in the agenda (none recorded for
    /// versions published before diffs were kept).
    #[serde(default)]
    pub changes: AgendaChanges,
}

/// A document as stored and served: JSON text and its ETag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    pub etag: String,
    pub body: String,
}

impl Doc {
    pub fn new(value: &Value) -> Self {
        Self::text(value.to_string())
    }

    pub fn text(body: String) -> Self {
        Self {
            etag: etag(body.as_bytes()),
            body,
        }
    }
}

/// A strong ETag naming exactly these bytes.
pub fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// One version of one event, as the origin hands it to edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub slug: Slug,
    pub version: u64,
    pub published_at: Timestamp,
    pub docs: BTreeMap<String, Doc>,
}

impl Snapshot {
    /// The ETag of the snapshot as a whole: its version is its identity.
    pub fn etag_for(version: u64) -> String {
        format!("\"v{version}\"")
    }
}

/// Renders `draft` as the version `entry` describes. `changelog` holds the
/// earlier versions' entries. `public_url` is the site attendees use, for
/// the links exports carry.
pub fn build(
    slug: &Slug,
    draft: &Draft,
    entry: ChangelogEntry,
    changelog: &[ChangelogEntry],
    public_url: &str,
) -> Snapshot {
    let (version, published_at) = (entry.version, entry.published_at);
    let tz = TimeZone::get(&draft.event.timezone).unwrap_or(TimeZone::UTC);
    let time = |t: Timestamp| render_time(t, &tz);
    let event = &draft.event;
    let summary = json!({
        "slug": slug,
        "name": event.name,
        "timezone": event.timezone,
        "starts_at": time(event.starts_at),
        "ends_at": time(event.ends_at),
        "sessions": draft.sessions.len(),
        "version": version,
    });
    let registration = &event.registration;
    let mut registration_doc = json!({
        "open": registration.open,
        "capacity": registration.capacity,
        "confirm_email": registration.confirm_email,
        "hold_minutes": registration.hold_minutes,
    });
    if let Some(t) = registration.opens_at {
        registration_doc["opens_at"] = json!(time(t));
    }
    if let Some(t) = registration.closes_at {
        registration_doc["closes_at"] = json!(time(t));
    }
    let event_doc = json!({
        "slug": slug,
        "name": event.name,
        "description": event.description,
        "timezone": event.timezone,
        "starts_at": time(event.starts_at),
        "ends_at": time(event.ends_at),
        "venue": event.venue,
        "tracks": event.tracks,
        "rooms": event.rooms,
        "registration": registration_doc,
        "days": days(&draft.sessions, &tz),
        "version": version,
    });
    let mut sessions: Vec<&Session> = draft.sessions.iter().collect();
    sessions.sort_by(|a, b| (a.starts_at, &a.room, &a.id).cmp(&(b.starts_at, &b.room, &b.id)));
    let mut speakers: Vec<&Speaker> = draft.speakers.iter().collect();
    speakers.sort_by(|a, b| (a.name.to_lowercase(), &a.id).cmp(&(b.name.to_lowercase(), &b.id)));
    // The agenda names its speakers, so a page needs no other document to
    // show it; bios and links stay in the speakers document.
    let named: Vec<Value> = speakers
        .iter()
        .filter(|sp| sessions.iter().any(|s| s.speakers.contains(&sp.id)))
        .map(|sp| json!({ "id": sp.id, "name": sp.name }))
        .collect();
    let sessions_doc = json!({
        "version": version,
        "sessions": sessions.iter().map(|s| session_json(s, &time)).collect::<Vec<_>>(),
        "speakers": named,
    });
    let speakers_doc = json!({
        "version": version,
        "speakers": speakers
            .iter()
            .map(|sp| {
                let talks: Vec<&Slug> = sessions
                    .iter()
                    .filter(|s| s.speakers.contains(&sp.id))
                    .map(|s| &s.id)
                    .collect();
                json!({
                    "id": sp.id,
                    "name": sp.name,
                    "bio": sp.bio,
                    "affiliation": sp.affiliation,
                    "links": sp.links,
                    "sessions": talks,
                })
            })
            .collect::<Vec<_>>(),
    });
    let mut entries = vec![entry];
    entries.extend(changelog.iter().filter(|e| e.version < version).cloned());
    entries.sort_by_key(|e| std::cmp::Reverse(e.version));
    let changelog_doc = json!({
        "version": version,
        "changelog": entries
            .iter()
            .map(|e| json!({
                "version": e.version,
                "published_at": time(e.published_at),
                "note": e.note,
                "changes": e.changes,
            }))
            .collect::<Vec<_>>(),
    });
    let atom = crate::feed::atom(slug, &event.name, public_url, &entries);
    let schedule = crate::frab::schedule(slug, draft, version, public_url);
    let docs = [
        (SUMMARY, summary),
        (EVENT, event_doc),
        (SESSIONS, sessions_doc),
        (SPEAKERS, speakers_doc),
        (CHANGELOG, changelog_doc),
        (SCHEDULE, schedule.clone()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), Doc::new(&value)))
    .chain([
        (
            SCHEDULE_XML.to_string(),
            Doc::text(crate::frab::schedule_xml(&schedule)),
        ),
        (CHANGELOG_ATOM.to_string(), Doc::text(atom)),
    ])
    .collect();
    Snapshot {
        slug: slug.clone(),
        version,
        published_at,
        docs,
    }
}

fn session_json(s: &Session, time: &impl Fn(Timestamp) -> String) -> Value {
    json!({
        "id": s.id,
        "title": s.title,
        "abstract": s.summary,
        "starts_at": time(s.starts_at),
        "ends_at": time(s.ends_at),
        "track": s.track,
        "room": s.room,
        "speakers": s.speakers,
        "tags": s.tags,
        "links": s.links,
        "capacity": s.capacity,
        "registration_required": s.registration_required,
    })
}

/// RFC 3339 with the zone's offset, e.g. `2027-06-08T09:00:00+01:00`.
/// The days with sessions, in the event's zone, and how many each has: what
/// a page needs to fetch a large agenda one day at a time.
fn days(sessions: &[Session], tz: &TimeZone) -> Value {
    let mut days: BTreeMap<jiff::civil::Date, usize> = BTreeMap::new();
    for session in sessions {
        *days
            .entry(session.starts_at.to_zoned(tz.clone()).date())
            .or_default() += 1;
    }
    days.into_iter()
        .map(|(date, count)| json!({ "date": date.to_string(), "sessions": count }))
        .collect()
}

pub fn render_time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, RegistrationSettings, SessionLinks, Track};

    const SITE: &str = "https://events.example.com";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn draft(sessions: usize) -> Draft {
        let speakers: Vec<Speaker> = (0..sessions.max(1))
            .map(|i| Speaker {
                id: Slug::parse(&format!("speaker-{i}")).unwrap(),
                name: format!("Speaker Number {i}"),
                bio: "Builds things at the edge and writes about them. ".repeat(3),
                affiliation: "Example Labs".into(),
                links: BTreeMap::from([("website".into(), format!("https://example.org/{i}"))]),
            })
            .collect();
        Draft {
            event: Event {
                name: "Edge Summit".into(),
                timezone: "Europe/Lisbon".into(),
                starts_at: at("2027-06-08T08:00:00Z"),
                ends_at: at("2027-06-10T17:00:00Z"),
                description: "d".into(),
                venue: "v".into(),
                tracks: vec![Track {
                    id: Slug::parse("runtime").unwrap(),
                    name: "Runtime".into(),
                }],
                rooms: vec![],
                registration: RegistrationSettings::default(),
            },
            sessions: (0..sessions)
                .map(|i| Session {
                    id: Slug::parse(&format!("session-{i}")).unwrap(),
                    title: format!("A session about the edge, part {i}"),
                    summary: "What we learned running WebAssembly at the edge for a year, \
                              and what we would do differently next time."
                        .repeat(4),
                    starts_at: at("2027-06-08T09:00:00Z"),
                    ends_at: at("2027-06-08T09:45:00Z"),
                    track: Some(Slug::parse("runtime").unwrap()),
                    room: None,
                    speakers: vec![speakers[i].id.clone()],
                    tags: vec!["wasm".into(), "edge".into()],
                    links: SessionLinks::default(),
                    capacity: None,
                    registration_required: false,
                })
                .collect(),
            speakers,
        }
    }

    fn entry(version: u64, published_at: &str, note: &str) -> ChangelogEntry {
        ChangelogEntry {
            version,
            published_at: at(published_at),
            note: note.into(),
            changes: AgendaChanges::default(),
        }
    }

    fn doc(snapshot: &Snapshot, name: &str) -> Value {
        serde_json::from_str(&snapshot.docs[name].body).unwrap()
    }

    #[test]
    fn the_event_counts_sessions_per_day_in_its_own_zone() {
        let mut late = draft(3);
        // 23:30 UTC is already the next day in Lisbon (UTC+1 in June).
        late.sessions[2].starts_at = at("2027-06-08T23:30:00Z");
        late.sessions[2].ends_at = at("2027-06-08T23:55:00Z");
        let s = build(
            &Slug::parse("summit").unwrap(),
            &late,
            entry(1, "2027-01-01T00:00:00Z", "first"),
            &[],
            SITE,
        );
        assert_eq!(
            doc(&s, EVENT)["days"],
            json!([
                { "date": "2027-06-08", "sessions": 2 },
                { "date": "2027-06-09", "sessions": 1 }
            ])
        );
    }

    #[test]
    fn documents_render_times_in_the_events_zone() {
        let s = build(
            &Slug::parse("summit").unwrap(),
            &draft(2),
            entry(3, "2027-01-01T00:00:00Z", "first"),
            &[],
            SITE,
        );
        let event = doc(&s, EVENT);
        assert_eq!(event["starts_at"], "2027-06-08T09:00:00+01:00");
        assert_eq!(event["version"], 3);
        let sessions = doc(&s, SESSIONS);
        assert_eq!(
            sessions["sessions"][0]["ends_at"],
            "2027-06-08T10:45:00+01:00"
        );
        assert_eq!(doc(&s, SPEAKERS)["speakers"][0]["sessions"][0], "session-0");
        assert_eq!(
            sessions["speakers"][0],
            json!({ "id": doc(&s, SPEAKERS)["speakers"][0]["id"], "name": doc(&s, SPEAKERS)["speakers"][0]["name"] }),
            "the agenda names its speakers"
        );
        assert_eq!(doc(&s, SUMMARY)["slug"], "summit");
        assert_eq!(doc(&s, SUMMARY)["sessions"], 2, "how large the agenda is");
    }

    #[test]
    fn the_changelog_lists_versions_newest_first() {
        let earlier = vec![entry(1, "2026-12-01T10:00:00Z", "initial")];
        let s = build(
            &Slug::parse("summit").unwrap(),
            &draft(1),
            entry(2, "2026-12-02T10:00:00Z", "moved keynote"),
            &earlier,
            SITE,
        );
        let changelog = doc(&s, CHANGELOG);
        assert_eq!(changelog["changelog"][0]["note"], "moved keynote");
        assert_eq!(changelog["changelog"][1]["version"], 1);
    }

    #[test]
    fn etags_follow_content() {
        let slug = Slug::parse("summit").unwrap();
        let a = build(
            &slug,
            &draft(2),
            entry(1, "2027-01-01T00:00:00Z", ""),
            &[],
            SITE,
        );
        let b = build(
            &slug,
            &draft(2),
            entry(1, "2027-01-01T00:00:00Z", ""),
            &[],
            SITE,
        );
        let c = build(
            &slug,
            &draft(3),
            entry(1, "2027-01-01T00:00:00Z", ""),
            &[],
            SITE,
        );
        assert_eq!(a.docs[SESSIONS].etag, b.docs[SESSIONS].etag);
        assert_ne!(a.docs[SESSIONS].etag, c.docs[SESSIONS].etag);
        assert!(a.docs[EVENT].etag.starts_with('"'));
    }

    #[test]
    fn a_thousand_session_event_keeps_every_document_under_a_megabyte() {
        let s = build(
            &Slug::parse("big").unwrap(),
            &draft(1_000),
            entry(1, "2027-01-01T00:00:00Z", ""),
            &[],
            SITE,
        );
        for (name, doc) in &s.docs {
            assert!(
                doc.body.len() < 1_000_000,
                "{name} is {} bytes",
                doc.body.len()
            );
        }
    }
}
