//! Seats in sessions with fewer places than the event (workshops, labs,
//! tours, dinners): the rule of who holds one, who waits in a session's
//! line and who is promoted when one comes free, as pure functions from
//! the picks they are given to the changes they make. A registration that
//! is not confirmed yet keeps its picks `Deferred`: they join (a seat, or
//! the end of the line) when it is confirmed, and every pick goes when it
//! ends. One person never holds two picks that overlap in time. The
//! origin loads the picks of the sessions a change can touch inside the
//! event's write transaction, asks this module, and stores what changed.

use crate::model::Session;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};

/// What a session's published agenda entry says about its seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Seats in the room; `None` for as many as want one.
    pub capacity: Option<u32>,
    /// Attendees pick it in advance even without a seat limit.
    pub registration_required: bool,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl Limit {
    pub fn of(session: &Session) -> Self {
        Self {
            capacity: session.capacity,
            registration_required: session.registration_required,
            starts_at: session.starts_at,
            ends_at: session.ends_at,
        }
    }

    /// Whether attendees pick it: it has a seat limit or asks for picks.
    pub fn bookable(&self) -> bool {
        self.capacity.is_some() || self.registration_required
    }

    fn overlaps(&self, other: &Limit) -> bool {
        self.starts_at < other.ends_at && other.starts_at < self.ends_at
    }

    fn has_room(&self, seated: u32) -> bool {
        self.capacity.is_none_or(|capacity| seated < capacity)
    }
}

/// Where a pick stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spot {
    Seat,
    /// In the session's line, promoted in the order it joined.
    Line,
    /// Made by a registration not confirmed yet: it joins on confirmation.
    Deferred,
}

impl Spot {
    pub const ALL: [Spot; 3] = [Spot::Seat, Spot::Line, Spot::Deferred];

    pub const fn as_str(self) -> &'static str {
        match self {
            Spot::Seat => "seat",
            Spot::Line => "line",
            Spot::Deferred => "deferred",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }
}

/// One registration's pick of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub registration: String,
    pub session: String,
    /// Its order within the session: the line is promoted by it.
    pub seq: i64,
    pub spot: Spot,
}

/// One change to one pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new pick, numbered `seq` in its session.
    Taken {
        registration: String,
        session: String,
        seq: i64,
        spot: Spot,
    },
    /// A pick given up, by its person or because the registration ended.
    Released {
        registration: String,
        session: String,
        held: Spot,
    },
    /// A seat came free and the first in line took it.
    Promoted {
        registration: String,
        session: String,
    },
    /// A deferred pick joined when its registration was confirmed, as
    /// number `seq` of its session.
    Joined {
        registration: String,
        session: String,
        seq: i64,
        spot: Spot,
    },
    /// A free seat given by an organizer's hand.
    Given {
        registration: String,
        session: String,
        seq: i64,
    },
}

impl Change {
    /// The registration and session of the pick it changed.
    pub fn pick(&self) -> (&str, &str) {
        match self {
            Change::Taken {
                registration,
                session,
                ..
            }
            | Change::Released {
                registration,
                session,
                ..
            }
            | Change::Promoted {
                registration,
                session,
            }
            | Change::Joined {
                registration,
                session,
                ..
            }
            | Change::Given {
                registration,
                session,
                ..
            } => (registration, session),
        }
    }
}

/// Everything a transition changed, in the order it happened.
pub type Plan = Vec<Change>;

/// A pick a plan changed, as it stands after it: what is stored for it,
/// once however many changes it went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing<'a> {
    pub registration: &'a str,
    pub session: &'a str,
    /// `None` once it is gone.
    pub pick: Option<&'a Pick>,
}

/// Why a pick is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoSuchSession,
    /// The session takes no picks: it has no seat limit and asks for none.
    NotBookable,
    /// The person already holds a pick of `session`, which overlaps in time.
    Clash {
        session: String,
    },
    /// No seat is free to give by hand.
    Full,
    /// Only a confirmed registration is given a seat by hand.
    NotConfirmed,
}

/// Two picks of one registration whose sessions overlap in time: what a
/// publish that moved a session can leave, since a move takes no pick
/// from anyone (the organizer is told, and settles it by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub registration: String,
    /// In id order.
    pub sessions: [String; 2],
}

