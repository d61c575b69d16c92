//! The agenda's query filters, shared by the JSON agenda and the iCalendar
//! export: `track`, `room`, `day` (a date in the event's zone), `q` (words
//! in the title, abstract or speaker names), `sessions` (a comma-separated
//! list of ids, for a personal agenda) and `tz` (the IANA zone to render
//! times in). Sessions are the snapshot's JSON, so the edge filters what it
//! already holds without re-parsing into model types.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct SessionFilter {
    track: Option<String>,
    room: Option<String>,
    day: Option<String>,
    text: Option<String>,
    ids: Option<HashSet<String>>,
    /// Where times should be shown; `None` keeps the event's zone.
    pub render_in: Option<jiff::tz::TimeZone>,
}

impl SessionFilter {
    /// Parses a raw query string; an unknown key or zone is an error whose
    /// text is fit to show the client.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut filter = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value);
            match key {
                "track" => filter.track = Some(value),
                "room" => filter.room = Some(value),
                "day" => {
                    // A day that is not a date would silently match nothing.
                    let date = (value.len() == 10)
                        .then(|| value.parse::<jiff::civil::Date>().ok())
                        .flatten();
                    date.ok_or_else(|| format!("day {value:?} is not a date (YYYY-MM-DD)"))?;
                    filter.day = Some(value);
                }
                "q" => filter.text = Some(value.to_lowercase()),
                "sessions" => {
                    filter.ids = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|id| !id.is_empty())
                            .map(String::from)
                            .collect(),
                    );
                }
                "tz" => {
                    let zone = jiff::tz::TimeZone::get(&value)
                        .map_err(|_| format!("tz {value:?} is not an IANA time zone"))?;
                    filter.render_in = Some(zone);
                }
                _ => return Err(format!("unknown filter {key:?}")),
            }
        }
        Ok(filter)
    }

    /// What the filter asks for, the same for every query that asks the
    /// same (`q=Edge&&` and `q=edge`, `sessions=b,a` and `sessions=a,b`):
    /// the key its rendered answer is kept under, so that spelling a query
    /// differently renders and keeps nothing more.
    pub fn cache_key(&self) -> String {
        let mut ids: Vec<&String> = self.ids.iter().flatten().collect();
        ids.sort_unstable();
        let zone = self
            .render_in
            .as_ref()
            .map(|zone| zone.iana_name().unwrap_or("?"));
        serde_json::json!([
            self.track,
            self.room,
            self.day,
            self.text,
            self.ids.as_ref().map(|_| ids),
            zone
        ])
        .to_string()
    }

    /// Whether it names a track or room, which `check_against` checks.
    pub fn names_places(&self) -> bool {
        self.track.is_some() || self.room.is_some()
    }

    /// Refuses a track or room the event does not have: a typo would
    /// otherwise answer an empty agenda, as if nothing were on.
    pub fn check_against(&self, event: &Value) -> Result<(), String> {
        let named = [
            (&self.track, "track", "tracks"),
            (&self.room, "room", "rooms"),
        ];
        for (value, what, list) in named {
            let Some(value) = value else { continue };
            let known = event[list]
                .as_array()
                .into_iter()
                .flatten()
                .any(|entry| entry["id"] == value.as_str());
            if !known {
                return Err(format!(
                    "{what} {value:?} is not one of this event's {list}"
                ));
            }
        }
        Ok(())
    }

    /// Whether one session passes every filter. `speaker_names` maps
    /// speaker ids to lower-cased names, for `q`.
    pub fn matches(&self, session: &Value, speaker_names: &HashMap<&str, String>) -> bool {
        let field = |name: &str| session[name].as_str();
        self.track
            .as_deref()
            .is_none_or(|t| field("track") == Some(t))
            && self
                .room
                .as_deref()
                .is_none_or(|r| field("room") == Some(r))
            && self
                .day
                .as_deref()
                .is_none_or(|d| field("starts_at").is_some_and(|t| t.starts_with(d)))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| field("id").is_some_and(|id| ids.contains(id)))
            && self.text.as_deref().is_none_or(|needle| {
                let lower = |name: &str| field(name).unwrap_or("").to_lowercase();
                lower("title").contains(needle)
                    || lower("abstract").contains(needle)
                    || session["speakers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|id| speaker_names.get(id.as_str()?))
                        .any(|name| name.contains(needle))
            })
    }
}

