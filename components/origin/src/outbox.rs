//! The transactional outbox: every message to a registrant is written in
//! the same transaction as the change it reports, so a change is never
//! made without its message nor a message sent for a change that was
//! rolled back. With a mail provider configured a message is `queued` and
//! `delivery` sends it after the response; without one it is kept as
//! `development`. Organizers read every message and its delivery state in
//! `GET /api/admin/events/{slug}/outbox`, and a developer on `spin up`
//! follows its manage link from there.

use crate::db::{Db, ROWS_PER_STATEMENT, Scope, Writes, in_list, int, placeholders, text};
use crate::error::OriginError;
use crate::sealing;
use eventfront_domain::messages::{self, EventAbout, Links, Notice, SessionAbout};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::webhook;
use eventfront_domain::{Email, Slug};
use serde_json::json;
use spin_sdk::sqlite::Value;
use std::collections::{HashMap, HashSet};

/// A message to write.
pub struct Outgoing {
    pub event: String,
    pub about: EventAbout,
    pub registration: String,
    pub recipient: String,
    pub attendee: String,
    pub notice: Notice,
    /// A token of the registration's, for the message's manage link.
    pub manage_token: Option<String>,
    /// A confirmation token of the registration's, for its confirm link.
    pub confirm_token: Option<String>,
    /// The session a message about a session's seat is about.
    pub session: Option<SessionAbout>,
}

/// The attendee site's address, for links in exports and messages.
pub async fn public_url() -> Result<&'static str, OriginError> {
    crate::config::get()
        .await
        .public_url
        .as_deref()
        .ok_or(OriginError::Config(
            "the public_url variable is not set".into(),
        ))
}

/// A new email's state and first try: sent as soon as may be with a mail
/// provider, kept for the developer without one.
async fn new_email_state(now_ms: i64) -> (&'static str, Value) {
    match crate::delivery::provider().await {
        Some(_) => ("queued", int(now_ms)),
        None => ("development", Value::Null),
    }
}

/// Mail of the organization's own (`kind`, a sign-in link) to
/// `recipient`: on the path registrants' mail takes, under no event, sealed
/// as theirs is (its text holds a working link).
pub async fn write_organization_mail(
    db: &Db,
    recipient: &Email,
    kind: &str,
    message: &eventfront_domain::messages::Message,
) -> Result<(), OriginError> {
    let sealer = sealing::sealer().await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let (state, next_try) = new_email_state(now_ms).await;
    let mut writes = Writes::default();
    writes.push(
        "INSERT INTO outbox (id, channel, kind, recipient, subject, body_text, body_html, state,
             created_ms, next_try_ms, mailbox, mail_domain)
         VALUES (?, 'email', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            .into(),
        [
            text(uuid::Uuid::new_v4().to_string()),
            text(kind),
            text(recipient.as_str()),
            text(&message.subject),
            text(sealing::seal(sealer, &message.text)),
            text(sealing::seal(sealer, &message.html)),
            text(state),
            int(now_ms),
            next_try,
            text(recipient.mailbox()),
            text(recipient.domain()),
        ],
    );
    // Delivered once the transaction commits, as registrants' mail is.
    writes.queue_messages();
    writes.run(db).await
}

/// Writes `messages`, and an event for each change a webhook is
/// configured to hear of, in the caller's transaction.
pub async fn write(db: &Db, messages: &[Outgoing]) -> Result<(), OriginError> {
    if messages.is_empty() {
        return Ok(());
    }
    let webhooks = webhook_urls(db, messages).await?;
    let mut writes = Writes::default();
    write_for(&mut writes, messages, &webhooks).await?;
    writes.run(db).await
}

