//! An event's waiting room (`docs/api.md`, "Waiting room"): how a
//! registration window that opens to a crowd admits it in arrival order,
//! at the rate the organizer sets, with no per-arrival work at the origin.
//!
//! - A person gets a `Ticket` from the nearest edge, signed by it and kept
//!   by the browser; issuing one writes nothing anywhere. It is stamped
//!   with its arrival time or, when it arrives in the pre-queue before the
//!   opening, with a random time inside the pre-queue (a lottery among
//!   early arrivals: nobody gains by refreshing at 08:59:59).
//! - Edges report how many tickets they stamped in each `BUCKET_MS` of
//!   stamps, at most once a second each. From those counts the origin
//!   moves a cutoff
//!   (`Admission::advance`): every ticket stamped at or before it is
//!   admitted. It moves by the rate since its last move, never by more
//!   than `MAX_STEP`'s worth (admission resumes at the rate after an
//!   outage), and stays behind the clock by as long as reports have come
//!   late lately (`Lateness`, `REPORT_LAG` at the least) so that the
//!   arrivals an edge has not reported yet are counted before they are
//!   admitted; arrivals reported later still are charged to the rate, as
//!   are tickets that registered beyond what the counts say was admitted
//!   (arrivals bunched inside a bucket, which the counts take as spread
//!   evenly over it).
//! - The origin pushes the admission, with the waiting arrivals in at most
//!   `MAX_BANDS` bands, to every edge; an edge answers "am I in, and how
//!   many are ahead of me" from it.
//! - An admitted ticket registers once, within `admitted_for_minutes` of
//!   the step that admitted it.
//! - The rate is the organizer's (`Pace::Rate`), or follows what the
//!   origin manages to decide (`Pace::Decided`): it grows while more wait
//!   than it lets in and the origin sheds no registration, and halves when
//!   the origin sheds one (additive increase, multiplicative decrease, as
//!   TCP finds a link's capacity), never above the organizer's.
//!
//! Order across edges follows their clocks: two people who arrive at two
//! edges whose clocks differ by `s` may be admitted in the wrong order if
//! they arrived less than `s` apart. Edges keep their clocks in NTP's
//! tens of milliseconds; a signature's clock tolerance
//! (`signing::DEFAULT_TOLERANCE_SECS`) bounds the worst case.

use crate::Slug;
use crate::freshness::Millis;
use crate::signing::{Secret, Verifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header a ticket travels in from the browser to the edge.
pub const TICKET_HEADER: &str = "eventfront-ticket";
/// How far behind the clock the cutoff stays at the least: edges report
/// each second's arrivals within about a second.
pub const REPORT_LAG: Millis = 2_000;
/// How far behind it stays at the most, however late reports come: a
/// report later than that (an edge cut off for a while) is charged to
/// the rate instead. Waiting this long costs only an idle room's
/// newcomers, and only while reports are that late; a saturated test
/// host delayed reports by more than 10 s.
pub const MOST_REPORT_LAG: Millis = 30_000;
/// How long a move may be missing from an edge's copy, while admission
/// should be moving, before the edge asks for one: less than a move may
/// admit (`MAX_STEP`), so that moves asked for keep up with the rate.
pub const MOVE_OVERDUE: Millis = 1_500;
/// How long a late report keeps the cutoff further behind.
pub const LATE_REPORTS_REMEMBERED: Millis = 30_000;
/// What the cutoff waits beyond the latest report seen lately.
const LATENESS_MARGIN: Millis = 500;
/// The most one move of the cutoff admits: this long at the rate. Moves
/// come about a second apart (edges report each second); after a gap, such
/// as an outage, admission resumes at the rate instead of in a burst.
pub const MAX_STEP: Millis = 2_000;
/// Steps kept per `admitted_for_minutes`: the admission a push carries
/// stays small however long the window, and a ticket's window may start
/// up to one slot early.
pub const SLOTS: i64 = 60;
/// The most bands the waiting arrivals are told in.
pub const MAX_BANDS: usize = 120;
/// The most buckets one report of arrivals names: a pre-queue's stamps
/// fill one bucket in each of up to two hours of seconds.
pub const MAX_REPORTED_BUCKETS: usize = 7_200;
/// Arrivals are counted in buckets of this many milliseconds of stamp, and
/// the origin takes each bucket's arrivals as spread evenly over it. A
/// crowd bunches inside a second (the instant registration opens, or a
/// second's arrivals that came in a burst): with whole seconds, the cutoff
/// passed such a bunch at several times the rate.
pub const BUCKET_MS: Millis = 100;
/// What one arrival in a bucket counts for in each of its milliseconds,
/// in thousandths of a person.
const SHARE_PER_MS: i64 = 1_000 / BUCKET_MS;
/// Pre-queue stamps are random, so spread evenly anyway: they fill only
/// the first bucket of each of their seconds, which bounds the buckets a
/// pre-queue names to its seconds.
const PREQUEUE_GRAIN: Millis = 1_000;
pub const MAX_PER_MINUTE: u32 = 1_000_000;
/// Where a room paced by decisions starts: 100 a second, well within what
/// one origin decides (docs/benchmarks.md), found more of quickly.
pub const FIRST_PACE_PER_MINUTE: u32 = 6_000;
/// The least a room paced by decisions admits: one a second.
pub const LEAST_PACE_PER_MINUTE: u32 = 60;
/// After the pace halves, the origin's sheds are taken as echoes of what
/// was admitted before for this long (the people admitted then register
/// over the following seconds), and the pace neither halves nor grows.
pub const PACE_HOLD: Millis = 10_000;
pub const MAX_PREQUEUE_MINUTES: u32 = 120;
pub const MAX_ADMITTED_FOR_MINUTES: u32 = 30;
pub const DEFAULT_ADMITTED_FOR_MINUTES: u32 = 10;
/// How often a waiting page asks again, at the least and at the most.
pub const CHECK_EVERY_SECS: (u32, u32) = (10, 20);

/// What tells a ticket's tag apart from every other use of the secret.
const TICKET_LABEL: &[u8] = b"eventfront/v1 waiting-room ticket";
const TICKET_PREFIX: &str = "t1.";
/// A ticket is a few hundred bytes; a longer text is not one.
const MAX_TICKET: usize = 1024;

/// The bucket a ticket stamped `stamp` is counted in, by when it starts.
pub fn bucket_of(stamp: Millis) -> Millis {
    stamp - stamp.rem_euclid(BUCKET_MS)
}

/// The organizer's settings of an event's waiting room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoom {
    /// When admission starts.
    pub opens_at: Timestamp,
    /// Tickets issue this long before `opens_at`, each stamped at random
    /// inside that time.
    pub prequeue_minutes: u32,
    /// People admitted per minute at most.
    pub per_minute: u32,
    /// At `per_minute`, or as fast as the origin decides up to it.
    #[serde(default)]
    pub pace: Pace,
    /// How long an admitted ticket may register.
    pub admitted_for_minutes: u32,
    /// No one more is admitted while paused; places are kept.
    pub paused: bool,
}

/// How fast a room admits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// At the room's `per_minute`.
    #[default]
    Rate,
    /// As fast as the origin decides registrations, up to `per_minute`.
    Decided,
}

impl WaitingRoom {
    pub fn opens_ms(&self) -> Millis {
        self.opens_at.as_millisecond()
    }

    /// When tickets start to issue.
    pub fn prequeue_from_ms(&self) -> Millis {
        self.opens_ms() - i64::from(self.prequeue_minutes) * 60_000
    }

    pub fn admitted_for_ms(&self) -> Millis {
        i64::from(self.admitted_for_minutes) * 60_000
    }

    /// How long one step of `Admission::steps` stands for.
    fn slot_ms(&self) -> Millis {
        (self.admitted_for_ms() / SLOTS).max(1_000)
    }

