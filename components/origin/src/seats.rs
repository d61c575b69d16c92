//! An event's seats as stored: loads the domain's `Ledger` for the rule to
//! decide against, inside the caller's write transaction, and writes the
//! promotions it decides, each with an audit entry and a message to the
//! promoted registrant carrying a manage link of its own.
//!
//! Holds for email confirmation lapse with no scheduler: whoever next loads
//! an event's ledger first expires every hold that lapsed by then, in the
//! order they lapsed, each freed seat going to whoever was first in line at
//! that moment, so the outcome is the one an on-time expiry would have had.

use crate::auth::token_hash;
use crate::db::{Db, Engine, in_list, int, text};
use crate::db::{ROWS_PER_STATEMENT, Writes, placeholders};
use crate::error::OriginError;
use crate::group_commit::{Tokens, store_tokens};
use crate::outbox::{self, Outgoing};
use crate::registration::random_token;
use eventfront_domain::messages::{EventAbout, Notice};
use eventfront_domain::model::RegistrationSettings;
use eventfront_domain::seats::Ledger;
use serde_json::json;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

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
    /// decision looks for lapsed holds only when one is due.
    next_lapse_ms: Option<i64>,
}

/// Milliseconds since the Unix epoch, as the window is stored.
pub fn to_ms(at: jiff::Timestamp) -> i64 {
    at.as_millisecond()
}

fn from_ms(ms: Option<i64>) -> Option<jiff::Timestamp> {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// The ledger of `event` at `now`, if it was ever published, with every
/// hold that lapsed by `now` expired: inside the caller's write
/// transaction.
pub async fn settled(
    db: &Db,
    event: &str,
    now: jiff::Timestamp,
) -> Result<Option<Stored>, OriginError> {
    let Some(mut stored) = load(db, event).await? else {
        return Ok(None);
    };
    expire_lapsed(db, event, &mut stored, now).await?;
    Ok(Some(stored))
}

/// `settled` for a ledger the caller read itself (see `ledgers_query`).
pub async fn settled_from(
    db: &Db,
    row: LedgerRow,
    now: jiff::Timestamp,
) -> Result<Stored, OriginError> {
    let event = row.slug.clone();
    let mut stored = stored(db, row).await?;
    expire_lapsed(db, &event, &mut stored, now).await?;
    Ok(stored)
}

/// Expires `event`'s lapsed holds, when any are due, in a transaction of
/// its own: for a read that must show them as they are now. Says whether
/// any were due.
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
        db.transaction(async |db| settled(db, event, now).await.map(drop))
            .await?;
    }
    Ok(due)
}

/// Expires every hold of `event` that lapsed by `now`, in the order they
/// lapsed: each becomes `expired`, its registrant is told, and a seat it
/// held goes to the first in line then (who may be a later hold, expired
/// in turn when its own time comes in this same walk). The walk is made in
/// memory and written in a few statements, however many holds a burst
/// left to lapse together.
async fn expire_lapsed(
    db: &Db,
    event: &str,
    stored: &mut Stored,
    now: jiff::Timestamp,
) -> Result<(), OriginError> {
    if stored.next_lapse_ms.is_none_or(|at| at > to_ms(now)) {
        return Ok(());
    }
    let lapsed = db
        .rows(
            "SELECT id, name, email, holds_seat, hold_expires_ms FROM registrations
             WHERE event = ? AND status = 'pending' AND hold_expires_ms <= ?
             ORDER BY hold_expires_ms, seq",
            [text(event), int(to_ms(now))],
        )
        .await?;
    // Each lapse removes at most one from the line and promotes at most one
    // (a hold promoted and then lapsed does both): twice as many in line as
    // lapsed is as far as the walk can reach.
    let mut line = Line::read(db, event, 2 * lapsed.len() + 1).await?;
    let mut changes = Changes::new(event, &stored.about);
    for row in &lapsed {
        let id = row.text("id");
        let held_seat = row.int("holds_seat") == 1 || line.seated.contains(&id);
        if !held_seat {
            line.gone.insert(id.clone());
        }
        let lapsed_at = from_ms(row.opt_int("hold_expires_ms")).unwrap_or(now);
        changes.audit(
            "registration.expired",
            &id,
            json!({ "registration": id, "held_seat": held_seat, "at": lapsed_at.to_string() }),
        );
        changes.tell(
            &id,
            row.text("email"),
            row.text("name"),
            Notice::Expired,
            None,
        );
        changes.expired.push((id, lapsed_at));
        let count = stored.ledger.release(held_seat);
        line.promote(count, "expired hold", &mut changes);
    }
    changes.write(db).await
}

