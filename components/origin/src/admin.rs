//! Organizers' draft editing: the event, the whole draft, one session or
//! one speaker at a time, plus registrations and the audit log. Every
//! write is validated whole before anything is written, and audited.

use crate::audit::{self, Actor};
use crate::db::{Db, Scope, text};
use crate::draft;
use crate::error::OriginError;
use crate::outbox;
use crate::request::{Incoming, MAX_BODY};
use eventfront_domain::lifecycle::Status;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::{FieldError, Slug, validate};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// One entity's body is small; a whole draft may be large.
const MAX_ENTITY: usize = 64 * 1024;

async fn existing_event(
    db: &Db,
    slug: &Slug,
) -> Result<eventfront_domain::model::Event, OriginError> {
    draft::load_event(db, slug)
        .await?
        .ok_or(OriginError::NotFound("There is no such event draft."))
}

/// `PUT /api/admin/events/{slug}`
pub async fn put_event(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let event = validate::event(&request.json(MAX_ENTITY)?).map_err(OriginError::Invalid)?;
    let created = db
        .transaction(Scope::Event(slug.as_str()), async |db| {
            let existed = draft::load_event(db, slug).await?.is_some();
            if existed {
                let sessions = draft::load_sessions(db, slug).await?;
                let misfits = validate::sessions_still_fit(&event, &sessions);
                if !misfits.is_empty() {
                    return Err(OriginError::Invalid(misfits));
                }
            }
            draft::save_event(db, slug, &event).await?;
            let action = if existed {
                "event.updated"
            } else {
                "event.created"
            };
            audit::record(
                db,
                by,
                action,
                Some(slug.as_str()),
                None,
                &json!({ "name": event.name }),
            )
            .await?;
            Ok(!existed)
        })
        .await?;
    Ok(respond::json(if created { 201 } else { 200 }, &event))
}

/// `GET /api/admin/events/{slug}/draft`
pub async fn get_draft(db: &Db, slug: &Slug) -> Result<Reply, OriginError> {
    let draft = draft::load(db, slug)
        .await?
        .ok_or(OriginError::NotFound("There is no such event draft."))?;
    let state = db
        .row(
            "SELECT current_version, archived_at_ms IS NOT NULL AS archived FROM events WHERE slug = ?",
            [text(slug.as_str())],
        )
        .await?;
    let version = state.as_ref().map_or(0, |r| r.int("current_version"));
    let archived = state.is_some_and(|r| r.int("archived") == 1);
    let mut body =
        serde_json::to_value(&draft).map_err(|e| OriginError::Database(e.to_string()))?;
    body["slug"] = json!(slug);
    body["published_version"] = json!(version);
    body["archived"] = json!(archived);
    Ok(respond::json(200, &body))
}

/// `PUT /api/admin/events/{slug}/draft`: the whole draft in one request.
pub async fn put_draft(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let imported = validate::draft(&request.json(MAX_BODY)?).map_err(OriginError::Invalid)?;
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        draft::replace(db, slug, &imported).await?;
        audit::record(
            db,
            by,
            "draft.imported",
            Some(slug.as_str()),
            None,
            &json!({ "sessions": imported.sessions.len(), "speakers": imported.speakers.len() }),
        )
        .await
    })
    .await?;
    get_draft(db, slug).await
}

/// `PUT /api/admin/events/{slug}/sessions/{id}`
pub async fn put_session(
    db: &Db,
    slug: &Slug,
    id: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let input = request.json(MAX_ENTITY)?;
    let session = db
        .transaction(Scope::Event(slug.as_str()), async |db| {
            let event = existing_event(db, slug).await?;
            let speakers: HashSet<Slug> = draft::load_speakers(db, slug)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            let session =
                validate::session(id, &input, &event, &speakers).map_err(OriginError::Invalid)?;
            within_limit(db, "sessions", slug, id, validate::MAX_SESSIONS).await?;
            draft::save_session(db, slug, &session).await?;
            audit::record(
                db,
                by,
                "session.saved",
                Some(slug.as_str()),
                Some(id.as_str()),
                &json!({ "title": session.title }),
            )
            .await?;
            Ok(session)
        })
        .await?;
    Ok(respond::json(200, &session))
}

/// `DELETE /api/admin/events/{slug}/sessions/{id}`
pub async fn delete_session(
    db: &Db,
    slug: &Slug,
    id: &Slug,
    by: &Actor,
) -> Result<Reply, OriginError> {
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        delete_row(db, slug, id, Entity::Session, by).await
    })
    .await?;
    Ok(no_content())
}

#[derive(Clone, Copy)]
enum Entity {
    Session,
    Speaker,
}

