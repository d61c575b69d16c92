//! Organizer accounts and their API tokens: created, given roles, revoked,
//! by owners of the organization; and the bootstrap token turned off once
//! they can do without it. Every change is audited, in its transaction.
//! One rule holds throughout: the organization never loses its last way
//! in (a live owner account, or the bootstrap token still on).

use crate::admin::{no_content, unknown_fields};
use crate::audit::{self, Actor};
use crate::auth::token_hash;
use crate::db::{Db, Row, Scope, text};
use crate::error::OriginError;
use crate::organizer::{API_TOKEN_PREFIX, bootstrap_turned_off};
use crate::request::Incoming;
use crate::sign_ins::{self, Mailed, Opener};
use eventfront_domain::access::{self, Grant};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::{Email, FieldError};
use serde_json::{Value, json};

/// An account's body: its grants are most of it.
const MAX_BODY: usize = 16 << 10;
/// The longest display name or token name.
const MAX_NAME: usize = 200;
const NO_ACCOUNT: OriginError = OriginError::NotFound("There is no such account.");

/// `GET /api/admin/accounts`: every account, revoked ones too.
pub async fn list(db: &Db) -> Result<Reply, OriginError> {
    let rows = db
        .rows(
            "SELECT id, email, name, grants, created_at, revoked_at FROM accounts
             ORDER BY created_at, id",
            [],
        )
        .await?;
    let accounts = rows
        .iter()
        .map(account_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(respond::json(200, &json!({ "accounts": accounts })))
}

/// `POST /api/admin/accounts` with `{email, name, grants}`: 201 with the
/// account, and an invitation mailed to it: a sign-in link good for a
/// week, through the outbox.
pub async fn create(db: &Db, request: &Incoming, by: &Actor) -> Result<Reply, OriginError> {
    let body = request.json(MAX_BODY)?;
    let mut errors = unknown_fields(&body, &["email", "name", "grants"]);
    let email = Email::parse(body["email"].as_str().unwrap_or_default())
        .map_err(|e| errors.push(FieldError::new("email", e.0)))
        .ok();
    let name = display_name(&body, &mut errors);
    let grants = grants(&body, &mut errors);
    let (Some(email), Some(name), Some(grants), true) = (email, name, grants, errors.is_empty())
    else {
        return Err(OriginError::Invalid(errors));
    };
    let id = uuid::Uuid::new_v4().to_string();
    db.transaction(Scope::Whole, async |db| {
        let canonical = email.canonical(false);
        let taken = db
            .row(
                "SELECT 1 AS taken FROM accounts WHERE email_canonical = ? AND revoked_at IS NULL",
                [text(&canonical)],
            )
            .await?
            .is_some();
        if taken {
            return Err(OriginError::Conflict(
                "An account with this email already exists.".into(),
            ));
        }
        db.exec(
            "INSERT INTO accounts (id, email, email_canonical, name, grants, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            [
                text(&id),
                text(email.as_str()),
                text(canonical),
                text(&name),
                text(json!(grants).to_string()),
                text(jiff::Timestamp::now().to_string()),
            ],
        )
        .await?;
        let detail = json!({ "email": email.as_str(), "grants": grants });
        audit::record(db, by, "account.created", None, Some(&id), &detail).await?;
        // The bootstrap token is nobody a person would recognize.
        let inviter = match by.account {
            Some(_) => by.name.as_ref(),
            None => "An owner of the organization",
        };
        let invitation = Mailed::Invitation { by: inviter };
        sign_ins::mail_link(db, &id, &email, &name, invitation).await
    })
    .await?;
    Ok(respond::json(201, &account_json(&load(db, &id).await?)?))
}

/// `GET /api/admin/accounts/{id}`
pub async fn show(db: &Db, id: &str) -> Result<Reply, OriginError> {
    Ok(respond::json(200, &account_json(&load(db, id).await?)?))
}

/// `PUT /api/admin/accounts/{id}` with `{name, grants}`: both replaced.
/// Its tokens keep their own grants, and can do only what both allow.
pub async fn update(
    db: &Db,
    id: &str,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(MAX_BODY)?;
    let mut errors = unknown_fields(&body, &["name", "grants"]);
    let name = display_name(&body, &mut errors);
    let grants = grants(&body, &mut errors);
    let (Some(name), Some(grants), true) = (name, grants, errors.is_empty()) else {
        return Err(OriginError::Invalid(errors));
    };
    db.transaction(Scope::Whole, async |db| {
        let account = live(db, id).await?;
        let owner_now = access::manages_accounts(&account.json::<Vec<Grant>>("grants")?);
        if owner_now && !access::manages_accounts(&grants) {
            keep_a_way_in(db, id).await?;
        }
        db.exec(
            "UPDATE accounts SET name = ?, grants = ? WHERE id = ?",
            [text(&name), text(json!(grants).to_string()), text(id)],
        )
        .await?;
        let detail = json!({ "name": name, "grants": grants });
        audit::record(db, by, "account.updated", None, Some(id), &detail).await
    })
    .await?;
    show(db, id).await
}