/// A session's seats as the agenda shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub capacity: Option<u32>,
    pub seated: u32,
    pub waiting: u32,
}

impl Tally {
    /// Seats nobody holds; 0 when a lowered limit left more holding one.
    pub fn left(&self) -> Option<u32> {
        self.capacity.map(|c| c.saturating_sub(self.seated))
    }
}

/// The picks of an event's sessions that a change may touch: every pick
/// of each session loaded (their counts are theirs) and the limits of
/// every published session.
#[derive(Debug, Clone, Default)]
pub struct Picks {
    limits: HashMap<String, Limit>,
    /// By session, then order: a session's line is its `Line` picks in it.
    picks: BTreeMap<(String, i64), Pick>,
    /// The highest number each session's picks were loaded or given with:
    /// a number is never given twice, not even after its pick went, so
    /// that one plan never stores two picks under one number (the writes
    /// of a plan may run as one statement, whose order is not theirs).
    numbered: HashMap<String, i64>,
}

impl Picks {
    pub fn new(limits: HashMap<String, Limit>, picks: impl IntoIterator<Item = Pick>) -> Self {
        let picks: BTreeMap<(String, i64), Pick> = picks
            .into_iter()
            .map(|p| ((p.session.clone(), p.seq), p))
            .collect();
        let mut numbered: HashMap<String, i64> = HashMap::new();
        for (session, seq) in picks.keys() {
            let highest = numbered.entry(session.clone()).or_insert(*seq);
            *highest = (*highest).max(*seq);
        }
        Self {
            limits,
            picks,
            numbered,
        }
    }

    /// Each pick `plan` changed, once, in the order it was first changed,
    /// as it stands now (`plan` being the last made here).
    pub fn standing<'a>(&'a self, plan: &'a Plan) -> Vec<Standing<'a>> {
        let mut seen = std::collections::HashSet::new();
        plan.iter()
            .map(Change::pick)
            .filter(|key| seen.insert(*key))
            .map(|(registration, session)| Standing {
                registration,
                session,
                pick: self.find(registration, session),
            })
            .collect()
    }

    fn of_session(&self, session: &str) -> impl Iterator<Item = &Pick> {
        self.picks
            .range((session.to_string(), i64::MIN)..=(session.to_string(), i64::MAX))
            .map(|(_, p)| p)
    }

    /// `registration`'s picks, by session.
    pub fn of(&self, registration: &str) -> impl Iterator<Item = &Pick> {
        self.picks
            .values()
            .filter(move |p| p.registration == registration)
    }

    fn find(&self, registration: &str, session: &str) -> Option<&Pick> {
        self.of_session(session)
            .find(|p| p.registration == registration)
    }

    /// Where `registration` stands in `session`.
    pub fn spot(&self, registration: &str, session: &str) -> Option<Spot> {
        self.find(registration, session).map(|p| p.spot)
    }

    /// `registration`'s place in `session`'s line, counted from 1.
    pub fn position(&self, registration: &str, session: &str) -> Option<u32> {
        let mine = self.find(registration, session)?;
        (mine.spot == Spot::Line).then(|| {
            let ahead = self
                .of_session(session)
                .filter(|p| p.spot == Spot::Line && p.seq <= mine.seq)
                .count();
            u32::try_from(ahead).unwrap_or(u32::MAX)
        })
    }

