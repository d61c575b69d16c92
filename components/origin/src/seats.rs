//! An event's seats as stored: loads the domain's `Ledger` for the rule to
//! decide against, inside the caller's write transaction, and writes the
//! promotions it decides, each with an audit entry and a message to the
//! promoted registrant carrying a manage link of its own.

use crate::db::{Db, int, text};
use crate::error::OriginError;
use crate::outbox::{self, Outgoing};
use eventfront_domain::messages::{EventAbout, Notice};
use eventfront_domain::model::RegistrationSettings;
use eventfront_domain::seats::Ledger;
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;

/// A published event's ledger and the last registration number it gave.
pub struct Stored {
    pub ledger: Ledger,
    pub last_seq: i64,
    /// What messages say about the event, as last published.
    pub about: EventAbout,
}

/// Milliseconds since the Unix epoch, as the window is stored.
pub fn to_ms(at: jiff::Timestamp) -> i64 {
    at.as_millisecond()
}

fn from_ms(ms: Option<i64>) -> Option<jiff::Timestamp> {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// The ledger of `event`, if it is published (and not archived).
pub async fn load(db: &Db, event: &str) -> Result<Option<Stored>, OriginError> {
    let Some(row) = db
        .row(
            "SELECT e.reg_open, e.capacity, e.opens_at_ms, e.closes_at_ms, e.current_version,
                coalesce(c.confirmed, 0) AS confirmed,
                coalesce(c.waitlisted, 0) AS waitlisted,
                coalesce(c.last_seq, 0) AS last_seq
             FROM published_events e LEFT JOIN seat_counts c ON c.event = e.slug
             WHERE e.slug = ?1",
            [text(event)],
        )
        .await?
    else {
        return Ok(None);
    };
    let count = |column| u32::try_from(row.int(column)).unwrap_or(u32::MAX);
    Ok(Some(Stored {
        ledger: Ledger {
            settings: RegistrationSettings {
                open: row.int("reg_open") == 1,
                capacity: row
                    .opt_int("capacity")
                    .map(|c| u32::try_from(c).unwrap_or(0)),
                opens_at: from_ms(row.opt_int("opens_at_ms")),
                closes_at: from_ms(row.opt_int("closes_at_ms")),
            },
            confirmed: count("confirmed"),
            waitlisted: count("waitlisted"),
        },
        last_seq: row.int("last_seq"),
        about: about_at(db, event, row.int("current_version"))
            .await?
            .ok_or_else(|| OriginError::Database(format!("event {event} has no snapshot")))?,
    }))
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
            "SELECT json_extract(draft, '$.event.name') AS name,
                json_extract(draft, '$.event.timezone') AS timezone,
                json_extract(draft, '$.event.starts_at') AS starts_at
             FROM snapshots WHERE event = ? AND version = ?",
            [text(event), int(version)],
        )
        .await?
    else {
        return Ok(None);
    };
    let about = EventAbout {
        name: row.text("name"),
        timezone: row.text("timezone"),
        starts_at: row
            .text("starts_at")
            .parse()
            .map_err(|_| OriginError::Database(format!("event {event} has no valid start")))?,
    };
    ABOUT.with_borrow_mut(|kept| {
        if kept.len() >= ABOUT_KEPT {
            kept.clear();
        }
        kept.insert(key, about.clone());
    });
    Ok(Some(about))
}

/// What messages say about `event` as last published, archived or not.
pub async fn about(db: &Db, event: &str) -> Result<Option<EventAbout>, OriginError> {
    let version = db
        .row(
            "SELECT current_version FROM events WHERE slug = ?",
            [text(event)],
        )
        .await?
        .map(|r| r.int("current_version"));
    match version {
        Some(version) => about_at(db, event, version).await,
        None => Ok(None),
    }
}

/// Confirms the first `count` waitlisted registrations of `event`, in
/// line order, audits each with `cause` and writes each registrant a
/// message; returns their ids.
pub async fn promote(
    db: &Db,
    event: &str,
    about: &EventAbout,
    count: u32,
    cause: &str,
) -> Result<Vec<String>, OriginError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let rows = db
        .rows(
            "SELECT id, name, email FROM registrations
             WHERE event = ? AND status = 'waitlisted' ORDER BY seq LIMIT ?",
            [text(event), int(i64::from(count))],
        )
        .await?;
    let promoted: Vec<String> = rows.iter().map(|r| r.text("id")).collect();
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let registration = row.text("id");
        let token = crate::registration::add_manage_token(db, &registration).await?;
        messages.push(Outgoing {
            event: event.to_string(),
            about: about.clone(),
            registration,
            recipient: row.text("email"),
            attendee: row.text("name"),
            notice: Notice::Promoted,
            manage_token: Some(token),
        });
    }
    outbox::write(db, &messages).await?;
    let now = jiff::Timestamp::now().to_string();
    for id in &promoted {
        db.exec(
            "UPDATE registrations SET status = 'confirmed', updated_at = ? WHERE id = ?",
            [text(&now), text(id)],
        )
        .await?;
        crate::audit::record(
            db,
            "system",
            "registration.promoted",
            Some(event),
            Some(id),
            &json!({ "registration": id, "cause": cause }),
        )
        .await?;
    }
    Ok(promoted)
}

/// After settings were published: promotes whoever a raised or removed
/// capacity makes room for.
pub async fn promote_for_new_settings(db: &Db, event: &str) -> Result<(), OriginError> {
    if let Some(mut stored) = load(db, event).await? {
        let count = stored.ledger.promote();
        promote(db, event, &stored.about, count, "capacity").await?;
    }
    Ok(())
}
