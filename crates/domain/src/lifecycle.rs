//! The registration lifecycle as one state machine: the statuses a
//! registration passes through, which of them hold a seat or a place in
//! line, and the transitions of an event's registrations (admit, confirm,
//! lapse, cancel, a changed capacity, and the promotions each of them
//! owes the line) as pure functions from the registrations they are given
//! to a `Plan` of what changed. How many seats are free is `seats::Ledger`'s
//! rule; who gets one, and in what order holds lapse, is this module's. The
//! origin loads an event's `Book`, asks it, and writes the plan.

use crate::model::RegistrationSettings;
use crate::seats::{Ledger, Placement, Refusal};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a registration stands, as stored in its `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Held for its address to confirm, with a seat or a place in line.
    Pending,
    /// Its person's, with a seat.
    Confirmed,
    /// Its person's, with a place in line.
    Waitlisted,
    Cancelled,
    /// Its hold lapsed unconfirmed.
    Expired,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Confirmed,
        Status::Waitlisted,
        Status::Cancelled,
        Status::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::Waitlisted => "waitlisted",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Still registered: holding a seat or a place in line.
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::Confirmed | Status::Waitlisted
        )
    }

    /// Whether its person takes seats in sessions, and places in their
    /// lines: only once confirmed for the event; a held or waitlisted
    /// registration's picks wait (`session_seats`).
    pub const fn takes_session_seats(self) -> bool {
        matches!(self, Status::Confirmed)
    }

    /// Whether a registration of this status ahead of someone in line is
    /// counted in the position that person is shown. A hold waiting for its
    /// email's confirmation is not: a submission makes one only for an
    /// address not registered yet, so counting it would let anyone tell
    /// from their own positions whether an address was registered.
    pub const fn counted_in_shown_positions(self) -> bool {
        matches!(self, Status::Waitlisted)
    }

    /// Whether a registration of this status waits in line, given whether
    /// it holds a seat.
    pub const fn in_line_with(self, holds_seat: bool) -> bool {
        self.is_live() && !holds_seat
    }

    /// What a held registration becomes when its person confirms it.
    const fn confirmed(holds_seat: bool) -> Self {
        if holds_seat {
            Status::Confirmed
        } else {
            Status::Waitlisted
        }
    }
}

/// One registration, as far as the lifecycle is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// Its place in submission order within its event.
    pub seq: i64,
    pub status: Status,
    /// A seat rather than a place in line (while live).
    pub holds_seat: bool,
    /// When its hold for confirmation ends or ended, if it had one.
    pub hold_expires: Option<Timestamp>,
}

impl Entry {
    pub fn seated(&self) -> bool {
        self.status.is_live() && self.holds_seat
    }

    pub fn in_line(&self) -> bool {
        self.status.in_line_with(self.holds_seat)
    }

    fn lapsed_by(&self, now: Timestamp) -> bool {
        self.status == Status::Pending && self.hold_expires.is_some_and(|until| until <= now)
    }
}

/// What made a seat free for the first in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freed {
    Cancellation,
    ExpiredHold,
    /// Settings published with more seats, or none counted.
    Capacity,
    /// A seat found free while people waited (from before promotion was
    /// automatic).
    FreeSeat,
}

impl Freed {
    /// As the audit log names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Freed::Cancellation => "cancellation",
            Freed::ExpiredHold => "expired hold",
            Freed::Capacity => "capacity",
            Freed::FreeSeat => "free seat",
        }
    }
}

/// One transition of one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new registration: a seat or a place in line, held for its
    /// address's confirmation until `held_until` when there is one.
    Admitted {
        id: String,
        seq: i64,
        placement: Placement,
        held_until: Option<Timestamp>,
    },
    /// Its person confirmed it: now `to`.
    Confirmed { id: String, to: Status },
    /// Cancelled by its person; `held_seat` says what it gave up.
    Cancelled {
        id: String,
        was: Status,
        held_seat: bool,
    },
    /// Its hold lapsed at `at`, unconfirmed.
    Expired {
        id: String,
        at: Timestamp,
        held_seat: bool,
    },
    /// Given a seat: a waitlisted registration becomes confirmed, a held
    /// one keeps waiting for its confirmation, now with the seat.
    Promoted {
        id: String,
        to: Status,
        cause: Freed,
    },
}

/// Everything a transition changed, in the order it happened.
pub type Plan = Vec<Change>;

/// Why a confirmation changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotConfirmed {
    /// Confirmed before, and its hold has ended: the link's work is done.
    AlreadyConfirmed,
    /// Its hold lapsed first; its place went to the next in line.
    Expired,
    Cancelled,
    NoSuchRegistration,
}

/// A confirmation that was made, or made before within the hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Made {
        plan: Plan,
        to: Status,
    },
    /// Confirmed already, and the hold has not ended: answered again.
    AgainWithinHold {
        status: Status,
    },
}

/// An event's registrations as the lifecycle sees them: its ledger (the
/// counts every decision is made against) and the registrations a
/// transition may touch, in submission order. A book loaded for one
/// transition may hold only those: the lapsed holds, the head of the line
/// and the registration acted on; the counts stay the ledger's.
#[derive(Debug, Clone)]
pub struct Book {
    ledger: Ledger,
    last_seq: i64,
    entries: BTreeMap<i64, Entry>,
    /// Each entry's number, by id.
    by_id: HashMap<String, i64>,
    /// The numbers of the entries in line, in order: a promotion takes the
    /// first without walking past everyone seated or gone (a burst's
    /// lapsing holds are thousands).
    line: BTreeSet<i64>,
}

impl Book {
    pub fn new(ledger: Ledger, last_seq: i64, entries: impl IntoIterator<Item = Entry>) -> Self {
        let entries: BTreeMap<i64, Entry> = entries.into_iter().map(|e| (e.seq, e)).collect();
        let last_seq = entries
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(last_seq);
        let by_id = entries.values().map(|e| (e.id.clone(), e.seq)).collect();
        let line = entries
            .values()
            .filter(|e| e.in_line())
            .map(|e| e.seq)
            .collect();
        Self {
            ledger,
            last_seq,
            entries,
            by_id,
            line,
        }
    }

    /// A book of every registration of an event: its counts are theirs.
    pub fn whole(settings: RegistrationSettings, entries: impl IntoIterator<Item = Entry>) -> Self {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let seated = entries.iter().filter(|e| e.seated()).count();
        let waiting = entries.iter().filter(|e| e.in_line()).count();
        let ledger = Ledger {
            settings,
            seated: u32::try_from(seated).unwrap_or(u32::MAX),
            waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
        };
        Self::new(ledger, 0, entries)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn by_seq(&self, seq: i64) -> Option<&Entry> {
        self.entries.get(&seq)
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(self.by_id.get(id)?)
    }

    /// A registration's place in line, counted from 1 in submission order
    /// (exact when the book holds the line up to it).
    pub fn position(&self, id: &str) -> Option<u32> {
        let seq = *self.by_id.get(id)?;
        self.line
            .contains(&seq)
            .then(|| u32::try_from(self.line.range(..=seq).count()).unwrap_or(u32::MAX))
    }

    /// Moves entry `seq` to `status`, with a seat or not, keeping the line.
    fn set(&mut self, seq: i64, status: Status, holds_seat: bool) -> &Entry {
        let entry = self.entries.get_mut(&seq).expect("an entry of this book");
        entry.status = status;
        entry.holds_seat = holds_seat;
        if entry.in_line() {
            self.line.insert(seq);
        } else {
            self.line.remove(&seq);
        }
        entry
    }

    /// A new registration arriving at `now`, numbered after every other.
    pub fn admit(&mut self, id: &str, now: Timestamp) -> Result<Change, Refusal> {
        let placement = self.ledger.admit(now)?;
        let held_until = self.ledger.settings.hold_expires_at(now);
        self.last_seq += 1;
        let seq = self.last_seq;
        let entry = Entry {
            id: id.to_string(),
            seq,
            status: match held_until {
                Some(_) => Status::Pending,
                None => Status::confirmed(placement == Placement::Seat),
            },
            holds_seat: placement == Placement::Seat,
            hold_expires: held_until,
        };
        if entry.in_line() {
            self.line.insert(seq);
        }
        self.by_id.insert(id.to_string(), seq);
        self.entries.insert(seq, entry);
        Ok(Change::Admitted {
            id: id.to_string(),
            seq,
            placement,
            held_until,
        })
    }

    /// Expires every hold that lapsed by `now`, in the order they lapsed
    /// (by their end, then submission order), each freed seat going to
    /// whoever was first in line at that moment: the outcome an on-time
    /// expiry would have had.
    pub fn lapse_due(&mut self, now: Timestamp) -> Plan {
        let mut plan = Plan::new();
        // A promotion changes no hold's end and keeps it pending, so the
        // holds due and their order are known before the walk: a hold
        // promoted in it lapses in its turn, with the seat.
        let mut due: Vec<(Timestamp, i64)> = self
            .entries
            .values()
            .filter(|e| e.lapsed_by(now))
            .filter_map(|e| Some((e.hold_expires?, e.seq)))
            .collect();
        due.sort_unstable();
        for (at, seq) in due {
            let held_seat = self.entries[&seq].holds_seat;
            let entry = self.set(seq, Status::Expired, false);
            plan.push(Change::Expired {
                id: entry.id.clone(),
                at,
                held_seat,
            });
            let count = self.ledger.release(held_seat);
            self.promote(count, Freed::ExpiredHold, &mut plan);
        }
        plan
    }

    /// Its person cancels `id`; cancelling again changes nothing.
    pub fn cancel(&mut self, id: &str, now: Timestamp) -> Plan {
        let mut plan = self.lapse_due(now);
        let Some(&seq) = self.by_id.get(id) else {
            return plan;
        };
        let entry = &self.entries[&seq];
        if !entry.status.is_live() {
            return plan;
        }
        let (was, held_seat) = (entry.status, entry.holds_seat);
        self.set(seq, Status::Cancelled, false);
        plan.push(Change::Cancelled {
            id: id.to_string(),
            was,
            held_seat,
        });
        let count = self.ledger.release(held_seat);
        self.promote(count, Freed::Cancellation, &mut plan);
        plan
    }

    /// Its person confirms `id` by the link sent to its address: a held
    /// registration becomes theirs with the seat or place it holds.
    pub fn confirm(&mut self, id: &str, now: Timestamp) -> Result<Confirmation, NotConfirmed> {
        let mut plan = self.lapse_due(now);
        let seq = *self.by_id.get(id).ok_or(NotConfirmed::NoSuchRegistration)?;
        let entry = &self.entries[&seq];
        match entry.status {
            Status::Pending => {
                let to = Status::confirmed(entry.holds_seat);
                self.set(seq, to, entry.holds_seat);
                plan.push(Change::Confirmed {
                    id: id.to_string(),
                    to,
                });
                Ok(Confirmation::Made { plan, to })
            }
            Status::Confirmed | Status::Waitlisted
                if entry.hold_expires.is_some_and(|until| now < until) =>
            {
                Ok(Confirmation::AgainWithinHold {
                    status: entry.status,
                })
            }
            Status::Confirmed | Status::Waitlisted => Err(NotConfirmed::AlreadyConfirmed),
            Status::Expired => Err(NotConfirmed::Expired),
            Status::Cancelled => Err(NotConfirmed::Cancelled),
        }
    }

    /// New settings published: a raised or removed capacity promotes,
    /// a lowered one takes no seat away.
    pub fn set_settings(&mut self, settings: RegistrationSettings) -> Plan {
        self.ledger.settings = settings;
        self.fill_free_seats(Freed::Capacity)
    }

    /// Gives every seat free while people wait to the line.
    pub fn fill_free_seats(&mut self, cause: Freed) -> Plan {
        let mut plan = Plan::new();
        let count = self.ledger.promote();
        self.promote(count, cause, &mut plan);
        plan
    }

    /// Seats the first `count` in line, in submission order.
    fn promote(&mut self, count: u32, cause: Freed, plan: &mut Plan) {
        for _ in 0..count {
            let Some(&seq) = self.line.first() else {
                return;
            };
            let status = match self.entries[&seq].status {
                Status::Waitlisted => Status::Confirmed,
                held => held,
            };
            let entry = self.set(seq, status, true);
            plan.push(Change::Promoted {
                id: entry.id.clone(),
                to: entry.status,
                cause,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: &str = "2026-06-01T12:00:00Z";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn settings(capacity: Option<u32>, confirm_email: bool) -> RegistrationSettings {
        RegistrationSettings {
            capacity,
            confirm_email,
            hold_minutes: 30,
            ..RegistrationSettings::default()
        }
    }

    fn minutes(n: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(n)
    }

    #[test]
    fn statuses_round_trip_and_know_who_is_registered() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("held"), None);
        let live: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(
            live,
            [Status::Pending, Status::Confirmed, Status::Waitlisted]
        );
    }

    #[test]
    fn a_cancelled_seat_goes_to_the_first_in_line() {
        let now = at(NOW);
        let mut book = Book::whole(settings(Some(1), false), []);
        book.admit("a", now).unwrap();
        book.admit("b", now).unwrap();
        book.admit("c", now).unwrap();
        assert_eq!(book.position("c"), Some(2));
        let plan = book.cancel("a", now);
        assert_eq!(
            plan,
            [
                Change::Cancelled {
                    id: "a".into(),
                    was: Status::Confirmed,
                    held_seat: true
                },
                Change::Promoted {
                    id: "b".into(),
                    to: Status::Confirmed,
                    cause: Freed::Cancellation
                },
            ]
        );
        assert_eq!(book.position("c"), Some(1));
        assert!(book.cancel("a", now).is_empty(), "cancelling again");
    }

    #[test]
    fn holds_lapse_in_the_order_they_lapsed_and_a_promoted_hold_lapses_in_turn() {
        let start = at(NOW);
        let mut book = Book::whole(settings(Some(1), true), []);
        book.admit("first", start).unwrap();
        book.admit("second", start + minutes(1)).unwrap();
        book.admit("third", start + minutes(40)).unwrap();
        // At +35 min: the first lapses, the second (held, in line) gets
        // its seat and lapses itself at +31, freeing it for the third.
        let plan = book.lapse_due(start + minutes(35));
        let expired: Vec<_> = plan
            .iter()
            .filter_map(|c| match c {
                Change::Expired { id, held_seat, .. } => Some((id.as_str(), *held_seat)),
                _ => None,
            })
            .collect();
        assert_eq!(expired, [("first", true), ("second", true)]);
        assert_eq!(book.get("third").map(|e| e.holds_seat), Some(true));
        assert_eq!(book.get("third").map(|e| e.status), Some(Status::Pending));
    }

    #[test]
    fn confirming_keeps_the_seat_or_place_held_and_refuses_after_the_hold() {
        let start = at(NOW);
        let mut book = Book::whole(settings(Some(1), true), []);
        book.admit("seat", start).unwrap();
        book.admit("line", start).unwrap();
        assert!(matches!(
            book.confirm("line", start + minutes(1)),
            Ok(Confirmation::Made {
                to: Status::Waitlisted,
                ..
            })
        ));
        assert!(matches!(
            book.confirm("seat", start + minutes(2)),
            Ok(Confirmation::Made {
                to: Status::Confirmed,
                ..
            })
        ));
        assert_eq!(
            book.confirm("seat", start + minutes(3)),
            Ok(Confirmation::AgainWithinHold {
                status: Status::Confirmed
            })
        );
        assert_eq!(
            book.confirm("seat", start + minutes(31)),
            Err(NotConfirmed::AlreadyConfirmed)
        );
        let mut lapsing = Book::whole(settings(Some(1), true), []);
        lapsing.admit("late", start).unwrap();
        assert_eq!(
            lapsing.confirm("late", start + minutes(30)),
            Err(NotConfirmed::Expired),
            "a hold ends at its instant"
        );
    }

    #[test]
    fn a_raised_capacity_promotes_and_a_lowered_one_keeps_every_seat() {
        let now = at(NOW);
        let mut book = Book::whole(settings(Some(2), false), []);
        for id in ["a", "b", "c", "d"] {
            book.admit(id, now).unwrap();
        }
        assert!(book.set_settings(settings(Some(1), false)).is_empty());
        assert_eq!(book.ledger().seated, 2);
        let plan = book.set_settings(settings(Some(3), false));
        assert_eq!(plan.len(), 1);
        assert_eq!(book.get("c").map(|e| e.status), Some(Status::Confirmed));
        assert_eq!(book.set_settings(settings(None, false)).len(), 1);
    }

    /// One step of a random history.
    #[derive(Debug, Clone)]
    enum Op {
        Admit,
        Confirm(usize),
        Cancel(usize),
        Wait(i64),
        Capacity(Option<u32>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Admit),
            2 => any::<usize>().prop_map(Op::Confirm),
            2 => any::<usize>().prop_map(Op::Cancel),
            1 => (1i64..45).prop_map(Op::Wait),
            1 => proptest::option::of(0u32..6).prop_map(Op::Capacity),
        ]
    }

    /// The invariants every history keeps.
    fn check(book: &Book, seated_before: u32, op: &Op) {
        let entries: Vec<&Entry> = book.entries().collect();
        let seated = entries.iter().filter(|e| e.seated()).count() as u32;
        let waiting = entries.iter().filter(|e| e.in_line()).count() as u32;
        assert_eq!(
            (book.ledger().seated, book.ledger().waiting),
            (seated, waiting),
            "the ledger counts what the registrations hold"
        );
        if let Some(capacity) = book.ledger().settings.capacity {
            // Never overbooked: only a lowered capacity leaves more
            // seated than it, and then nobody gained a seat.
            assert!(
                seated <= capacity || seated <= seated_before,
                "{seated} seated for {capacity} after {op:?}"
            );
            // Every freed seat promotes: nobody waits beside a free seat.
            assert!(waiting == 0 || seated >= capacity, "a free seat and a line");
        } else {
            assert_eq!(waiting, 0, "an unlimited event has no line");
        }
        // Positions are dense, in submission order.
        let line: Vec<u32> = entries
            .iter()
            .filter(|e| e.in_line())
            .filter_map(|e| book.position(&e.id))
            .collect();
        assert_eq!(line, (1..=waiting).collect::<Vec<_>>());
        for entry in &entries {
            assert!(
                !entry.status.is_live() || !entry.holds_seat || entry.status != Status::Waitlisted,
                "a waitlisted registration holds no seat"
            );
            assert!(
                entry.status != Status::Confirmed || entry.holds_seat,
                "a confirmed registration holds a seat"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_history_keeps_the_invariants(
            capacity in proptest::option::of(0u32..5),
            confirm_email in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let mut now = at(NOW);
            let mut book = Book::whole(settings(capacity, confirm_email), []);
            let mut next = 0;
            for op in &ops {
                let seated_before = book.ledger().seated;
                let ids: Vec<String> = book.entries().map(|e| e.id.clone()).collect();
                let pick = |n: usize| ids.get(n % ids.len().max(1)).cloned();
                match op {
                    Op::Admit => {
                        next += 1;
                        let _ = book.admit(&format!("r{next}"), now);
                    }
                    Op::Confirm(n) => {
                        if let Some(id) = pick(*n) {
                            let _ = book.confirm(&id, now);
                        }
                    }
                    Op::Cancel(n) => {
                        if let Some(id) = pick(*n) {
                            book.cancel(&id, now);
                        }
                    }
                    Op::Wait(m) => {
                        now += minutes(*m);
                        book.lapse_due(now);
                    }
                    Op::Capacity(capacity) => {
                        let mut new = book.ledger().settings.clone();
                        new.capacity = *capacity;
                        book.set_settings(new);
                    }
                }
                check(&book, seated_before, op);
            }
        }

        #[test]
        fn a_book_of_the_lapsed_and_the_head_of_the_line_decides_as_the_whole_book(
            capacity in 0u32..4,
            arrivals in proptest::collection::vec(0i64..40, 1..30),
            wait in 1i64..80,
        ) {
            // The origin loads only the holds that lapsed and the head of
            // the line, twice as long as the lapsed: the plan is the same.
            let start = at(NOW);
            let mut whole = Book::whole(settings(Some(capacity), true), []);
            let mut arrivals = arrivals;
            arrivals.sort_unstable();
            for (n, minute) in arrivals.iter().enumerate() {
                whole.admit(&format!("r{n}"), start + minutes(*minute)).unwrap();
            }
            let now = start + minutes(wait);
            let lapsed: Vec<Entry> = whole.entries().filter(|e| e.lapsed_by(now)).cloned().collect();
            let head: Vec<Entry> = whole
                .entries()
                .filter(|e| e.in_line())
                .take(2 * lapsed.len() + 1)
                .cloned()
                .collect();
            let mut partial = Book::new(whole.ledger().clone(), whole.last_seq(), lapsed.into_iter().chain(head));
            prop_assert_eq!(partial.lapse_due(now), whole.lapse_due(now));
            prop_assert_eq!(partial.ledger(), whole.ledger());
        }
    }
}
