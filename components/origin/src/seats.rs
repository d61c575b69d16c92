//! An event's seats as stored: loads the domain's `Book` (its `Ledger` and
//! the registrations a transition may touch) inside the caller's write
//! transaction, and writes the `Plan` the lifecycle decides: statuses,
//! audit entries, messages (a promoted registrant's carrying a manage link
//! of its own). SQL here only picks which rows to load and stores what
//! was decided; the order of the line and of lapsing holds is the book's.
//!
//! Holds for email confirmation lapse with no scheduler: whoever next opens
//! an event's book first expires every hold that lapsed by then, in the
//! order they lapsed, each freed seat going to whoever was first in line at
//! that moment, so the outcome is the one an on-time expiry would have had.

use crate::audit::Actor;
use crate::auth::token_hash;
use crate::db::{Db, Engine, Scope, in_list, int, text};
use crate::db::{ROWS_PER_STATEMENT, Writes, placeholders};
use crate::error::OriginError;
use crate::outbox::{self, Outgoing};
use crate::tokens::{self, Tokens};
use eventfront_domain::lifecycle::{Book, Change, Entry, Freed, Plan, Status};
use eventfront_domain::messages::{EventAbout, Notice};
use eventfront_domain::model::RegistrationSettings;
use eventfront_domain::seats::Ledger;
use serde_json::json;
use std::collections::HashMap;

/// A published event's ledger and the last registration number it gave.
pub struct Stored {
    /// Archived events take no new registration, but their holds still
    /// lapse, their cancellations still promote and their holds can still
    /// be confirmed.
    pub archived: bool,
    pub ledger: Ledger,
    pub last_seq: i64,
    /// What messages say about the event, as last published.
    pub about: EventAbout,
    /// When its earliest hold for confirmation lapses, if any is held: a
    /// book loads lapsed holds only when one is due.
    next_lapse_ms: Option<i64>,
}

/// Milliseconds since the Unix epoch, as the window is stored.
pub fn to_ms(at: jiff::Timestamp) -> i64 {
    at.as_millisecond()
}