    /// `session`'s seats as held now (for a session whose picks are loaded).
    pub fn tally(&self, session: &str) -> Tally {
        let count = |spot| {
            let n = self.of_session(session).filter(|p| p.spot == spot).count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        Tally {
            capacity: self.limits.get(session).and_then(|l| l.capacity),
            seated: count(Spot::Seat),
            waiting: count(Spot::Line),
        }
    }

    /// Every pair of loaded picks that one registration holds (seated, in
    /// line or deferred) in sessions that overlap under the limits as they
    /// stand, by registration.
    pub fn clashes(&self) -> Vec<Clash> {
        let mut held: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for pick in self.picks.values() {
            held.entry(&pick.registration)
                .or_default()
                .push(&pick.session);
        }
        let mut clashes = Vec::new();
        for (registration, mut sessions) in held {
            sessions.sort_unstable();
            for (i, a) in sessions.iter().enumerate() {
                for b in &sessions[i + 1..] {
                    let overlap = match (self.limits.get(*a), self.limits.get(*b)) {
                        (Some(a), Some(b)) => a.overlaps(b),
                        _ => false,
                    };
                    if overlap {
                        clashes.push(Clash {
                            registration: registration.to_string(),
                            sessions: [a.to_string(), b.to_string()],
                        });
                    }
                }
            }
        }
        clashes
    }

    fn next_seq(&self, session: &str) -> i64 {
        self.numbered.get(session).map_or(1, |highest| highest + 1)
    }

    /// `registration` picks `session`: a seat when one is free and it is
    /// confirmed, the end of the line when none is, deferred until it is
    /// confirmed otherwise. Picking again changes nothing (`None`).
    pub fn pick(
        &mut self,
        registration: &str,
        confirmed: bool,
        session: &str,
    ) -> Result<Option<Change>, Refusal> {
        let limit = self.limits.get(session).ok_or(Refusal::NoSuchSession)?;
        if self.find(registration, session).is_some() {
            return Ok(None);
        }
        if !limit.bookable() {
            return Err(Refusal::NotBookable);
        }
        if let Some(session) = self.clash(registration, session, &[]) {
            return Err(Refusal::Clash { session });
        }
        let spot = if !confirmed {
            Spot::Deferred
        } else if limit.has_room(self.tally(session).seated) {
            Spot::Seat
        } else {
            Spot::Line
        };
        let seq = self.next_seq(session);
        self.insert(registration, session, seq, spot);
        Ok(Some(Change::Taken {
            registration: registration.to_string(),
            session: session.to_string(),
            seq,
            spot,
        }))
    }

    /// The pick of `registration` overlapping `session`, other than
    /// those of `except`.
    fn clash(&self, registration: &str, session: &str, except: &[&str]) -> Option<String> {
        let limit = self.limits.get(session)?;
        self.of(registration)
            .filter(|p| p.session != session && !except.contains(&p.session.as_str()))
            .find(|p| {
                self.limits
                    .get(&p.session)
                    .is_some_and(|other| other.overlaps(limit))
            })
            .map(|p| p.session.clone())
    }

    /// An organizer gives `registration` (confirmed) a free seat in
    /// `session` by hand; with `from`, its pick of that session goes
    /// first (a move), its seat promoting there. Never more seats than the
    /// limit: a full session is refused, and a seat is free only while
    /// nobody waits for one, so nobody in line is passed over.
    pub fn give(
        &mut self,
        registration: &str,
        confirmed: bool,
        session: &str,
        from: Option<&str>,
    ) -> Result<Plan, Refusal> {
        let limit = self.limits.get(session).ok_or(Refusal::NoSuchSession)?;
        if !limit.bookable() {
            return Err(Refusal::NotBookable);
        }
        if !confirmed {
            return Err(Refusal::NotConfirmed);
        }
        if self.spot(registration, session) == Some(Spot::Seat) {
            return Ok(Plan::new());
        }
        if !limit.has_room(self.tally(session).seated) {
            return Err(Refusal::Full);
        }
        if let Some(session) =
            self.clash(registration, session, &from.into_iter().collect::<Vec<_>>())
        {
            return Err(Refusal::Clash { session });
        }
        let mut plan = from.map_or_else(Plan::new, |from| self.release(registration, from));
        if let Some(pick) = self.find(registration, session).cloned() {
            self.picks.remove(&(pick.session, pick.seq));
        }
        let seq = self.next_seq(session);
        self.insert(registration, session, seq, Spot::Seat);
        plan.push(Change::Given {
            registration: registration.to_string(),
            session: session.to_string(),
            seq,
        });
        Ok(plan)
    }

    fn insert(&mut self, registration: &str, session: &str, seq: i64, spot: Spot) {
        let highest = self.numbered.entry(session.to_string()).or_insert(seq);
        *highest = (*highest).max(seq);
        self.picks.insert(
            (session.to_string(), seq),
            Pick {
                registration: registration.to_string(),
                session: session.to_string(),
                seq,
                spot,
            },
        );
    }

    /// `registration` gives up its pick of `session`; a freed seat goes to
    /// the first in line. Releasing what is not held changes nothing.
    pub fn release(&mut self, registration: &str, session: &str) -> Plan {
        let mut plan = Plan::new();
        let Some(pick) = self.find(registration, session).cloned() else {
            return plan;
        };
        self.picks.remove(&(pick.session.clone(), pick.seq));
        plan.push(Change::Released {
            registration: pick.registration,
            session: pick.session,
            held: pick.spot,
        });
        self.fill(session, &mut plan);
        plan
    }

    /// `registration` ended (cancelled, expired or erased): every pick of
    /// it goes, each freed seat to the first in its line.
    pub fn leave_all(&mut self, registration: &str) -> Plan {
        let sessions: Vec<String> = self.of(registration).map(|p| p.session.clone()).collect();
        sessions
            .iter()
            .flat_map(|session| self.release(registration, session))
            .collect()
    }

    /// `registration` was confirmed: its deferred picks join, each taking
    /// a free seat or the end of its line.
    pub fn join_all(&mut self, registration: &str) -> Plan {
        // A pick of a session no longer published stays as it was.
        let deferred: Vec<Pick> = self
            .of(registration)
            .filter(|p| p.spot == Spot::Deferred && self.limits.contains_key(&p.session))
            .cloned()
            .collect();
        let mut plan = Plan::new();
        for pick in deferred {
            self.picks.remove(&(pick.session.clone(), pick.seq));
            let room = self
                .limits
                .get(&pick.session)
                .is_some_and(|l| l.has_room(self.tally(&pick.session).seated));
            let spot = if room { Spot::Seat } else { Spot::Line };
            let seq = self.next_seq(&pick.session);
            self.insert(registration, &pick.session, seq, spot);
            plan.push(Change::Joined {
                registration: pick.registration,
                session: pick.session,
                seq,
                spot,
            });
        }
        plan
    }

    /// Newly published limits: a raised or removed seat limit promotes the
    /// line; a lowered one takes no seat from anyone.
    pub fn set_limits(&mut self, limits: HashMap<String, Limit>) -> Plan {
        self.limits = limits;
        let mut plan = Plan::new();
        let sessions: Vec<String> = self.limits.keys().cloned().collect();
        for session in sessions {
            self.fill(&session, &mut plan);
        }
        plan
    }

    /// Seats the first in `session`'s line while seats are free.
    fn fill(&mut self, session: &str, plan: &mut Plan) {
        let Some(limit) = self.limits.get(session) else {
            return;
        };
        let free = match limit.capacity {
            Some(capacity) => capacity.saturating_sub(self.tally(session).seated),
            None => u32::MAX,
        };
        let line: Vec<i64> = self
            .of_session(session)
            .filter(|p| p.spot == Spot::Line)
            .map(|p| p.seq)
            .take(usize::try_from(free).unwrap_or(usize::MAX))
            .collect();
        for seq in line {
            let pick = self
                .picks
                .get_mut(&(session.to_string(), seq))
                .expect("a pick of this session");
            pick.spot = Spot::Seat;
            plan.push(Change::Promoted {
                registration: pick.registration.clone(),
                session: session.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn at(hour: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + hour * 3600).unwrap()
    }

    fn limit(capacity: Option<u32>, from: i64, to: i64) -> Limit {
        Limit {
            capacity,
            registration_required: capacity.is_none(),
            starts_at: at(from),
            ends_at: at(to),
        }
    }

    /// Three sessions: `a` (2 seats, 9–11), `b` (1 seat, 10–12, overlaps
    /// `a`), `c` (1 seat, 12–13), `open` (no limit, nothing asked).
    fn limits() -> HashMap<String, Limit> {
        HashMap::from([
            ("a".to_string(), limit(Some(2), 9, 11)),
            ("b".to_string(), limit(Some(1), 10, 12)),
            ("c".to_string(), limit(Some(1), 12, 13)),
            (
                "open".to_string(),
                Limit {
                    registration_required: false,
                    ..limit(None, 14, 15)
                },
            ),
        ])
    }

    #[test]
    fn seats_go_first_come_and_the_rest_wait_in_line() {
        let mut picks = Picks::new(limits(), []);
        for person in ["p1", "p2", "p3", "p4"] {
            picks.pick(person, true, "a").unwrap();
        }
        assert_eq!(picks.spot("p2", "a"), Some(Spot::Seat));
        assert_eq!(picks.spot("p3", "a"), Some(Spot::Line));
        assert_eq!(picks.position("p4", "a"), Some(2));
        assert_eq!(
            picks.tally("a"),
            Tally {
                capacity: Some(2),
                seated: 2,
                waiting: 2
            }
        );
        assert_eq!(picks.pick("p1", true, "a"), Ok(None), "picking again");
    }

    #[test]
    fn a_released_seat_goes_to_the_first_in_line() {
        let mut picks = Picks::new(limits(), []);
        for person in ["p1", "p2", "p3", "p4"] {
            picks.pick(person, true, "a").unwrap();
        }
        let plan = picks.release("p1", "a");
        assert_eq!(
            plan[1],
            Change::Promoted {
                registration: "p3".into(),
                session: "a".into()
            }
        );
        assert_eq!(picks.position("p4", "a"), Some(1));
        assert!(picks.release("p1", "a").is_empty(), "released twice");
    }

    #[test]
    fn overlapping_picks_are_refused_naming_the_clash() {
        let mut picks = Picks::new(limits(), []);
        picks.pick("p1", true, "a").unwrap();
        assert_eq!(
            picks.pick("p1", true, "b"),
            Err(Refusal::Clash {
                session: "a".into()
            })
        );
        // Back to back is no clash.
        assert!(picks.pick("p1", true, "c").unwrap().is_some());
        assert_eq!(picks.pick("p1", true, "open"), Err(Refusal::NotBookable));
        assert_eq!(picks.pick("p1", true, "nope"), Err(Refusal::NoSuchSession));
    }

    #[test]
    fn a_moved_session_leaves_clashes_to_report_and_takes_no_pick() {
        let mut picks = Picks::new(limits(), []);
        picks.pick("p1", true, "a").unwrap();
        picks.pick("p1", true, "c").unwrap();
        picks.pick("p2", false, "c").unwrap();
        assert!(picks.clashes().is_empty());
        // `c` moves to 10–11, over `a`: p1's two picks stay, and clash.
        let mut moved = limits();
        moved.insert("c".into(), limit(Some(1), 10, 11));
        assert!(picks.set_limits(moved).is_empty());
        assert_eq!(
            picks.clashes(),
            [Clash {
                registration: "p1".into(),
                sessions: ["a".into(), "c".into()],
            }]
        );
        assert_eq!(picks.spot("p1", "c"), Some(Spot::Seat));
    }

    #[test]
    fn an_unconfirmed_registration_picks_and_joins_when_confirmed() {
        let mut picks = Picks::new(limits(), []);
        picks.pick("held", false, "b").unwrap();
        assert_eq!(picks.spot("held", "b"), Some(Spot::Deferred));
        picks.pick("p1", true, "b").unwrap();
        assert_eq!(picks.spot("p1", "b"), Some(Spot::Seat), "not kept for it");
        let plan = picks.join_all("held");
        assert!(matches!(
            plan[..],
            [Change::Joined {
                spot: Spot::Line,
                ..
            }]
        ));
        assert_eq!(picks.position("held", "b"), Some(1));
    }

    #[test]
    fn an_ended_registration_frees_every_seat_each_promoting() {
        let mut picks = Picks::new(limits(), []);
        picks.pick("p1", true, "b").unwrap();
        picks.pick("p1", true, "c").unwrap();
        picks.pick("p2", true, "b").unwrap();
        picks.pick("p3", true, "c").unwrap();
        let promoted: Vec<_> = picks
            .leave_all("p1")
            .into_iter()
            .filter(|c| matches!(c, Change::Promoted { .. }))
            .collect();
        assert_eq!(promoted.len(), 2);
        assert_eq!(picks.spot("p2", "b"), Some(Spot::Seat));
        assert_eq!(picks.spot("p3", "c"), Some(Spot::Seat));
        assert_eq!(picks.of("p1").count(), 0);
    }

    #[test]
    fn a_lowered_limit_keeps_every_seat_and_a_raised_one_promotes() {
        let mut picks = Picks::new(limits(), []);
        for person in ["p1", "p2", "p3"] {
            picks.pick(person, true, "a").unwrap();
        }
        let mut lowered = limits();
        lowered.get_mut("a").unwrap().capacity = Some(1);
        assert!(picks.set_limits(lowered).is_empty());
        assert_eq!(picks.tally("a").seated, 2);
        assert_eq!(picks.tally("a").left(), Some(0));
        picks.release("p1", "a");
        assert_eq!(picks.spot("p3", "a"), Some(Spot::Line), "still over");
        let mut raised = limits();
        raised.get_mut("a").unwrap().capacity = Some(5);
        assert_eq!(picks.set_limits(raised).len(), 1);
        assert_eq!(picks.spot("p3", "a"), Some(Spot::Seat));
    }

    #[test]
    fn an_organizer_gives_free_seats_by_hand_and_moves_people() {
        let mut picks = Picks::new(limits(), []);
        for person in ["p1", "p2", "p3"] {
            picks.pick(person, true, "a").unwrap();
        }
        assert_eq!(picks.give("p4", true, "a", None), Err(Refusal::Full));
        assert_eq!(
            picks.give("p4", false, "c", None),
            Err(Refusal::NotConfirmed)
        );
        assert_eq!(
            picks.give("p1", true, "b", None),
            Err(Refusal::Clash {
                session: "a".into()
            })
        );
        // Moved from `a` to `b` (which overlaps it): the seat freed in `a`
        // goes to the first in its line.
        let moved = picks.give("p1", true, "b", Some("a")).unwrap();
        assert!(moved.contains(&Change::Promoted {
            registration: "p3".into(),
            session: "a".into()
        }));
        assert_eq!(picks.spot("p1", "b"), Some(Spot::Seat));
        assert_eq!(picks.spot("p1", "a"), None);
        // `b` is full now: a move there is refused and moves nothing.
        assert_eq!(picks.give("p2", true, "b", Some("a")), Err(Refusal::Full));
        assert_eq!(picks.spot("p2", "a"), Some(Spot::Seat));
        // A seat given by hand to someone who never picked the session.
        assert_eq!(picks.give("p4", true, "c", None).unwrap().len(), 1);
        assert_eq!(picks.spot("p4", "c"), Some(Spot::Seat));
        assert!(picks.give("p4", true, "c", None).unwrap().is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Pick(usize, usize),
        Release(usize, usize),
        Confirm(usize),
        End(usize),
        Capacity(usize, Option<u32>),
        Give(usize, usize, Option<usize>),
    }

    const PEOPLE: usize = 8;
    const SESSIONS: [&str; 3] = ["a", "b", "c"];

    fn op() -> impl Strategy<Value = Op> {
        let person = 0..PEOPLE;
        let session = 0..SESSIONS.len();
        prop_oneof![
            4 => (person.clone(), session.clone()).prop_map(|(p, s)| Op::Pick(p, s)),
            2 => (person.clone(), session.clone()).prop_map(|(p, s)| Op::Release(p, s)),
            1 => person.clone().prop_map(Op::Confirm),
            1 => person.prop_map(Op::End),
            1 => (session.clone(), proptest::option::of(0u32..4)).prop_map(|(s, c)| Op::Capacity(s, c)),
            1 => (0..PEOPLE, session.clone(), proptest::option::of(session))
                .prop_map(|(p, s, from)| Op::Give(p, s, from)),
        ]
    }

    /// The picks of `PEOPLE` under way, and who among them is confirmed
    /// and who ended.
    struct People {
        picks: Picks,
        limits: HashMap<String, Limit>,
        confirmed: HashSet<usize>,
        ended: HashSet<usize>,
    }

    impl People {
        fn new() -> Self {
            Self {
                picks: Picks::new(limits(), []),
                limits: limits(),
                confirmed: HashSet::new(),
                ended: HashSet::new(),
            }
        }
    }

    /// Does `op`, as the origin would ask it; returns what it changed.
    fn apply(state: &mut People, op: Op) -> Plan {
        let People {
            picks,
            limits,
            confirmed,
            ended,
        } = state;
        let person = |p: usize| format!("p{p}");
        match op {
            Op::Pick(p, s) if !ended.contains(&p) => picks
                .pick(&person(p), confirmed.contains(&p), SESSIONS[s])
                .map(|taken| taken.into_iter().collect())
                .unwrap_or_default(),
            Op::Release(p, s) => picks.release(&person(p), SESSIONS[s]),
            Op::Confirm(p) if !ended.contains(&p) && confirmed.insert(p) => {
                picks.join_all(&person(p))
            }
            Op::End(p) => {
                ended.insert(p);
                picks.leave_all(&person(p))
            }
            Op::Give(p, s, from) if !ended.contains(&p) => picks
                .give(
                    &person(p),
                    confirmed.contains(&p),
                    SESSIONS[s],
                    from.map(|f| SESSIONS[f]),
                )
                .unwrap_or_default(),
            Op::Capacity(s, c) => {
                limits.get_mut(SESSIONS[s]).unwrap().capacity = c;
                picks.set_limits(limits.clone())
            }
            Op::Pick(..) | Op::Confirm(_) | Op::Give(..) => Plan::new(),
        }
    }

    proptest! {
        /// Many changes in one plan, as a batch makes them: what is stored
        /// is each pick it touched once, as it stands (gone or not), and
        /// no number is given to two picks of a session, not even to one
        /// taken after another left.
        #[test]
        fn a_plan_stores_each_pick_once_as_it_stands(ops in proptest::collection::vec(op(), 1..80)) {
            let mut state = People::new();
            let mut plan = Plan::new();
            for op in ops {
                plan.extend(apply(&mut state, op));
            }
            let standing = state.picks.standing(&plan);
            let touched: HashSet<(&str, &str)> = plan.iter().map(Change::pick).collect();
            prop_assert_eq!(standing.len(), touched.len());
            for stands in &standing {
                prop_assert_eq!(stands.pick, state.picks.find(stands.registration, stands.session));
            }
            let mut numbers = HashSet::new();
            for change in &plan {
                if let Change::Taken { session, seq, .. }
                | Change::Joined { session, seq, .. }
                | Change::Given { session, seq, .. } = change
                {
                    prop_assert!(numbers.insert((session, *seq)), "{} numbered {} twice", session, seq);
                }
            }
        }

        /// Whatever happens: nobody is seated beyond a limit unless a
        /// lowered limit left them there, nobody holds two overlapping
        /// picks, nobody waits while a seat is free (every freed seat is
        /// promoted), lines are counted densely from 1, and only confirmed
        /// registrations hold seats or places in line.
        #[test]
        fn the_session_seat_rule_holds(ops in proptest::collection::vec(op(), 1..80)) {
            let mut state = People::new();
            for op in ops {
                let seated_before: HashMap<&str, u32> =
                    SESSIONS.iter().map(|s| (*s, state.picks.tally(s).seated)).collect();
                let person = |p: usize| format!("p{p}");
                apply(&mut state, op);
                let People { picks, limits, confirmed, ended } = &state;
                for session in SESSIONS {
                    let tally = picks.tally(session);
                    if let Some(capacity) = tally.capacity {
                        prop_assert!(tally.seated <= capacity.max(seated_before[session]),
                            "{session} overbooked");
                        if tally.seated < capacity {
                            prop_assert_eq!(tally.waiting, 0, "{} has a free seat and a line", session);
                        }
                    } else {
                        prop_assert_eq!(tally.waiting, 0);
                    }
                    let positions: Vec<u32> = (0..PEOPLE)
                        .filter_map(|p| picks.position(&person(p), session))
                        .collect::<std::collections::BTreeSet<_>>().into_iter().collect();
                    prop_assert_eq!(positions, (1..=tally.waiting).collect::<Vec<_>>());
                }
                for p in 0..PEOPLE {
                    let mine: Vec<&Pick> = picks.of(&person(p)).collect();
                    prop_assert!(!ended.contains(&p) || mine.is_empty(), "an ended registration holds picks");
                    for pick in &mine {
                        prop_assert_eq!(pick.spot == Spot::Deferred, !confirmed.contains(&p));
                    }
                    for (i, x) in mine.iter().enumerate() {
                        for y in &mine[i + 1..] {
                            prop_assert!(!limits[&x.session].overlaps(&limits[&y.session]),
                                "p{} holds overlapping {} and {}", p, x.session, y.session);
                        }
                    }
                }
            }
        }
    }
}
