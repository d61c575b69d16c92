//! Registrations as attendees send them: parsed, and answered by
//! `group_commit` (a stored answer when the key was decided before, a new
//! decision otherwise); shown and cancelled by the holder of the manage token,
//! a freed seat going to the first in line in the same transaction. A
//! registration is shown with its picks of sessions (`session_seats`).

use crate::attempts;
use crate::audit::Actor;
use crate::auth::token_hash;
use crate::db::{Db, Reader, Scope, text};
use crate::erasure;
use crate::error::OriginError;
use crate::group_commit;
use crate::request::Incoming;
use crate::seats;
use crate::session_seats;
use crate::tokens::{self, Tokens};
use crate::waiting_room;
use eventfront_domain::lifecycle::{Confirmation, NotConfirmed, Status};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::{IdempotencyKey, Slug, validate};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A registration body is two short fields; anything larger is not one.
const MAX_BODY: usize = 8 * 1024;

/// `POST /api/events/{slug}/registrations`
pub async fn register(slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let key = request
        .header("idempotency-key")
        .ok_or_else(|| OriginError::invalid("Idempotency-Key", "header is required"))
        .and_then(|k| {
            IdempotencyKey::parse(k).map_err(|e| OriginError::invalid("Idempotency-Key", e.0))
        })?;
    let new = validate::registration(&request.json(MAX_BODY)?).map_err(OriginError::Invalid)?;
    let ticket = waiting_room::admit(slug, new.ticket.as_deref(), key.as_str()).await?;
    let request_hash = hex::encode(Sha256::digest(
        [request.target.as_bytes(), b"\n", &request.body].concat(),
    ));
    let decided = group_commit::decide(group_commit::Pending {
        slug: slug.clone(),
        key: key.clone(),
        request_hash,
        name: new.name,
        canonical: new
            .email
            .canonical(crate::config::get().await.plus_tags_ignored),
        email: new.email,
        arrived: jiff::Timestamp::now(),
        client: attempts::counted_client(request).await,
    })
    .await;
    // Refused, or not decided: the ticket may try again, under any key.
    let registered = matches!(&decided, Ok((status, _)) if *status < 400);
    // Not decided for want of capacity: a room's pace hears of it.
    if ticket.is_some()
        && let Err(e) = &decided
    {
        waiting_room::shed_if_overloaded(slug, e);
    }
    if let Some(ticket) = ticket.filter(|_| !registered)
        && let Err(e) = waiting_room::refused(slug, &ticket, key.as_str()).await
    {
        // Only a retry under this key can use the ticket now.
        eprintln!("origin: ticket {ticket} of {slug} kept for its key: {e}");
    }
    let (status, body) = decided?;
    Ok(respond::bytes(status, stored_type(status), body))
}

/// The content type of a stored answer: a refusal is a problem document.
fn stored_type(status: u16) -> &'static str {
    if status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    }
}

/// The registration `id`, if the bearer token in `request` is one of its
/// tokens of `kind`: a plain read through the instance's shared reader,
/// so that a wrong id or token costs no connection of its own and takes
/// no lock.
pub async fn authorized(
    id: &str,
    request: &Incoming,
    kind: Tokens,
) -> Result<Registration, OriginError> {
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    // Found by the token's hash: any of the registration's tokens works,
    // and the hash of a 256-bit random token leaks nothing by its timing.
    let row = Reader::get()
        .await?
        .rows(
            &format!(
                "SELECT r.event, r.status, r.name, r.email, r.created_at
                 FROM registrations r JOIN {} t ON t.registration = r.id
                 WHERE r.id = ? AND t.hash = ?",
                kind.table()
            ),
            [text(id), text(token_hash(token))],
        )
        .await?
        .into_iter()
        .next();
    // The same 404 for a wrong token as for an unknown id: no hint either way.
    match row {
        Some(r) if !token.is_empty() => Ok(Registration {
            id: id.to_string(),
            event: r.text("event"),
            status: Status::parse(&r.text("status")).ok_or_else(|| {
                OriginError::Database(format!("registration {id} has an unknown status"))
            })?,
            name: r.text("name"),
            email: r.text("email"),
            created_at: r.text("created_at"),
        }),
        _ => Err(OriginError::UnknownRegistration),
    }
}

pub struct Registration {
    id: String,
    pub event: String,
    status: Status,
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
            "status": self.status.as_str(),
            "created_at": self.created_at,
        });
        if self.status == Status::Waitlisted {
            body["position"] = json!(seats::position(db, &self.event, &self.id).await?);
        }
        body["sessions"] = json!(session_seats::shown(db, &self.event, &self.id).await?);
        Ok(body)
    }
}