/// Speaker ids to lower-cased names, from a speakers document.
pub fn speaker_names(speakers: &Value) -> HashMap<&str, String> {
    speakers["speakers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?, s["name"].as_str()?.to_lowercase())))
        .collect()
}

/// `{id, name}` of each speaker of `sessions`, in the speakers document's
/// order: what a filtered agenda carries so that a page fetching one day
/// can name its speakers without the whole speakers document.
pub fn named_speakers(sessions: &[Value], speakers: &Value) -> Vec<Value> {
    let wanted: std::collections::HashSet<&str> = sessions
        .iter()
        .filter_map(|s| s["speakers"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    speakers["speakers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["id"].as_str().is_some_and(|id| wanted.contains(id)))
        .map(|s| serde_json::json!({ "id": s["id"], "name": s["name"] }))
        .collect()
}

/// `%xx` and `+` decoding for query values (malformed escapes kept as-is).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_asking_the_same_share_one_cache_key() {
        let key = |query: &str| SessionFilter::parse(query).unwrap().cache_key();
        assert_eq!(key("q=Edge&&&"), key("q=edge"));
        assert_eq!(key("sessions=b,a&tz=UTC"), key("tz=UTC&sessions=a,b,"));
        assert_eq!(key(""), key("&&"));
        assert_ne!(key("track=a"), key("room=a"));
        assert_ne!(
            key("sessions="),
            key(""),
            "an empty list picks nothing, no list all"
        );
        assert_ne!(key("tz=UTC"), key(""));
    }
    use serde_json::json;

    fn agenda() -> (Value, Value) {
        let sessions = json!([
            {"id": "a", "title": "Opening", "abstract": "Welcome", "track": "edge",
             "room": "main", "starts_at": "2027-06-08T09:00:00+01:00", "speakers": ["ada"]},
            {"id": "b", "title": "Components", "abstract": "WIT in depth", "track": "runtime",
             "room": "lab", "starts_at": "2027-06-09T10:00:00+01:00", "speakers": []},
        ]);
        let speakers = json!({"speakers": [{"id": "ada", "name": "Ada Lovelace"}]});
        (sessions, speakers)
    }

    fn chosen(query: &str) -> Vec<String> {
        let (sessions, speakers) = agenda();
        let names = speaker_names(&speakers);
        let filter = SessionFilter::parse(query).unwrap();
        sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| filter.matches(s, &names))
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_filter_narrows_and_they_combine() {
        assert_eq!(chosen(""), ["a", "b"]);
        assert_eq!(chosen("track=runtime"), ["b"]);
        assert_eq!(chosen("room=main"), ["a"]);
        assert_eq!(chosen("day=2027-06-09"), ["b"]);
        assert_eq!(chosen("q=LOVELACE"), ["a"], "speaker names are searched");
        assert_eq!(chosen("q=wit+in"), ["b"], "abstracts are searched");
        assert_eq!(chosen("sessions=b,%20a,"), ["a", "b"]);
        assert_eq!(chosen("sessions=b&track=edge"), Vec::<String>::new());
    }

    #[test]
    fn a_cut_agenda_names_only_its_own_speakers() {
        let (sessions, _) = agenda();
        let speakers = json!({"speakers": [
            {"id": "ada", "name": "Ada Lovelace", "bio": "Notes on the engine."},
            {"id": "grace", "name": "Grace Hopper", "bio": "Compilers."}
        ]});
        let all = sessions.as_array().unwrap();
        assert_eq!(
            named_speakers(&all[..1], &speakers),
            [json!({"id": "ada", "name": "Ada Lovelace"})]
        );
        assert!(named_speakers(&all[1..], &speakers).is_empty());
    }

    #[test]
    fn tracks_and_rooms_must_be_the_events_own() {
        let event = json!({
            "tracks": [{"id": "edge", "name": "Edge"}],
            "rooms": [{"id": "main", "name": "Main hall"}]
        });
        let check = |query: &str| SessionFilter::parse(query).unwrap().check_against(&event);
        assert!(check("track=edge&room=main&q=anything").is_ok());
        assert!(check("").is_ok());
        assert!(
            !SessionFilter::parse("day=2027-06-08&q=x")
                .unwrap()
                .names_places()
        );
        assert!(SessionFilter::parse("room=main").unwrap().names_places());
        assert!(check("track=egde").unwrap_err().contains("track \"egde\""));
        assert!(check("room=attic").unwrap_err().contains("rooms"));
    }

    #[test]
    fn bad_keys_and_zones_are_refused_and_values_decoded() {
        assert!(SessionFilter::parse("colour=red").is_err());
        assert!(SessionFilter::parse("tz=Mars/Olympus").is_err());
        assert!(SessionFilter::parse("day=tomorrow").is_err());
        assert!(SessionFilter::parse("day=2027-02-30").is_err());
        assert!(SessionFilter::parse("day=2027-06-09").is_ok());
        assert!(
            SessionFilter::parse("tz=Asia%2FTokyo")
                .unwrap()
                .render_in
                .is_some()
        );
        assert_eq!(decode("caf%C3%A9"), "café");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