/// `write` among the caller's `writes`, with the webhook URL of each of
/// the messages' events (none for an event that has none) read by the
/// caller.
pub async fn write_for(
    writes: &mut Writes,
    messages: &[Outgoing],
    webhooks: &HashMap<String, String>,
) -> Result<(), OriginError> {
    if messages.is_empty() {
        return Ok(());
    }
    let public_url = public_url().await?;
    let sealer = sealing::sealer().await?;
    let now = jiff::Timestamp::now();
    let now_ms = now.as_millisecond();
    let (email_state, email_next_try) = new_email_state(now_ms).await;
    let mut rows: Vec<[Value; 16]> = Vec::with_capacity(messages.len() * 2);
    // Emails among `rows`: a lapsed hold's message is a webhook's alone.
    let mut emails = 0;
    for message in messages {
        let link = message
            .manage_token
            .as_deref()
            .map(|token| messages::manage_link(public_url, &message.registration, token));
        let confirm = message
            .confirm_token
            .as_deref()
            .map(|token| messages::confirm_link(public_url, &message.registration, token));
        let links = Links {
            manage: link.as_deref(),
            confirm: confirm.as_deref(),
        };
        let composed = match &message.session {
            Some(session) => Some(messages::session_seat(
                session,
                &message.about,
                &message.attendee,
                links,
            )),
            None => messages::compose(message.notice, &message.about, &message.attendee, links),
        };
        if let Some(composed) = composed {
            let address = Email::parse(&message.recipient).ok();
            emails += 1;
            rows.push([
                text(uuid::Uuid::new_v4().to_string()),
                text(&message.event),
                text(&message.registration),
                text(Channel::Email.name()),
                text(message.notice.kind()),
                text(&message.recipient),
                text(composed.subject),
                // Sealed: the text and the links hold working tokens.
                text(sealing::seal(sealer, &composed.text)),
                text(sealing::seal(sealer, &composed.html)),
                link.map_or(Value::Null, |link| text(sealing::seal(sealer, &link))),
                confirm.map_or(Value::Null, |link| text(sealing::seal(sealer, &link))),
                text(email_state),
                int(now_ms),
                email_next_try.clone(),
                address.as_ref().map_or(Value::Null, |a| text(a.mailbox())),
                address.as_ref().map_or(Value::Null, |a| text(a.domain())),
            ]);
        }
        let (Some(url), Some(status)) = (webhooks.get(&message.event), message.notice.status())
        else {
            continue;
        };
        let id = uuid::Uuid::new_v4().to_string();
        let mut registration = json!({
            "id": message.registration,
            "status": status,
            "name": message.attendee,
            "email": message.recipient,
        });
        if let Notice::Waitlisted { position } = message.notice {
            registration["position"] = json!(position);
        }
        if let Some(session) = &message.session {
            registration["session"] = json!(session.id);
        }
        let payload = webhook::payload(
            &id,
            message.notice.kind(),
            &now.to_string(),
            &message.event,
            registration,
        );
        rows.push([
            text(id),
            text(&message.event),
            text(&message.registration),
            text(Channel::Webhook.name()),
            text(message.notice.kind()),
            text(url),
            text(payload["type"].as_str().unwrap_or_default()),
            text(payload.to_string()),
            text(""),
            Value::Null,
            Value::Null,
            text("queued"),
            int(now_ms),
            int(now_ms),
            Value::Null,
            Value::Null,
        ]);
    }
    if (email_state == "queued" && emails > 0) || rows.len() > emails {
        writes.queue_messages();
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        writes.push(
            format!(
                "INSERT INTO outbox (id, event, registration, channel, kind, recipient, subject,
                     body_text, body_html, manage_link, confirm_link, state, created_ms,
                     next_try_ms, mailbox, mail_domain)
                 VALUES {}",
                placeholders(chunk.len(), 16)
            ),
            chunk.iter().flatten().cloned(),
        );
    }
    Ok(())
}

/// The webhook URL of each event among `messages` that has one.
async fn webhook_urls(
    db: &Db,
    messages: &[Outgoing],
) -> Result<HashMap<String, String>, OriginError> {
    let events: HashSet<&str> = messages.iter().map(|m| m.event.as_str()).collect();
    webhooks_of(db, &events.into_iter().collect::<Vec<_>>()).await
}

/// The webhook URL of each of `events` that has one, for `write_for`: read
/// before anything is decided by a caller that reads in one go.
pub async fn webhooks_of(db: &Db, events: &[&str]) -> Result<HashMap<String, String>, OriginError> {
    let rows = db
        .rows(
            &format!(
                "SELECT event, url FROM webhooks WHERE event IN ({})",
                in_list(events.len())
            ),
            events.iter().map(|event| text(*event)),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.text("event"), r.text("url")))
        .collect())
}

