//! Registrations, decided once and atomically: the idempotency record, the
//! capacity check, the waitlist position and the stored answer are all
//! written in the one transaction that holds SQLite's write lock, so no
//! concurrency can overbook or duplicate, and a retry replays the answer.

use crate::auth::{same_secret, token_hash};
use crate::db::{Db, col_int, col_opt_int, col_text, int, text};
use crate::error::OriginError;
use crate::request::Incoming;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::{Email, FieldError, IdempotencyKey, Slug};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A registration body is two short fields; anything larger is not one.
const MAX_BODY: usize = 8 * 1024;
const MAX_NAME: usize = 200;

struct NewRegistration {
    name: String,
    email: Email,
}

fn parse(request: &Incoming) -> Result<NewRegistration, OriginError> {
    let body = request.json(MAX_BODY)?;
    let Value::Object(fields) = &body else {
        return Err(OriginError::invalid("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    for key in fields
        .keys()
        .filter(|k| !["name", "email"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(key.as_str(), "is not a recognized field"));
    }
    let name = match fields.get("name").and_then(Value::as_str).map(str::trim) {
        Some(n)
            if !n.is_empty()
                && n.chars().count() <= MAX_NAME
                && !n.chars().any(char::is_control) =>
        {
            Some(n.to_string())
        }
        Some(_) => {
            errors.push(FieldError::new("name", "must be 1 to 200 characters"));
            None
        }
        None => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
    };
    let email = match fields.get("email").and_then(Value::as_str) {
        Some(e) => Email::parse(e)
            .map_err(|e| errors.push(FieldError::new("email", e.0)))
            .ok(),
        None => {
            errors.push(FieldError::new("email", "is required"));
            None
        }
    };
    match (name, email) {
        (Some(name), Some(email)) if errors.is_empty() => Ok(NewRegistration { name, email }),
        _ => Err(OriginError::Invalid(errors)),
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hex::encode(bytes)
}

fn answer(id: &str, status: &str, token: &str, position: Option<i64>) -> Value {
    let mut body = json!({ "id": id, "status": status, "manage_token": token });
    if let Some(p) = position {
        body["position"] = json!(p);
    }
    body
}

/// `POST /api/events/{slug}/registrations`
pub async fn register(db: &Db, slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let key = request
        .header("idempotency-key")
        .ok_or_else(|| OriginError::invalid("Idempotency-Key", "header is required"))
        .and_then(|k| {
            IdempotencyKey::parse(k).map_err(|e| OriginError::invalid("Idempotency-Key", e.0))
        })?;
    let new = parse(request)?;
    let request_hash = hex::encode(Sha256::digest(
        [request.target.as_bytes(), b"\n", &request.body].concat(),
    ));
    let now = jiff::Timestamp::now();
    let (status, body) = db
        .transaction(async |db| {
            // One read for everything the decision needs keeps the write
            // lock, which every concurrent registration waits for, brief.
            let now_text = now.to_string();
            // Idempotency records live a day: a retry comes within minutes.
            let expired = now - jiff::SignedDuration::from_hours(IDEMPOTENCY_HOURS);
            db.exec(
                "DELETE FROM idempotency WHERE created_at < ?",
                [text(expired.to_string())],
            )
            .await?;
            let state = db
                .row(
                    "SELECT
                        i.request_hash, i.status, i.body,
                        e.slug IS NOT NULL,
                        coalesce(e.reg_open = 1
                            AND (e.opens_at IS NULL OR e.opens_at <= ?3)
                            AND (e.closes_at IS NULL OR ?3 < e.closes_at), 0),
                        e.capacity,
                        (SELECT count(*) FROM registrations WHERE event = ?1 AND status = 'confirmed'),
                        (SELECT count(*) FROM registrations WHERE event = ?1 AND status = 'waitlisted'),
                        (SELECT coalesce(max(seq), 0) FROM registrations WHERE event = ?1),
                        EXISTS (SELECT 1 FROM registrations
                                WHERE event = ?1 AND email_canonical = ?4 AND status != 'cancelled')
                     FROM (SELECT 1)
                     LEFT JOIN idempotency i ON i.key = ?2
                     LEFT JOIN events e ON e.slug = ?1 AND e.current_version > 0",
                    [
                        text(slug.as_str()),
                        text(key.as_str()),
                        text(&now_text),
                        text(new.email.canonical()),
                    ],
                )
                .await?
                .ok_or_else(|| OriginError::Database("the decision query returned nothing".into()))?;
            if state.get::<&str>(0).is_some() {
                if !same_secret(&col_text(&state, 0), &request_hash) {
                    return Err(OriginError::KeyReused);
                }
                return Ok((col_int(&state, 1) as u16, col_text(&state, 2)));
            }
            if col_int(&state, 3) == 0 {
                return Err(OriginError::NotFound("There is no such event."));
            }
            if col_int(&state, 4) == 0 {
                return Err(OriginError::Conflict(
                    "Registration for this event is closed.".into(),
                ));
            }
            let capacity = col_opt_int(&state, 5);
            let (confirmed, waitlisted, last_seq) =
                (col_int(&state, 6), col_int(&state, 7), col_int(&state, 8));
            let already = col_int(&state, 9) == 1;
            let has_seat = capacity.is_none_or(|c| confirmed < c);
            let (state, position) = if has_seat {
                ("confirmed", None)
            } else {
                ("waitlisted", Some(waitlisted + 1))
            };
            let id = uuid::Uuid::new_v4().to_string();
            let token = random_token();
            // Someone already registered gets the answer a newcomer would
            // get, and nothing is written, so the form reveals nobody.
            if !already {
                db.exec(
                    "INSERT INTO registrations
                     (id, event, seq, name, email, email_canonical, status,
                      manage_token_hash, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        text(&id),
                        text(slug.as_str()),
                        int(last_seq + 1),
                        text(&new.name),
                        text(new.email.as_str()),
                        text(new.email.canonical()),
                        text(state),
                        text(token_hash(&token)),
                        text(&now_text),
                        text(&now_text),
                    ],
                )
                .await?;
            }
            let body = answer(&id, state, &token, position).to_string();
            db.exec(
                "INSERT INTO idempotency (key, request_hash, status, body, created_at)
                 VALUES (?, ?, 201, ?, ?)",
                [
                    text(key.as_str()),
                    text(&request_hash),
                    text(&body),
                    text(&now_text),
                ],
            )
            .await?;
            Ok((201, body))
        })
        .await?;
    Ok(respond::bytes(status, "application/json", body))
}

/// How long a registration's answer is kept for replays of its key.
const IDEMPOTENCY_HOURS: i64 = 24;

/// The registration `id`, if the bearer token in `request` manages it.
async fn authorized(db: &Db, id: &str, request: &Incoming) -> Result<Registration, OriginError> {
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let row = db
        .row(
            "SELECT event, seq, status, name, email, created_at, manage_token_hash
             FROM registrations WHERE id = ?",
            [text(id)],
        )
        .await?;
    // The same 404 for a wrong token as for an unknown id: no hint either way.
    match row {
        Some(r) if !token.is_empty() && same_secret(&token_hash(token), &col_text(&r, 6)) => {
            Ok(Registration {
                id: id.to_string(),
                event: col_text(&r, 0),
                seq: col_int(&r, 1),
                status: col_text(&r, 2),
                name: col_text(&r, 3),
                email: col_text(&r, 4),
                created_at: col_text(&r, 5),
            })
        }
        _ => Err(OriginError::NotFound("There is no such registration.")),
    }
}

struct Registration {
    id: String,
    event: String,
    seq: i64,
    status: String,
    name: String,
    email: String,
    created_at: String,
}

impl Registration {
    async fn to_json(&self, db: &Db) -> Result<Value, OriginError> {
        let mut body = json!({
            "id": self.id,
            "event": self.event,
            "name": self.name,
            "email": self.email,
            "status": self.status,
            "created_at": self.created_at,
        });
        if self.status == "waitlisted" {
            body["position"] = json!(waitlist_position(db, &self.event, self.seq).await?);
        }
        Ok(body)
    }
}

pub async fn waitlist_position(db: &Db, event: &str, seq: i64) -> Result<i64, OriginError> {
    let row = db
        .row(
            "SELECT count(*) FROM registrations
             WHERE event = ? AND status = 'waitlisted' AND seq <= ?",
            [text(event), int(seq)],
        )
        .await?;
    Ok(row.map_or(0, |r| col_int(&r, 0)))
}

/// `GET /api/registrations/{id}`
pub async fn show(db: &Db, id: &str, request: &Incoming) -> Result<Reply, OriginError> {
    let registration = authorized(db, id, request).await?;
    Ok(respond::json(200, &registration.to_json(db).await?))
}

/// `DELETE /api/registrations/{id}`: cancels, and gives a freed seat to
/// the first in line, in the same transaction. Cancelling again is a no-op.
pub async fn cancel(db: &Db, id: &str, request: &Incoming) -> Result<Reply, OriginError> {
    let now = jiff::Timestamp::now().to_string();
    let registration = db
        .transaction(async |db| {
            let mut registration = authorized(db, id, request).await?;
            if registration.status == "cancelled" {
                return Ok(registration);
            }
            let freed_seat = registration.status == "confirmed";
            db.exec(
                "UPDATE registrations SET status = 'cancelled', updated_at = ? WHERE id = ?",
                [text(&now), text(id)],
            )
            .await?;
            let mut detail = json!({ "registration": id, "was": registration.status });
            if freed_seat
                && let Some(promoted) = promote_next(db, &registration.event, &now).await?
            {
                detail["promoted"] = json!(promoted);
            }
            crate::audit::record(
                db,
                "attendee",
                "registration.cancelled",
                Some(&registration.event),
                Some(id),
                &detail,
            )
            .await?;
            registration.status = "cancelled".into();
            Ok(registration)
        })
        .await?;
    Ok(respond::json(200, &registration.to_json(db).await?))
}

/// Confirms the first waitlisted registration if the event has a free seat.
pub async fn promote_next(db: &Db, event: &str, now: &str) -> Result<Option<String>, OriginError> {
    let next = db
        .row(
            "SELECT r.id FROM registrations r JOIN events e ON e.slug = r.event
             WHERE r.event = ? AND r.status = 'waitlisted'
               AND (e.capacity IS NULL OR
                    (SELECT count(*) FROM registrations c
                     WHERE c.event = r.event AND c.status = 'confirmed') < e.capacity)
             ORDER BY r.seq LIMIT 1",
            [text(event)],
        )
        .await?;
    let Some(next) = next else {
        return Ok(None);
    };
    let promoted = col_text(&next, 0);
    db.exec(
        "UPDATE registrations SET status = 'confirmed', updated_at = ? WHERE id = ?",
        [text(now), text(&promoted)],
    )
    .await?;
    Ok(Some(promoted))
}