/// `DELETE /api/admin/accounts/{id}`: the account and all its tokens stop
/// working at once (every request looks them up); it stays listed.
pub async fn revoke(db: &Db, id: &str, by: &Actor) -> Result<Reply, OriginError> {
    db.transaction(Scope::Whole, async |db| {
        let account = live(db, id).await?;
        if access::manages_accounts(&account.json::<Vec<Grant>>("grants")?) {
            keep_a_way_in(db, id).await?;
        }
        let now = jiff::Timestamp::now().to_string();
        db.exec(
            "UPDATE accounts SET revoked_at = ? WHERE id = ?",
            [text(&now), text(id)],
        )
        .await?;
        db.exec(
            "UPDATE api_tokens SET revoked_at = ? WHERE account = ? AND revoked_at IS NULL",
            [text(&now), text(id)],
        )
        .await?;
        sign_ins::end_all(db, Opener::Account, id).await?;
        let detail = json!({ "email": account.text("email") });
        audit::record(db, by, "account.revoked", None, Some(id), &detail).await
    })
    .await?;
    Ok(no_content())
}

/// `GET /api/admin/accounts/{id}/tokens`: its tokens, never their secrets.
pub async fn tokens(db: &Db, id: &str) -> Result<Reply, OriginError> {
    load(db, id).await?;
    let rows = db
        .rows(
            "SELECT id, name, grants, created_at, last_used_ms, revoked_at FROM api_tokens
             WHERE account = ? ORDER BY created_at, id",
            [text(id)],
        )
        .await?;
    let tokens = rows
        .iter()
        .map(|row| {
            let last_used_at = row
                .opt_int("last_used_ms")
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map(|at| at.to_string());
            Ok(json!({
                "id": row.text("id"),
                "name": row.text("name"),
                "grants": row.json::<Value>("grants")?,
                "created_at": row.text("created_at"),
                "last_used_at": last_used_at,
                "revoked_at": row.opt_text("revoked_at"),
            }))
        })
        .collect::<Result<Vec<_>, OriginError>>()?;
    Ok(respond::json(
        200,
        &json!({ "account": id, "tokens": tokens }),
    ))
}

/// `POST /api/admin/accounts/{id}/tokens` with `{name, grants?}`: 201 with
/// the token, shown this once (only its hash is kept). Without `grants` it
/// has its account's; with them, they must lie within the account's.
pub async fn mint(db: &Db, id: &str, request: &Incoming, by: &Actor) -> Result<Reply, OriginError> {
    let body = request.json(MAX_BODY)?;
    let mut errors = unknown_fields(&body, &["name", "grants"]);
    let name = display_name(&body, &mut errors);
    let asked = match body.get("grants") {
        None => None,
        Some(_) => grants(&body, &mut errors),
    };
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(OriginError::Invalid(errors));
    };
    let secret = format!("{API_TOKEN_PREFIX}{}", crate::tokens::random());
    let token_id = uuid::Uuid::new_v4().to_string();
    let created_at = jiff::Timestamp::now().to_string();
    let grants = db
        .transaction(Scope::Whole, async |db| {
            let account: Vec<Grant> = live(db, id).await?.json("grants")?;
            let grants = asked.unwrap_or_else(|| account.clone());
            if !access::within(&grants, &account) {
                return Err(OriginError::invalid(
                    "grants",
                    "must lie within the account's own grants",
                ));
            }
            db.exec(
                "INSERT INTO api_tokens (id, account, hash, name, grants, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
                [
                    text(&token_id),
                    text(id),
                    text(token_hash(&secret)),
                    text(&name),
                    text(json!(grants).to_string()),
                    text(&created_at),
                ],
            )
            .await?;
            let detail = json!({ "account": id, "name": name, "grants": grants });
            audit::record(db, by, "token.created", None, Some(&token_id), &detail).await?;
            Ok(grants)
        })
        .await?;
    Ok(respond::json(
        201,
        &json!({
            "id": token_id,
            "account": id,
            "name": name,
            "grants": grants,
            "created_at": created_at,
            "token": secret,
        }),
    ))
}