/// Deletes one draft session or speaker (deleting what is not there is
/// not an error) and audits it if something went.
async fn delete_row(
    db: &Db,
    slug: &Slug,
    id: &Slug,
    entity: Entity,
    by: &Actor,
) -> Result<(), OriginError> {
    existing_event(db, slug).await?;
    let (sql, action) = match entity {
        Entity::Session => (
            "DELETE FROM sessions WHERE event = ? AND id = ? RETURNING id",
            "session.deleted",
        ),
        Entity::Speaker => (
            "DELETE FROM speakers WHERE event = ? AND id = ? RETURNING id",
            "speaker.deleted",
        ),
    };
    let gone = db
        .row(sql, [text(slug.as_str()), text(id.as_str())])
        .await?;
    if gone.is_some() {
        let (event, target) = (Some(slug.as_str()), Some(id.as_str()));
        audit::record(db, by, action, event, target, &json!({})).await?;
    }
    Ok(())
}

/// `PUT /api/admin/events/{slug}/speakers/{id}`
pub async fn put_speaker(
    db: &Db,
    slug: &Slug,
    id: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let speaker =
        validate::speaker(id, &request.json(MAX_ENTITY)?).map_err(OriginError::Invalid)?;
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        existing_event(db, slug).await?;
        within_limit(db, "speakers", slug, id, validate::MAX_SPEAKERS).await?;
        draft::save_speaker(db, slug, &speaker).await?;
        audit::record(
            db,
            by,
            "speaker.saved",
            Some(slug.as_str()),
            Some(id.as_str()),
            &json!({ "name": speaker.name }),
        )
        .await
    })
    .await?;
    Ok(respond::json(200, &speaker))
}

/// Refuses a new session or speaker that would take the draft past what an
/// import accepts, so that every draft can always be imported again.
async fn within_limit(
    db: &Db,
    table: &'static str,
    slug: &Slug,
    id: &Slug,
    limit: usize,
) -> Result<(), OriginError> {
    // `table` is one of two names written in this file, never input.
    let others = db
        .row(
            &format!("SELECT count(*) AS n FROM {table} WHERE event = ? AND id != ?"),
            [text(slug.as_str()), text(id.as_str())],
        )
        .await?
        .map_or(0, |r| r.int("n"));
    if others as usize >= limit {
        return Err(OriginError::Conflict(format!(
            "The draft already has {limit} {table}, the most an event can have."
        )));
    }
    Ok(())
}

/// `DELETE /api/admin/events/{slug}/speakers/{id}`: refused while a
/// session still names the speaker.
pub async fn delete_speaker(
    db: &Db,
    slug: &Slug,
    id: &Slug,
    by: &Actor,
) -> Result<Reply, OriginError> {
    db.transaction(Scope::Event(slug.as_str()), async |db| {
        existing_event(db, slug).await?;
        let using: Vec<String> = draft::load_sessions(db, slug)
            .await?
            .into_iter()
            .filter(|s| s.speakers.contains(id))
            .map(|s| s.id.to_string())
            .collect();
        if !using.is_empty() {
            return Err(OriginError::Conflict(format!(
                "The speaker still has sessions: {}. Remove them from those sessions first.",
                using.join(", ")
            )));
        }
        delete_row(db, slug, id, Entity::Speaker, by).await
    })
    .await?;
    Ok(no_content())
}

/// 204 with no body and so no content type.
pub fn no_content() -> Reply {
    let mut reply = respond::bytes(204, "text/plain", Vec::new());
    reply.headers_mut().remove(http::header::CONTENT_TYPE);
    reply
}

/// `GET /api/admin/events/{slug}/registrations`, as JSON or CSV.
pub async fn registrations(db: &Db, slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let event = db
        .row(
            "SELECT capacity FROM events WHERE slug = ?",
            [text(slug.as_str())],
        )
        .await?
        .ok_or(OriginError::NotFound("There is no such event."))?;
    // As they stand now: holds that lapsed are expired first.
    crate::seats::settle(db, slug.as_str()).await?;
    let rows = db
        .rows(
            "SELECT id, seq, name, email, status, holds_seat, hold_expires_ms, created_at,
                updated_at, erased_ms
             FROM registrations WHERE event = ? ORDER BY seq",
            [text(slug.as_str())],
        )
        .await?;
    let mut in_line = 0;
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut list = Vec::with_capacity(rows.len());
    for r in &rows {
        let status = r.text("status");
        *counts.entry(status.clone()).or_default() += 1;
        // Waitlisted and held registrations share one line, in order.
        let holds_seat = r.int("holds_seat") == 1;
        let waits = Status::parse(&status).is_some_and(|s| s.in_line_with(holds_seat));
        if waits {
            in_line += 1;
        }
        let hold_expires_at = (status == "pending")
            .then(|| r.opt_int("hold_expires_ms"))
            .flatten()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|at| at.to_string());
        list.push(json!({
            "id": r.text("id"),
            "name": r.text("name"),
            "email": r.text("email"),
            "status": status,
            "erased": r.opt_int("erased_ms").is_some(),
            "position": waits.then_some(in_line),
            "hold_expires_at": hold_expires_at,
            "created_at": r.text("created_at"),
            "updated_at": r.text("updated_at"),
        }));
    }
    if request.wants_csv() {
        return Ok(respond::bytes(
            200,
            "text/csv; charset=utf-8",
            to_csv(&REGISTRATION_COLUMNS, &list),
        ));
    }
    Ok(respond::json(
        200,
        &json!({
            "event": slug,
            "capacity": event.opt_int("capacity"),
            "confirmed": counts.get("confirmed").copied().unwrap_or(0),
            "waitlisted": counts.get("waitlisted").copied().unwrap_or(0),
            "pending": counts.get("pending").copied().unwrap_or(0),
            "cancelled": counts.get("cancelled").copied().unwrap_or(0),
            "expired": counts.get("expired").copied().unwrap_or(0),
            "registrations": list,
        }),
    ))
}

