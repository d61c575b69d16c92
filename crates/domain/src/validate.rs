//! Turns organizers' JSON into the validated types of `model`, and an
//! attendee's registration into a `NewRegistration`, naming every bad
//! field at once so the pages can show each error beside its field. Nothing here touches storage: a value that comes out is valid.

use crate::ids::{Email, Slug};
use crate::model::{
    DEFAULT_HOLD_MINUTES, Draft, Event, MAX_HOLD_MINUTES, RegistrationSettings, Room, Session,
    SessionLinks, Speaker, Track,
};
use crate::problem::FieldError;
use crate::waiting_room::{
    DEFAULT_ADMITTED_FOR_MINUTES, MAX_ADMITTED_FOR_MINUTES, MAX_PER_MINUTE, MAX_PREQUEUE_MINUTES,
    Pace, WaitingRoom,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

pub const MAX_NAME: usize = 200;
pub const MAX_TEXT: usize = 10_000;
pub const MAX_TRACKS: usize = 50;
pub const MAX_ROOMS: usize = 200;
pub const MAX_SESSIONS: usize = 2_000;
pub const MAX_SPEAKERS: usize = 2_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;
const MAX_URL: usize = 2_000;
const MAX_LINKS: usize = 10;
const MAX_SESSION_SPEAKERS: usize = 20;
const MAX_CAPACITY: u64 = 1_000_000;

pub type Errors = Vec<FieldError>;

/// Reads fields of one JSON object, recording what is wrong with each.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    errors: &'a mut Errors,
}

