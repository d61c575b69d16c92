//! Keeping registrants' data no longer than needed: `retention_days`
//! (default 30) after an event ends, its cancelled and expired
//! registrations are scrubbed as an erasure scrubs them, and its messages
//! that are done with (sent, kept for a developer without a mail provider,
//! refused, withheld or dropped) are deleted with their delivery records.
//! The delivery task runs it in the background, at most once an hour per
//! instance.

use crate::audit;
use crate::db::{Db, Scope, int, text};
use crate::erasure::{self, Whose};
use crate::error::OriginError;
use crate::seats;
use eventfront_domain::retention;
use std::time::Duration;

/// How often an instance looks for events past their retention.
const LOOK_EVERY: Duration = Duration::from_secs(60 * 60);

/// Scrubs what every event past its retention still keeps, unless this
/// instance looked within the hour. Each look is plain reads (the end of
/// each published event, then whether an ended one keeps anything); an
/// event's write lock is taken only when something is to be scrubbed.
pub async fn sweep_if_due(db: &Db) -> Result<(), OriginError> {
    let now = jiff::Timestamp::now();
    let looked_at = &crate::instance::instance().retention_looked_at;
    if now.as_millisecond().saturating_sub(looked_at.get()) < LOOK_EVERY.as_millis() as i64 {
        return Ok(());
    }
    looked_at.set(now.as_millisecond());
    let config = crate::config::get().await;
    if !config.problems.is_empty() {
        // Erasing on a setting someone mistyped cannot be undone.
        return Ok(());
    }
    let days = config.retention_days;
    // The end as published, not as drafted since: an unpublished edit
    // never shortens what is kept.
    let events = db
        .rows(
            &format!(
                "SELECT e.slug, {ends_at} AS ends_at
                 FROM events e JOIN snapshots s ON s.event = e.slug AND s.version = e.current_version",
                ends_at = db.engine().json_field("s.draft", &["event", "ends_at"])
            ),
            [],
        )
        .await?;
    for event in events {
        let ended = event
            .opt_text("ends_at")
            .and_then(|at| at.parse::<jiff::Timestamp>().ok());
        if ended.is_some_and(|ended| retention::over(ended, now, days)) {
            scrub_event(db, &event.text("slug"), days, now).await?;
        }
    }
    Ok(())
}

/// Scrubs one event that is over, in a transaction of its own, and says
/// so in its audit log, when anything is left to scrub.
async fn scrub_event(
    db: &Db,
    event: &str,
    days: u32,
    now: jiff::Timestamp,
) -> Result<(), OriginError> {
    let kept = db
        .row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM registrations
                     WHERE event = ? AND erased_ms IS NULL
                         AND (status NOT IN ({live}) OR (status = 'pending' AND hold_expires_ms <= ?)))
                 OR EXISTS (SELECT 1 FROM outbox WHERE event = ? AND state IN ({finished}))
                 AS kept",
                live = seats::live_statuses(),
                finished = FINISHED,
            ),
            [text(event), int(now.as_millisecond()), text(event)],
        )
        .await?
        .is_some_and(|row| row.int("kept") == 1);
    if !kept {
        return Ok(());
    }
    db.transaction(Scope::Event(event), async |db| {
        // Holds that lapsed after the event, with nobody to open its book
        // since, are expired first: then they are scrubbed with the rest.
        seats::settled(db, event, now).await?;
        let registrations = erasure::scrub(db, &Whose::Ended { event }).await?;
        let messages = db
            .rows(
                &format!(
                    "DELETE FROM outbox WHERE event = ? AND state IN ({FINISHED}) RETURNING id"
                ),
                [text(event)],
            )
            .await?
            .len();
        if registrations + messages > 0 {
            audit::record(
                db,
                &audit::Actor::SYSTEM,
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

/// The states of a message that is done with.
const FINISHED: &str = "'sent', 'development', 'rejected', 'withheld', 'dropped'";