/// `POST /api/admin/events/{slug}/outbox/{id}/resend`: the email `id` again,
/// as a new message (its own id, delivered afresh, the same text and
/// link); 201 with the copy as the outbox lists it.
pub async fn resend(
    db: &Db,
    event: &Slug,
    id: &str,
    by: &crate::audit::Actor,
) -> Result<Reply, OriginError> {
    let now = jiff::Timestamp::now().as_millisecond();
    let (state, next_try) = new_email_state(now).await;
    let copy = uuid::Uuid::new_v4().to_string();
    let copied = db
        .transaction(Scope::Event(event.as_str()), async |db| {
            let found = db
                .row(
                    "SELECT 1 AS found FROM outbox WHERE id = ? AND event = ? AND channel = 'email'",
                    [text(id), text(event.as_str())],
                )
                .await?
                .is_some();
            if !found {
                return Ok(false);
            }
            db.exec(
                "INSERT INTO outbox (id, event, registration, channel, kind, recipient, subject,
                     body_text, body_html, manage_link, confirm_link, state, created_ms,
                     next_try_ms)
                 SELECT ?, event, registration, channel, kind, recipient, subject,
                     body_text, body_html, manage_link, confirm_link, ?,
                     CAST(? AS BIGINT), CAST(? AS BIGINT)
                 FROM outbox WHERE id = ?",
                [text(&copy), text(state), int(now), next_try.clone(), text(id)],
            )
            .await?;
            crate::audit::record(
                db,
                by,
                "message.resent",
                Some(event.as_str()),
                Some(id),
                &json!({ "message": id, "copy": copy }),
            )
            .await?;
            Ok(true)
        })
        .await?;
    if !copied {
        return Err(OriginError::NotFound("There is no such message."));
    }
    if state == "queued" {
        crate::delivery::queued();
    }
    let listed = list(db, Some(event.as_str()), Channel::Email).await?;
    let message = listed["messages"]
        .as_array()
        .and_then(|messages| messages.iter().find(|m| m["id"] == copy.as_str()))
        .cloned()
        .unwrap_or_default();
    Ok(respond::json(201, &message))
}

/// The most messages one listing shows, newest first.
const LISTED: i64 = 500;

/// Where an outbox entry goes: a registrant's address, or the event's
/// webhook.
#[derive(Clone, Copy)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// The newest entries about the event on `channel`, or with no event the
/// organization's own mail, each with its delivery state: `{event, total,
/// messages}` (`GET /api/admin/events/{slug}/outbox` for email, and
/// `GET /api/admin/outbox`; a webhook's deliveries in `admin::webhook`).
pub async fn list(
    db: &Db,
    event: Option<&str>,
    channel: Channel,
) -> Result<serde_json::Value, OriginError> {
    let (whose, mut params) = match event {
        Some(event) => ("event = ?", vec![text(event)]),
        None => ("event IS NULL", Vec::new()),
    };
    params.push(text(channel.name()));
    let rows = db
        .rows(
            &format!(
                "SELECT id, registration, kind, recipient, subject, body_text, manage_link,
                        confirm_link, state, created_ms, attempts, last_error, sent_ms, next_try_ms
                 FROM outbox WHERE {whose} AND channel = ?
                 ORDER BY created_ms DESC, rowid DESC LIMIT ?"
            ),
            params.iter().cloned().chain([int(LISTED)]),
        )
        .await?;
    let total = db
        .row(
            &format!("SELECT count(*) AS total FROM outbox WHERE {whose} AND channel = ?"),
            params,
        )
        .await?
        .map_or(0, |r| r.int("total"));
    let sealer = sealing::sealer().await?;
    let messages: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            // Shown opened; what no secret at hand opens, not at all.
            let opened = |column: &str| {
                r.opt_text(column)
                    .and_then(|stored| sealing::open(sealer, stored).ok())
            };
            let at = |ms: Option<i64>| {
                ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                    .map(|t| t.to_string())
            };
            let state = r.text("state");
            // A message's text and link hold a working manage token: shown
            // only while mail stays here for the developer (no provider).
            let shown = matches!(channel, Channel::Webhook) || state == "development";
            // A claimed message's next try is its claim lapsing: not news.
            let next_try = (state == "failed")
                .then(|| at(r.opt_int("next_try_ms")))
                .flatten();
            json!({
                "id": r.text("id"),
                "registration": r.text("registration"),
                "kind": r.text("kind"),
                "to": r.text("recipient"),
                "subject": r.text("subject"),
                "text": opened("body_text").filter(|_| shown),
                "links": {
                    "confirm": opened("confirm_link").filter(|_| shown),
                    "manage": opened("manage_link").filter(|_| shown),
                },
                "state": state,
                "attempts": r.int("attempts"),
                "last_error": r.opt_text("last_error"),
                "next_try_at": next_try,
                "sent_at": at(r.opt_int("sent_ms")),
                "created_at": at(Some(r.int("created_ms"))),
            })
        })
        .collect();
    Ok(json!({ "event": event, "total": total, "messages": messages }))
}
