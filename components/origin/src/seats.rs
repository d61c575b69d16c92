//! An event's seats as stored: loads the domain's `Ledger` for the rule to
//! decide against, inside the caller's write transaction, and writes the
//! promotions it decides, each with an audit entry and a message to the
//! promoted registrant carrying a manage link of its own.

use crate::db::{Db, Row, int, text};
use crate::error::OriginError;
use crate::outbox::{self, Outgoing};
use eventfront_domain::messages::{EventAbout, Notice};
use eventfront_domain::model::RegistrationSettings;
use eventfront_domain::seats::Ledger;
use serde_json::json;

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
            &format!(
                "SELECT e.reg_open, e.capacity, e.opens_at_ms, e.closes_at_ms,
                coalesce(c.confirmed, 0) AS confirmed,
                coalesce(c.waitlisted, 0) AS waitlisted,
                coalesce(c.last_seq, 0) AS last_seq, {ABOUT}
             FROM published_events e
             JOIN snapshots s ON s.event = e.slug AND s.version = e.current_version
             LEFT JOIN seat_counts c ON c.event = e.slug
             WHERE e.slug = ?1"
            ),
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
        about: about_of(&row, event)?,
    }))
}

/// What messages say about an event, from its published version (`s`).
const ABOUT: &str = "json_extract(s.draft, '$.event.name') AS name,
    json_extract(s.draft, '$.event.timezone') AS timezone,
    json_extract(s.draft, '$.event.starts_at') AS starts_at";

fn about_of(row: &Row, event: &str) -> Result<EventAbout, OriginError> {
    Ok(EventAbout {
        name: row.text("name"),
        timezone: row.text("timezone"),
        starts_at: row
            .text("starts_at")
            .parse()
            .map_err(|_| OriginError::Database(format!("event {event} has no valid start")))?,
    })
}

/// What messages say about `event` as last published, archived or not.
pub async fn about(db: &Db, event: &str) -> Result<Option<EventAbout>, OriginError> {
    let row = db
        .row(
            &format!(
                "SELECT {ABOUT} FROM events e
                 JOIN snapshots s ON s.event = e.slug AND s.version = e.current_version
                 WHERE e.slug = ?"
            ),
            [text(event)],
        )
        .await?;
    row.map(|row| about_of(&row, event)).transpose()
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
