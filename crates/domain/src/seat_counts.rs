//! An event's live counts of session seats, the small document every edge
//! serves at `GET /api/events/{slug}/seats` (`docs/api.md`, "Live places
//! at the edge"): per session that attendees pick, its seat limit, how
//! many hold a seat, how many places are left and how many wait in line.
//! The origin makes it whenever picks or limits change, and pushes it to
//! the edges at most once per `PUSH_EVERY` per event, however many seats
//! change meanwhile; an edge that missed a push heals within its
//! staleness window by asking the origin. Versions only go up: an edge
//! keeps the newest document it was given or fetched. The event's waiting
//! room, when it has one, travels in the same document: it changes as
//! often, and reaches the edges by the same pushes and fetches.

use crate::Slug;
use crate::freshness::{Millis, millis};
use crate::session_seats::{Limit, Spot};
use crate::waiting_room::Live;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// An event's counts at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatCounts {
    pub event: Slug,
    /// Goes up with every change of a pick or a limit of the event.
    pub version: u64,
    /// By session id: only the sessions attendees pick.
    pub sessions: BTreeMap<String, SessionCount>,
    /// The event's waiting room, while it has one: what an edge needs to
    /// issue tickets and tell each its place (`waiting_room::Live`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<Live>,
}

/// One session's seats as the agenda shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCount {
    /// `None`: as many as pick it (it only asks attendees to register).
    pub capacity: Option<u32>,
    pub seated: u32,
    /// Seats nobody holds; 0 when a lowered limit left more in seats.
    pub left: Option<u32>,
    pub waiting: u32,
    pub registration_required: bool,
}

impl SeatCounts {
    /// The counts of version `version` of `event`, from its published
    /// sessions' limits and how many picks stand in each spot of each
    /// session (a pick deferred until its registration is confirmed
    /// holds nothing yet, so it counts nowhere).
    pub fn tally<'a>(
        event: &Slug,
        version: u64,
        limits: impl IntoIterator<Item = (&'a str, &'a Limit)>,
        spots: impl IntoIterator<Item = (&'a str, Spot, u32)>,
    ) -> Self {
        let mut sessions: BTreeMap<String, SessionCount> = limits
            .into_iter()
            .filter(|(_, limit)| limit.bookable())
            .map(|(id, limit)| {
                let count = SessionCount {
                    capacity: limit.capacity,
                    seated: 0,
                    left: limit.capacity,
                    waiting: 0,
                    registration_required: limit.registration_required,
                };
                (id.to_string(), count)
            })
            .collect();
        for (session, spot, picks) in spots {
            let Some(count) = sessions.get_mut(session) else {
                continue;
            };
            match spot {
                Spot::Seat => count.seated += picks,
                Spot::Line => count.waiting += picks,
                Spot::Deferred => {}
            }
            count.left = count.capacity.map(|c| c.saturating_sub(count.seated));
        }
        Self {
            event: event.clone(),
            version,
            sessions,
            waiting_room: None,
        }
    }

    pub fn etag(&self) -> String {
        Self::etag_for(self.version)
    }

    /// Unlike any snapshot's (`"v…"`): a client never confuses the two.
    pub fn etag_for(version: u64) -> String {
        format!("\"seats-{version}\"")
    }
}

/// How often an event's counts are pushed to the edges at most.
pub const PUSH_EVERY: Duration = Duration::from_secs(1);

/// When counts that changed at `now` may be pushed, the last push having
/// begun at `pushed_at`: `None` for at once, else how long to wait.
pub fn push_wait(pushed_at: Millis, now: Millis) -> Option<Millis> {
    let due = pushed_at.saturating_add(millis(PUSH_EVERY));
    (now < due).then(|| due - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> Slug {
        Slug::parse("conf").unwrap()
    }

    fn limit(capacity: Option<u32>, registration_required: bool) -> Limit {
        Limit {
            capacity,
            registration_required,
            starts_at: "2027-03-01T10:00:00Z".parse().unwrap(),
            ends_at: "2027-03-01T11:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn counts_seats_and_lines_of_the_sessions_attendees_pick() {
        let (lab, tour, talk) = (limit(Some(3), false), limit(None, true), limit(None, false));
        let counts = SeatCounts::tally(
            &conf(),
            7,
            [("lab", &lab), ("tour", &tour), ("talk", &talk)],
            [
                ("lab", Spot::Seat, 3),
                ("lab", Spot::Line, 2),
                ("lab", Spot::Deferred, 4),
                ("tour", Spot::Seat, 5),
                // A session no longer published counts nowhere.
                ("gone", Spot::Seat, 1),
            ],
        );
        assert_eq!(counts.version, 7);
        assert_eq!(
            counts.sessions.keys().collect::<Vec<_>>(),
            ["lab", "tour"],
            "a session nobody picks is not listed"
        );
        let lab = &counts.sessions["lab"];
        assert_eq!(
            (lab.capacity, lab.seated, lab.left, lab.waiting),
            (Some(3), 3, Some(0), 2)
        );
        let tour = &counts.sessions["tour"];
        assert_eq!((tour.seated, tour.left), (5, None));
        assert!(tour.registration_required);
    }

    #[test]
    fn a_lowered_limit_leaves_no_negative_places() {
        let lab = limit(Some(2), false);
        let counts = SeatCounts::tally(&conf(), 1, [("lab", &lab)], [("lab", Spot::Seat, 5)]);
        assert_eq!(counts.sessions["lab"].left, Some(0));
    }

    #[test]
    fn an_untouched_session_has_every_place_left() {
        let lab = limit(Some(20), false);
        let counts = SeatCounts::tally(&conf(), 0, [("lab", &lab)], []);
        assert_eq!(counts.sessions["lab"].left, Some(20));
    }

    #[test]
    fn pushes_are_a_second_apart_at_least() {
        assert_eq!(push_wait(0, 5_000), None, "the first push goes at once");
        assert_eq!(push_wait(10_000, 10_000), Some(1_000));
        assert_eq!(push_wait(10_000, 10_400), Some(600));
        assert_eq!(push_wait(10_000, 11_000), None);
    }

    #[test]
    fn the_document_round_trips_and_its_tag_is_its_own() {
        let lab = limit(Some(2), false);
        let counts = SeatCounts::tally(&conf(), 3, [("lab", &lab)], []);
        let text = serde_json::to_string(&counts).unwrap();
        assert_eq!(serde_json::from_str::<SeatCounts>(&text).unwrap(), counts);
        assert_eq!(counts.etag(), "\"seats-3\"");
    }
}
