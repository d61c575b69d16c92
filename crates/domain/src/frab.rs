//! The schedule in the frab/c3voc JSON format (`schedule.json`) and in
//! frab's XML (`schedule.xml`, rendered from the JSON), read by
//! the recording teams' tools and by schedule apps such as Giggity and
//! ConfClerk. Rendered once per published version, as a snapshot
//! document. Identifiers are stable across versions: GUIDs are
//! `ids::stable_guid`s of the room, session and speaker ids, and a
//! session's integer id is taken from its GUID.

use crate::ids::{Slug, stable_guid, stable_uuid};
use crate::model::{Draft, Session};
use crate::snapshot::render_time;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use quick_xml::Writer;
use quick_xml::events::BytesText;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// The room that sessions without one are listed in: frab puts every
/// event in a room.
const NO_ROOM: &str = "Venue";

fn hh_mm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn minutes(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_second() - from.as_second()).max(0) / 60
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The coarsest slot every start and duration falls on, between 5 and 60
/// minutes (15 when there is nothing to go by).
fn timeslot(sessions: &[&Session], tz: &TimeZone) -> i64 {
    let slot = sessions
        .iter()
        .flat_map(|s| {
            let start = s.starts_at.to_zoned(tz.clone());
            let of_hour = i64::from(start.minute());
            [of_hour, minutes(s.starts_at, s.ends_at)]
        })
        .fold(0, gcd);
    match slot {
        0 => 15,
        s => s.clamp(5, 60),
    }
}

/// Integer ids from the GUIDs, unique within the version: a clash (rare)
/// moves the later session, in id order, to the next free number.
fn integer_ids(slug: &Slug, sessions: &[&Session]) -> BTreeMap<String, u32> {
    let mut ordered: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    ordered.sort_unstable();
    let mut taken = HashSet::new();
    let mut ids = BTreeMap::new();
    for id in ordered {
        let bytes = stable_uuid(slug, "session", id).into_bytes();
        let mut n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x7fff_ffff;
        while !taken.insert(n) {
            n = (n + 1) & 0x7fff_ffff;
        }
        ids.insert(id.to_string(), n);
    }
    ids
}