    /// A ticket of room `room_id` for whoever arrives at `now` at `edge`:
    /// `draw` (random) places an arrival in the pre-queue, `id` (random)
    /// makes it unique. Before the pre-queue starts there is none: `Err`
    /// says from when.
    pub fn issue(
        &self,
        event: &Slug,
        room_id: &str,
        edge: &str,
        now: Millis,
        draw: u64,
        id: String,
    ) -> Result<Ticket, Millis> {
        let from = self.prequeue_from_ms();
        if now < from {
            return Err(from);
        }
        let opens = self.opens_ms();
        let stamp = if now < opens {
            // `draw`'s share of the window, without the bias of a modulo,
            // moved into the first bucket of its second, in order (and
            // not before the window, which may start inside a second).
            let window = (opens - from) as u128;
            let drawn = from + ((u128::from(draw) * window) >> 64) as i64;
            let into = drawn.rem_euclid(PREQUEUE_GRAIN);
            (drawn - into + into * BUCKET_MS / PREQUEUE_GRAIN).max(from)
        } else {
            now
        };
        Ok(Ticket {
            event: event.clone(),
            room: room_id.to_string(),
            stamp,
            issued: now,
            edge: edge.to_string(),
            id,
        })
    }
}

/// A person's place, as the edge that issued it signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    pub event: Slug,
    /// Which room of the event (`Admission::room`): a ticket of a room
    /// since removed is good for nothing in the next.
    pub room: String,
    /// Its place in line: the arrival, or a random time in the pre-queue
    /// (in the first bucket of one of its seconds).
    pub stamp: Millis,
    pub issued: Millis,
    /// The region of the edge that issued it.
    pub edge: String,
    /// Random: a ticket registers once.
    pub id: String,
}

/// Why a ticket does not let its holder register (or why there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("Registration for this event is through its waiting room: take a ticket there first.")]
    Missing,
    #[error("This waiting-room ticket is not one an edge of this site issued.")]
    Forged,
    #[error("This waiting-room ticket is for another event.")]
    OtherEvent,
    #[error("It is not this ticket's turn yet: the waiting room admits it when its turn comes.")]
    Waiting,
    #[error("This ticket's time to register has passed. Take a new ticket in the waiting room.")]
    Lapsed,
    #[error("This ticket was already used to register.")]
    Used,
}

impl Refused {
    /// The HTTP status each refusal is answered with.
    pub fn status(self) -> u16 {
        match self {
            Refused::Waiting | Refused::Used => 409,
            _ => 403,
        }
    }
}

impl Ticket {
    /// The ticket as the browser keeps it: its fields and their tag.
    pub fn seal(&self, secret: &Secret) -> String {
        let body = serde_json::to_vec(self).expect("a ticket always serializes");
        let tag = secret.tag(TICKET_LABEL, &body);
        format!(
            "{TICKET_PREFIX}{}.{}",
            BASE64.encode(&body),
            BASE64.encode(tag)
        )
    }

    /// The ticket `sealed` is, if an edge holding one of `verifier`'s
    /// secrets sealed it for `event`.
    pub fn open(sealed: &str, verifier: &Verifier, event: &Slug) -> Result<Ticket, Refused> {
        if sealed.len() > MAX_TICKET {
            return Err(Refused::Forged);
        }
        let (body, tag) = sealed
            .strip_prefix(TICKET_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(Refused::Forged)?;
        let (body, tag) = match (BASE64.decode(body), BASE64.decode(tag)) {
            (Ok(body), Ok(tag)) => (body, tag),
            _ => return Err(Refused::Forged),
        };
        if !verifier.verifies_tag(TICKET_LABEL, &body, &tag) {
            return Err(Refused::Forged);
        }
        let ticket: Ticket = serde_json::from_slice(&body).map_err(|_| Refused::Forged)?;
        if &ticket.event != event {
            return Err(Refused::OtherEvent);
        }
        Ok(ticket)
    }
}

/// How late edges' reports of arrivals came lately: the longest an
/// arrival waited to be reported, seen within `LATE_REPORTS_REMEMBERED`,
/// and when it was seen. A loaded edge or origin delays reports; the
/// cutoff then stays further behind the clock instead of passing
/// arrivals before they are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lateness {
    pub most: Millis,
    pub at: Millis,
}

impl Lateness {
    /// After a report at `now` whose oldest count was made `delay` before
    /// (on the edge's clock, which keeps to the origin's within tens of
    /// milliseconds): an arrival stamped that long ago may only now be
    /// counted.
    pub fn heard(self, delay: Millis, now: Millis) -> Self {
        let kept = if now - self.at <= LATE_REPORTS_REMEMBERED {
            self
        } else {
            Self::default()
        };
        if delay >= kept.most {
            Self {
                most: delay,
                at: now,
            }
        } else {
            kept
        }
    }

    /// How far behind `now` the cutoff stays.
    pub fn lag(self, now: Millis) -> Millis {
        if now - self.at > LATE_REPORTS_REMEMBERED {
            return REPORT_LAG;
        }
        (self.most + LATENESS_MARGIN).clamp(REPORT_LAG, MOST_REPORT_LAG)
    }
}

/// What the origin heard since the last move, besides the arrivals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Heard {
    /// When it last shed one of the room's registrations, if ever.
    pub shed_at: Option<Millis>,
    /// How late reports came lately.
    pub lateness: Lateness,
    /// How many of the room's tickets were used to register so far: all
    /// of them admitted, so at least that many were, whatever the counts
    /// per second say (a second's arrivals that bunched inside it were
    /// admitted faster than the even spread the counts assume).
    pub used: u64,
}

/// When the tickets up to `through` were admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub through: Millis,
    pub at: Millis,
}

/// Where admission stands: kept by the origin, pushed to every edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admission {
    /// This room's random id, which its tickets carry.
    pub room: String,
    /// Every ticket stamped at or before it is admitted.
    pub cutoff: Millis,
    /// When the cutoff was last moved (or found with nothing to move).
    pub advanced_at: Millis,
    /// Of the rate, what is not spent yet, in thousandths of a person;
    /// below zero when arrivals reported late, or more tickets than were
    /// counted under the cutoff, were admitted.
    pub allowance: i64,
    /// How many the rate has paid for, in thousandths of a person: those
    /// counted under the cutoff when it last moved, or more when more
    /// registered than that count says were admitted.
    pub admitted: i64,
    /// The recent steps, oldest first, one per slot.
    pub steps: Vec<Step>,
    /// Tickets stamped at or before it were admitted longer ago than they
    /// may register.
    pub lapsed_through: Millis,
    /// With `Pace::Decided`: the rate found so far, per minute (0 before
    /// the first move).
    #[serde(default)]
    pub pace_per_minute: u32,
    /// When that rate last halved.
    #[serde(default)]
    pub eased_at: Millis,
    /// The last move admitted less than waited before its limit: the rate,
    /// not the crowd, held it back.
    #[serde(default)]
    pub pressed: bool,
    /// How far behind the clock the last move kept the cutoff (0: moved
    /// before this was kept, `REPORT_LAG`).
    #[serde(default)]
    pub lag: Millis,
}

impl Admission {
    /// Room `id`'s admission before its opening: nobody admitted, neither
    /// from its pre-queue nor among `arrivals` already counted (tickets
    /// taken before the organizer moved the opening later).
    pub fn new(room: &WaitingRoom, id: String, arrivals: &BTreeMap<Millis, u64>) -> Self {
        let earliest = arrivals.keys().next().copied().unwrap_or(Millis::MAX);
        let before = room.prequeue_from_ms().min(earliest) - 1;
        Self {
            room: id,
            cutoff: before,
            advanced_at: before,
            allowance: 0,
            admitted: 0,
            steps: Vec::new(),
            lapsed_through: before,
            pace_per_minute: 0,
            eased_at: before,
            pressed: false,
            lag: REPORT_LAG,
        }
    }