/// RFC 4180 CSV (written by the `csv` crate), with every cell a
/// spreadsheet would run as a formula defused.
/// `DELETE /api/admin/events/{slug}/registrations/{id}`: the organizer
/// cancels a registration for its registrant (who is told, as when they
/// cancel themselves), and with `?erase=true` erases its data too.
pub async fn cancel_registration(
    db: &Db,
    slug: &Slug,
    id: &str,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let erase = request.erase()?;
    let event = slug.as_str();
    db.row(
        "SELECT 1 AS found FROM registrations WHERE id = ? AND event = ?",
        [text(id), text(event)],
    )
    .await?
    .ok_or(OriginError::NotFound("There is no such registration."))?;
    if erase {
        let status = crate::erasure::erase(db, event, id, by).await?;
        return Ok(crate::registration::erased(id, event, status));
    }
    let status = db
        .transaction(Scope::Event(event), async |db| {
            crate::seats::cancel(db, event, id, by).await
        })
        .await?;
    Ok(respond::json(
        200,
        &json!({ "id": id, "event": event, "status": status.as_str() }),
    ))
}

/// The registration list's columns, as its CSV has them.
const REGISTRATION_COLUMNS: [&str; 7] = [
    "id",
    "name",
    "email",
    "status",
    "position",
    "created_at",
    "updated_at",
];

/// `list`'s `columns` as CSV, a header row first, every cell defused.
pub fn to_csv(columns: &[&str], list: &[Value]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let header = columns.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let rows = std::iter::once(header).chain(list.iter().map(|item| {
        columns
            .iter()
            .map(|c| match &item[*c] {
                Value::String(s) => defused(s),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect()
    }));
    for row in rows {
        // Writing to memory fails only on a bug in the writer.
        writer.write_record(&row).expect("CSV to memory");
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A cell a spreadsheet shows as text: one that would start a formula
/// (`=`, `+`, `-`, `@`, or a tab or CR before them, even after spaces) gets
/// a leading apostrophe, as does every part after a `;` or `|` (the list
/// separators of other locales, which would split the cell there).
fn defused(cell: &str) -> String {
    let starts_formula = |part: &str| {
        part.trim_start_matches(' ')
            .starts_with(['=', '+', '-', '@', '\t', '\r'])
    };
    let mut out = String::with_capacity(cell.len() + 1);
    for part in cell.split_inclusive([';', '|']) {
        if starts_formula(part) {
            out.push('\'');
        }
        out.push_str(part);
    }
    out
}

/// `GET /api/admin/events/{slug}/audit`, or with no event
/// `GET /api/admin/audit`: every entry, the accounts' too; organizers'
/// addresses only `with_addresses`.
pub async fn audit_log(
    db: &Db,
    slug: Option<&Slug>,
    with_addresses: bool,
) -> Result<Reply, OriginError> {
    let list = audit::list(db, slug.map(Slug::as_str), 500, with_addresses).await?;
    Ok(respond::json(200, &list))
}

/// `GET /api/admin/events/{slug}/outbox`, or with no event
/// `GET /api/admin/outbox`: the organization's own mail (sign-in links).
pub async fn outbox(db: &Db, slug: Option<&Slug>) -> Result<Reply, OriginError> {
    Ok(respond::json(
        200,
        &outbox::list(db, slug.map(Slug::as_str), outbox::Channel::Email).await?,
    ))
}

/// Field errors for a body that must be an object with these keys only.
pub fn unknown_fields(body: &Value, allowed: &[&str]) -> Vec<FieldError> {
    body.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .map(|k| FieldError::new(k.as_str(), "is not a recognized field"))
                .collect()
        })
        .unwrap_or_else(|| vec![FieldError::new("body", "must be a JSON object")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(defused("plain"), "plain");
        assert_eq!(defused("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(defused("  +1"), "'  +1");
        assert_eq!(defused("\t=1"), "'\t=1");
        assert_eq!(defused("a;=cmd|' /C calc'!A0"), "a;'=cmd|' /C calc'!A0");
        assert_eq!(defused("x-ray@example.com"), "x-ray@example.com");
        let csv = to_csv(
            &REGISTRATION_COLUMNS,
            &[json!({
                "id": "1", "name": "A, \"B\"", "email": "a@x", "status": "waitlisted",
                "position": 2, "created_at": "-1"
            })],
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec![
                "id",
                "name",
                "email",
                "status",
                "position",
                "created_at",
                "updated_at"
            ]
        );
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(
            row,
            vec!["1", "A, \"B\"", "a@x", "waitlisted", "2", "'-1", ""]
        );
        assert!(csv.ends_with("\r\n"));
    }
}