/// `DELETE /api/admin/tokens/{id}`: the token stops working at once.
pub async fn revoke_token(db: &Db, id: &str, by: &Actor) -> Result<Reply, OriginError> {
    db.transaction(Scope::Whole, async |db| {
        let revoked = db
            .row(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL
                 RETURNING account",
                [text(jiff::Timestamp::now().to_string()), text(id)],
            )
            .await?
            .ok_or(OriginError::NotFound("There is no such live token."))?;
        sign_ins::end_all(db, Opener::Token, id).await?;
        let detail = json!({ "account": revoked.text("account") });
        audit::record(db, by, "token.revoked", None, Some(id), &detail).await
    })
    .await?;
    Ok(no_content())
}

/// `DELETE /api/admin/bootstrap-token`: the configured bootstrap token
/// stops working, once a live owner account can do what it did. Setting
/// a new `admin_token` opens the door again (for an organization that
/// lost its owners' tokens).
pub async fn turn_off_bootstrap(db: &Db, by: &Actor) -> Result<Reply, OriginError> {
    let configured = &crate::config::get().await.admin_token;
    if configured.is_empty() {
        return Err(OriginError::Conflict(
            "No bootstrap token is configured.".into(),
        ));
    }
    db.transaction(Scope::Whole, async |db| {
        if owners_other_than(db, "").await? == 0 {
            return Err(OriginError::Conflict(
                "Create an owner account and its API token first: without the bootstrap token, \
                 only an owner account can manage accounts."
                    .into(),
            ));
        }
        db.exec(
            "INSERT INTO bootstrap_tokens_off (hash, at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
            [
                text(token_hash(configured)),
                text(jiff::Timestamp::now().to_string()),
            ],
        )
        .await?;
        audit::record(db, by, "bootstrap_token.turned_off", None, None, &json!({})).await
    })
    .await?;
    Ok(no_content())
}

async fn load(db: &Db, id: &str) -> Result<Row, OriginError> {
    db.row(
        "SELECT id, email, name, grants, created_at, revoked_at FROM accounts WHERE id = ?",
        [text(id)],
    )
    .await?
    .ok_or(NO_ACCOUNT)
}

/// The account, unless it is unknown (404) or revoked (409).
async fn live(db: &Db, id: &str) -> Result<Row, OriginError> {
    let account = load(db, id).await?;
    if account.opt_text("revoked_at").is_some() {
        return Err(OriginError::Conflict("The account was revoked.".into()));
    }
    Ok(account)
}

fn account_json(row: &Row) -> Result<Value, OriginError> {
    Ok(json!({
        "id": row.text("id"),
        "email": row.text("email"),
        "name": row.text("name"),
        "grants": row.json::<Value>("grants")?,
        "created_at": row.text("created_at"),
        "revoked_at": row.opt_text("revoked_at"),
    }))
}

/// How many live accounts other than `except` own the organization.
async fn owners_other_than(db: &Db, except: &str) -> Result<usize, OriginError> {
    let rows = db
        .rows(
            "SELECT grants FROM accounts WHERE revoked_at IS NULL AND id != ?",
            [text(except)],
        )
        .await?;
    let mut owners = 0;
    for row in &rows {
        owners += usize::from(access::manages_accounts(&row.json::<Vec<Grant>>("grants")?));
    }
    Ok(owners)
}

/// Refuses to take owning away from account `id` when nothing else could
/// manage the accounts afterwards.
async fn keep_a_way_in(db: &Db, id: &str) -> Result<(), OriginError> {
    let configured = &crate::config::get().await.admin_token;
    let bootstrap_on = !configured.is_empty() && !bootstrap_turned_off(db, configured).await?;
    if bootstrap_on || owners_other_than(db, id).await? > 0 {
        Ok(())
    } else {
        Err(OriginError::Conflict(
            "This is the last owner account and the bootstrap token is off: \
             nobody could manage accounts afterwards."
                .into(),
        ))
    }
}

/// `name`: 1 to 200 characters once trimmed, no control characters.
fn display_name(body: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = body["name"].as_str().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME} characters, without control characters"),
        ));
        return None;
    }
    Some(name.to_string())
}

fn grants(body: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<Grant>> {
    access::grants(&body["grants"], "grants")
        .map_err(|found| errors.extend(found))
        .ok()
}