fn from_ms(ms: Option<i64>) -> Option<jiff::Timestamp> {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// The statuses that hold a seat or a place in line, as an SQL list:
/// the lifecycle's, not a copy of them.
pub fn live_statuses() -> String {
    statuses_where(Status::is_live)
}

/// The statuses `chosen` picks, as an SQL list.
fn statuses_where(chosen: fn(Status) -> bool) -> String {
    Status::ALL
        .into_iter()
        .filter(|s| chosen(*s))
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An event's book opened inside the caller's write transaction, every
/// hold that lapsed by then expired.
pub struct Opened {
    pub event: String,
    pub stored: Stored,
    pub book: Book,
    /// Whom each loaded registration's messages are addressed to.
    people: HashMap<String, Person>,
    /// Decided and not yet written.
    plan: Plan,
    /// Who asked for the changes a person asks for (a cancellation), as
    /// the audit log names them: the attendee unless said otherwise.
    pub asked_by: Actor,
}

struct Person {
    name: String,
    email: String,
}

/// The book of `event` at `now`, if it was ever published, with
/// `acting` (a registration a transition is asked for) loaded.
pub async fn open(
    db: &Db,
    event: &str,
    now: jiff::Timestamp,
    acting: Option<&str>,
) -> Result<Option<Opened>, OriginError> {
    match load(db, event).await? {
        Some(stored) => Ok(Some(open_stored(db, event, stored, now, acting).await?)),
        None => Ok(None),
    }
}

/// `open` for a ledger the caller read itself (see `ledgers_query`).
pub async fn open_from(
    db: &Db,
    row: LedgerRow,
    now: jiff::Timestamp,
) -> Result<Opened, OriginError> {
    let event = row.slug.clone();
    let stored = stored(db, row).await?;
    open_stored(db, &event, stored, now, None).await
}

async fn open_stored(
    db: &Db,
    event: &str,
    stored: Stored,
    now: jiff::Timestamp,
    acting: Option<&str>,
) -> Result<Opened, OriginError> {
    let ledger = &stored.ledger;
    let due = stored.next_lapse_ms.is_some_and(|at| at <= to_ms(now));
    let free_while_waiting = ledger.clone().promote();
    let mut people = HashMap::new();
    let mut entries = Vec::new();
    // Nearly always nothing is due, nobody is acted on and no seat is
    // free while people wait: then no registration is read.
    if due || acting.is_some() || free_while_waiting > 0 {
        let lapsed_by = if due { to_ms(now) } else { i64::MIN };
        // The head of the line a walk can reach: each lapse removes at
        // most one from the line and promotes at most one (a hold promoted
        // and then lapsed does both), a cancellation promotes one, and the
        // seats free while people wait promote theirs.
        let rows = db
            .rows(
                &format!(
                    "SELECT id, seq, status, holds_seat, hold_expires_ms, name, email
                     FROM registrations
                     WHERE event = ? AND ((status = 'pending' AND hold_expires_ms <= ?) OR id = ?)
                     UNION ALL
                     SELECT * FROM (SELECT id, seq, status, holds_seat, hold_expires_ms, name, email
                         FROM registrations
                         WHERE event = ? AND holds_seat = 0 AND status IN ({live})
                         ORDER BY seq
                         LIMIT (SELECT 2 * count(*) FROM registrations
                                WHERE event = ? AND status = 'pending' AND hold_expires_ms <= ?) + ?
                     ) AS head",
                    live = live_statuses()
                ),
                [
                    text(event),
                    int(lapsed_by),
                    text(acting.unwrap_or("")),
                    text(event),
                    text(event),
                    int(lapsed_by),
                    int(2 + i64::from(free_while_waiting)),
                ],
            )
            .await?;
        for row in rows {
            let status = row.text("status");
            let status = Status::parse(&status)
                .ok_or_else(|| OriginError::Database(format!("unknown status {status}")))?;
            let id = row.text("id");
            people.insert(
                id.clone(),
                Person {
                    name: row.text("name"),
                    email: row.text("email"),
                },
            );
            entries.push(Entry {
                id,
                seq: row.int("seq"),
                status,
                holds_seat: row.int("holds_seat") == 1,
                hold_expires: from_ms(row.opt_int("hold_expires_ms")),
            });
        }
    }
    let mut book = Book::new(stored.ledger.clone(), stored.last_seq, entries);
    let plan = book.lapse_due(now);
    Ok(Opened {
        event: event.to_string(),
        stored,
        book,
        people,
        plan,
        asked_by: Actor::ATTENDEE,
    })
}

/// Cancels registration `id` of `event` inside the caller's write
/// transaction, for `asked_by`, a freed seat going to the first in line;
/// returns its status then (what it already was if it had ended).
pub async fn cancel(
    db: &Db,
    event: &str,
    id: &str,
    asked_by: &Actor,
) -> Result<Status, OriginError> {
    let now = jiff::Timestamp::now();
    // A registration exists only for an event once published.
    let Some(mut opened) = open(db, event, now, Some(id)).await? else {
        return Err(OriginError::NotFound("There is no such registration."));
    };
    opened.asked_by = asked_by.clone();
    let plan = opened.book.cancel(id, now);
    opened.decided(plan);
    opened.write(db).await?;
    opened
        .book
        .get(id)
        .map(|entry| entry.status)
        .ok_or(OriginError::NotFound("There is no such registration."))
}

impl Opened {
    /// Gives seats left free while people wait (from before promotion was
    /// automatic) to the line, before any newcomer.
    pub fn fill_free_seats(&mut self) {
        let plan = self.book.fill_free_seats(Freed::FreeSeat);
        self.decided(plan);
    }

    /// The event's counts and last number as the book holds them, among
    /// `writes`: decisions read them from `seat_counts`, and only the
    /// lifecycle says what they are.
    pub fn push_counts(&self, writes: &mut Writes) {
        let ledger = self.book.ledger();
        writes.push(
            "INSERT INTO seat_counts (event, seated, waiting, last_seq) VALUES (?, ?, ?, ?)
             ON CONFLICT (event) DO UPDATE SET seated = excluded.seated,
                 waiting = excluded.waiting, last_seq = excluded.last_seq"
                .to_string(),
            [
                text(&self.event),
                int(i64::from(ledger.seated)),
                int(i64::from(ledger.waiting)),
                int(self.book.last_seq()),
            ],
        );
    }

    /// Whether anything was decided that is not written yet.
    pub fn has_changes(&self) -> bool {
        !self.plan.is_empty()
    }

    /// Adds what a transition decided to what is written.
    pub fn decided(&mut self, plan: Plan) {
        self.plan.extend(plan);
    }

    /// Writes everything decided since the book was opened, and returns
    /// the manage token minted for each registration its person confirmed.
    /// The stored ledger becomes the book's.
    pub async fn write(&mut self, db: &Db) -> Result<HashMap<String, String>, OriginError> {
        let plan = std::mem::take(&mut self.plan);
        self.stored.ledger = self.book.ledger().clone();
        self.stored.last_seq = self.book.last_seq();
        if plan.is_empty() {
            return Ok(HashMap::new());
        }
        let now = jiff::Timestamp::now();
        let mut rows: HashMap<String, jiff::Timestamp> = HashMap::new();
        // Changes the lifecycle made on its own, and those a person asked for.
        let asked_by = self.asked_by.clone();
        let (system, attendee, asked_by) = (&Actor::SYSTEM, &Actor::ATTENDEE, &asked_by);
        let mut entries = Vec::new();
        let mut manage_tokens = Vec::new();
        let mut minted = HashMap::new();
        let mut messages = Vec::new();
        let mut placed = Vec::new();
        for change in &plan {
            match change {
                // A new registration is written with its answer, by
                // `group_commit`, which asked the book for it.
                Change::Admitted { .. } => continue,
                Change::Expired { id, at, held_seat } => {
                    rows.insert(id.clone(), *at);
                    entries.push((
                        system,
                        "registration.expired",
                        id.clone(),
                        json!({ "registration": id, "held_seat": held_seat, "at": at.to_string() }),
                    ));
                    messages.push(self.tell(id, Notice::Expired, None));
                }
                Change::Promoted { id, to, cause } => {
                    rows.entry(id.clone()).or_insert(now);
                    entries.push((
                        system,
                        "registration.promoted",
                        id.clone(),
                        json!({ "registration": id, "cause": cause.as_str() }),
                    ));
                    // A held registration keeps waiting for its
                    // confirmation, now with the seat; the waitlisted
                    // one is told and given its link.
                    if *to == Status::Confirmed {
                        let token = tokens::random();
                        manage_tokens.push((id.clone(), token_hash(&token)));
                        messages.push(self.tell(id, Notice::Promoted, Some(token)));
                    }
                }
                Change::Cancelled { id, was, .. } => {
                    rows.insert(id.clone(), now);
                    entries.push((
                        asked_by,
                        "registration.cancelled",
                        id.clone(),
                        json!({ "registration": id, "was": was.as_str() }),
                    ));
                    messages.push(self.tell(id, Notice::Cancelled, None));
                }
                Change::Confirmed { id, to } => {
                    rows.insert(id.clone(), now);
                    entries.push((
                        attendee,
                        "registration.confirmed",
                        id.clone(),
                        json!({ "registration": id, "status": to.as_str() }),
                    ));
                    let token = tokens::random();
                    manage_tokens.push((id.clone(), token_hash(&token)));
                    if *to == Status::Waitlisted {
                        // Its place is counted once the plan is written.
                        placed.push(messages.len());
                    }
                    messages.push(self.tell(id, Notice::Confirmed, Some(token.clone())));
                    minted.insert(id.clone(), token);
                }
            }
        }
        let mut writes = Writes::default();
        // Each registration as the book left it: one row per registration
        // however many changes it went through. (PostgreSQL types a
        // VALUES list's parameters as text: the flag goes as text, cast.)
        let rows: Vec<(&Entry, jiff::Timestamp)> = rows
            .iter()
            .filter_map(|(id, at)| Some((self.book.get(id)?, *at)))
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            writes.push(
                format!(
                    "UPDATE registrations SET status = decided.column2,
                         holds_seat = CAST(decided.column3 AS INTEGER),
                         updated_at = decided.column4
                     FROM (VALUES {}) AS decided WHERE registrations.id = decided.column1",
                    placeholders(chunk.len(), 4)
                ),
                chunk.iter().flat_map(|(entry, at)| {
                    [
                        text(&entry.id),
                        text(entry.status.as_str()),
                        text(if entry.holds_seat { "1" } else { "0" }),
                        text(at.to_string()),
                    ]
                }),
            );
        }
        self.push_counts(&mut writes);
        tokens::push(&mut writes, Tokens::Manage, &manage_tokens, now);
        crate::audit::push_all(&mut writes, Some(&self.event), &entries);
        writes.run(db).await?;
        // Picks of sessions follow their registrations: an ended one's
        // go, a confirmed one's deferred picks join.
        let (mut ended, mut confirmed) = (Vec::new(), Vec::new());
        for change in &plan {
            match change {
                Change::Cancelled { id, .. } | Change::Expired { id, .. } => {
                    ended.push(id.as_str())
                }
                Change::Confirmed { id, to } | Change::Promoted { id, to, .. }
                    if to.takes_session_seats() =>
                {
                    confirmed.push(id.as_str())
                }
                _ => {}
            }
        }
        if !ended.is_empty() || !confirmed.is_empty() {
            crate::session_seats::follow(db, &self.event, &ended, &confirmed, &self.stored.about)
                .await?;
        }
        for index in placed {
            let message = &mut messages[index];
            message.notice = Notice::Waitlisted {
                position: position(db, &self.event, &message.registration).await?,
            };
        }
        outbox::write(db, &messages).await?;
        Ok(minted)
    }

    fn tell(&self, id: &str, notice: Notice, manage_token: Option<String>) -> Outgoing {
        let person = self.people.get(id);
        Outgoing {
            event: self.event.clone(),
            about: self.stored.about.clone(),
            registration: id.to_string(),
            recipient: person.map(|p| p.email.clone()).unwrap_or_default(),
            attendee: person.map(|p| p.name.clone()).unwrap_or_default(),
            notice,
            manage_token,
            confirm_token: None,
            session: None,
        }
    }
}

/// Where registration `id` of `event` stands in line as its person is
/// shown it: counted from 1 among those ahead in line the lifecycle counts
/// in a shown position (`Status::counted_in_shown_positions`), itself
/// included; 0 when it is not among them.
pub async fn position(db: &Db, event: &str, id: &str) -> Result<u32, OriginError> {
    let ahead = db
        .row(
            &format!(
                "SELECT count(*) AS position FROM registrations
                 WHERE event = ? AND holds_seat = 0 AND status IN ({})
                     AND seq <= (SELECT seq FROM registrations WHERE id = ?)",
                statuses_where(Status::counted_in_shown_positions)
            ),
            [text(event), text(id)],
        )
        .await?;
    Ok(ahead.map_or(0, |r| u32::try_from(r.int("position")).unwrap_or(0)))
}

/// Opens `event`'s book in a transaction of its own, when any of its holds
/// lapsed, and writes what lapsing them decided: for a read that must show
/// registrations as they are now. Says whether any had lapsed.
pub async fn settle(db: &Db, event: &str) -> Result<bool, OriginError> {
    let now = jiff::Timestamp::now();
    // A plain read first: nearly always nothing is due.
    let due = db
        .row(
            "SELECT 1 AS due FROM registrations
             WHERE event = ? AND status = 'pending' AND hold_expires_ms <= ? LIMIT 1",
            [text(event), int(to_ms(now))],
        )
        .await?
        .is_some();
    if due {
        db.transaction(Scope::Event(event), async |db| {
            settled(db, event, now).await.map(drop)
        })
        .await?;
    }
    Ok(due)
}

/// The ledger of `event` at `now`, if it was ever published, its lapsed
/// holds expired and its free seats given, all of it written: inside the
/// caller's write transaction.
pub async fn settled(
    db: &Db,
    event: &str,
    now: jiff::Timestamp,
) -> Result<Option<Stored>, OriginError> {
    let Some(mut opened) = open(db, event, now, None).await? else {
        return Ok(None);
    };
    opened.fill_free_seats();
    opened.write(db).await?;
    Ok(Some(opened.stored))
}

/// After settings were published: promotes whoever a raised or removed
/// capacity makes room for.
pub async fn promote_for_new_settings(db: &Db, event: &str) -> Result<(), OriginError> {
    if let Some(mut opened) = open(db, event, jiff::Timestamp::now(), None).await? {
        // The stored ledger carries the settings just published.
        let settings = opened.stored.ledger.settings.clone();
        let plan = opened.book.set_settings(settings);
        opened.decided(plan);
        opened.write(db).await?;
    }
    Ok(())
}

/// `SELECT` of one JSON array: the stored ledger of each published event
/// whose slug is among `slugs` placeholders, as `LedgerRow`s. A subquery,
/// so that a caller can read the ledgers in the statement it reads its
/// other rows with.
pub fn ledgers_query(engine: Engine, slugs: usize) -> String {
    let ledger = engine.json_objects(
        "'slug', e.slug, 'reg_open', e.reg_open, 'capacity', e.capacity,
         'opens_at_ms', e.opens_at_ms, 'closes_at_ms', e.closes_at_ms,
         'current_version', e.current_version, 'confirm_email', e.confirm_email,
         'hold_minutes', e.hold_minutes, 'archived_at_ms', e.archived_at_ms,
         'seated', coalesce(c.seated, 0), 'waiting', coalesce(c.waiting, 0),
         'last_seq', coalesce(c.last_seq, 0),
         'next_lapse_ms', (SELECT min(hold_expires_ms) FROM registrations
                           WHERE event = e.slug AND status = 'pending')",
    );
    format!(
        "SELECT {ledger} FROM events e LEFT JOIN seat_counts c ON c.event = e.slug
         WHERE e.current_version > 0 AND e.slug IN ({})",
        in_list(slugs)
    )
}

/// A published event's ledger as `ledgers_query` reads it.
#[derive(serde::Deserialize)]
pub struct LedgerRow {
    pub slug: String,
    reg_open: i64,
    capacity: Option<i64>,
    opens_at_ms: Option<i64>,
    closes_at_ms: Option<i64>,
    current_version: i64,
    confirm_email: i64,
    hold_minutes: i64,
    archived_at_ms: Option<i64>,
    seated: i64,
    waiting: i64,
    last_seq: i64,
    next_lapse_ms: Option<i64>,
}

/// What messages say about `event` as last published.
pub async fn about(db: &Db, event: &str) -> Result<EventAbout, OriginError> {
    load(db, event)
        .await?
        .map(|stored| stored.about)
        .ok_or(OriginError::NotFound("There is no such event."))
}

/// The ledger of `event` as stored, if it was ever published.
async fn load(db: &Db, event: &str) -> Result<Option<Stored>, OriginError> {
    let ledgers = db
        .row(
            &format!("SELECT ({}) AS ledgers", ledgers_query(db.engine(), 1)),
            [text(event)],
        )
        .await?
        .map(|row| row.json::<Vec<LedgerRow>>("ledgers"))
        .transpose()?
        .unwrap_or_default();
    match ledgers.into_iter().next() {
        Some(row) => Ok(Some(stored(db, row).await?)),
        None => Ok(None),
    }
}

/// The ledger `row` holds, with what messages say about its event.
async fn stored(db: &Db, row: LedgerRow) -> Result<Stored, OriginError> {
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let about = about_at(db, &row.slug, row.current_version)
        .await?
        .ok_or_else(|| OriginError::Database(format!("event {} has no snapshot", row.slug)))?;
    Ok(Stored {
        archived: row.archived_at_ms.is_some(),
        ledger: Ledger {
            settings: RegistrationSettings {
                open: row.reg_open == 1,
                capacity: row.capacity.map(|c| u32::try_from(c).unwrap_or(0)),
                opens_at: from_ms(row.opens_at_ms),
                closes_at: from_ms(row.closes_at_ms),
                confirm_email: row.confirm_email == 1,
                hold_minutes: count(row.hold_minutes),
            },
            seated: count(row.seated),
            waiting: count(row.waiting),
        },
        last_seq: row.last_seq,
        next_lapse_ms: row.next_lapse_ms,
        about,
    })
}

/// Versions kept in the instance's `about` at most; beyond it the cache starts over.
const ABOUT_KEPT: usize = 64;

/// What messages say about `event` as published in `version`.
async fn about_at(db: &Db, event: &str, version: i64) -> Result<Option<EventAbout>, OriginError> {
    let key = (event.to_string(), version);
    let instance = crate::instance::instance();
    if let Some(about) = instance.about.borrow().get(&key).cloned() {
        return Ok(Some(about));
    }
    let Some(row) = db
        .row(
            "SELECT draft FROM snapshots WHERE event = ? AND version = ?",
            [text(event), int(version)],
        )
        .await?
    else {
        return Ok(None);
    };
    /// The part of a published draft messages speak of.
    #[derive(serde::Deserialize)]
    struct Published {
        event: EventAbout,
    }
    let about = serde_json::from_str::<Published>(&row.text("draft"))
        .map_err(|e| OriginError::Database(format!("event {event} has no valid snapshot: {e}")))?
        .event;
    let mut kept = instance.about.borrow_mut();
    if kept.len() >= ABOUT_KEPT {
        kept.clear();
    }
    kept.insert(key, about.clone());
    Ok(Some(about))
}