/// The first of an event's line, in order, as a walk promotes from it.
struct Line {
    waiting: std::collections::VecDeque<InLine>,
    /// Left the line during the walk (a hold that lapsed in it).
    gone: HashSet<String>,
    /// Given a seat during the walk while still held for confirmation.
    seated: HashSet<String>,
}

struct InLine {
    id: String,
    name: String,
    email: String,
    /// Confirmed by email already (`waitlisted`), or still held.
    waitlisted: bool,
}

impl Line {
    /// The first `reach` in line for `event`.
    async fn read(db: &Db, event: &str, reach: usize) -> Result<Self, OriginError> {
        let rows = db
            .rows(
                "SELECT id, name, email, status FROM registrations
                 WHERE event = ? AND holds_seat = 0 AND status IN ('pending', 'waitlisted')
                 ORDER BY seq LIMIT ?",
                [text(event), int(i64::try_from(reach).unwrap_or(i64::MAX))],
            )
            .await?;
        Ok(Self {
            waiting: rows
                .iter()
                .map(|r| InLine {
                    id: r.text("id"),
                    name: r.text("name"),
                    email: r.text("email"),
                    waitlisted: r.text("status") == "waitlisted",
                })
                .collect(),
            gone: HashSet::new(),
            seated: HashSet::new(),
        })
    }

    /// Gives a seat to the next `count` still in line, for `cause`.
    fn promote(&mut self, count: u32, cause: &str, changes: &mut Changes) {
        for _ in 0..count {
            let Some(next) = std::iter::from_fn(|| self.waiting.pop_front())
                .find(|entry| !self.gone.contains(&entry.id))
            else {
                return;
            };
            changes.audit(
                "registration.promoted",
                &next.id,
                json!({ "registration": next.id, "cause": cause }),
            );
            if next.waitlisted {
                let token = random_token();
                changes
                    .manage_tokens
                    .push((next.id.clone(), token_hash(&token)));
                changes.tell(
                    &next.id,
                    next.email,
                    next.name,
                    Notice::Promoted,
                    Some(token),
                );
            } else {
                self.seated.insert(next.id.clone());
            }
            changes.promoted.push(next.id);
        }
    }
}

/// What a walk over an event's seats decided, written in a few statements.
struct Changes<'a> {
    event: &'a str,
    about: &'a EventAbout,
    /// Expired, with the moment each hold ended.
    expired: Vec<(String, jiff::Timestamp)>,
    /// Given a seat: a waitlisted one is confirmed, a held one keeps
    /// waiting for its confirmation, now with the seat.
    promoted: Vec<String>,
    manage_tokens: Vec<(String, String)>,
    messages: Vec<Outgoing>,
    /// (action, target, detail), in order.
    entries: Vec<(&'static str, String, serde_json::Value)>,
}

impl<'a> Changes<'a> {
    fn new(event: &'a str, about: &'a EventAbout) -> Self {
        Self {
            event,
            about,
            expired: Vec::new(),
            promoted: Vec::new(),
            manage_tokens: Vec::new(),
            messages: Vec::new(),
            entries: Vec::new(),
        }
    }

    fn audit(&mut self, action: &'static str, target: &str, detail: serde_json::Value) {
        self.entries.push((action, target.to_string(), detail));
    }