/// `GET /api/registrations/{id}`: as it stands now, holds that lapsed
/// ahead of it expired first (which may have promoted it).
pub async fn show(id: &str, request: &Incoming) -> Result<Reply, OriginError> {
    let mut registration = authorized(id, request, Tokens::Manage).await?;
    let db = Db::open().await?;
    if seats::settle(&db, &registration.event).await? {
        registration = authorized(id, request, Tokens::Manage).await?;
    }
    Ok(respond::json(200, &registration.to_json(&db).await?))
}

/// `DELETE /api/registrations/{id}`: cancels, and gives a freed seat to
/// the first in line, in the same transaction. Cancelling again is a no-op.
/// With `?erase=true` the registrant's data is erased too (`erasure`).
pub async fn cancel(id: &str, request: &Incoming) -> Result<Reply, OriginError> {
    let erase = request.erase()?;
    // The token is checked by a plain read: a guess takes no lock.
    let mut registration = authorized(id, request, Tokens::Manage).await?;
    let db = &Db::open().await?;
    if erase {
        let status = erasure::erase(db, &registration.event, id, &Actor::ATTENDEE).await?;
        return Ok(erased(id, &registration.event, status));
    }
    registration.status = db
        .transaction(Scope::Event(&registration.event), async |db| {
            seats::cancel(db, &registration.event, id, &Actor::ATTENDEE).await
        })
        .await?;
    Ok(respond::json(200, &registration.to_json(db).await?))
}

/// The answer to an erasure: what is left of the registration.
pub fn erased(id: &str, event: &str, status: Status) -> Reply {
    respond::json(
        200,
        &json!({ "id": id, "event": event, "status": status.as_str(), "erased": true }),
    )
}

/// `POST /api/registrations/{id}/confirm`: the address's owner, by the
/// link sent to it, makes a held registration theirs: `confirmed` with
/// the seat it held, or `waitlisted` in its place in line. Answers the
/// registration with a manage token of its own. Confirming again within
/// the hold does no harm and answers the same with another token; after
/// it, the link has done its work and mints no more manage tokens (a
/// confirmation email forwarded later cannot cancel the seat): 409, the
/// manage link having been emailed. A hold that lapsed first is 409: its
/// place went to the next in line.
pub async fn confirm(id: &str, request: &Incoming) -> Result<Reply, OriginError> {
    // The token is checked by a plain read: a guess takes no lock.
    let mut registration = authorized(id, request, Tokens::Confirm).await?;
    let db = &Db::open().await?;
    let now = jiff::Timestamp::now();
    let (status, token) = db
        .transaction(Scope::Event(&registration.event), async |db| {
            let Some(mut opened) = seats::open(db, &registration.event, now, Some(id)).await?
            else {
                return Err(OriginError::NotFound("There is no such event."));
            };
            let confirmation = opened.book.confirm(id, now);
            // Holds that lapsed meanwhile are written whatever the answer.
            let (status, token) = match confirmation {
                Ok(Confirmation::Made { plan, to }) => {
                    opened.decided(plan);
                    let mut minted = opened.write(db).await?;
                    (to, minted.remove(id))
                }
                Ok(Confirmation::AgainWithinHold { status }) => {
                    opened.write(db).await?;
                    (status, Some(tokens::add(db, Tokens::Manage, id).await?))
                }
                Err(refused) => {
                    opened.write(db).await?;
                    return Ok(Err(refused));
                }
            };
            let token = token.ok_or_else(|| {
                OriginError::Database(format!("registration {id} was confirmed without a token"))
            })?;
            Ok(Ok((status, token)))
        })
        .await?
        .map_err(not_confirmed)?;
    registration.status = status;
    let mut body = registration.to_json(db).await?;
    body["manage_token"] = json!(token);
    Ok(respond::json(200, &body))
}

/// Why a confirmation link did nothing, told to its holder.
fn not_confirmed(why: NotConfirmed) -> OriginError {
    match why {
        NotConfirmed::AlreadyConfirmed => OriginError::Conflict(
            "This registration is already confirmed. Use the link to manage it that \
             was emailed to you when you confirmed."
                .into(),
        ),
        NotConfirmed::Expired => OriginError::Conflict(
            "This registration was not confirmed in time, and its place went to the \
             next in line. You are welcome to register again."
                .into(),
        ),
        NotConfirmed::Cancelled => OriginError::Conflict("This registration was cancelled.".into()),
        NotConfirmed::NoSuchRegistration => OriginError::UnknownRegistration,
    }
}