    /// How far behind the clock the cutoff stays, as of the last move.
    pub fn lag(&self) -> Millis {
        self.lag.max(REPORT_LAG)
    }

    /// The rate admission goes at, per minute.
    pub fn per_minute(&self, room: &WaitingRoom) -> u32 {
        match (room.pace, self.pace_per_minute) {
            (Pace::Rate, _) => room.per_minute,
            (Pace::Decided, 0) => FIRST_PACE_PER_MINUTE.min(room.per_minute),
            (Pace::Decided, found) => found.min(room.per_minute),
        }
    }

    /// With `Pace::Decided`, moves the rate at a move at `now`, given when
    /// the origin last shed one of the room's registrations and when the
    /// cutoff moved before: halved on a shed since then (and not an echo
    /// of what came before the last halving), grown by a sixteenth while
    /// the rate held the crowd back and nothing was shed for a while.
    fn find_pace(
        &mut self,
        room: &WaitingRoom,
        shed_at: Option<Millis>,
        previous: Millis,
        now: Millis,
    ) {
        if room.pace != Pace::Decided {
            return;
        }
        let pace = self.per_minute(room);
        let shed_at = shed_at.unwrap_or(Millis::MIN);
        self.pace_per_minute = if shed_at > previous.max(self.eased_at + PACE_HOLD) {
            self.eased_at = now;
            (pace / 2).max(LEAST_PACE_PER_MINUTE)
        } else if self.pressed && shed_at <= now - PACE_HOLD && now - self.eased_at >= PACE_HOLD {
            (pace + (pace / 16).max(1)).min(room.per_minute)
        } else {
            pace
        };
    }

    /// Moves the cutoff at `now` over `arrivals` (every arrival of the
    /// event: its count by the bucket of the stamps), by the rate
    /// since the last move, with what else the origin `heard`. Whether
    /// anything changed that edges must hear.
    pub fn advance(
        &mut self,
        room: &WaitingRoom,
        arrivals: &BTreeMap<Millis, u64>,
        now: Millis,
        heard: &Heard,
    ) -> bool {
        let opens = room.opens_ms();
        let since = self.advanced_at.max(opens);
        let lag = heard.lateness.lag(now);
        if now - lag < opens {
            // Nothing to move yet: the pre-queue's tickets, stamped anywhere
            // inside it, are all counted only a lag after the last of them
            // issued; admitting among them before would pass the uncounted.
            // Noted, so that reports are not each a move.
            self.advanced_at = now;
            return false;
        }
        if now <= since {
            return false;
        }
        let previous = self.advanced_at;
        self.advanced_at = now;
        let lapsed = self.prune(room, now);
        if room.paused {
            self.pressed = false;
            return lapsed;
        }
        self.find_pace(room, heard.shed_at, previous, now);
        let rate = i64::from(self.per_minute(room));
        // Arrivals reported after the cutoff passed them, and tickets that
        // registered beyond what the counts say was admitted, were admitted
        // beyond the rate: the rate pays for them now, once.
        let counted = admitted_under(arrivals, self.cutoff).max(heard.used as i64 * 1_000);
        if counted > self.admitted {
            self.allowance -= counted - self.admitted;
            self.admitted = counted;
        }
        // What the time since the last move earned (`MAX_STEP`'s worth at
        // the most), and one person whatever the rate. What the last move
        // left is kept while a crowd pressed (a part of a millisecond it
        // could not afford, up to `MAX_STEP`'s worth in all), not after a
        // quiet spell: a crowd then comes in at the rate, not in a burst.
        let earned = rate * (now - since).min(MAX_STEP) / 60;
        let most = if self.pressed {
            rate * MAX_STEP / 60
        } else {
            earned
        };
        self.allowance = (self.allowance + earned).min(most.max(1_000));
        self.lag = lag;
        let limit = now - lag;
        let before = self.cutoff;
        let mut cutoff = self.cutoff;
        let mut caught_up = true;
        for (&start, &count) in arrivals.range(bucket_of(cutoff)..) {
            let end = start + BUCKET_MS - 1;
            if start > limit {
                break;
            }
            let per_ms = count as i64 * SHARE_PER_MS;
            let from = cutoff.max(start - 1);
            let reach = end.min(limit);
            if count == 0 || reach <= from {
                continue;
            }
            // Stamps spread evenly over the bucket. A bucket denser than
            // the allowance can hold still moves a millisecond whenever
            // some is left, the rest owed to the rate.
            let affordable = match self.allowance {
                left if left <= 0 => 0,
                left => (left / per_ms).max(1),
            };
            let step = affordable.min(reach - from);
            cutoff = from + step;
            self.allowance -= step * per_ms;
            if cutoff < reach {
                caught_up = false;
                break;
            }
        }
        self.pressed = !caught_up;
        if caught_up {
            // Nobody else waits before the limit: the next arrivals are
            // admitted as soon as they are counted.
            cutoff = cutoff.max(limit);
        }
        if cutoff <= before {
            return lapsed;
        }
        self.admitted += admitted_under(arrivals, cutoff) - admitted_under(arrivals, before);
        self.cutoff = cutoff;
        let slot = room.slot_ms();
        match self.steps.last_mut() {
            Some(last) if now - last.at < slot => last.through = cutoff,
            _ => self.steps.push(Step {
                through: cutoff,
                at: now,
            }),
        }
        true
    }

    /// Forgets the steps whose tickets may no longer register; whether any.
    fn prune(&mut self, room: &WaitingRoom, now: Millis) -> bool {
        let over = self
            .steps
            .iter()
            .take_while(|step| step.at + room.admitted_for_ms() <= now)
            .count();
        if let Some(last) = self.steps[..over].last() {
            self.lapsed_through = last.through;
        }
        self.steps.drain(..over);
        over > 0
    }

    /// Where `ticket` stands at `now`: a ticket of an earlier room of the
    /// event has lapsed.
    pub fn standing_of(&self, room: &WaitingRoom, ticket: &Ticket, now: Millis) -> Standing {
        if ticket.room != self.room {
            return Standing::Lapsed;
        }
        self.standing(room, ticket.stamp, now)
    }

    /// Where a ticket stamped `stamp` stands at `now`.
    pub fn standing(&self, room: &WaitingRoom, stamp: Millis, now: Millis) -> Standing {
        if stamp <= self.lapsed_through {
            return Standing::Lapsed;
        }
        if stamp > self.cutoff {
            return Standing::Waiting;
        }
        match self.steps.iter().find(|step| step.through >= stamp) {
            Some(step) if now < step.at + room.admitted_for_ms() => Standing::Admitted {
                until: step.at + room.admitted_for_ms(),
            },
            _ => Standing::Lapsed,
        }
    }

    /// Whether `ticket` may register at `now` (its use once is checked
    /// apart, where uses are kept).
    pub fn lets_register(
        &self,
        room: &WaitingRoom,
        ticket: &Ticket,
        now: Millis,
    ) -> Result<(), Refused> {
        match self.standing_of(room, ticket, now) {
            Standing::Admitted { .. } => Ok(()),
            Standing::Waiting => Err(Refused::Waiting),
            Standing::Lapsed => Err(Refused::Lapsed),
        }
    }
}

/// How many of `arrivals` a cutoff at `cutoff` admits, in thousandths.
fn admitted_under(arrivals: &BTreeMap<Millis, u64>, cutoff: Millis) -> i64 {
    arrivals
        .range(..=bucket_of(cutoff))
        .map(|(&start, &count)| {
            let ms = (cutoff - start + 1).clamp(0, BUCKET_MS);
            count as i64 * ms * SHARE_PER_MS
        })
        .sum()
}

