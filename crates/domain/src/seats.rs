//! The registration rule, and the only place it lives: whether an event
//! takes a registration now, whether it gets a seat or a waitlist place,
//! and how many waitlisted people a freed or added seat promotes. The
//! origin loads an event's `Ledger` inside its write transaction, asks it,
//! and stores what it decided; SQL holds no part of the rule.

use crate::model::RegistrationSettings;
use jiff::Timestamp;
use std::time::Duration;

/// The longest the origin lets a registration wait for its decision to
/// start; past it, it answers 503 with `Retry-After` and writes nothing.
/// The edge waits for the origin twice this, so an edge does not give up
/// on a registration the origin goes on to decide (and if it ever does,
/// or a link loses the answer, its key replays it).
pub const DECISION_WAIT: Duration = Duration::from_secs(2);

/// Where a registration stands once decided: a seat, or a place in line.
/// A registration held for its email's confirmation (`pending`) takes
/// either exactly as a confirmed one would, in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Seat,
    /// Its place in line, counted from 1.
    Line {
        position: u32,
    },
}

/// Why an event takes no registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The organizer closed registration, or `now` is outside its window.
    Closed,
}

/// One event's seats as the decision sees them: its settings, and how many
/// registrations hold a seat and wait for one (confirmed or still held
/// for confirmation alike). Changes as decisions are
/// made, so a batch decided against one ledger comes out exactly as if
/// each registration had been decided on its own, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    pub settings: RegistrationSettings,
    pub seated: u32,
    pub waiting: u32,
}

impl Ledger {
    /// Decides one new registration arriving at `now`, and counts it.
    pub fn admit(&mut self, now: Timestamp) -> Result<Placement, Refusal> {
        if !self.settings.accepts_at(now) {
            return Err(Refusal::Closed);
        }
        // A waitlist that exists means no seat is free for a newcomer,
        // even if capacity allows one: the waiting are promoted first.
        if self.waiting == 0 && self.has_free_seat() {
            self.seated += 1;
            Ok(Placement::Seat)
        } else {
            self.waiting += 1;
            Ok(Placement::Line {
                position: self.waiting,
            })
        }
    }

    /// Promotes as many of the waiting as there are free seats, and says
    /// how many: the first that many in line are confirmed, in order. Run
    /// after any change that may free or add a seat: a cancellation, a
    /// capacity raised or made unlimited at publish. A capacity lowered
    /// below the confirmed count takes no seat away; it only stops
    /// newcomers until enough have left.
    pub fn promote(&mut self) -> u32 {
        let free = match self.settings.capacity {
            None => u32::MAX,
            Some(capacity) => capacity.saturating_sub(self.seated),
        };
        let promoted = free.min(self.waiting);
        self.seated += promoted;
        self.waiting -= promoted;
        promoted
    }

    /// A registration left (cancelled, or its hold lapsed unconfirmed): its
    /// seat, if it held one, goes to whoever is first in line. Returns how
    /// many were promoted.
    pub fn release(&mut self, held_seat: bool) -> u32 {
        if held_seat {
            self.seated = self.seated.saturating_sub(1);
        } else {
            self.waiting = self.waiting.saturating_sub(1);
        }
        self.promote()
    }

