//! Keeping registrants' data no longer than needed: `retention_days`
//! (default 30) after an event ends, its cancelled and expired
//! registrations are scrubbed as an erasure scrubs them, and its messages
//! that are done with (sent, kept for a developer without a mail provider,
//! refused, withheld or dropped) are deleted with their delivery records.
//! The delivery task runs it in the background, at most once an hour per
//! instance.

use crate::audit;
use crate::db::{Db, Scope, text};
use crate::erasure::{self, Whose};
use crate::error::OriginError;
use eventfront_domain::retention;
use std::cell::Cell;
use std::time::Duration;

/// How often an instance looks for events past their retention.
const LOOK_EVERY: Duration = Duration::from_secs(60 * 60);

thread_local! {
    /// When this instance last looked, in Unix milliseconds.
    static LOOKED_AT: Cell<i64> = const { Cell::new(i64::MIN) };
}

/// Scrubs what every event past its retention still keeps, unless this
/// instance looked within the hour.
pub async fn sweep_if_due(db: &Db) -> Result<(), OriginError> {
    let now = jiff::Timestamp::now();
    if now.as_millisecond().saturating_sub(LOOKED_AT.get()) < LOOK_EVERY.as_millis() as i64 {
        return Ok(());
    }
    LOOKED_AT.set(now.as_millisecond());
    let config = crate::config::get().await;
    if !config.problems.is_empty() {
        // Erasing on a setting someone mistyped cannot be undone.
        return Ok(());
    }
    let days = config.retention_days;
    let events = db.rows("SELECT slug, draft FROM events", []).await?;
    for event in events {
        let ended = serde_json::from_str::<serde_json::Value>(&event.text("draft"))
            .ok()
            .and_then(|draft| draft["ends_at"].as_str()?.parse().ok());
        if ended.is_some_and(|ended| retention::over(ended, now, days)) {
            scrub_event(db, &event.text("slug"), days).await?;
        }
    }
    Ok(())
}

/// Scrubs one event that is over, in a transaction of its own, and says
/// so in its audit log when anything was left to scrub.
async fn scrub_event(db: &Db, event: &str, days: u32) -> Result<(), OriginError> {
    db.transaction(Scope::Event(event), async |db| {
        let registrations = erasure::scrub(db, &Whose::Ended { event }).await?;
        let messages = db
            .rows(
                "DELETE FROM outbox
                 WHERE event = ? AND state IN ('sent', 'development', 'rejected', 'withheld', 'dropped')
                 RETURNING id",
                [text(event)],
            )
            .await?
            .len();
        if registrations + messages > 0 {
            audit::record(
                db,
                "system",
                "retention.scrubbed",
                Some(event),
                None,
                &serde_json::json!({
                    "days_after_end": days,
                    "registrations": registrations,
                    "messages": messages,
                }),
            )
            .await?;
        }
        Ok(())
    })
    .await
}