/// A ticket's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Waiting,
    Admitted { until: Millis },
    Lapsed,
}

/// Arrivals not admitted yet, stamped in `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub from: Millis,
    pub until: Millis,
    pub count: u64,
}

/// What an edge needs of a room: its settings, where admission stands and
/// who waits, in at most `MAX_BANDS` bands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Live {
    pub room: WaitingRoom,
    pub admission: Admission,
    pub waiting: Vec<Band>,
}

impl Live {
    pub fn of(room: WaitingRoom, admission: Admission, arrivals: &BTreeMap<Millis, u64>) -> Self {
        let waiting = bands(arrivals, admission.cutoff);
        Self {
            room,
            admission,
            waiting,
        }
    }

    /// A ticket of this room: see `WaitingRoom::issue`.
    pub fn issue(
        &self,
        event: &Slug,
        edge: &str,
        now: Millis,
        draw: u64,
        id: String,
    ) -> Result<Ticket, Millis> {
        self.room
            .issue(event, &self.admission.room, edge, now, draw, id)
    }

    /// Whether, at `now`, the cutoff should be moving but this copy shows
    /// no move for `MOVE_OVERDUE`: an edge whose visitors wait then makes
    /// the origin hear from it even with no new arrival (the origin moves
    /// the cutoff on reports). While moves come, other reports drive them.
    pub fn move_overdue(&self, now: Millis) -> bool {
        !self.room.paused
            && now >= self.room.opens_ms()
            && now - self.admission.advanced_at > MOVE_OVERDUE
    }

    /// What a waiting page shows of `ticket` at `now`.
    pub fn place(&self, ticket: &Ticket, now: Millis) -> Place {
        if ticket.room != self.admission.room {
            return Place::Lapsed;
        }
        self.place_at(ticket.stamp, now)
    }

    /// Where a ticket of this room stamped `stamp` is at `now`.
    pub fn place_at(&self, stamp: Millis, now: Millis) -> Place {
        match self.admission.standing(&self.room, stamp, now) {
            Standing::Admitted { until } => Place::Admitted { until },
            Standing::Lapsed => Place::Lapsed,
            Standing::Waiting => {
                let ahead = self.ahead_of(stamp);
                // `None` while nobody is admitted: paused, or not open yet
                // (then the wait starts at the opening).
                let eta = (!self.room.paused).then(|| {
                    let start = self.room.opens_ms().max(now);
                    let rate = self.admission.per_minute(&self.room).max(1);
                    let wait = (ahead as i64 * 60_000) / i64::from(rate);
                    start + wait + self.admission.lag()
                });
                Place::Waiting { ahead, eta }
            }
        }
    }

    /// How many are admitted before a ticket stamped `stamp`: the bands
    /// before it, and its own band's share before it.
    fn ahead_of(&self, stamp: Millis) -> u64 {
        self.waiting
            .iter()
            .take_while(|band| band.from < stamp)
            .map(|band| {
                if band.until <= stamp {
                    band.count
                } else {
                    let share = (stamp - band.from) as u128 * band.count as u128;
                    (share / (band.until - band.from).max(1) as u128) as u64
                }
            })
            .sum()
    }
}

/// The arrivals after `cutoff` in at most `MAX_BANDS` bands of equal time.
fn bands(arrivals: &BTreeMap<Millis, u64>, cutoff: Millis) -> Vec<Band> {
    let waiting: Vec<(Millis, Millis, u64)> = arrivals
        .range(bucket_of(cutoff)..)
        .filter(|&(_, &count)| count > 0)
        .map(|(&start, &count)| {
            let end = start + BUCKET_MS;
            let from = start.max(cutoff + 1);
            let share = count * (end - from) as u64 / BUCKET_MS as u64;
            (from, end, share)
        })
        .filter(|&(.., count)| count > 0)
        .collect();
    let (Some(&(start, ..)), Some(&(.., end, _))) = (waiting.first(), waiting.last()) else {
        return Vec::new();
    };
    let bands = MAX_BANDS as i64;
    let width = ((end - start + bands - 1) / bands).max(1_000);
    let mut out: Vec<Band> = Vec::new();
    for (from, until, count) in waiting {
        let index = (from - start) / width;
        match out.last_mut() {
            Some(band) if (band.from - start) / width == index => {
                band.until = until;
                band.count += count;
            }
            _ => out.push(Band { from, until, count }),
        }
    }
    out
}

/// A ticket's place as its holder is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `ahead` are admitted first; `eta` is when this one is, at the rate
    /// (`None` while admission is paused).
    Waiting {
        ahead: u64,
        eta: Option<Millis>,
    },
    Admitted {
        until: Millis,
    },
    Lapsed,
}

/// What the organizer sees of a room's crowd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub arrivals: u64,
    pub admitted: u64,
    pub waiting: u64,
}