    fn has_free_seat(&self) -> bool {
        self.settings
            .capacity
            .is_none_or(|capacity| self.seated < capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ledger(capacity: Option<u32>, seated: u32, waiting: u32) -> Ledger {
        Ledger {
            settings: RegistrationSettings {
                capacity,
                ..RegistrationSettings::default()
            },
            seated,
            waiting,
        }
    }

    const NOW: &str = "2026-06-01T12:00:00Z";

    #[test]
    fn seats_go_first_then_the_waitlist_in_order() {
        let mut book = ledger(Some(2), 0, 0);
        let now = at(NOW);
        assert_eq!(book.admit(now), Ok(Placement::Seat));
        assert_eq!(book.admit(now), Ok(Placement::Seat));
        assert_eq!(book.admit(now), Ok(Placement::Line { position: 1 }));
        assert_eq!(book.admit(now), Ok(Placement::Line { position: 2 }));
        assert_eq!((book.seated, book.waiting), (2, 2));
    }

    #[test]
    fn capacity_zero_waitlists_everyone() {
        let mut book = ledger(Some(0), 0, 0);
        assert_eq!(book.admit(at(NOW)), Ok(Placement::Line { position: 1 }));
        assert_eq!(book.promote(), 0);
    }

    #[test]
    fn unlimited_confirms_everyone_and_empties_a_waitlist() {
        let mut book = ledger(None, 10_000, 0);
        assert_eq!(book.admit(at(NOW)), Ok(Placement::Seat));
        let mut capped = ledger(Some(1), 1, 3);
        capped.settings.capacity = None;
        assert_eq!(capped.promote(), 3);
        assert_eq!((capped.seated, capped.waiting), (4, 0));
    }

    #[test]
    fn the_window_opens_at_its_instant_and_closes_at_its_instant() {
        let mut book = ledger(None, 0, 0);
        book.settings.opens_at = Some(at("2026-06-01T09:00:00Z"));
        book.settings.closes_at = Some(at("2026-06-01T17:00:00Z"));
        assert_eq!(
            book.admit(at("2026-06-01T08:59:59.999Z")),
            Err(Refusal::Closed)
        );
        assert_eq!(book.admit(at("2026-06-01T09:00:00Z")), Ok(Placement::Seat));
        assert_eq!(
            book.admit(at("2026-06-01T16:59:59.999Z")),
            Ok(Placement::Seat)
        );
        assert_eq!(book.admit(at("2026-06-01T17:00:00Z")), Err(Refusal::Closed));
        assert_eq!(book.seated, 2, "refusals are not counted");
    }

    #[test]
    fn closed_refuses_whatever_the_window() {
        let mut book = ledger(None, 0, 0);
        book.settings.open = false;
        assert_eq!(book.admit(at(NOW)), Err(Refusal::Closed));
    }

    #[test]
    fn a_freed_seat_goes_to_the_first_in_line() {
        let mut book = ledger(Some(2), 2, 2);
        assert_eq!(book.release(true), 1);
        assert_eq!((book.seated, book.waiting), (2, 1));
        assert_eq!(book.release(false), 0);
        assert_eq!((book.seated, book.waiting), (2, 0));
        assert_eq!(book.release(true), 0);
        assert_eq!((book.seated, book.waiting), (1, 0));
    }

    #[test]
    fn a_raised_capacity_promotes_before_any_newcomer() {
        let mut book = ledger(Some(2), 2, 1);
        book.settings.capacity = Some(3);
        assert_eq!(book.promote(), 1);
        // The newcomer meets a full event, as the waiting one took the seat.
        assert_eq!(book.admit(at(NOW)), Ok(Placement::Line { position: 1 }));
    }

    #[test]
    fn a_lowered_capacity_keeps_every_seat_and_stops_newcomers() {
        let mut book = ledger(Some(5), 5, 2);
        book.settings.capacity = Some(3);
        assert_eq!(book.promote(), 0);
        assert_eq!((book.seated, book.waiting), (5, 2));
        assert_eq!(book.admit(at(NOW)), Ok(Placement::Line { position: 3 }));
        // Two cancellations bring the event back to its new capacity
        // without promoting anyone; the third frees a seat.
        assert_eq!(book.release(true), 0);
        assert_eq!(book.release(true), 0);
        assert_eq!(book.release(true), 1);
        assert_eq!((book.seated, book.waiting), (3, 2));
    }

    #[test]
    fn a_waitlist_left_behind_is_served_before_a_newcomer() {
        // A seat free while people wait (e.g. capacity raised and not yet
        // promoted) goes to the line, never to the newcomer.
        let mut book = ledger(Some(3), 2, 1);
        assert_eq!(book.admit(at(NOW)), Ok(Placement::Line { position: 2 }));
        assert_eq!(book.promote(), 1);
    }
}
