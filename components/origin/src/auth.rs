//! Who may ask the origin anything: edges prove themselves by signature
//! (the current or, during rotation, the previous shared secret), and
//! organizers additionally by a bearer token (an account's API token, or
//! the configured bootstrap token until an owner turns it off), each
//! attempt counted against its client before the token is looked at.

use crate::attempts;
use crate::audit::Actor;
use crate::db::{Db, int, text};
use crate::error::OriginError;
use crate::request::Incoming;
use eventfront_domain::access::{self, Action, Grant, Role};
use eventfront_domain::signing::{
    CLIENT_HEADER, Direction, Message, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER, Verifier,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The secret this origin signs with and the verifier it checks with.
pub async fn signing_keys() -> Result<(Secret, Verifier), OriginError> {
    crate::config::get()
        .await
        .signing
        .clone()
        .ok_or(OriginError::Config(
            "signing_secret is unset or too short".into(),
        ))
}

pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Refuses a request whose signature headers are missing, malformed or
/// outside the time window, before its body is read.
pub async fn precheck_edge(headers: &http::HeaderMap) -> Result<(), OriginError> {
    let (_, verifier) = signing_keys().await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verifier
        .precheck(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            now_secs(),
        )
        .map(|_| ())
        .map_err(|_| OriginError::Unauthorized("This origin only answers its edges."))
}

/// Refuses any request an edge did not sign.
pub async fn require_edge(request: &Incoming) -> Result<(), OriginError> {
    let (_, verifier) = signing_keys().await?;
    verifier
        .verify(
            &Message::new(
                Direction::ToOrigin,
                request.method.as_str(),
                &request.target,
                &request.body,
            )
            .covering(|name| request.header(name))
            .for_client(request.header(CLIENT_HEADER)),
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
            now_secs(),
        )
        .map_err(|_| OriginError::Unauthorized("This origin only answers its edges."))
}

/// The shortest admin token accepted: a guessable token is worse than none.
pub const MIN_ADMIN_TOKEN: usize = 32;

const TOKEN_TOO_SHORT: &str = "the admin_token variable must be at least 32 bytes";

/// The prefix of an organizer API token, so that one found in a log or a
/// repository is recognizable (and told from the bootstrap token).
pub const API_TOKEN_PREFIX: &str = "eft_";

/// An organizer who proved who they are, and what they may do.
pub struct Organizer {
    pub actor: Actor,
    grants: Vec<Grant>,
    token: Option<ApiToken>,
}

/// The API token an organizer signed in with.
struct ApiToken {
    id: String,
    /// Its own grants, which narrow its account's.
    grants: Vec<Grant>,
    last_used_ms: Option<i64>,
}

/// How often a token's last-used time is written: it says when a token was
/// last needed, not every request it made.
const LAST_USED_EVERY_MS: i64 = 60_000;

impl Organizer {
    fn bootstrap(address: Option<&str>) -> Self {
        Self {
            actor: Actor {
                name: "bootstrap token".into(),
                account: None,
                via: Some("bootstrap".into()),
                address: address.map(str::to_string),
            },
            grants: vec![Grant::everywhere(Role::Owner)],
            token: None,
        }
    }

    /// Whether this organizer may take `action` on `event` (`None` for an
    /// action on the organization): their account's grants allow it, and
    /// so do their token's.
    pub fn may(&self, action: Action, event: Option<&str>) -> bool {
        access::may(&self.grants, action, event)
            && self
                .token
                .as_ref()
                .is_none_or(|token| access::may(&token.grants, action, event))
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

    /// Notes that their API token was used, at most once a minute.
    pub async fn touch(&self, db: &Db) -> Result<(), OriginError> {
        let now = jiff::Timestamp::now().as_millisecond();
        match &self.token {
            Some(token)
                if token
                    .last_used_ms
                    .is_none_or(|at| now - at >= LAST_USED_EVERY_MS) =>
            {
                db.exec(
                    "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?",
                    [int(now), text(&token.id)],
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
            "token_grants": self.token.as_ref().map(|token| &token.grants),
            "actions": allowed(None),
        });
        if let Some(event) = event {
            me["event"] = event.into();
            me["event_actions"] = serde_json::json!(allowed(Some(event)));
        }
        me
    }
}

/// Who sends an organizer request, or a refusal: 401 for no valid token,
/// 429 once its client made its limit of wrong ones. Every attempt is
/// counted against its client before the token is looked at, so that a
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
    let attempt = attempts::sign_in(db, request, now_secs()).await?;
    let offered = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let found = identify(db, offered, configured, request.header(CLIENT_HEADER)).await?;
    match attempt {
        Some(attempt) if found.is_some() => attempt.right().await,
        Some(attempt) => attempt.wrong().await,
        None => {}
    }
    found.ok_or(OriginError::Unauthorized(
        "Organizer requests need a valid bearer token.",
    ))
}

/// The organizer `offered` proves: a live API token of a live account, or
/// the configured bootstrap token unless an owner turned it off.
async fn identify(
    db: &Db,
    offered: &str,
    configured: &str,
    address: Option<&str>,
) -> Result<Option<Organizer>, OriginError> {
    if offered.starts_with(API_TOKEN_PREFIX) {
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
        let id = row.text("id");
        return Ok(Some(Organizer {
            actor: Actor {
                name: row.text("email").into(),
                account: Some(row.text("account")),
                via: Some(format!("token:{id}")),
                address: address.map(str::to_string),
            },
            grants: row.json("grants")?,
            token: Some(ApiToken {
                id,
                grants: row.json("token_grants")?,
                last_used_ms: row.opt_int("last_used_ms"),
            }),
        }));
    }
    if configured.is_empty() || offered.is_empty() || !same_secret(offered, configured) {
        return Ok(None);
    }
    let turned_off = bootstrap_turned_off(db, configured).await?;
    Ok((!turned_off).then(|| Organizer::bootstrap(address)))
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

/// Compares digests so that neither content nor length leaks through timing.
pub fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

/// A manage, confirm or API token's stored form.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
