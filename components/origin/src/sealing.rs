//! Tokens at rest, sealed: the stored answer of a registration (which
//! carries its manage token) and a message's text and links are written
//! sealed under the origin's signing secret (`eventfront_domain::sealed`)
//! and opened when replayed, sent or shown, so that a dump of the
//! database opens nobody's registration.

use crate::error::OriginError;
use eventfront_domain::sealed::Sealer;

/// The sealer the origin's secrets make.
pub async fn sealer() -> Result<&'static Sealer, OriginError> {
    crate::config::get()
        .await
        .sealer
        .as_ref()
        .ok_or(OriginError::Config(
            "the signing_secret variable is not set".into(),
        ))
}

/// `plain` sealed under a nonce of its own.
pub fn seal(sealer: &Sealer, plain: &str) -> String {
    // The first six bytes of a v4 UUID are all random: two make a
    // 96-bit nonce.
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut nonce = [0; 12];
    nonce[..6].copy_from_slice(&a.as_bytes()[..6]);
    nonce[6..].copy_from_slice(&b.as_bytes()[..6]);
    sealer.seal(plain, nonce)
}

/// What `stored` holds, opened.
pub fn open(sealer: &Sealer, stored: &str) -> Result<String, OriginError> {
    sealer
        .open(stored)
        .map_err(|e| OriginError::Database(e.to_string()))
}