impl<'a> Reader<'a> {
    /// `None` (with an error recorded) when `value` is not an object.
    fn new(
        value: &'a Value,
        prefix: &str,
        allowed: &[&str],
        errors: &'a mut Errors,
    ) -> Option<Self> {
        let Some(object) = value.as_object() else {
            errors.push(FieldError::new(
                if prefix.is_empty() {
                    "body"
                } else {
                    prefix.trim_end_matches('.')
                },
                "must be a JSON object",
            ));
            return None;
        };
        let mut reader = Self {
            object,
            prefix: prefix.to_string(),
            errors,
        };
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                reader.fail(key, "is not a recognized field");
            }
        }
        Some(reader)
    }

    fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{key}", self.prefix), message));
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    /// A one-line text: names, titles, places. No control character at
    /// all, so nothing can break the line it is written on (an iCalendar
    /// property, a CSV cell, a header).
    fn line(&mut self, key: &str, required: bool, max: usize) -> Option<String> {
        let text = self.text(key, required, max)?;
        if text.chars().any(char::is_control) {
            self.fail(key, "must be one line, without control characters");
            return None;
        }
        Some(text)
    }

    /// A text that may run over several lines (descriptions, abstracts).
    fn text(&mut self, key: &str, required: bool, max: usize) -> Option<String> {
        match self.present(key) {
            None if required => {
                self.fail(key, "is required");
                None
            }
            None => Some(String::new()),
            Some(Value::String(s)) => {
                let s = s.trim();
                let chars = s.chars().count();
                if required && chars == 0 {
                    self.fail(key, "must not be empty");
                    None
                } else if chars > max {
                    self.fail(key, format!("must be at most {max} characters"));
                    None
                } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    self.fail(key, "must not contain control characters");
                    None
                } else {
                    Some(s.to_string())
                }
            }
            Some(_) => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn timestamp(&mut self, key: &str, required: bool) -> Option<Option<Timestamp>> {
        match self.present(key) {
            None if required => {
                self.fail(key, "is required");
                None
            }
            None => Some(None),
            Some(Value::String(s)) => match s.parse::<Timestamp>() {
                Ok(t) => Some(Some(t)),
                Err(_) => {
                    self.fail(
                        key,
                        "must be an RFC 3339 time with an offset, such as 2027-06-08T09:00:00+01:00",
                    );
                    None
                }
            },
            Some(_) => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn required_timestamp(&mut self, key: &str) -> Option<Timestamp> {
        self.timestamp(key, true).flatten()
    }

    fn slug(&mut self, key: &str) -> Option<Option<Slug>> {
        match self.present(key) {
            None => Some(None),
            Some(Value::String(s)) => match Slug::parse(s) {
                Ok(slug) => Some(Some(slug)),
                Err(e) => {
                    self.fail(key, e.0);
                    None
                }
            },
            Some(_) => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn array(&mut self, key: &str, max: usize) -> Option<&'a [Value]> {
        match self.present(key) {
            None => Some(&[]),
            Some(Value::Array(items)) if items.len() <= max => Some(items),
            Some(Value::Array(_)) => {
                self.fail(key, format!("must have at most {max} items"));
                None
            }
            Some(_) => {
                self.fail(key, "must be an array");
                None
            }
        }
    }

    /// A `true`/`false` field, `default` when absent.
    fn flag(&mut self, key: &str, default: bool) -> Option<bool> {
        match self.present(key) {
            None => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(key, "must be true or false");
                None
            }
        }
    }

    /// A whole number in `range`, `default` when absent.
    fn whole(
        &mut self,
        key: &str,
        range: std::ops::RangeInclusive<u32>,
        default: Option<u32>,
    ) -> Option<u32> {
        match (self.present(key), default) {
            (None, Some(default)) => Some(default),
            (None, None) => {
                self.fail(key, "is required");
                None
            }
            (Some(value), _) => match value.as_u64() {
                Some(n) if range.contains(&n.try_into().unwrap_or(u32::MAX)) => Some(n as u32),
                _ => {
                    self.fail(
                        key,
                        format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    );
                    None
                }
            },
        }
    }

    fn capacity(&mut self, key: &str) -> Option<Option<u32>> {
        match self.present(key) {
            None => Some(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(c) if (1..=MAX_CAPACITY).contains(&c) => Some(Some(c as u32)),
                _ => {
                    self.fail(
                        key,
                        format!("must be a whole number from 1 to {MAX_CAPACITY}, or null"),
                    );
                    None
                }
            },
            Some(_) => {
                self.fail(key, "must be a number or null");
                None
            }
        }
    }

    fn url(&mut self, key: &str) -> Option<Option<String>> {
        match self.present(key) {
            None => Some(None),
            Some(Value::String(s)) if is_web_url(s) => Some(Some(s.clone())),
            Some(_) => {
                self.fail(key, "must be an http or https URL");
                None
            }
        }
    }

    fn nested(&mut self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn is_web_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    s.len() <= MAX_URL
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// The event's own fields (tracks and rooms included).
pub fn event(input: &Value) -> Result<Event, Errors> {
    let mut errors = Vec::new();
    let event = read_event(input, "", &mut errors);
    match event {
        Some(e) if errors.is_empty() => Ok(e),
        _ => Err(errors),
    }
}

fn read_event(input: &Value, prefix: &str, errors: &mut Errors) -> Option<Event> {
    const FIELDS: &[&str] = &[
        "name",
        "timezone",
        "starts_at",
        "ends_at",
        "description",
        "venue",
        "tracks",
        "rooms",
        "registration",
    ];
    let mut r = Reader::new(input, prefix, FIELDS, errors)?;
    let name = r.line("name", true, MAX_NAME);
    let timezone = r.line("timezone", true, 64);
    if let Some(tz) = &timezone
        && !check_zone(tz)
    {
        r.fail(
            "timezone",
            "must be an IANA time zone such as Europe/Lisbon",
        );
    }
    let starts_at = r.required_timestamp("starts_at");
    let ends_at = r.required_timestamp("ends_at");
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && e <= s
    {
        r.fail("ends_at", "must be after starts_at");
    }
    let description = r.text("description", false, MAX_TEXT);
    let venue = r.line("venue", false, MAX_NAME);
    let tracks = read_named_list(&mut r, "tracks", MAX_TRACKS, |r| {
        Some(Track {
            id: r.slug("id")?.or_else(|| {
                r.fail("id", "is required");
                None
            })?,
            name: r.line("name", true, MAX_NAME)?,
        })
    });
    let rooms = read_named_list(&mut r, "rooms", MAX_ROOMS, |r| {
        let id = r.slug("id")?.or_else(|| {
            r.fail("id", "is required");
            None
        });
        let name = r.line("name", true, MAX_NAME);
        let capacity = r.capacity("capacity");
        Some(Room {
            id: id?,
            name: name?,
            capacity: capacity?,
        })
    });
    let registration = match r.present("registration") {
        None => Some(RegistrationSettings::default()),
        Some(value) => {
            let prefix = r.nested("registration.");
            read_registration(value, &prefix, r.errors)
        }
    };
    let tz_ok = timezone.as_deref().is_some_and(check_zone);
    Some(Event {
        name: name?,
        timezone: timezone.filter(|_| tz_ok)?,
        starts_at: starts_at?,
        ends_at: ends_at?,
        description: description?,
        venue: venue?,
        tracks: tracks?,
        rooms: rooms?,
        registration: registration?,
    })
}

/// A list of objects with unique `id`s, each read by `item`.
fn read_named_list<T>(
    r: &mut Reader<'_>,
    key: &str,
    max: usize,
    item: impl Fn(&mut Reader<'_>) -> Option<T>,
) -> Option<Vec<T>>
where
    T: HasId,
{
    let items = r.array(key, max)?;
    let base = r.nested(key);
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (i, value) in items.iter().enumerate() {
        let prefix = format!("{base}[{i}].");
        let Some(mut reader) = Reader::new(value, &prefix, T::FIELDS, r.errors) else {
            ok = false;
            continue;
        };
        match item(&mut reader) {
            Some(v) if seen.insert(v.id().clone()) => out.push(v),
            Some(_) => {
                reader.fail("id", "is used twice");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

trait HasId {
    const FIELDS: &'static [&'static str];
    fn id(&self) -> &Slug;
}

impl HasId for Track {
    const FIELDS: &'static [&'static str] = &["id", "name"];
    fn id(&self) -> &Slug {
        &self.id
    }
}

impl HasId for Room {
    const FIELDS: &'static [&'static str] = &["id", "name", "capacity"];
    fn id(&self) -> &Slug {
        &self.id
    }
}

fn read_registration(
    value: &Value,
    prefix: &str,
    errors: &mut Errors,
) -> Option<RegistrationSettings> {
    let mut r = Reader::new(
        value,
        prefix,
        &[
            "open",
            "capacity",
            "opens_at",
            "closes_at",
            "confirm_email",
            "hold_minutes",
        ],
        errors,
    )?;
    let open = r.flag("open", true);
    let confirm_email = r.flag("confirm_email", true);
    let hold_minutes = match r.present("hold_minutes") {
        None => Some(DEFAULT_HOLD_MINUTES),
        Some(value) => match value.as_u64() {
            Some(m) if (1..=u64::from(MAX_HOLD_MINUTES)).contains(&m) => Some(m as u32),
            _ => {
                r.fail(
                    "hold_minutes",
                    format!("must be a whole number of minutes from 1 to {MAX_HOLD_MINUTES}"),
                );
                None
            }
        },
    };
    let capacity = r.capacity("capacity");
    let opens_at = r.timestamp("opens_at", false);
    let closes_at = r.timestamp("closes_at", false);
    if let (Some(Some(o)), Some(Some(c))) = (opens_at, closes_at)
        && c <= o
    {
        r.fail("closes_at", "must be after opens_at");
        return None;
    }
    Some(RegistrationSettings {
        open: open?,
        capacity: capacity?,
        opens_at: opens_at?,
        closes_at: closes_at?,
        confirm_email: confirm_email?,
        hold_minutes: hold_minutes?,
    })
}

/// A session of `event`, with references to tracks, rooms and speakers
/// checked against `speakers` (the ids of the draft's speakers).
pub fn session(
    id: &Slug,
    input: &Value,
    event: &Event,
    speakers: &HashSet<Slug>,
) -> Result<Session, Errors> {
    let mut errors = Vec::new();
    let session = read_session(id.clone(), input, "", event, speakers, &mut errors);
    match session {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(errors),
    }
}

fn read_session(
    id: Slug,
    input: &Value,
    prefix: &str,
    event: &Event,
    speakers: &HashSet<Slug>,
    errors: &mut Errors,
) -> Option<Session> {
    const FIELDS: &[&str] = &[
        "id",
        "title",
        "abstract",
        "starts_at",
        "ends_at",
        "track",
        "room",
        "speakers",
        "tags",
        "links",
        "capacity",
        "registration_required",
    ];
    let mut r = Reader::new(input, prefix, FIELDS, errors)?;
    if let Some(Value::String(body_id)) = r.present("id")
        && body_id != id.as_str()
    {
        r.fail("id", "must match the id in the address");
    }
    let title = r.line("title", true, MAX_NAME);
    let summary = r.text("abstract", false, MAX_TEXT);
    let starts_at = r.required_timestamp("starts_at");
    let ends_at = r.required_timestamp("ends_at");
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        if e <= s {
            r.fail("ends_at", "must be after starts_at");
        }
        let (first, last) = event_days(event);
        if s < first || e > last {
            r.fail("starts_at", "must fall within the event's dates");
        }
    }
    let track = r.slug("track");
    if let Some(Some(t)) = &track
        && !event.tracks.iter().any(|x| &x.id == t)
    {
        r.fail(
            "track",
            format!("names track {t:?}, which the event does not have"),
        );
    }
    let room = r.slug("room");
    if let Some(Some(rm)) = &room
        && !event.rooms.iter().any(|x| &x.id == rm)
    {
        r.fail(
            "room",
            format!("names room {rm:?}, which the event does not have"),
        );
    }
    let speaker_ids = read_speaker_refs(&mut r, speakers);
    let tags = read_tags(&mut r);
    let capacity = r.capacity("capacity");
    let registration_required = r.flag("registration_required", false);
    let links = match r.present("links") {
        None => Some(SessionLinks::default()),
        Some(value) => {
            let prefix = r.nested("links.");
            read_session_links(value, &prefix, r.errors)
        }
    };
    Some(Session {
        id,
        title: title?,
        summary: summary?,
        starts_at: starts_at?,
        ends_at: ends_at?,
        track: track?,
        room: room?,
        speakers: speaker_ids?,
        tags: tags?,
        links: links?,
        capacity: capacity?,
        registration_required: registration_required?,
    })
}

/// The first instant of the event's first day and the last of its last
/// day, in the event's own zone.
fn event_days(event: &Event) -> (Timestamp, Timestamp) {
    let tz = TimeZone::get(&event.timezone).unwrap_or(TimeZone::UTC);
    let start = event.starts_at.to_zoned(tz.clone());
    let end = event.ends_at.to_zoned(tz);
    let first = start
        .start_of_day()
        .map_or(event.starts_at, |z| z.timestamp());
    let last = end.end_of_day().map_or(event.ends_at, |z| z.timestamp());
    (first, last)
}

fn read_speaker_refs(r: &mut Reader<'_>, known: &HashSet<Slug>) -> Option<Vec<Slug>> {
    let items = r.array("speakers", MAX_SESSION_SPEAKERS)?;
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match item.as_str().map(Slug::parse) {
            Some(Ok(id)) if known.contains(&id) => {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Some(Ok(id)) => {
                r.fail(
                    "speakers",
                    format!("names speaker {id:?}, who is not in the draft"),
                );
                ok = false;
            }
            _ => {
                r.fail("speakers", "must be a list of speaker ids");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn read_tags(r: &mut Reader<'_>) -> Option<Vec<String>> {
    let items = r.array("tags", MAX_TAGS)?;
    let tags: Option<Vec<String>> = items
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TAG)
                .map(String::from)
        })
        .collect();
    if tags.is_none() {
        r.fail(
            "tags",
            format!("must be a list of words of 1 to {MAX_TAG} characters"),
        );
    }
    tags
}

fn read_session_links(value: &Value, prefix: &str, errors: &mut Errors) -> Option<SessionLinks> {
    let mut r = Reader::new(value, prefix, &["live", "recording", "slides"], errors)?;
    let live = r.url("live");
    let recording = r.url("recording");
    let slides = r.url("slides");
    Some(SessionLinks {
        live: live?,
        recording: recording?,
        slides: slides?,
    })
}

/// What an attendee sends to register: a name and an email address, and
/// the waiting room's ticket when the event has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegistration {
    pub name: String,
    pub email: Email,
    pub ticket: Option<String>,
}

/// An attendee's registration body.
pub fn registration(input: &Value) -> Result<NewRegistration, Errors> {
    let mut errors = Vec::new();
    let fields = ["name", "email", "ticket"];
    let registration = Reader::new(input, "", &fields, &mut errors).and_then(|mut r| {
        let name = r
            .line("name", true, MAX_NAME)
            .and_then(|name| match link_or_markup(&name) {
                Some(why) => {
                    r.fail("name", why);
                    None
                }
                None => Some(name),
            });
        let email = match r.present("email") {
            Some(Value::String(e)) => Email::parse(e).map_err(|e| r.fail("email", e.0)).ok(),
            Some(_) => {
                r.fail("email", "must be a string");
                None
            }
            None => {
                r.fail("email", "is required");
                None
            }
        };
        let ticket = match r.present("ticket") {
            None => Some(None),
            Some(Value::String(t)) => Some(Some(t.clone())),
            Some(_) => {
                r.fail("ticket", "must be a string");
                None
            }
        };
        Some(NewRegistration {
            name: name?,
            email: email?,
            ticket: ticket?,
        })
    });
    match registration {
        Some(r) if errors.is_empty() => Ok(r),
        _ => Err(errors),
    }
}

/// An organizer's waiting-room settings (`waiting_room::WaitingRoom`).
pub fn waiting_room(input: &Value) -> Result<WaitingRoom, Errors> {
    let mut errors = Vec::new();
    let fields = [
        "opens_at",
        "prequeue_minutes",
        "per_minute",
        "admitted_for_minutes",
        "paused",
        "pace",
    ];
    let room = Reader::new(input, "", &fields, &mut errors).and_then(|mut r| {
        let opens_at = r.required_timestamp("opens_at");
        let prequeue = r.whole("prequeue_minutes", 0..=MAX_PREQUEUE_MINUTES, Some(0));
        let per_minute = r.whole("per_minute", 1..=MAX_PER_MINUTE, None);
        let admitted_for = r.whole(
            "admitted_for_minutes",
            1..=MAX_ADMITTED_FOR_MINUTES,
            Some(DEFAULT_ADMITTED_FOR_MINUTES),
        );
        let paused = r.flag("paused", false);
        let pace = match r.text("pace", false, 16).as_deref() {
            // Absent (read as empty) or wrongly typed (failed already).
            None => None,
            Some("" | "rate") => Some(Pace::Rate),
            Some("decided") => Some(Pace::Decided),
            Some(_) => {
                r.fail("pace", "must be rate or decided");
                None
            }
        };
        Some(WaitingRoom {
            opens_at: opens_at?,
            prequeue_minutes: prequeue?,
            per_minute: per_minute?,
            pace: pace?,
            admitted_for_minutes: admitted_for?,
            paused: paused?,
        })
    });
    match room {
        Some(room) if errors.is_empty() => Ok(room),
        _ => Err(errors),
    }
}

/// Why an attendee's name cannot go into mail as it is, if it cannot: the
/// name is written into every message the organizer's sender sends to an
/// address anyone may type, so it must not carry a web address (which
/// mail clients make a link of, even in plain text) or markup.
fn link_or_markup(name: &str) -> Option<&'static str> {
    if name.contains(['<', '>']) {
        return Some("must not contain markup (< or >)");
    }
    let lower = name.to_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return Some("must not contain a web address");
    }
    let looks_like_a_domain = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let Some((before, last)) = word.rsplit_once('.') else {
            return false;
        };
        // `evil.com`, `pay.example.net/x`, `ada@example.org`; not
        // `J.R.R.` or `St.John`, whose last part no host name has.
        let last = last.split('/').next().unwrap_or_default();
        !before.is_empty()
            && (2..=24).contains(&last.len())
            && last.bytes().all(|b| b.is_ascii_lowercase())
    };
    if name.split_whitespace().any(looks_like_a_domain) {
        return Some("must not contain a web or email address");
    }
    None
}

/// A speaker of the draft.
pub fn speaker(id: &Slug, input: &Value) -> Result<Speaker, Errors> {
    let mut errors = Vec::new();
    let speaker = read_speaker(id.clone(), input, "", &mut errors);
    match speaker {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(errors),
    }
}

fn read_speaker(id: Slug, input: &Value, prefix: &str, errors: &mut Errors) -> Option<Speaker> {
    let mut r = Reader::new(
        input,
        prefix,
        &["id", "name", "bio", "affiliation", "links"],
        errors,
    )?;
    if let Some(Value::String(body_id)) = r.present("id")
        && body_id != id.as_str()
    {
        r.fail("id", "must match the id in the address");
    }
    let name = r.line("name", true, MAX_NAME);
    let bio = r.text("bio", false, MAX_TEXT);
    let affiliation = r.line("affiliation", false, MAX_NAME);
    let links = match r.present("links") {
        None => Some(BTreeMap::new()),
        Some(Value::Object(map)) if map.len() <= MAX_LINKS => {
            let mut links = BTreeMap::new();
            let mut ok = true;
            for (label, url) in map {
                match url.as_str() {
                    Some(u) if is_web_url(u) && (1..=MAX_TAG).contains(&label.len()) => {
                        links.insert(label.clone(), u.to_string());
                    }
                    _ => ok = false,
                }
            }
            if !ok {
                r.fail("links", "must map short labels to http or https URLs");
            }
            ok.then_some(links)
        }
        Some(_) => {
            r.fail(
                "links",
                format!("must be an object of at most {MAX_LINKS} labelled URLs"),
            );
            None
        }
    };
    Some(Speaker {
        id,
        name: name?,
        bio: bio?,
        affiliation: affiliation?,
        links: links?,
    })
}

/// What the draft export adds beside the draft, ignored on import so that
/// an export can be imported again as it is.
const DRAFT_EXPORT_ONLY: [&str; 3] = ["slug", "published_version", "archived"];

/// A whole draft, as imported in one request:
/// `{event: {...}, speakers: [{id, ...}], sessions: [{id, ...}]}`.
pub fn draft(input: &Value) -> Result<Draft, Errors> {
    let mut errors = Vec::new();
    let mut allowed = vec!["event", "sessions", "speakers"];
    allowed.extend(DRAFT_EXPORT_ONLY);
    let Some(mut r) = Reader::new(input, "", &allowed, &mut errors) else {
        return Err(errors);
    };
    let event = match r.present("event") {
        Some(v) => read_event(v, "event.", r.errors),
        None => {
            r.fail("event", "is required");
            None
        }
    };
    let speakers = read_entities(&mut r, "speakers", MAX_SPEAKERS, |id, v, p, errors| {
        read_speaker(id, v, p, errors)
    });
    let speaker_ids: HashSet<Slug> = speakers.iter().flatten().map(|s| s.id.clone()).collect();
    let sessions = match &event {
        Some(event) => read_entities(&mut r, "sessions", MAX_SESSIONS, |id, v, p, errors| {
            read_session(id, v, p, event, &speaker_ids, errors)
        }),
        None => None,
    };
    match (event, sessions, speakers) {
        (Some(event), Some(sessions), Some(speakers)) if errors.is_empty() => Ok(Draft {
            event,
            sessions,
            speakers,
        }),
        _ => Err(errors),
    }
}

fn read_entities<T>(
    r: &mut Reader<'_>,
    key: &str,
    max: usize,
    read: impl Fn(Slug, &Value, &str, &mut Errors) -> Option<T>,
) -> Option<Vec<T>> {
    let items = r.array(key, max)?;
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (i, value) in items.iter().enumerate() {
        let prefix = format!("{key}[{i}].");
        let id = value.get("id").and_then(Value::as_str).map(Slug::parse);
        match id {
            Some(Ok(id)) if seen.insert(id.clone()) => match read(id, value, &prefix, r.errors) {
                Some(v) => out.push(v),
                None => ok = false,
            },
            Some(Ok(_)) => {
                r.errors
                    .push(FieldError::new(format!("{prefix}id"), "is used twice"));
                ok = false;
            }
            Some(Err(e)) => {
                r.errors.push(FieldError::new(format!("{prefix}id"), e.0));
                ok = false;
            }
            None => {
                r.errors
                    .push(FieldError::new(format!("{prefix}id"), "is required"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// What sessions would be left pointing at tracks or rooms that `event`
/// no longer has, or outside its new dates.
pub fn sessions_still_fit(event: &Event, sessions: &[Session]) -> Errors {
    let (first, last) = event_days(event);
    let mut errors = Vec::new();
    for s in sessions {
        if let Some(t) = &s.track
            && !event.tracks.iter().any(|x| &x.id == t)
        {
            errors.push(FieldError::new(
                "tracks",
                format!("track {t:?} is still used by session {:?}", s.id.as_str()),
            ));
        }
        if let Some(rm) = &s.room
            && !event.rooms.iter().any(|x| &x.id == rm)
        {
            errors.push(FieldError::new(
                "rooms",
                format!("room {rm:?} is still used by session {:?}", s.id.as_str()),
            ));
        }
        if s.starts_at < first || s.ends_at > last {
            errors.push(FieldError::new(
                "starts_at",
                format!(
                    "session {:?} would fall outside the event's dates",
                    s.id.as_str()
                ),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_is_a_name_on_one_line_and_an_email() {
        let ok = registration(&json!({"name": "  Ada  ", "email": "ada@example.com"})).unwrap();
        assert_eq!(ok.name, "Ada");
        assert_eq!(ok.email.as_str(), "ada@example.com");

        let fields = |body: Value| -> Vec<String> {
            registration(&body)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(json!({"name": "A\nB", "email": "a@b.c"})), ["name"]);
        assert_eq!(fields(json!({"name": "A", "email": "nope"})), ["email"]);
        assert_eq!(fields(json!({"name": "A", "email": 7})), ["email"]);
        assert_eq!(fields(json!({})), ["name", "email"]);
        assert_eq!(
            fields(json!({"name": "A", "email": "a@b.c", "admin": true})),
            ["admin"]
        );
        assert_eq!(fields(json!(["A", "a@b.c"])), ["body"]);
    }

    #[test]
    fn a_name_carries_no_web_address_and_no_markup_into_mail() {
        let refused = |name: &str| {
            registration(&json!({"name": name, "email": "a@example.com"}))
                .err()
                .map(|errors| errors[0].message.clone())
        };
        for name in [
            "Payment failed, pay at https://evil.example/pay",
            "see www.evil.example",
            "Ada pay.example.net/x",
            "go to evil.com now",
            "write to help@evil.org",
            "(evil.io)",
            "<b>Ada</b>",
            "Ada <script>",
        ] {
            assert!(refused(name).is_some(), "{name} was taken");
        }
        assert_eq!(
            refused("Payment failed, pay at https://evil.example/pay").unwrap(),
            "must not contain a web address"
        );
        for name in [
            "Ada Lovelace",
            "J.R.R. Tolkien",
            "Dr. Grace M. Hopper",
            "St.John Smith",
            "Jean-Luc O'Neill",
            "Zoë Ørsted-Łukasiewicz",
            "Ada & Grace",
        ] {
            assert_eq!(refused(name), None, "{name} was refused");
        }
    }
    use serde_json::json;

    fn event_json() -> Value {
        json!({
            "name": "Edge Summit",
            "timezone": "Europe/Lisbon",
            "starts_at": "2027-06-08T09:00:00+01:00",
            "ends_at": "2027-06-10T18:00:00+01:00",
            "tracks": [{"id": "runtime", "name": "Runtime"}],
            "rooms": [{"id": "hall-a", "name": "Hall A", "capacity": 300}],
            "registration": {"open": true, "capacity": 50}
        })
    }

    fn fields(errors: &Errors) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_valid_event_parses() {
        let event = event(&event_json()).unwrap();
        assert_eq!(event.registration.capacity, Some(50));
        assert_eq!(event.rooms[0].capacity, Some(300));
        assert_eq!(event.starts_at.to_string(), "2027-06-08T08:00:00Z");
    }

    #[test]
    fn every_bad_event_field_is_named() {
        let bad = json!({
            "name": "",
            "timezone": "Mars/Olympus",
            "starts_at": "2027-06-08 09:00",
            "ends_at": 5,
            "tracks": [{"id": "Bad Id", "name": "x"}, {"id": "a", "name": "x"}, {"id": "a", "name": "y"}],
            "rooms": "none",
            "registration": {"capacity": 0},
            "colour": "blue"
        });
        let errors = event(&bad).unwrap_err();
        let f = fields(&errors);
        for expected in [
            "name",
            "timezone",
            "starts_at",
            "ends_at",
            "tracks[0].id",
            "tracks[2].id",
            "rooms",
            "registration.capacity",
            "colour",
        ] {
            assert!(f.contains(&expected), "{expected} not in {f:?}");
        }
    }

    #[test]
    fn confirmation_is_on_by_default_and_its_hold_is_bounded() {
        let e = event(&event_json()).unwrap();
        assert!(e.registration.confirm_email);
        assert_eq!(e.registration.hold_minutes, 30);
        let mut direct = event_json();
        direct["registration"] = json!({"confirm_email": false, "hold_minutes": 90});
        let direct = event(&direct).unwrap();
        assert!(!direct.registration.confirm_email);
        assert_eq!(direct.registration.hold_minutes, 90);
        for (confirm, hold) in [(json!("yes"), json!(30)), (json!(true), json!(0))] {
            let mut bad = event_json();
            bad["registration"] = json!({"confirm_email": confirm, "hold_minutes": hold});
            assert_eq!(fields(&event(&bad).unwrap_err()).len(), 1);
        }
        let mut long = event_json();
        long["registration"] = json!({"hold_minutes": 7 * 24 * 60 + 1});
        assert_eq!(
            fields(&event(&long).unwrap_err()),
            ["registration.hold_minutes"]
        );
    }

    #[test]
    fn one_line_fields_refuse_line_breaks_and_descriptions_keep_them() {
        let mut e = event_json();
        e["name"] = json!("Summit\r\nBEGIN:VEVENT");
        e["venue"] = json!("Hall\u{0007}");
        e["tracks"][0]["name"] = json!("Run\ntime");
        e["rooms"][0]["name"] = json!("Hall\tA");
        e["description"] = json!("Two\nlines\tand a tab");
        assert_eq!(
            fields(&event(&e).unwrap_err()),
            ["name", "venue", "tracks[0].name", "rooms[0].name"]
        );
        let id = Slug::parse("ada").unwrap();
        let errors = speaker(
            &id,
            &json!({"name": "Ada\nLovelace", "affiliation": "A\rB"}),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), ["name", "affiliation"]);
    }

    #[test]
    fn ends_must_follow_starts() {
        let mut e = event_json();
        e["ends_at"] = json!("2027-06-08T08:00:00+01:00");
        assert_eq!(fields(&event(&e).unwrap_err()), ["ends_at"]);
    }

    #[test]
    fn sessions_must_fit_the_event_and_reference_what_exists() {
        let event = event(&event_json()).unwrap();
        let speakers = HashSet::from([Slug::parse("ada").unwrap()]);
        let id = Slug::parse("opening").unwrap();
        let ok = json!({
            "title": "Opening", "starts_at": "2027-06-08T09:00:00+01:00",
            "ends_at": "2027-06-08T09:30:00+01:00", "track": "runtime", "room": "hall-a",
            "speakers": ["ada"], "tags": ["keynote"], "links": {"slides": "https://example.org/s"}
        });
        let s = session(&id, &ok, &event, &speakers).unwrap();
        assert_eq!(s.speakers, [Slug::parse("ada").unwrap()]);

        let bad = json!({
            "title": "x".repeat(MAX_NAME + 1), "starts_at": "2027-06-12T09:00:00+01:00",
            "ends_at": "2027-06-12T08:00:00+01:00", "track": "nope", "room": "nowhere",
            "speakers": ["grace"], "links": {"live": "ftp://x"}
        });
        let errors = session(&id, &bad, &event, &speakers).unwrap_err();
        let f = fields(&errors);
        for expected in [
            "title",
            "ends_at",
            "starts_at",
            "track",
            "room",
            "speakers",
            "links.live",
        ] {
            assert!(f.contains(&expected), "{expected} not in {f:?}");
        }
    }

    #[test]
    fn a_session_on_the_last_evening_in_the_events_zone_fits() {
        let event = event(&event_json()).unwrap();
        let late = json!({
            "title": "Party", "starts_at": "2027-06-10T20:00:00+01:00",
            "ends_at": "2027-06-10T23:30:00+01:00"
        });
        let id = Slug::parse("party").unwrap();
        assert!(session(&id, &late, &event, &HashSet::new()).is_ok());
    }

    #[test]
    fn a_draft_imports_whole_or_not_at_all() {
        let draft_json = json!({
            "event": event_json(),
            "speakers": [{"id": "ada", "name": "Ada"}],
            "sessions": [{"id": "s1", "title": "One", "starts_at": "2027-06-08T10:00:00+01:00",
                          "ends_at": "2027-06-08T10:30:00+01:00", "speakers": ["ada"]}]
        });
        let d = draft(&draft_json).unwrap();
        assert_eq!((d.sessions.len(), d.speakers.len()), (1, 1));

        // What the export adds beside the draft is ignored, nothing else.
        let mut exported = draft_json.clone();
        exported["slug"] = json!("summit");
        exported["published_version"] = json!(3);
        exported["archived"] = json!(false);
        assert!(draft(&exported).is_ok());
        exported["status"] = json!("live");
        assert_eq!(fields(&draft(&exported).unwrap_err()), ["status"]);

        let mut broken = draft_json.clone();
        broken["sessions"][0]["speakers"] = json!(["nobody"]);
        broken["speakers"][0]["links"] = json!({"web": "not a url"});
        let errors = draft(&broken).unwrap_err();
        let f = fields(&errors);
        assert!(f.contains(&"sessions[0].speakers"), "{f:?}");
        assert!(f.contains(&"speakers[0].links"), "{f:?}");
    }

    #[test]
    fn removing_a_track_in_use_is_reported() {
        let event = event(&event_json()).unwrap();
        let session = Session {
            id: Slug::parse("s").unwrap(),
            title: "t".into(),
            summary: String::new(),
            starts_at: "2027-06-08T09:00:00Z".parse().unwrap(),
            ends_at: "2027-06-08T10:00:00Z".parse().unwrap(),
            track: Some(Slug::parse("runtime").unwrap()),
            room: None,
            speakers: vec![],
            tags: vec![],
            links: SessionLinks::default(),
            capacity: None,
            registration_required: false,
        };
        assert!(sessions_still_fit(&event, std::slice::from_ref(&session)).is_empty());
        let mut without = event.clone();
        without.tracks.clear();
        assert_eq!(
            fields(&sessions_still_fit(&without, &[session])),
            ["tracks"]
        );
    }

    #[test]
    fn a_waiting_room_paces_at_its_rate_unless_told_to_follow_decisions() {
        let opens = "2027-06-08T09:00:00Z";
        let at_rate = waiting_room(&json!({"opens_at": opens, "per_minute": 600})).unwrap();
        assert_eq!(at_rate.pace, Pace::Rate);
        assert_eq!(at_rate.admitted_for_minutes, DEFAULT_ADMITTED_FOR_MINUTES);
        let decided =
            waiting_room(&json!({"opens_at": opens, "per_minute": 600, "pace": "decided"}));
        assert_eq!(decided.unwrap().pace, Pace::Decided);
        let fields = |body: Value| -> Vec<String> {
            waiting_room(&body)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(json!({"opens_at": opens, "per_minute": 600, "pace": "fast"})),
            ["pace"]
        );
        assert_eq!(
            fields(json!({"opens_at": opens, "per_minute": 0, "pace": 1})),
            ["per_minute", "pace"]
        );
    }
}
