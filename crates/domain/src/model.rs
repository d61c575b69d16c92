//! The event as organizers draft it: the event itself with its tracks and
//! rooms, its sessions and its speakers. Values of these types are valid
//! by construction (see `validate`); times are UTC instants and the event
//! names the IANA zone they are shown in.

use crate::ids::Slug;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub name: String,
    pub timezone: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub venue: String,
    #[serde(default)]
    pub tracks: Vec<Track>,
    #[serde(default)]
    pub rooms: Vec<Room>,
    #[serde(default)]
    pub registration: RegistrationSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub id: Slug,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: Slug,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// Whether and when attendees may register, and for how many seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationSettings {
    pub open: bool,
    /// `None` is unlimited.
    pub capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<Timestamp>,
    /// Whether a registration waits, held, for its address to be confirmed
    /// by a link sent to it: on unless the organizer turns it off.
    #[serde(default = "confirms_by_default")]
    pub confirm_email: bool,
    /// How long a registration is held for its confirmation.
    #[serde(default = "default_hold_minutes")]
    pub hold_minutes: u32,
}

fn confirms_by_default() -> bool {
    true
}

fn default_hold_minutes() -> u32 {
    DEFAULT_HOLD_MINUTES
}

/// How long a registration is held for confirmation unless the organizer
/// says otherwise.
pub const DEFAULT_HOLD_MINUTES: u32 = 30;
/// The longest hold an organizer may set: a week.
pub const MAX_HOLD_MINUTES: u32 = 7 * 24 * 60;

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            open: true,
            capacity: None,
            opens_at: None,
            closes_at: None,
            confirm_email: confirms_by_default(),
            hold_minutes: DEFAULT_HOLD_MINUTES,
        }
    }
}

impl RegistrationSettings {
    /// Whether a registration arriving at `now` is accepted.
    pub fn accepts_at(&self, now: Timestamp) -> bool {
        self.open
            && self.opens_at.is_none_or(|t| now >= t)
            && self.closes_at.is_none_or(|t| now < t)
    }

    /// When a registration submitted at `now` stops being held, if the
    /// event asks for confirmation by email: in whole seconds, so that it
    /// is stored as told and every answer giving it has the same length.
    pub fn hold_expires_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.confirm_email.then(|| {
            let whole = Timestamp::from_second(now.as_second()).unwrap_or(now);
            whole + jiff::SignedDuration::from_mins(i64::from(self.hold_minutes))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionLinks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slides: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Slug,
    pub title: String,
    #[serde(rename = "abstract", default)]
    pub summary: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    #[serde(default)]
    pub track: Option<Slug>,
    #[serde(default)]
    pub room: Option<Slug>,
    #[serde(default)]
    pub speakers: Vec<Slug>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub links: SessionLinks,
    /// Seats in the room for attendees who pick it (`session_seats`);
    /// none for a session anyone may walk into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Attendees pick it in advance even with no seat limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registration_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    pub id: Slug,
    pub name: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub affiliation: String,
    /// Label → URL, e.g. `website`, `mastodon`.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}

/// Everything an organizer edits before publishing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub event: Event,
    #[serde(default)]
    pub sessions: Vec<Session>,
    #[serde(default)]
    pub speakers: Vec<Speaker>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_window_is_half_open() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let settings = RegistrationSettings {
            open: true,
            capacity: Some(10),
            opens_at: Some(at("2026-01-01T00:00:00Z")),
            closes_at: Some(at("2026-02-01T00:00:00Z")),
            ..RegistrationSettings::default()
        };
        assert!(!settings.accepts_at(at("2025-12-31T23:59:59Z")));
        assert!(settings.accepts_at(at("2026-01-01T00:00:00Z")));
        assert!(!settings.accepts_at(at("2026-02-01T00:00:00Z")));
        let closed = RegistrationSettings {
            open: false,
            ..settings
        };
        assert!(!closed.accepts_at(at("2026-01-15T00:00:00Z")));
    }

    #[test]
    fn a_hold_lasts_its_minutes_and_only_when_confirming() {
        let now: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let settings = RegistrationSettings {
            hold_minutes: 45,
            ..RegistrationSettings::default()
        };
        assert_eq!(
            settings.hold_expires_at(now),
            Some("2026-01-01T10:45:00Z".parse().unwrap())
        );
        let direct = RegistrationSettings {
            confirm_email: false,
            ..settings
        };
        assert_eq!(direct.hold_expires_at(now), None);
    }

    #[test]
    fn a_hold_ends_on_a_whole_second_so_every_answer_has_one_length() {
        let settings = RegistrationSettings::default();
        let ends = ["10:00:00.1Z", "10:00:00.123456789Z", "10:00:00.99Z"]
            .map(|time| format!("2026-01-01T{time}").parse::<Timestamp>().unwrap())
            .map(|now| settings.hold_expires_at(now).unwrap().to_string());
        assert_eq!(ends, ["2026-01-01T10:30:00Z"; 3].map(String::from));
    }

    #[test]
    fn a_stored_draft_without_the_fields_confirms_for_thirty_minutes() {
        let settings: RegistrationSettings =
            serde_json::from_str(r#"{"open": true, "capacity": 3}"#).unwrap();
        assert!(settings.confirm_email);
        assert_eq!(settings.hold_minutes, DEFAULT_HOLD_MINUTES);
    }
}