    fn tell(
        &mut self,
        registration: &str,
        recipient: String,
        attendee: String,
        notice: Notice,
        manage_token: Option<String>,
    ) {
        self.messages.push(Outgoing {
            event: self.event.to_string(),
            about: self.about.clone(),
            registration: registration.to_string(),
            recipient,
            attendee,
            notice,
            manage_token,
            confirm_token: None,
        });
    }

    async fn write(self, db: &Db) -> Result<(), OriginError> {
        // Promotions first: a hold promoted and then lapsed in the same
        // walk ends expired, with no seat.
        let now = jiff::Timestamp::now().to_string();
        for chunk in self.promoted.chunks(ROWS_PER_STATEMENT) {
            let mut params = vec![text(&now)];
            params.extend(chunk.iter().map(text));
            db.exec(
                &format!(
                    "UPDATE registrations SET holds_seat = 1, updated_at = ?,
                         status = CASE status WHEN 'waitlisted' THEN 'confirmed' ELSE status END
                     WHERE id IN ({})",
                    in_list(chunk.len())
                ),
                params,
            )
            .await?;
        }
        for chunk in self.expired.chunks(ROWS_PER_STATEMENT) {
            let params = chunk
                .iter()
                .flat_map(|(id, at)| [text(id), text(at.to_string())]);
            db.exec(
                &format!(
                    "UPDATE registrations SET status = 'expired', holds_seat = 0,
                         updated_at = lapsed.column2
                     FROM (VALUES {}) AS lapsed WHERE registrations.id = lapsed.column1",
                    placeholders(chunk.len(), 2)
                ),
                params,
            )
            .await?;
        }
        let mut tokens = Writes::default();
        store_tokens(
            &mut tokens,
            Tokens::Manage,
            &self.manage_tokens,
            jiff::Timestamp::now(),
        );
        tokens.run(db).await?;
        crate::audit::record_all(db, "system", Some(self.event), &self.entries).await?;
        outbox::write(db, &self.messages).await
    }
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

thread_local! {
    /// What messages say about each published version this instance has
    /// read: a version never changes, and reading it parses the whole
    /// published draft, which a decision must not pay for every batch.
    static ABOUT: RefCell<HashMap<(String, i64), EventAbout>> = RefCell::default();
}

/// Versions kept in `ABOUT` at most; beyond it the cache starts over.
const ABOUT_KEPT: usize = 64;

/// What messages say about `event` as published in `version`.
async fn about_at(db: &Db, event: &str, version: i64) -> Result<Option<EventAbout>, OriginError> {
    let key = (event.to_string(), version);
    if let Some(about) = ABOUT.with_borrow(|kept| kept.get(&key).cloned()) {
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
    ABOUT.with_borrow_mut(|kept| {
        if kept.len() >= ABOUT_KEPT {
            kept.clear();
        }
        kept.insert(key, about.clone());
    });
    Ok(Some(about))
}

/// Gives a seat to the first `count` in line for `event`, in order, and
/// audits each with `cause`: a waitlisted registration is confirmed and
/// told so with a manage link; one still held for confirmation keeps
/// waiting for it, now with the seat.
pub async fn promote(
    db: &Db,
    event: &str,
    about: &EventAbout,
    count: u32,
    cause: &str,
) -> Result<(), OriginError> {
    if count == 0 {
        return Ok(());
    }
    let mut line = Line::read(db, event, count as usize).await?;
    let mut changes = Changes::new(event, about);
    line.promote(count, cause, &mut changes);
    changes.write(db).await
}

/// After settings were published: promotes whoever a raised or removed
/// capacity makes room for.
pub async fn promote_for_new_settings(db: &Db, event: &str) -> Result<(), OriginError> {
    if let Some(mut stored) = settled(db, event, jiff::Timestamp::now()).await? {
        let count = stored.ledger.promote();
        promote(db, event, &stored.about, count, "capacity").await?;
    }
    Ok(())
}
