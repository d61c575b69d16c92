//! Who sends an organizer request, and what they may do: an account's API
//! token, the configured bootstrap token (until an owner turns it off), or
//! a browser's sign-in cookie (whose writes also carry its CSRF token).
//! Every attempt is counted against its client before anything is looked
//! at, and the one permission table (`access::may`) decides.

use crate::attempts;
use crate::audit::Actor;
use crate::auth::{MIN_ADMIN_TOKEN, same_secret, token_hash};
use crate::db::{Db, Row, int, text};
use crate::error::OriginError;
use crate::request::Incoming;
use eventfront_domain::access::{self, Action, Grant, Role};
use eventfront_domain::sign_in::{self, CSRF_HEADER, Lifetime};
use eventfront_domain::signing::CLIENT_HEADER;

const TOKEN_TOO_SHORT: &str = "the admin_token variable must be at least 32 bytes";

/// The prefix of an organizer API token, so that one found in a log or a
/// repository is recognizable (and told from the bootstrap token).
pub const API_TOKEN_PREFIX: &str = "eft_";

/// How often a token's last-used time is written: it says when a token was
/// last needed, not every request it made.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// An organizer who proved who they are, and what they may do.
pub struct Organizer {
    pub actor: Actor,
    grants: Vec<Grant>,
    /// The grants of the API token they signed in with, which narrow
    /// their account's.
    narrowed: Option<Vec<Grant>>,
    /// How they proved it, for what a request writes down about its use.
    pub proof: Proof,
}

/// What an organizer signed in with.
pub enum Proof {
    Bootstrap,
    Token {
        id: String,
        last_used_ms: Option<i64>,
    },
    Session {
        id: String,
        lifetime: Lifetime,
        /// Whether a write carried the session's CSRF token.
        csrf_ok: bool,
    },
}

impl Organizer {
    /// Whether this organizer may take `action` on `event` (`None` for an
    /// action on the organization): their account's grants allow it, and
    /// so do their token's.
    pub fn may(&self, action: Action, event: Option<&str>) -> bool {
        access::may(&self.grants, action, event)
            && self
                .narrowed
                .as_ref()
                .is_none_or(|grants| access::may(grants, action, event))
    }

    /// Refuses (403, nothing looked at or written) what they may not do.
    pub fn require(&self, action: Action, event: Option<&str>) -> Result<(), OriginError> {
        if self.may(action, event) {
            Ok(())
        } else {
            Err(OriginError::Forbidden(
                "Your account's roles do not allow this here.",
            ))
        }
    }

    /// Notes that their token or session was used, at most once a minute.
    pub async fn touch(&self, db: &Db) -> Result<(), OriginError> {
        let now = jiff::Timestamp::now().as_millisecond();
        match &self.proof {
            Proof::Token { id, last_used_ms }
                if last_used_ms.is_none_or(|at| now - at >= LAST_USED_EVERY_MS) =>
            {
                db.exec(
                    "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?",
                    [int(now), text(id)],
                )
                .await
            }
            Proof::Session { id, lifetime, .. } if lifetime.seen_again_at(now) => {
                db.exec(
                    "UPDATE organizer_sessions SET last_seen_ms = ? WHERE id = ?",
                    [int(now), text(id)],
                )
                .await
            }
            _ => Ok(()),
        }
    }

    /// `GET /api/admin/me[?event={slug}]`: who they are, what they hold,
    /// and what they may do on the organization and on that event, so that
    /// a page shows only what its user may use.
    pub fn describe(&self, event: Option<&str>) -> serde_json::Value {
        let allowed = |on_event: Option<&str>| {
            Action::ALL
                .iter()
                .filter(|&&action| action.on_event() == on_event.is_some())
                .filter(|&&action| self.may(action, on_event))
                .collect::<Vec<_>>()
        };
        let mut me = serde_json::json!({
            "actor": self.actor.name,
            "account": self.actor.account,
            "via": self.actor.via,
            "grants": self.grants,
            "token_grants": self.narrowed,
            "actions": allowed(None),
        });
        if let Some(event) = event {
            me["event"] = event.into();
            me["event_actions"] = serde_json::json!(allowed(Some(event)));
        }
        me
    }
}

/// Who sends an organizer request, or a refusal: 401 for no valid token
/// or sign-in, 429 once its client made its limit of wrong ones, 403 for a
/// write signed by a sign-in cookie without its CSRF token. Every attempt
/// is counted against its client before anything is looked at, so that a
/// burst of guesses over many instances gets no more looks than the limit.
/// With a bootstrap token too short to resist guessing, the organizer API
/// answers 503 naming the variable (a component cannot refuse to start,
/// so this is how it refuses).
pub async fn organizer(db: &Db, request: &Incoming) -> Result<Organizer, OriginError> {
    let configured = &crate::config::get().await.admin_token;
    if !configured.is_empty() && configured.len() < MIN_ADMIN_TOKEN {
        let logged = &crate::instance::instance().admin_token_refusal_logged;
        if !logged.replace(true) {
            eprintln!("origin configuration error: {TOKEN_TOO_SHORT}; the organizer API is closed");
        }
        return Err(OriginError::OrganizerClosed(TOKEN_TOO_SHORT));
    }
    let attempt = attempts::sign_in(db, request, crate::auth::now_secs()).await?;
    let found = identify(db, request, configured).await?;
    match attempt {
        Some(attempt) if found.is_some() => attempt.right().await,
        Some(attempt) => attempt.wrong().await,
        None => {}
    }
    let found = found.ok_or(OriginError::Unauthorized(
        "Organizer requests need a valid bearer token or sign-in.",
    ))?;
    if let Proof::Session { csrf_ok: false, .. } = found.proof {
        return Err(OriginError::Forbidden(
            "A change made with a sign-in cookie must carry its CSRF token (X-CSRF-Token).",
        ));
    }
    Ok(found)
}