/// `schedule.json` for version `version` of `slug`, its links under
/// `public_url` (the site attendees use, without a trailing slash).
pub fn schedule(slug: &Slug, draft: &Draft, version: u64, public_url: &str) -> Value {
    let event = &draft.event;
    let tz = TimeZone::get(&event.timezone).unwrap_or(TimeZone::UTC);
    let date_of = |t: Timestamp| t.to_zoned(tz.clone()).date();
    let mut sessions: Vec<&Session> = draft.sessions.iter().collect();
    sessions.sort_by(|a, b| (a.starts_at, &a.room, &a.id).cmp(&(b.starts_at, &b.room, &b.id)));
    let first = sessions
        .iter()
        .map(|s| date_of(s.starts_at))
        .chain([date_of(event.starts_at)])
        .min()
        .unwrap_or_else(|| date_of(event.starts_at));
    let last = sessions
        .iter()
        .map(|s| date_of(s.starts_at))
        .chain([date_of(event.ends_at)])
        .max()
        .unwrap_or(first);
    let room_name = |id: Option<&Slug>| {
        id.and_then(|id| event.rooms.iter().find(|r| &r.id == id))
            .map_or(NO_ROOM, |r| r.name.as_str())
    };
    let mut rooms: Vec<(&str, String)> = event
        .rooms
        .iter()
        .map(|r| (r.name.as_str(), stable_guid(slug, "room", r.id.as_str())))
        .collect();
    if sessions.iter().any(|s| s.room.is_none()) {
        rooms.push((NO_ROOM, stable_guid(slug, "room", "")));
    }
    let ids = integer_ids(slug, &sessions);
    let base = public_url.trim_end_matches('/');
    let mut days = Vec::new();
    let mut date = first;
    let mut index = 1;
    while date <= last {
        let today: Vec<&&Session> = sessions
            .iter()
            .filter(|s| date_of(s.starts_at) == date)
            .collect();
        let midnight = |d: Date| {
            d.to_zoned(tz.clone())
                .map_or(event.starts_at, |z| z.timestamp())
        };
        let day_start = today
            .iter()
            .map(|s| s.starts_at)
            .min()
            .unwrap_or_else(|| midnight(date));
        let day_end = today
            .iter()
            .map(|s| s.ends_at)
            .max()
            .unwrap_or_else(|| midnight(date.checked_add(1.day()).unwrap_or(date)));
        let mut by_room: BTreeMap<&str, Vec<Value>> =
            rooms.iter().map(|(name, _)| (*name, Vec::new())).collect();
        for session in today {
            let room = room_name(session.room.as_ref());
            let start = session.starts_at.to_zoned(tz.clone());
            let track = session
                .track
                .as_ref()
                .and_then(|t| event.tracks.iter().find(|tr| &tr.id == t))
                .map_or("", |t| t.name.as_str());
            let persons: Vec<Value> = session
                .speakers
                .iter()
                .filter_map(|id| draft.speakers.iter().find(|sp| &sp.id == id))
                .map(|sp| {
                    json!({
                        "guid": stable_guid(slug, "speaker", sp.id.as_str()),
                        "name": sp.name,
                        "public_name": sp.name,
                    })
                })
                .collect();
            let links: Vec<Value> = [
                ("Live stream", &session.links.live),
                ("Recording", &session.links.recording),
                ("Slides", &session.links.slides),
            ]
            .into_iter()
            .filter_map(|(title, url)| Some(json!({ "url": url.as_ref()?, "title": title })))
            .collect();
            by_room.entry(room).or_default().push(json!({
                "guid": stable_guid(slug, "session", session.id.as_str()),
                "id": ids[session.id.as_str()],
                "date": render_time(session.starts_at, &tz),
                "start": hh_mm(i64::from(start.hour()) * 60 + i64::from(start.minute())),
                "duration": hh_mm(minutes(session.starts_at, session.ends_at)),
                "room": room,
                "slug": format!("{slug}-{}", session.id),
                "url": format!("{base}/events/{slug}/sessions/{}", session.id),
                "title": session.title,
                "subtitle": "",
                "track": track,
                "type": "lecture",
                "language": "",
                // A session has one text; repeating it as the description
                // would double the largest export.
                "abstract": session.summary,
                "description": "",
                "persons": persons,
                "links": links,
                "attachments": [],
            }));
        }
        days.push(json!({
            "index": index,
            "date": date.to_string(),
            "day_start": render_time(day_start, &tz),
            "day_end": render_time(day_end, &tz),
            "rooms": by_room,
        }));
        index += 1;
        match date.checked_add(1.day()) {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    json!({
        "schedule": {
            "version": version.to_string(),
            "base_url": format!("{base}/"),
            "conference": {
                "acronym": slug,
                "title": event.name,
                "start": first.to_string(),
                "end": last.to_string(),
                "daysCount": days.len(),
                "timeslot_duration": hh_mm(timeslot(&sessions, &tz)),
                "time_zone_name": event.timezone,
                "rooms": rooms
                    .iter()
                    .map(|(name, guid)| json!({ "name": name, "guid": guid }))
                    .collect::<Vec<_>>(),
                "days": days,
            },
        },
    })
}

/// `schedule.xml`: the same schedule in frab's XML, rendered from the
/// JSON one so the two can never say different things.
pub fn schedule_xml(schedule: &Value) -> String {
    let mut out = Vec::from(&b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"[..]);
    // Unindented: a large event's schedule must stay under the 1 MB a
    // key-value value may hold.
    let mut writer = Writer::new(&mut out);
    // Writing to memory cannot fail.
    let _ = write_schedule(&mut writer, &schedule["schedule"]);
    String::from_utf8(out).unwrap_or_default()
}

type Xml<'a> = Writer<&'a mut Vec<u8>>;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `<name>text</name>`, or `<name/>` when empty.
fn leaf(w: &mut Xml<'_>, name: &str, value: &Value) -> std::io::Result<()> {
    let content = text(value);
    let element = w.create_element(name);
    if content.is_empty() {
        element.write_empty()?;
    } else {
        element.write_text_content(BytesText::new(&content))?;
    }
    Ok(())
}

fn write_schedule(w: &mut Xml<'_>, s: &Value) -> std::io::Result<()> {
    let c = &s["conference"];
    w.create_element("schedule").write_inner_content(|w| {
        w.create_element("generator")
            .with_attribute(("name", "eventfront"))
            .write_empty()?;
        leaf(w, "version", &s["version"])?;
        w.create_element("conference").write_inner_content(|w| {
            for key in ["acronym", "title", "start", "end"] {
                leaf(w, key, &c[key])?;
            }
            leaf(w, "days", &c["daysCount"])?;
            for key in ["timeslot_duration", "time_zone_name"] {
                leaf(w, key, &c[key])?;
            }
            leaf(w, "base_url", &s["base_url"])?;
            Ok::<_, std::io::Error>(())
        })?;
        for day in c["days"].as_array().into_iter().flatten() {
            write_day(w, day, &c["rooms"])?;
        }
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}

fn write_day(w: &mut Xml<'_>, day: &Value, rooms: &Value) -> std::io::Result<()> {
    w.create_element("day")
        .with_attribute(("index", text(&day["index"]).as_str()))
        .with_attribute(("date", text(&day["date"]).as_str()))
        .with_attribute(("start", text(&day["day_start"]).as_str()))
        .with_attribute(("end", text(&day["day_end"]).as_str()))
        .write_inner_content(|w| {
            // Rooms in the conference's order, each with its guid.
            for room in rooms.as_array().into_iter().flatten() {
                let name = text(&room["name"]);
                let events = &day["rooms"][name.as_str()];
                w.create_element("room")
                    .with_attribute(("name", name.as_str()))
                    .with_attribute(("guid", text(&room["guid"]).as_str()))
                    .write_inner_content(|w| {
                        for event in events.as_array().into_iter().flatten() {
                            write_event(w, event)?;
                        }
                        Ok::<_, std::io::Error>(())
                    })?;
            }
            Ok::<_, std::io::Error>(())
        })?;
    Ok(())
}

fn write_event(w: &mut Xml<'_>, e: &Value) -> std::io::Result<()> {
    w.create_element("event")
        .with_attribute(("guid", text(&e["guid"]).as_str()))
        .with_attribute(("id", text(&e["id"]).as_str()))
        .write_inner_content(|w| {
            for key in [
                "date",
                "start",
                "duration",
                "room",
                "slug",
                "url",
                "title",
                "subtitle",
                "track",
                "type",
                "language",
                "abstract",
                "description",
            ] {
                leaf(w, key, &e[key])?;
            }
            w.create_element("persons").write_inner_content(|w| {
                for p in e["persons"].as_array().into_iter().flatten() {
                    w.create_element("person")
                        .with_attribute(("guid", text(&p["guid"]).as_str()))
                        .write_text_content(BytesText::new(&text(&p["public_name"])))?;
                }
                Ok::<_, std::io::Error>(())
            })?;
            w.create_element("links").write_inner_content(|w| {
                for l in e["links"].as_array().into_iter().flatten() {
                    w.create_element("link")
                        .with_attribute(("href", text(&l["url"]).as_str()))
                        .write_text_content(BytesText::new(&text(&l["title"])))?;
                }
                Ok::<_, std::io::Error>(())
            })?;
            w.create_element("attachments").write_empty()?;
            Ok::<_, std::io::Error>(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{DEMO_SLUG, demo_draft};
    use uuid::Uuid;

    const SITE: &str = "https://events.example.com/";

    fn demo() -> (Slug, Draft) {
        (Slug::parse(DEMO_SLUG).unwrap(), demo_draft())
    }

    fn is_hh_mm(v: &Value) -> bool {
        v.as_str().is_some_and(|s| {
            let b = s.as_bytes();
            b.len() >= 5
                && s.split_once(':').is_some_and(|(h, m)| {
                    h.len() >= 2
                        && m.len() == 2
                        && h.bytes().all(|c| c.is_ascii_digit())
                        && m.parse::<u8>().is_ok_and(|m| m < 60)
                })
        })
    }

    /// RFC 3339 with a numeric offset, as the event's zone gives it.
    fn is_offset_time(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| s.parse::<Timestamp>().is_ok() && !s.ends_with('Z'))
    }

    #[test]
    fn every_field_the_format_requires_is_there_and_typed() {
        let (slug, draft) = demo();
        let doc = schedule(&slug, &draft, 7, SITE);
        let s = &doc["schedule"];
        assert_eq!(s["version"], "7");
        assert_eq!(s["base_url"], "https://events.example.com/");
        let c = &s["conference"];
        let acronym = c["acronym"].as_str().unwrap();
        assert!(
            acronym
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        );
        assert!(c["title"].is_string());
        for key in ["start", "end"] {
            assert!(c[key].as_str().unwrap().parse::<Date>().is_ok(), "{key}");
        }
        assert!(is_hh_mm(&c["timeslot_duration"]));
        assert_eq!(c["time_zone_name"], draft.event.timezone);
        let days = c["days"].as_array().unwrap();
        assert_eq!(c["daysCount"], days.len());
        for room in c["rooms"].as_array().unwrap() {
            assert!(room["name"].is_string());
            assert!(room["guid"].as_str().unwrap().parse::<Uuid>().is_ok());
        }
        let mut seen = 0;
        for (i, day) in days.iter().enumerate() {
            assert_eq!(day["index"], i + 1);
            assert!(day["date"].as_str().unwrap().parse::<Date>().is_ok());
            assert!(is_offset_time(&day["day_start"]) && is_offset_time(&day["day_end"]));
            for (room, events) in day["rooms"].as_object().unwrap() {
                for e in events.as_array().unwrap() {
                    seen += 1;
                    assert_eq!(e["room"], room.as_str());
                    assert!(e["guid"].as_str().unwrap().parse::<Uuid>().is_ok());
                    assert!(e["id"].is_u64());
                    assert!(is_offset_time(&e["date"]));
                    assert!(
                        e["date"]
                            .as_str()
                            .unwrap()
                            .starts_with(day["date"].as_str().unwrap())
                    );
                    assert!(is_hh_mm(&e["start"]) && is_hh_mm(&e["duration"]));
                    for key in [
                        "slug",
                        "url",
                        "title",
                        "subtitle",
                        "track",
                        "type",
                        "language",
                        "abstract",
                        "description",
                    ] {
                        assert!(e[key].is_string(), "{key} in {e}");
                    }
                    assert!(
                        e["url"]
                            .as_str()
                            .unwrap()
                            .starts_with("https://events.example.com/events/")
                    );
                    for p in e["persons"].as_array().unwrap() {
                        assert!(p["guid"].as_str().unwrap().parse::<Uuid>().is_ok());
                        assert!(p["name"].is_string() && p["public_name"].is_string());
                    }
                    for l in e["links"].as_array().unwrap() {
                        assert!(l["url"].is_string() && l["title"].is_string());
                    }
                    assert!(e["attachments"].is_array());
                }
            }
        }
        assert_eq!(seen, draft.sessions.len(), "every session, once");
    }

    #[test]
    fn two_exports_of_one_version_are_byte_identical_and_ids_are_stable() {
        let (slug, mut draft) = demo();
        let a = schedule(&slug, &draft, 1, SITE).to_string();
        let b = schedule(&slug, &draft, 1, SITE).to_string();
        assert_eq!(a, b);
        let first = |doc: &Value, id: &str| -> (Value, Value) {
            let days = doc["schedule"]["conference"]["days"].as_array().unwrap();
            days.iter()
                .flat_map(|d| d["rooms"].as_object().unwrap().values())
                .flat_map(|events| events.as_array().unwrap())
                .find(|e| e["slug"].as_str().unwrap().ends_with(id))
                .map(|e| (e["guid"].clone(), e["id"].clone()))
                .unwrap()
        };
        let kept = draft.sessions[1].id.to_string();
        let before = first(&serde_json::from_str(&a).unwrap(), &kept);
        draft.sessions.remove(0);
        let after = first(&schedule(&slug, &draft, 2, SITE), &kept);
        assert_eq!(
            before, after,
            "a session keeps its guid and id across versions"
        );
    }

    #[test]
    fn slots_follow_the_sessions() {
        let (slug, mut draft) = demo();
        for s in &mut draft.sessions {
            s.ends_at = s.starts_at + jiff::SignedDuration::from_mins(30);
        }
        let doc = schedule(&slug, &draft, 1, SITE);
        let slot = doc["schedule"]["conference"]["timeslot_duration"]
            .as_str()
            .unwrap();
        assert!(
            ["00:05", "00:10", "00:15", "00:30"].contains(&slot),
            "{slot}"
        );
        draft.sessions.clear();
        let empty = schedule(&slug, &draft, 1, SITE);
        assert_eq!(
            empty["schedule"]["conference"]["timeslot_duration"],
            "00:15"
        );
        assert!(
            empty["schedule"]["conference"]["daysCount"]
                .as_u64()
                .unwrap()
                >= 1
        );
    }

    #[test]
    fn the_xml_is_well_formed_and_carries_what_the_json_does() {
        use quick_xml::Reader;
        use quick_xml::events::Event;
        let (slug, mut draft) = demo();
        // Markup and ampersands in text must come out as text.
        draft.sessions[0].title = "Tags <b> & \"quotes\"".into();
        let json = schedule(&slug, &draft, 3, SITE);
        let xml = schedule_xml(&json);
        let mut reader = Reader::from_str(&xml);
        let (mut path, mut days, mut guids) = (Vec::new(), 0, Vec::new());
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    if name == "day" {
                        days += 1;
                    }
                    if name == "event" {
                        let guid = e.try_get_attribute("guid").unwrap().unwrap();
                        guids.push(String::from_utf8(guid.value.to_vec()).unwrap());
                    }
                    path.push(name);
                }
                Event::End(_) => {
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(path.is_empty(), "every element closed");
        let c = &json["schedule"]["conference"];
        assert_eq!(days, c["daysCount"].as_u64().unwrap() as usize);
        let json_guids: Vec<String> = c["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| {
                c["rooms"].as_array().unwrap().iter().flat_map(move |r| {
                    d["rooms"][r["name"].as_str().unwrap()]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["guid"].as_str().unwrap().to_string())
                })
            })
            .collect();
        assert_eq!(guids, json_guids, "the same events, in the same order");
        assert_eq!(guids.len(), draft.sessions.len());
        assert!(
            xml.contains("Tags &lt;b&gt; &amp; \"quotes\"")
                || xml.contains("Tags &lt;b&gt; &amp; &quot;quotes&quot;")
        );
    }
}
