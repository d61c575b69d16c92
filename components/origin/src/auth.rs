//! Who may ask the origin anything: edges prove themselves by signature
//! (the current or, during rotation, the previous shared secret), and
//! organizers additionally by the admin bearer token, each attempt counted
//! against its client before the token is looked at.

use crate::attempts;
use crate::db::Db;
use crate::error::OriginError;
use crate::request::Incoming;
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

/// Refuses organizer requests without the admin token. With no token
/// configured, every organizer request is refused; with one too short to
/// resist guessing, they are answered 503 naming the variable (a component
/// cannot refuse to start, so this is how it refuses).
pub async fn require_admin(request: &Incoming) -> Result<(), OriginError> {
    let configured = &crate::config::get().await.admin_token;
    if !configured.is_empty() && configured.len() < MIN_ADMIN_TOKEN {
        let logged = &crate::instance::instance().admin_token_refusal_logged;
        if !logged.replace(true) {
            eprintln!("origin configuration error: {TOKEN_TOO_SHORT}; the organizer API is closed");
        }
        return Err(OriginError::OrganizerClosed(TOKEN_TOO_SHORT));
    }
    // Counted before the token is looked at: a burst of guesses over many
    // instances gets no more looks than the limit.
    let db = Db::open().await?;
    let attempt = attempts::sign_in(&db, request, now_secs()).await?;
    let offered = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let right = !configured.is_empty() && !offered.is_empty() && same_secret(offered, configured);
    match attempt {
        Some(attempt) if right => attempt.right().await,
        Some(attempt) => attempt.wrong().await,
        None => {}
    }
    if right {
        Ok(())
    } else {
        Err(OriginError::Unauthorized(
            "Organizer requests need a valid bearer token.",
        ))
    }
}

/// Compares digests so that neither content nor length leaks through timing.
pub fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

/// A manage token's stored form.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
