//! An event's seats as stored: loads the domain's `Ledger` for the rule to
//! decide against, inside the caller's write transaction, and writes the
//! promotions it decides, each with an audit entry.

use crate::db::{Db, int, text};
use crate::error::OriginError;
use eventfront_domain::model::RegistrationSettings;
use eventfront_domain::seats::Ledger;
use serde_json::json;

/// A published event's ledger and the last registration number it gave.
pub struct Stored {
    pub ledger: Ledger,
    pub last_seq: i64,
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
            "SELECT e.reg_open, e.capacity, e.opens_at_ms, e.closes_at_ms,
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
    }))
}

/// Confirms the first `count` waitlisted registrations of `event`, in
/// line order, and audits each with `cause`; returns their ids.
pub async fn promote(
    db: &Db,
    event: &str,
    count: u32,
    cause: &str,
) -> Result<Vec<String>, OriginError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let promoted: Vec<String> = db
        .rows(
            "SELECT id FROM registrations WHERE event = ? AND status = 'waitlisted'
             ORDER BY seq LIMIT ?",
            [text(event), int(i64::from(count))],
        )
        .await?
        .iter()
        .map(|r| r.text("id"))
        .collect();
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
        promote(db, event, count, "capacity").await?;
    }
    Ok(())
}
