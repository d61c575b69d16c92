//! Erasure of registrants' personal data (GDPR Art. 17): asked for by a
//! registrant from the manage page or by an organizer for them, and done
//! by retention to the cancelled and expired registrations of an event
//! that ended long enough ago (`retention`). An asked-for erasure cancels
//! the registration first, its seat or place going to the next in line as
//! with any cancellation. Then the name and address leave every row that
//! holds them: the registration itself (which stays, anonymous, so that
//! counts and the audit trail still add up), its emails (those not yet
//! sent are dropped), the organizer's webhook events about it, the answer
//! kept for its idempotency key and its tokens, so that no link to it
//! opens anything any more.

use crate::audit::{self, Actor};
use crate::db::{Db, Scope, int, text};
use crate::error::OriginError;
use crate::seats::{self, live_statuses};
use eventfront_domain::lifecycle::Status;
use eventfront_domain::webhook;
use spin_sdk::sqlite::Value;

/// Cancels registration `id` of `event` and erases its personal data, in
/// one transaction of the event's; `actor` is who asked, for the audit
/// log. Returns the registration's status: `cancelled`, or what it already
/// was if it had ended.
pub async fn erase(db: &Db, event: &str, id: &str, actor: &Actor) -> Result<Status, OriginError> {
    db.transaction(Scope::Event(event), async |db| {
        let status = seats::cancel(db, event, id, actor).await?;
        scrub(db, &Whose::One(id)).await?;
        audit::record(
            db,
            actor,
            "registration.erased",
            Some(event),
            Some(id),
            &serde_json::json!({ "registration": id }),
        )
        .await?;
        Ok(status)
    })
    .await
}

/// Which registrations a scrub takes.
pub enum Whose<'a> {
    /// One registration, by id.
    One(&'a str),
    /// An event's registrations that ended (cancelled, expired) and were
    /// not erased yet.
    Ended { event: &'a str },
}

impl Whose<'_> {
    /// `IN (…)` of their ids, and its parameter.
    fn ids(&self) -> (String, Value) {
        match self {
            Whose::One(id) => ("IN (?)".into(), text(*id)),
            Whose::Ended { event } => (
                format!(
                    "IN (SELECT id FROM registrations
                         WHERE event = ? AND erased_ms IS NULL AND status NOT IN ({}))",
                    live_statuses()
                ),
                text(*event),
            ),
        }
    }
}

/// Takes the personal data of `whose` out of every row that holds it,
/// inside the caller's write transaction; returns how many registrations
/// it scrubbed. The registrations go last, since `Whose::Ended` finds them
/// by not being erased yet.
pub async fn scrub(db: &Db, whose: &Whose<'_>) -> Result<usize, OriginError> {
    let (ids, id_param) = whose.ids();
    let param = || [id_param.clone()];
    db.exec(
        &format!(
            "UPDATE outbox SET
                 recipient = '', subject = '', body_text = '', body_html = '',
                 manage_link = NULL, confirm_link = NULL, mailbox = NULL, mail_domain = NULL,
                 last_error = CASE WHEN state IN ('queued', 'failed', 'development')
                     THEN 'erased before it was sent' ELSE last_error END,
                 state = CASE WHEN state IN ('queued', 'failed', 'development')
                     THEN 'dropped' ELSE state END
             WHERE channel = 'email' AND registration {ids}"
        ),
        param(),
    )
    .await?;
    // The organizer still learns what happened, without whom to.
    let events = db
        .rows(
            &format!(
                "SELECT id, body_text FROM outbox WHERE channel = 'webhook' AND registration {ids}"
            ),
            param(),
        )
        .await?;
    for event in events {
        db.exec(
            "UPDATE outbox SET body_text = ? WHERE id = ?",
            [
                text(webhook::without_personal_data(&event.text("body_text"))),
                text(event.text("id")),
            ],
        )
        .await?;
    }
    for table in ["manage_tokens", "confirm_tokens", "idempotency"] {
        // The table names are ours, written in.
        db.exec(
            &format!("DELETE FROM {table} WHERE registration {ids}"),
            param(),
        )
        .await?;
    }
    let scrubbed = db
        .rows(
            &format!("SELECT id FROM registrations WHERE id {ids}"),
            param(),
        )
        .await?
        .len();
    db.exec(
        &format!(
            "UPDATE registrations SET name = '', email = '', email_canonical = '', erased_ms = ?
             WHERE id {ids}"
        ),
        [
            int(jiff::Timestamp::now().as_millisecond()),
            id_param.clone(),
        ],
    )
    .await?;
    Ok(scrubbed)
}
