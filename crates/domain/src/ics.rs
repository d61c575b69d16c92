//! iCalendar (RFC 5545) exports of the published agenda: one VEVENT per
//! session, in UTC so that every calendar places it right, with a UID that
//! stays the same across versions so that re-importing updates rather than
//! duplicates. Built from the snapshot's JSON documents.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, Property};
use serde_json::Value;

/// Who made the calendar (RFC 5545 §3.7.3).
pub const PRODID: &str = "-//Eventfront//Eventfront agenda//EN";

/// A one-line value: any control character (a line break above all, which
/// would start a new property) becomes a space. Published data refuses
/// them already; this holds for data stored before it did.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A text that may keep its line breaks (`\n`, which the writer escapes);
/// other control characters, a bare CR among them, become spaces.
fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// RFC 5545 TEXT escaping, for properties the writer passes through as
/// they are (`NAME` is not one it knows as text).
fn escaped(text: &str) -> String {
    one_line(text)
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
}

fn utc(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A calendar of `sessions` (snapshot session objects) of the event in
/// `event` (the snapshot's event document). `stamp` (RFC 3339) is the
/// publication time, so the same version always renders the same bytes.
pub fn calendar(event: &Value, sessions: &[&Value], speakers: &[Value], stamp: &str) -> String {
    let slug = event["slug"].as_str().unwrap_or("event");
    let stamp = utc(&Value::String(stamp.to_string())).unwrap_or_default();
    let room_name = |id: &Value| {
        event["rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| &r["id"] == id)
            .and_then(|r| r["name"].as_str())
            .map(String::from)
    };
    let speaker_names = |ids: &Value| -> Vec<String> {
        ids.as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| {
                speakers.iter().find(|s| &s["id"] == id)?["name"]
                    .as_str()
                    .map(one_line)
            })
            .collect()
    };
    let name = escaped(event["name"].as_str().unwrap_or(slug));
    let mut calendar = Calendar::empty();
    for (key, value) in [
        ("VERSION", "2.0"),
        ("PRODID", PRODID),
        ("CALSCALE", "GREGORIAN"),
        ("NAME", &name),
        ("X-WR-CALNAME", &name),
    ] {
        calendar.append_property(Property::new(key, value));
    }
    for session in sessions {
        let (Some(starts), Some(ends)) = (utc(&session["starts_at"]), utc(&session["ends_at"]))
        else {
            continue;
        };
        let id = session["id"].as_str().unwrap_or_default();
        let mut description = session["abstract"].as_str().unwrap_or_default().to_string();
        let names = speaker_names(&session["speakers"]);
        if !names.is_empty() {
            description = format!("{}\n\nWith {}", description.trim_end(), names.join(", "));
        }
        let mut vevent = Event::new();
        vevent
            .uid(&format!("{id}@{slug}.eventfront"))
            .timestamp(stamp)
            .summary(&one_line(session["title"].as_str().unwrap_or_default()))
            .description(&multi_line(description.trim()))
            .starts(starts)
            .ends(ends);
        if let Some(room) = room_name(&session["room"]) {
            vevent.location(&one_line(&room));
        }
        calendar.push(vevent.done());
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sessions_become_vevents_that_parse_back_in_utc() {
        let event =
            json!({"slug": "summit", "name": "Summit", "rooms": [{"id": "a", "name": "Hall A"}]});
        let session = json!({
            "id": "opening", "title": "Opening, with commas; and semicolons",
            "abstract": "Welcome.", "starts_at": "2027-06-08T09:00:00+01:00",
            "ends_at": "2027-06-08T09:30:00+01:00", "room": "a", "speakers": ["ada"]
        });
        let speakers = [json!({"id": "ada", "name": "Ada Lovelace"})];
        let text = calendar(&event, &[&session], &speakers, "2027-01-01T00:00:00Z");
        assert_eq!(
            text,
            calendar(&event, &[&session], &speakers, "2027-01-01T00:00:00Z"),
            "stable bytes"
        );

        let parsed: icalendar::Calendar = text.parse().unwrap();
        let vevent = parsed.components[0].as_event().unwrap();
        assert_eq!(vevent.get_uid(), Some("opening@summit.eventfront"));
        assert_eq!(
            vevent.get_summary(),
            Some("Opening, with commas; and semicolons")
        );
        assert_eq!(vevent.get_location(), Some("Hall A"));
        assert!(vevent.get_description().unwrap().contains("Ada Lovelace"));
        let starts = match vevent.get_start().unwrap() {
            icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t)) => t,
            other => panic!("start not in UTC: {other:?}"),
        };
        assert_eq!(starts.to_rfc3339(), "2027-06-08T08:00:00+00:00");
    }

    #[test]
    fn nothing_stored_can_add_a_line_or_a_property() {
        let event = json!({
            "slug": "summit",
            "name": "Summit\nBEGIN:VEVENT\r\nUID:evil, with; marks\\",
            "rooms": [{"id": "a", "name": "Hall\r\nX-EVIL:1"}]
        });
        let session = json!({
            "id": "s", "title": "Talk\r\nATTENDEE:mailto:x@example.com",
            "abstract": "Line one\r\nLine two\rstill two", "starts_at": "2027-06-08T09:00:00+01:00",
            "ends_at": "2027-06-08T09:30:00+01:00", "room": "a", "speakers": []
        });
        let text = calendar(&event, &[&session], &[], "2027-01-01T00:00:00Z");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("BEGIN:VEVENT"))
                .count(),
            1
        );
        for forged in ["UID:evil", "X-EVIL", "ATTENDEE"] {
            assert!(
                !lines.iter().any(|l| l.starts_with(forged)),
                "{forged} in\n{text}"
            );
        }
        assert!(lines.contains(&format!("PRODID:{PRODID}").as_str()));
        let parsed: icalendar::Calendar = text.parse().unwrap();
        assert_eq!(
            parsed.get_name(),
            Some("Summit BEGIN:VEVENT  UID:evil\\, with\\; marks\\\\")
        );
        let vevent = parsed.components[0].as_event().unwrap();
        assert_eq!(
            vevent.get_description(),
            Some("Line one\nLine two still two")
        );
    }
}
