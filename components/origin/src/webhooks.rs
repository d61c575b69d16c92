//! The organizer's webhook for an event: where registration events are
//! POSTed, signed with a secret the organizer chose
//! (`eventfront_domain::webhook`). The secret is stored apart from the
//! draft, so it is never published to an edge, and never shown back.

use crate::admin::{no_content, unknown_fields};
use crate::audit::{self, Actor};
use crate::db::{Db, Scope, int, text};
use crate::error::OriginError;
use crate::outbox::{self, Channel};
use crate::request::Incoming;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::webhook::{self, Destination, MIN_SECRET_LEN};
use eventfront_domain::{FieldError, Slug};
use serde_json::json;

/// A webhook body is a URL and a secret.
const MAX_BODY: usize = 4 * 1024;

pub async fn require_event(db: &Db, slug: &Slug) -> Result<(), OriginError> {
    db.row(
        "SELECT 1 AS found FROM events WHERE slug = ?",
        [text(slug.as_str())],
    )
    .await?
    .map(|_| ())
    .ok_or(OriginError::NotFound("There is no such event."))
}

/// `GET /api/admin/events/{slug}/webhook`: the URL and the latest
/// deliveries, never the secret; 404 when none is configured.
pub async fn show(db: &Db, slug: &Slug) -> Result<Reply, OriginError> {
    let row = db
        .row(
            "SELECT url, updated_ms FROM webhooks WHERE event = ?",
            [text(slug.as_str())],
        )
        .await?
        .ok_or(OriginError::NotFound("This event has no webhook."))?;
    let deliveries = outbox::list(db, Some(slug.as_str()), Channel::Webhook).await?;
    Ok(respond::json(
        200,
        &json!({
            "url": row.text("url"),
            "updated_at": jiff::Timestamp::from_millisecond(row.int("updated_ms"))
                .map(|t| t.to_string())
                .unwrap_or_default(),
            "total": deliveries["total"],
            "deliveries": deliveries["messages"],
        }),
    ))
}

/// `PUT /api/admin/events/{slug}/webhook` with `{url, secret}`.
pub async fn put(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(MAX_BODY)?;
    let mut errors = unknown_fields(&body, &["url", "secret"]);
    let url = body["url"].as_str().unwrap_or_default();
    let config = crate::config::get().await;
    if let Destination::Refused(why) =
        webhook::destination(url, &config.webhook_hosts, config.webhook_private_hosts)
    {
        errors.push(FieldError::new("url", why));
    }
    let secret = body["secret"].as_str().unwrap_or_default();
    if secret.len() < MIN_SECRET_LEN {
        errors.push(FieldError::new(
            "secret",
            format!("must be at least {MIN_SECRET_LEN} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(OriginError::Invalid(errors));
    }
    require_event(db, slug).await?;
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        db.exec(
            "INSERT INTO webhooks (event, url, secret, updated_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (event) DO UPDATE SET
                 url = excluded.url, secret = excluded.secret, updated_ms = excluded.updated_ms",
            [
                text(slug.as_str()),
                text(url),
                text(secret),
                int(jiff::Timestamp::now().as_millisecond()),
            ],
        )
        .await?;
        audit::record(
            db,
            by,
            "webhook.configured",
            Some(slug.as_str()),
            None,
            // Its host only: a webhook's path often holds a secret, and
            // every role on the event reads its audit log.
            &json!({ "host": webhook_host(url) }),
        )
        .await
    })
    .await?;
    show(db, slug).await
}

/// `DELETE /api/admin/events/{slug}/webhook`: nothing more is sent; what
/// was waiting is dropped when its turn comes.
pub async fn delete(db: &Db, slug: &Slug, by: &Actor) -> Result<Reply, OriginError> {
    require_event(db, slug).await?;
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        db.exec(
            "DELETE FROM webhooks WHERE event = ?",
            [text(slug.as_str())],
        )
        .await?;
        audit::record(
            db,
            by,
            "webhook.removed",
            Some(slug.as_str()),
            None,
            &json!({}),
        )
        .await
    })
    .await?;
    Ok(no_content())
}

/// The host a webhook URL names, for the audit log.
fn webhook_host(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    uri.host().map(str::to_string)
}