impl Tally {
    pub fn of(arrivals: &BTreeMap<Millis, u64>, admission: &Admission) -> Self {
        let total: u64 = arrivals.values().sum();
        // To the nearest person: a bucket's arrivals count as spread over it.
        let admitted = ((admitted_under(arrivals, admission.cutoff) + 500) / 1_000) as u64;
        Self {
            arrivals: total,
            admitted,
            waiting: total.saturating_sub(admitted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrival_reports::spread_over_second;
    use proptest::prelude::*;

    const OPENS: Millis = 1_800_000_000_000;

    fn room(per_minute: u32) -> WaitingRoom {
        WaitingRoom {
            opens_at: Timestamp::from_millisecond(OPENS).unwrap(),
            prequeue_minutes: 10,
            per_minute,
            pace: Pace::Rate,
            admitted_for_minutes: 10,
            paused: false,
        }
    }

    fn conf() -> Slug {
        Slug::parse("conf").unwrap()
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s).unwrap()
    }

    /// A small deterministic generator (SplitMix64): the tests' draws.
    struct Draws(u64);

    impl Draws {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn a_ticket_opens_only_with_a_secret_that_sealed_it_and_only_for_its_event() {
        let ticket = room(60)
            .issue(&conf(), "r1", "eu", OPENS + 5, 0, "a1".into())
            .unwrap();
        let sealed = ticket.seal(&secret("0123456789abcdef"));
        let rotated = Verifier::new(vec![
            secret("the-new-secret-xyz"),
            secret("0123456789abcdef"),
        ]);
        assert_eq!(Ticket::open(&sealed, &rotated, &conf()), Ok(ticket.clone()));
        let other = Verifier::new(vec![secret("another-secret-xyz")]);
        assert_eq!(Ticket::open(&sealed, &other, &conf()), Err(Refused::Forged));
        let elsewhere = Slug::parse("other").unwrap();
        assert_eq!(
            Ticket::open(&sealed, &rotated, &elsewhere),
            Err(Refused::OtherEvent)
        );
        // An earlier place, with the tag of the real one.
        let (_, tag) = sealed.rsplit_once('.').unwrap();
        let earlier = Ticket {
            stamp: OPENS - 600_000,
            ..ticket
        };
        let altered = format!(
            "{TICKET_PREFIX}{}.{tag}",
            BASE64.encode(serde_json::to_vec(&earlier).unwrap())
        );
        assert_eq!(
            Ticket::open(&altered, &rotated, &conf()),
            Err(Refused::Forged)
        );
        for junk in ["", "t1.", "t1.a.b", "t0.e30.AAAA", &"t1.".repeat(400)] {
            assert_eq!(Ticket::open(junk, &rotated, &conf()), Err(Refused::Forged));
        }
    }

    #[test]
    fn tickets_issue_from_the_prequeue_on_stamped_at_random_inside_it_then_at_arrival() {
        let room = room(60);
        let from = room.prequeue_from_ms();
        assert_eq!(
            room.issue(&conf(), "r1", "eu", from - 1, 0, "x".into()),
            Err(from)
        );
        let early = |draw| {
            room.issue(&conf(), "r1", "eu", from + 5, draw, "x".into())
                .unwrap()
        };
        assert_eq!(early(0).stamp, from);
        // In the first bucket of its second.
        assert_eq!(early(u64::MAX).stamp, OPENS - 1_000 + BUCKET_MS - 1);
        assert_eq!(early(1 << 63).stamp, from + (OPENS - from) / 2);
        assert_eq!(early(7).issued, from + 5);
        let later = room
            .issue(&conf(), "r1", "eu", OPENS + 42, 7, "x".into())
            .unwrap();
        assert_eq!(later.stamp, OPENS + 42);
    }

    /// 60,000 pre-queue arrivals in 20 equal parts of the window: a
    /// chi-squared test at the 0.1% level (19 degrees of freedom: 43.82).
    #[test]
    fn the_prequeue_lottery_is_uniform() {
        let room = room(60);
        let (from, window) = (room.prequeue_from_ms(), OPENS - room.prequeue_from_ms());
        let mut draws = Draws(20261207);
        let mut parts = [0u64; 20];
        let n = 60_000;
        for _ in 0..n {
            let stamp = room
                .issue(&conf(), "r1", "eu", from + 1, draws.next(), "x".into())
                .unwrap()
                .stamp;
            parts[((stamp - from) * 20 / window) as usize] += 1;
        }
        let expected = n as f64 / 20.0;
        let chi2: f64 = parts
            .iter()
            .map(|&seen| (seen as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 43.82, "chi-squared {chi2:.1} over {parts:?}");
        // And arrival order says nothing of the place: the first half of
        // the arrivals is not ahead of the second.
        let mut draws = Draws(7);
        let stamps: Vec<Millis> = (0..2_000)
            .map(|_| {
                room.issue(&conf(), "r1", "eu", from + 1, draws.next(), "x".into())
                    .unwrap()
                    .stamp
            })
            .collect();
        let (first, second) = stamps.split_at(1_000);
        let ahead = first
            .iter()
            .flat_map(|a| second.iter().map(move |b| (a < b) as u64))
            .sum::<u64>();
        // Half of a million pairs, within five standard deviations.
        assert!((ahead as i64 - 500_000).abs() < 5 * 9_129, "{ahead}");
    }

    /// For each `(at, n)`, `n` arrivals spread evenly over the second that
    /// holds `at`, as edges count a steady stream.
    fn arrivals(pairs: &[(Millis, u64)]) -> BTreeMap<Millis, u64> {
        let mut crowd = BTreeMap::new();
        for &(at, n) in pairs {
            for (bucket, count) in spread_over_second(at - at.rem_euclid(1_000), n) {
                *crowd.entry(bucket).or_default() += count;
            }
        }
        crowd
    }

    #[test]
    fn nobody_is_admitted_before_the_opening_and_then_at_the_rate() {
        let room = room(600); // ten a second
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        // 100 pre-queue arrivals a second over its last ten seconds.
        let crowd = arrivals(
            &(1..=10)
                .map(|s| (OPENS - s * 1_000, 100))
                .collect::<Vec<_>>(),
        );
        assert!(!admission.advance(&room, &crowd, OPENS - 1_000, &Heard::default()));
        assert_eq!(Tally::of(&crowd, &admission).admitted, 0);
        let mut admitted = Vec::new();
        for second in 1..=30 {
            admission.advance(&room, &crowd, OPENS + second * 1_000, &Heard::default());
            admitted.push(Tally::of(&crowd, &admission).admitted);
        }
        // Nobody until every pre-queue ticket may be counted (`REPORT_LAG`
        // after the opening), then ten a second, never more.
        let first_move = (REPORT_LAG / 1_000) as usize - 1;
        assert_eq!(admitted[..first_move], vec![0; first_move]);
        for (second, &count) in admitted.iter().enumerate().skip(first_move) {
            let earned = 10 * (second + 1 - first_move) as u64;
            assert!(count <= earned, "{admitted:?}");
            assert!(count + 1 >= earned, "{admitted:?}");
        }
    }

    /// A crowd of `per_second` a second over the first `seconds` seconds
    /// after the opening.
    fn spike(per_second: u64, seconds: i64) -> BTreeMap<Millis, u64> {
        arrivals(
            &(0..seconds)
                .map(|s| (OPENS + s * 1_000, per_second))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_pace_by_decisions_grows_while_a_crowd_waits_and_halves_when_the_origin_sheds() {
        let room = WaitingRoom {
            pace: Pace::Decided,
            ..room(60_000_000 / 100) // a ceiling of 10,000 a second
        };
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        // 20 a millisecond: a move admits whole milliseconds of stamps.
        let crowd = spike(20_000, 120);
        let mut paces = Vec::new();
        let mut admitted = 0;
        let mut step = |admission: &mut Admission, second: i64, shed: Option<i64>| {
            admission.advance(
                &room,
                &crowd,
                OPENS + second * 1_000,
                &Heard {
                    shed_at: shed.map(|s| OPENS + s),
                    ..Heard::default()
                },
            );
            let now = Tally::of(&crowd, admission).admitted;
            // A move admits at the pace it found, at most `MAX_STEP`'s worth.
            let pace = u64::from(admission.per_minute(&room));
            let most = pace * MAX_STEP as u64 / 60_000 + 20;
            assert!(
                now - admitted <= most,
                "{now} after {admitted} at {pace}/min"
            );
            admitted = now;
            pace
        };
        for second in 1..=20 {
            paces.push(step(&mut admission, second, None));
        }
        // It starts where it starts (the crowd reaches the cutoff, which
        // stays `REPORT_LAG` behind, in the third second), then grows.
        assert_eq!(paces[..3], [u64::from(FIRST_PACE_PER_MINUTE); 3]);
        assert!(paces.windows(2).skip(2).all(|w| w[1] > w[0]), "{paces:?}");
        let grown = paces[19];
        assert!(grown > 2 * u64::from(FIRST_PACE_PER_MINUTE), "{paces:?}");

        // A shed halves it; sheds for `PACE_HOLD` after are echoes of what
        // was admitted before, and it neither halves nor grows.
        assert_eq!(step(&mut admission, 21, Some(20_500)), grown / 2);
        for second in 22..=30 {
            assert_eq!(
                step(&mut admission, second, Some(second * 1_000 - 500)),
                grown / 2
            );
        }
        // Still shedding past the hold: halved again.
        assert_eq!(step(&mut admission, 32, Some(31_500)), grown / 4);
        // No shed for `PACE_HOLD`: it grows again.
        let quiet: Vec<u64> = (33..=50)
            .map(|s| step(&mut admission, s, Some(31_500)))
            .collect();
        assert_eq!(quiet[..9], [grown / 4; 9], "{quiet:?}");
        assert!(quiet[17] > grown / 4, "{quiet:?}");
        // Never below one a second.
        for second in 0..40 {
            let at = 60 + second * 11;
            step(&mut admission, at, Some(at * 1_000 - 100));
        }
        assert_eq!(admission.per_minute(&room), LEAST_PACE_PER_MINUTE);
    }

    #[test]
    fn a_pace_by_decisions_grows_only_while_held_back_and_never_past_the_ceiling() {
        // A crowd thinner than the first pace: nothing to learn, no growth.
        let room = WaitingRoom {
            pace: Pace::Decided,
            ..room(12_000)
        };
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let thin = spike(10, 60);
        // Past the last of them by the lag the cutoff keeps.
        for second in 1..=63 {
            admission.advance(&room, &thin, OPENS + second * 1_000, &Heard::default());
        }
        assert_eq!(admission.per_minute(&room), FIRST_PACE_PER_MINUTE);
        assert_eq!(Tally::of(&thin, &admission).waiting, 0);
        // A thick one: it grows up to the organizer's rate and stays there.
        let thick = spike(10_000, 120);
        for second in 64..=120 {
            admission.advance(&room, &thick, OPENS + second * 1_000, &Heard::default());
        }
        assert_eq!(admission.per_minute(&room), 12_000);
        // The organizer's rate lowered: the pace follows it at once.
        let lower = WaitingRoom {
            per_minute: 3_000,
            ..room.clone()
        };
        assert_eq!(admission.per_minute(&lower), 3_000);
    }

    #[test]
    fn a_room_at_its_rate_takes_no_notice_of_sheds_and_tells_the_wait_at_its_pace() {
        let fixed = room(600);
        let decided = WaitingRoom {
            pace: Pace::Decided,
            ..room(600_000)
        };
        let crowd = spike(100_000, 60);
        for (room, shed) in [(&fixed, Some(OPENS)), (&decided, None)] {
            let mut admission = Admission::new(room, "r1".into(), &BTreeMap::new());
            for second in 1..=10 {
                let heard = Heard {
                    shed_at: shed,
                    ..Heard::default()
                };
                admission.advance(room, &crowd, OPENS + second * 1_000, &heard);
            }
            let pace = admission.per_minute(room);
            if room.pace == Pace::Rate {
                assert_eq!(pace, 600);
            }
            // The wait told is at the pace in effect.
            let live = Live::of(room.clone(), admission, &crowd);
            let now = OPENS + 10_000;
            let Place::Waiting { ahead, eta } = live.place_at(OPENS + 30_000, now) else {
                panic!("still waiting");
            };
            let wait = ahead as i64 * 60_000 / i64::from(pace);
            assert_eq!(eta, Some(now + wait + REPORT_LAG));
        }
    }

    #[test]
    fn lateness_is_the_latest_report_seen_lately_and_sets_the_lag_within_bounds() {
        let none = Lateness::default();
        assert_eq!(none.lag(OPENS), REPORT_LAG);
        let late = none.heard(4_000, OPENS);
        assert_eq!(
            late,
            Lateness {
                most: 4_000,
                at: OPENS
            }
        );
        assert_eq!(late.lag(OPENS + 1_000), 4_000 + LATENESS_MARGIN);
        // A timelier report does not undo it while it is remembered...
        assert_eq!(late.heard(500, OPENS + 3_000), late);
        // ...and after that it does.
        let much_later = OPENS + LATE_REPORTS_REMEMBERED + 1;
        assert_eq!(late.lag(much_later), REPORT_LAG);
        assert_eq!(late.heard(500, much_later).most, 500);
        // The lag has a ceiling and a floor.
        assert_eq!(none.heard(60_000, OPENS).lag(OPENS), MOST_REPORT_LAG);
        assert_eq!(none.heard(0, OPENS).lag(OPENS), REPORT_LAG);
    }

    #[test]
    fn reports_that_come_late_hold_the_cutoff_back_instead_of_overrunning_the_rate() {
        let room = room(600); // ten a second
        // One a second from the last minute of the pre-queue on, then a
        // hundred a second from 20 s after the opening; each second
        // reported four seconds after it ends.
        let crowd = arrivals(
            &(-60..120)
                .map(|s| (OPENS + s * 1_000, if s < 20 { 1 } else { 100 }))
                .collect::<Vec<_>>(),
        );
        let late_by = 4_000;
        let most_in_10s = |learn: bool| {
            let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
            let mut heard = Heard::default();
            let mut admitted = Vec::new();
            for second in -60..=90 {
                let now = OPENS + second * 1_000;
                let known: BTreeMap<Millis, u64> = crowd
                    .iter()
                    .filter(|&(&s, _)| s - s.rem_euclid(1_000) + 1_000 + late_by <= now)
                    .map(|(&s, &c)| (s, c))
                    .collect();
                if learn && !known.is_empty() {
                    heard.lateness = heard.lateness.heard(late_by + 1_000, now);
                }
                admission.advance(&room, &known, now, &heard);
                admitted.push(admitted_under(&crowd, admission.cutoff) / 1_000);
            }
            admitted.windows(11).map(|w| w[10] - w[0]).max().unwrap()
        };
        assert!(most_in_10s(false) > 150, "late arrivals admitted uncounted");
        let learned = most_in_10s(true);
        assert!(learned <= 105, "at most the rate + 5%: {learned} in 10 s");
    }

    #[test]
    fn pre_queue_tickets_reported_late_are_not_passed_uncounted_at_the_opening() {
        let room = room(600);
        // A thousand pre-queue tickets, stamped all over its ten minutes,
        // issued up to the opening and reported four seconds after it.
        let prequeue: BTreeMap<Millis, u64> = (0..600)
            .map(|s| (OPENS - 600_000 + s * 1_000, if s % 3 == 0 { 5 } else { 0 }))
            .filter(|&(_, c)| c > 0)
            .collect();
        let total: u64 = prequeue.values().sum();
        let early: BTreeMap<Millis, u64> = prequeue.iter().take(1).map(|(&s, &c)| (s, c)).collect();
        // Reports came four seconds late through the pre-queue: known.
        let heard = Heard {
            lateness: Lateness::default().heard(4_000, OPENS - 1_000),
            ..Heard::default()
        };
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let mut most = 0;
        for second in 1..=60 {
            let now = OPENS + second * 1_000;
            let known = if second < 4 { &early } else { &prequeue };
            let before = admitted_under(&prequeue, admission.cutoff);
            admission.advance(&room, known, now, &heard);
            let step = admitted_under(&prequeue, admission.cutoff) - before;
            most = most.max(step / 1_000);
        }
        // Never more than a move's worth at once: none passed uncounted.
        assert!(most <= 20, "{most} admitted in one move");
        assert!(admitted_under(&prequeue, admission.cutoff) / 1_000 > 0);
        assert!(total > 500);
    }

    #[test]
    fn an_outage_resumes_at_the_rate_and_late_reports_are_charged_to_it() {
        let room = room(600);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let mut crowd = arrivals(&[(OPENS + 500, 1_000)]);
        admission.advance(&room, &crowd, OPENS + 10_000, &Heard::default());
        let first = Tally::of(&crowd, &admission).admitted;
        // Nothing heard for a minute: one step admits `MAX_STEP`'s worth.
        admission.advance(&room, &crowd, OPENS + 70_000, &Heard::default());
        assert_eq!(
            Tally::of(&crowd, &admission).admitted - first,
            (600 * MAX_STEP / 60_000) as u64
        );
        // 20 arrivals reported late, stamped before the cutoff: admitted
        // already, so the next second's ten are not.
        let cutoff = admission.cutoff;
        crowd.insert(OPENS - 1_000, 20);
        let before = admission.admitted;
        admission.advance(&room, &crowd, OPENS + 71_000, &Heard::default());
        assert_eq!(admission.cutoff, cutoff);
        assert_eq!(admission.admitted - before, 20_000);
        assert!(admission.allowance < 0);
    }

    #[test]
    fn tickets_used_beyond_the_count_admitted_are_charged_to_the_rate_once() {
        // 100 a second, and 2,000 stamped in one second: the counts say a
        // move of a second admits 50 ms of it.
        let room = room(6_000);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let crowd = arrivals(&[(OPENS + 500, 2_000)]);
        let at = |s: i64| OPENS + 2_000 + s * 1_000;
        let used = |n: i64| Heard {
            used: n as u64,
            ..Heard::default()
        };
        admission.advance(&room, &crowd, at(0), &used(0));
        admission.advance(&room, &crowd, at(1), &used(0));
        // Those stamps bunched at the second's start: 300 more registered
        // than the counts say were admitted.
        let bunched = admission.admitted / 1_000 + 300;
        let cutoff = admission.cutoff;
        admission.advance(&room, &crowd, at(2), &used(bunched));
        assert_eq!(
            admission.cutoff, cutoff,
            "the 300 beyond are paid for first"
        );
        assert_eq!(admission.admitted, bunched * 1_000);
        // Paid once: the same tickets heard again cost nothing more, and
        // the cutoff moves again once the rate has earned them (3 s).
        for s in 3..=4 {
            admission.advance(&room, &crowd, at(s), &used(bunched));
            assert_eq!(admission.cutoff, cutoff, "{s}");
        }
        admission.advance(&room, &crowd, at(5), &used(bunched));
        assert!(admission.cutoff > cutoff);
        // From there on at the rate: 100 a second more.
        let paid = admission.admitted;
        admission.advance(&room, &crowd, at(6), &used(bunched));
        assert_eq!(admission.admitted - paid, 100_000);
    }

    #[test]
    fn an_idle_room_admits_each_newcomer_once_counted() {
        let room = room(60);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let none = BTreeMap::new();
        admission.advance(&room, &none, OPENS + 60_000, &Heard::default());
        assert_eq!(admission.cutoff, OPENS + 60_000 - REPORT_LAG);
        let one = arrivals(&[(OPENS + 60_500, 1)]);
        admission.advance(&room, &one, OPENS + 61_000, &Heard::default());
        assert_eq!(
            admission.standing(&room, OPENS + 60_500, OPENS + 61_000),
            Standing::Waiting
        );
        admission.advance(&room, &one, OPENS + 63_000, &Heard::default());
        // Its window started with the slot it was admitted in, 3 s ago.
        let until = OPENS + 60_000 + room.admitted_for_ms();
        assert!(OPENS + 63_000 + room.admitted_for_ms() - until <= room.slot_ms());
        assert_eq!(
            admission.standing(&room, OPENS + 60_500, OPENS + 63_000),
            Standing::Admitted { until }
        );
    }

    #[test]
    fn a_second_denser_than_the_allowance_still_moves_at_the_rate() {
        // 60 a minute, and 50,000 stamped in one second: a millisecond of
        // it holds 50 people, more than two seconds of the rate.
        let room = room(60);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let crowd = arrivals(&[(OPENS + 100, 50_000)]);
        let mut now = OPENS;
        for _ in 0..600 {
            now += 1_000;
            admission.advance(&room, &crowd, now, &Heard::default());
        }
        let admitted = Tally::of(&crowd, &admission).admitted;
        // Ten minutes at one a second: 600, give or take the millisecond
        // owed (50).
        assert!((550..=650).contains(&admitted), "{admitted}");
    }

    /// The instant registration opens, a crowd bunches inside its seconds:
    /// here each second's 1,000 come in its first 300 ms. Counted in whole
    /// seconds, taken as spread over them, the cutoff passed each bunch at
    /// over three times the rate; in buckets, each move admits the rate.
    #[test]
    fn a_crowd_bunched_inside_its_seconds_is_admitted_at_the_rate() {
        let room = room(6_000); // 100 a second
        let stamps: Vec<Millis> = (0..30)
            .flat_map(|s| (0..1_000).map(move |k| OPENS + s * 1_000 + k * 300 / 1_000))
            .collect();
        let mut crowd = BTreeMap::new();
        for &stamp in &stamps {
            *crowd.entry(bucket_of(stamp)).or_default() += 1;
        }
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let admitted = |cutoff| stamps.iter().filter(|&&s| s <= cutoff).count();
        let mut busiest = 0;
        for second in 1..=120 {
            let before = admitted(admission.cutoff);
            admission.advance(&room, &crowd, OPENS + second * 1_000, &Heard::default());
            busiest = busiest.max(admitted(admission.cutoff) - before);
        }
        assert!(busiest <= 105, "{busiest} admitted in one move");
        assert!(admitted(admission.cutoff) >= 11_000);
    }

    #[test]
    fn an_opening_moved_later_keeps_the_tickets_already_taken() {
        let early = room(60);
        let crowd = arrivals(&[(early.prequeue_from_ms() + 1_000, 5)]);
        let later = WaitingRoom {
            opens_at: Timestamp::from_millisecond(OPENS + 3_600_000).unwrap(),
            ..early
        };
        let mut admission = Admission::new(&later, "r1".into(), &crowd);
        let stamp = OPENS - 590_000;
        assert_eq!(
            admission.standing(&later, stamp, OPENS),
            Standing::Waiting,
            "not lapsed"
        );
        admission.advance(&later, &crowd, OPENS + 3_603_000, &Heard::default());
        assert_eq!(
            Tally::of(&crowd, &admission).admitted,
            2,
            "at the rate, 2 s worth at most in one move"
        );
    }

    #[test]
    fn a_paused_room_admits_nobody_and_keeps_every_place() {
        let mut room = room(600);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let crowd = arrivals(&[(OPENS + 100, 50)]);
        room.paused = true;
        admission.advance(&room, &crowd, OPENS + 5_000, &Heard::default());
        admission.advance(&room, &crowd, OPENS + 60_000, &Heard::default());
        assert_eq!(Tally::of(&crowd, &admission).admitted, 0);
        room.paused = false;
        admission.advance(&room, &crowd, OPENS + 61_000, &Heard::default());
        assert_eq!(Tally::of(&crowd, &admission).admitted, 10);
    }

    #[test]
    fn an_admitted_ticket_registers_within_its_window_and_lapses_after() {
        let room = room(6_000);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let crowd = arrivals(&[(OPENS + 100, 10)]);
        admission.advance(&room, &crowd, OPENS + 3_000, &Heard::default());
        let ticket = room
            .issue(&conf(), "r1", "eu", OPENS + 100, 0, "x".into())
            .unwrap();
        assert_eq!(
            admission.lets_register(&room, &ticket, OPENS + 3_000),
            Ok(())
        );
        let end = OPENS + 3_000 + room.admitted_for_ms();
        assert_eq!(admission.lets_register(&room, &ticket, end - 1), Ok(()));
        assert_eq!(
            admission.lets_register(&room, &ticket, end),
            Err(Refused::Lapsed)
        );
        // Once its step is pruned, it stays lapsed.
        admission.advance(&room, &crowd, end + 1_000, &Heard::default());
        assert!(admission.lapsed_through >= ticket.stamp);
        assert_eq!(
            admission.lets_register(&room, &ticket, end + 1_000),
            Err(Refused::Lapsed)
        );
        let newer = room
            .issue(&conf(), "r1", "eu", end + 500, 0, "y".into())
            .unwrap();
        assert_eq!(
            admission.lets_register(&room, &newer, end + 1_000),
            Err(Refused::Waiting)
        );
    }

    #[test]
    fn an_edge_asks_for_a_move_only_when_one_is_overdue_while_admitting() {
        let room = room(600);
        let crowd = spike(100, 60);
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let live = |admission: &Admission, room: &WaitingRoom| {
            Live::of(room.clone(), admission.clone(), &crowd)
        };
        // Before the opening there is nothing to move.
        assert!(!live(&admission, &room).move_overdue(OPENS - 10_000));
        // After it, nothing moved yet: overdue.
        assert!(live(&admission, &room).move_overdue(OPENS + 5_000));
        admission.advance(&room, &crowd, OPENS + 5_000, &Heard::default());
        let moving = live(&admission, &room);
        assert!(!moving.move_overdue(OPENS + 5_000 + MOVE_OVERDUE));
        assert!(moving.move_overdue(OPENS + 5_001 + MOVE_OVERDUE));
        // Paused, no move is wanted.
        let paused = WaitingRoom {
            paused: true,
            ..room.clone()
        };
        assert!(!live(&admission, &paused).move_overdue(OPENS + 60_000));
    }

    #[test]
    fn a_waiting_page_is_told_who_is_ahead_and_when_its_turn_comes() {
        let room = room(60);
        let admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let crowd = arrivals(&[
            (OPENS - 3_000, 30),
            (OPENS - 2_000, 30),
            (OPENS - 1_000, 30),
        ]);
        let live = Live::of(room.clone(), admission, &crowd);
        let now = OPENS - 60_000;
        let ticket = Ticket {
            event: conf(),
            room: "r1".into(),
            stamp: OPENS - 2_000 + 500,
            issued: now,
            edge: "eu".into(),
            id: "x".into(),
        };
        assert_eq!(
            live.place(
                &Ticket {
                    room: "r0".into(),
                    ..ticket.clone()
                },
                now
            ),
            Place::Lapsed,
            "a ticket of a room since removed"
        );
        match live.place(&ticket, now) {
            Place::Waiting { ahead, eta } => {
                assert_eq!(ahead, 45);
                assert_eq!(eta, Some(OPENS + 45_000 + REPORT_LAG));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_waiting_crowd_travels_in_a_bounded_number_of_bands() {
        let crowd: BTreeMap<Millis, u64> = (0..7_200).map(|s| (OPENS - s * 1_000, 3)).collect();
        let waiting = bands(&crowd, OPENS - 7_198_001);
        assert!(waiting.len() <= MAX_BANDS, "{}", waiting.len());
        assert_eq!(waiting.iter().map(|b| b.count).sum::<u64>(), 3 * 7_199);
        assert!(waiting.windows(2).all(|w| w[0].until <= w[1].from));
    }

    /// Kendall's tau between two orders of the same items (1: the same).
    fn kendall_tau(a: &[usize], b: &[usize]) -> f64 {
        let mut rank = vec![0; a.len()];
        for (i, &item) in b.iter().enumerate() {
            rank[item] = i;
        }
        let ranks: Vec<usize> = a.iter().map(|&item| rank[item]).collect();
        let (mut agree, mut disagree) = (0u64, 0u64);
        for i in 0..ranks.len() {
            for j in i + 1..ranks.len() {
                if ranks[i] < ranks[j] {
                    agree += 1;
                } else {
                    disagree += 1;
                }
            }
        }
        (agree as f64 - disagree as f64) / (agree + disagree) as f64
    }

    /// Three edges whose clocks are off by up to 50 ms (NTP on a bad day):
    /// 3,000 people arriving in a spike over 60 s, each at the nearest
    /// edge, stamped by its clock. Admission follows the stamps, so two
    /// people further apart than twice the skew are never swapped, and the
    /// order as a whole stays within Kendall's tau 0.99 of arrival order.
    #[test]
    fn skewed_edge_clocks_swap_only_arrivals_closer_than_the_skew() {
        let skew = [-50, 10, 50];
        let room = WaitingRoom {
            prequeue_minutes: 0,
            ..room(600)
        };
        let mut draws = Draws(42);
        // A spike: most arrive in the first seconds.
        let mut arrivals: Vec<(Millis, Millis)> = (0..3_000)
            .map(|i| {
                let u = (draws.next() >> 11) as f64 / (1u64 << 53) as f64;
                let at = OPENS + 1_000 + (-u.max(1e-12).ln() * 8_000.0).min(58_999.0) as Millis;
                let edge = i % skew.len();
                (at, at + skew[edge])
            })
            .collect();
        arrivals.sort();
        let tickets: Vec<Ticket> = arrivals
            .iter()
            .map(|&(_, seen)| {
                room.issue(&conf(), "r1", "eu", seen, 0, "x".into())
                    .unwrap()
            })
            .collect();
        let mut crowd = BTreeMap::new();
        for ticket in &tickets {
            *crowd.entry(bucket_of(ticket.stamp)).or_default() += 1;
        }
        // Admitted in the order the origin's moves reach each ticket.
        let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
        let mut admitted_at = vec![None; tickets.len()];
        let mut now = OPENS;
        while admitted_at.iter().any(Option::is_none) {
            now += 1_000;
            admission.advance(&room, &crowd, now, &Heard::default());
            for (i, ticket) in tickets.iter().enumerate() {
                let standing = admission.standing_of(&room, ticket, now);
                if admitted_at[i].is_none() && matches!(standing, Standing::Admitted { .. }) {
                    admitted_at[i] = Some((now, ticket.stamp));
                }
            }
        }
        let by_arrival: Vec<usize> = (0..tickets.len()).collect();
        let mut by_admission = by_arrival.clone();
        by_admission.sort_by_key(|&i| admitted_at[i]);
        let tau = kendall_tau(&by_arrival, &by_admission);
        assert!(tau >= 0.99, "tau {tau}");
        let spread = skew.iter().max().unwrap() - skew.iter().min().unwrap();
        for (i, &(at_i, _)) in arrivals.iter().enumerate() {
            for (j, &(at_j, _)) in arrivals.iter().enumerate().skip(i + 1) {
                if at_j - at_i > spread {
                    assert!(admitted_at[i] <= admitted_at[j], "{i} and {j} swapped");
                    break;
                }
            }
        }
    }

    proptest! {
        /// However arrivals are reported, early or late, and however the
        /// origin's moves are spaced: admission follows ticket order, never
        /// runs ahead of the rate by more than what was reported late plus
        /// one person, and admits everyone in the end.
        #[test]
        fn admission_keeps_order_and_the_rate(
            reports in proptest::collection::vec((0i64..120, 1u64..200_000), 1..60),
            gaps in proptest::collection::vec(200i64..4_000, 1..200),
            per_minute in 60u32..3_000,
        ) {
            let room = WaitingRoom { per_minute, ..room(60) };
            let mut admission = Admission::new(&room, "r1".into(), &BTreeMap::new());
            let mut crowd: BTreeMap<Millis, u64> = BTreeMap::new();
            let mut now = OPENS;
            let mut late = 0i64;
            let mut last_cutoff = admission.cutoff;
            for (i, gap) in gaps.iter().enumerate() {
                now += gap;
                if let Some(&(second, count)) = reports.get(i) {
                    let bucket = OPENS + (second - 60) * 1_000;
                    if bucket <= admission.cutoff {
                        late += count as i64;
                    }
                    *crowd.entry(bucket).or_default() += count;
                }
                admission.advance(&room, &crowd, now, &Heard::default());
                prop_assert!(admission.cutoff >= last_cutoff);
                last_cutoff = admission.cutoff;
                let admitted = Tally::of(&crowd, &admission).admitted as i64;
                let earned = i64::from(per_minute) * (now - OPENS) / 60_000;
                // Beyond the rate: what was reported late, and the last
                // millisecond moved into while owing (its share of the
                // densest bucket).
                let owed = crowd.values().max().copied().unwrap_or(0) as i64 / BUCKET_MS;
                prop_assert!(
                    admitted <= earned + late + owed + 1,
                    "{admitted} > {earned} + {late} + {owed}"
                );
            }
            // Long enough at the rate, everyone is in (checked where that
            // is a few hours: a dense second is admitted a millisecond at a
            // time, so the last one may come a few seconds late).
            let total: u64 = crowd.values().sum();
            let seconds = total * 60 / u64::from(per_minute);
            if seconds <= 20_000 {
                for _ in 0..(seconds * 11 / 10 + 120) {
                    now += 1_000;
                    admission.advance(&room, &crowd, now, &Heard::default());
                }
                prop_assert_eq!(Tally::of(&crowd, &admission).waiting, 0);
            }
        }
    }
}
