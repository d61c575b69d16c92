//! Who may ask the origin anything: edges prove themselves by signature
//! (the current or, during rotation, the previous shared secret); the
//! organizers they forward for prove themselves to `organizer`. Secrets
//! are compared, and tokens stored, by their digests.

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
