//! Registration tokens: the bearer secrets of manage and confirm links.
//! Only their hashes are stored (`auth::token_hash`); a registration may
//! hold several of each kind, each valid.

use crate::auth::token_hash;
use crate::db::{Db, Writes, int, placeholders, text};
use crate::error::OriginError;

/// What a token lets its holder do with its registration.
#[derive(Clone, Copy)]
pub enum Tokens {
    /// See and cancel it.
    Manage,
    /// Confirm it while it is held.
    Confirm,
}

impl Tokens {
    pub fn table(self) -> &'static str {
        match self {
            Tokens::Manage => "manage_tokens",
            Tokens::Confirm => "confirm_tokens",
        }
    }
}

/// Tokens of one kind among the caller's `writes`, each `(registration,
/// hash)`: a registration may have several, each valid.
pub fn push(writes: &mut Writes, kind: Tokens, tokens: &[(String, String)], now: jiff::Timestamp) {
    if tokens.is_empty() {
        return;
    }
    let params = tokens.iter().flat_map(|(registration, hash)| {
        [text(hash), text(registration), int(now.as_millisecond())]
    });
    writes.push(
        format!(
            "INSERT INTO {} (hash, registration, created_ms) VALUES {}",
            kind.table(),
            placeholders(tokens.len(), 3)
        ),
        params,
    );
}

/// Gives `registration` one more token of `kind`, leaving its others
/// valid, and returns it (a link sent again must not break the first one).
pub async fn add(db: &Db, kind: Tokens, registration: &str) -> Result<String, OriginError> {
    let token = random();
    db.exec(
        &format!(
            "INSERT INTO {} (hash, registration, created_ms) VALUES (?, ?, ?)",
            kind.table()
        ),
        [
            text(token_hash(&token)),
            text(registration),
            int(jiff::Timestamp::now().as_millisecond()),
        ],
    )
    .await?;
    Ok(token)
}

/// A new token: 256 random bits, in hex.
pub fn random() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hex::encode(bytes)
}