/// The organizer a request proves: with a bearer token, a live API token
/// of a live account or the configured bootstrap token (unless turned
/// off); without one, a live sign-in cookie.
async fn identify(
    db: &Db,
    request: &Incoming,
    configured: &str,
) -> Result<Option<Organizer>, OriginError> {
    let address = request.header(CLIENT_HEADER).map(str::to_string);
    let offered = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if offered.starts_with(API_TOKEN_PREFIX) {
        return by_token(db, offered, address).await;
    }
    if !offered.is_empty() {
        let right = !configured.is_empty() && same_secret(offered, configured);
        let on = right && !bootstrap_turned_off(db, configured).await?;
        return Ok(on.then(|| bootstrap(Proof::Bootstrap, address)));
    }
    match request
        .header("cookie")
        .and_then(sign_in::from_cookie_header)
    {
        Some(secret) => by_session(db, request, secret, configured, address).await,
        None => Ok(None),
    }
}

fn bootstrap(proof: Proof, address: Option<String>) -> Organizer {
    Organizer {
        actor: Actor {
            name: "bootstrap token".into(),
            account: None,
            via: Some(via(&proof)),
            address,
        },
        grants: vec![Grant::everywhere(Role::Owner)],
        narrowed: None,
        proof,
    }
}

/// How the audit log says an organizer signed in.
fn via(proof: &Proof) -> String {
    match proof {
        Proof::Bootstrap => "bootstrap".into(),
        Proof::Token { id, .. } => format!("token:{id}"),
        Proof::Session { id, .. } => format!("sign-in:{id}"),
    }
}

async fn by_token(
    db: &Db,
    offered: &str,
    address: Option<String>,
) -> Result<Option<Organizer>, OriginError> {
    let Some(row) = db
        .row(
            "SELECT t.id, t.grants AS token_grants, t.last_used_ms, a.id AS account,
                 a.email, a.grants
             FROM api_tokens t JOIN accounts a ON a.id = t.account
             WHERE t.hash = ? AND t.revoked_at IS NULL AND a.revoked_at IS NULL",
            [text(token_hash(offered))],
        )
        .await?
    else {
        return Ok(None);
    };
    let proof = Proof::Token {
        id: row.text("id"),
        last_used_ms: row.opt_int("last_used_ms"),
    };
    let narrowed = Some(row.json("token_grants")?);
    Ok(Some(of_account(&row, narrowed, proof, address)?))
}

fn of_account(
    row: &Row,
    narrowed: Option<Vec<Grant>>,
    proof: Proof,
    address: Option<String>,
) -> Result<Organizer, OriginError> {
    Ok(Organizer {
        actor: Actor {
            name: row.text("email").into(),
            account: Some(row.text("account")),
            via: Some(via(&proof)),
            address,
        },
        grants: row.json("grants")?,
        narrowed,
        proof,
    })
}

/// The sign-in whose cookie holds `secret`, while it lasts and what opened
/// it (its account and token, or the bootstrap token) still stands.
async fn by_session(
    db: &Db,
    request: &Incoming,
    secret: &str,
    configured: &str,
    address: Option<String>,
) -> Result<Option<Organizer>, OriginError> {
    let Some(row) = db
        .row(
            "SELECT s.id, s.account, s.token, s.bootstrap_hash, s.created_ms, s.last_seen_ms,
                 a.email, a.grants, a.revoked_at AS account_revoked,
                 t.grants AS token_grants, t.revoked_at AS token_revoked
             FROM organizer_sessions s
             LEFT JOIN accounts a ON a.id = s.account
             LEFT JOIN api_tokens t ON t.id = s.token
             WHERE s.hash = ? AND s.ended_ms IS NULL",
            [text(token_hash(secret))],
        )
        .await?
    else {
        return Ok(None);
    };
    let lifetime = Lifetime {
        created_ms: row.int("created_ms"),
        last_seen_ms: row.int("last_seen_ms"),
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let revoked =
        row.opt_text("account_revoked").is_some() || row.opt_text("token_revoked").is_some();
    if !lifetime.live_at(now) || revoked {
        return Ok(None);
    }
    let reading = matches!(request.method, http::Method::GET | http::Method::HEAD);
    let csrf_ok = reading
        || request
            .header(CSRF_HEADER)
            .is_some_and(|sent| same_secret(sent, &sign_in::csrf_token(secret)));
    let proof = Proof::Session {
        id: row.text("id"),
        lifetime,
        csrf_ok,
    };
    if let Some(opened_with) = row.opt_text("bootstrap_hash") {
        let still = !configured.is_empty()
            && same_secret(opened_with, &token_hash(configured))
            && !bootstrap_turned_off(db, configured).await?;
        return Ok(still.then(|| bootstrap(proof, address)));
    }
    let narrowed = match row.opt_text("token") {
        Some(_) => Some(row.json("token_grants")?),
        None => None,
    };
    Ok(Some(of_account(&row, narrowed, proof, address)?))
}

/// Whether an owner turned the `configured` bootstrap token off.
pub async fn bootstrap_turned_off(db: &Db, configured: &str) -> Result<bool, OriginError> {
    Ok(db
        .row(
            "SELECT 1 AS off FROM bootstrap_tokens_off WHERE hash = ?",
            [text(token_hash(configured))],
        )
        .await?
        .is_some())
}
