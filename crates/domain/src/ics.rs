//! iCalendar (RFC 5545) exports of the published agenda: one VEVENT per
//! session, in UTC so that every calendar places it right, with a UID that
//! stays the same across versions so that re-importing updates rather than
//! duplicates. Built from the snapshot's JSON documents.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};
use serde_json::Value;

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
                    .map(String::from)
            })
            .collect()
    };
    let mut calendar = Calendar::new();
    calendar.name(event["name"].as_str().unwrap_or(slug));
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
            .summary(session["title"].as_str().unwrap_or_default())
            .description(description.trim())
            .starts(starts)
            .ends(ends);
        if let Some(room) = room_name(&session["room"]) {
            vevent.location(&room);
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
}
