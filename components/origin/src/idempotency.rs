//! Idempotency: the answer stored with each registration under its
//! `Idempotency-Key`, in the transaction that decided it, sealed (it holds
//! the registration's manage token), replayed to a retry for a day (a
//! different request under the same key is refused), and swept once past
//! that.

use crate::auth::same_secret;
use crate::db::{Db, Reader, Row, Writes, in_list, int, opt_text, placeholders, text};
use crate::error::OriginError;
use crate::sealing;
use eventfront_domain::sealed::Sealer;
use std::collections::HashMap;

/// What a key was answered: a status and body, or a refusal.
pub type Answer = Result<(u16, String), OriginError>;

/// How long a registration's answer is kept for replays of its key.
const IDEMPOTENCY_HOURS: i64 = 24;

/// The oldest idempotency record still replayed, in stored milliseconds.
pub fn oldest_kept(now: jiff::Timestamp) -> i64 {
    (now - jiff::SignedDuration::from_hours(IDEMPOTENCY_HOURS)).as_millisecond()
}

/// An answer stored for a key.
pub struct StoredAnswer {
    /// The hash of the request it answered.
    request_hash: String,
    status: u16,
    body: String,
    /// The registration it created, if it did: erasure forgets it.
    registration: Option<String>,
}

impl StoredAnswer {
    /// The answer decided for a request hashed `request_hash`.
    pub fn new(request_hash: &str, status: u16, body: String) -> Self {
        Self {
            request_hash: request_hash.to_string(),
            status,
            body,
            registration: None,
        }
    }

    /// This answer, as the one that created the registration `id`.
    pub fn creating(self, id: &str) -> Self {
        Self {
            registration: Some(id.to_string()),
            ..self
        }
    }

    /// The answer to a request with `request_hash` under the same key:
    /// this one for the same request, `KeyReused` for another.
    pub fn replay(&self, request_hash: &str) -> Answer {
        if same_secret(&self.request_hash, request_hash) {
            Ok((self.status, self.body.clone()))
        } else {
            Err(OriginError::KeyReused)
        }
    }
}

/// The answers stored for `keys` within the last day, by key: a plain
/// read, outside any transaction.
pub async fn stored(keys: &[&str]) -> Result<HashMap<String, StoredAnswer>, OriginError> {
    let mut params = vec![int(oldest_kept(jiff::Timestamp::now()))];
    params.extend(keys.iter().map(|k| text(*k)));
    let rows = Reader::get()
        .await?
        .rows(
            &format!(
                "SELECT key, request_hash, status, body FROM idempotency
                 WHERE created_ms >= ? AND key IN ({})",
                in_list(keys.len())
            ),
            params,
        )
        .await?;
    let sealer = sealing::sealer().await?;
    rows.iter()
        .map(|row| Ok((row.text("key"), opened(row, sealer)?)))
        .collect()
}

/// The answer a row of the `idempotency` table keeps, opened.
fn opened(row: &Row, sealer: &Sealer) -> Result<StoredAnswer, OriginError> {
    Ok(StoredAnswer::new(
        &row.text("request_hash"),
        row.int("status") as u16,
        sealing::open(sealer, &row.text("body"))?,
    ))
}

/// The answers stored for `keys` within the last day, by key, read inside
/// the caller's write transaction: a key answered meanwhile by another
/// instance is found there. Expired answers not swept yet are forgotten,
/// so that new answers can be stored under their keys.
pub async fn stored_in(
    db: &Db,
    keys: &[&str],
    now: jiff::Timestamp,
) -> Result<HashMap<String, StoredAnswer>, OriginError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = db
        .rows(
            &format!(
                "SELECT {ANSWER_COLUMNS} FROM idempotency WHERE key IN ({})",
                in_list(keys.len())
            ),
            keys.iter().map(|k| text(*k)),
        )
        .await?;
    let (kept, expired): (Vec<&Row>, Vec<&Row>) = rows
        .iter()
        .partition(|row| row.int("created_ms") >= oldest_kept(now));
    let expired: Vec<String> = expired.iter().map(|row| row.text("key")).collect();
    forget_expired(db, &expired, now).await?;
    let sealer = sealing::sealer().await?;
    kept.into_iter()
        .map(|row| Ok((row.text("key"), opened(row, sealer)?)))
        .collect()
}

/// The columns of stored answers that `read_answers` reads, aggregated
/// with `Engine::json_rows` into one column.
pub const ANSWER_COLUMNS: &str = "key, request_hash, status, body, created_ms";

/// The stored answers aggregated in `row`'s `column` (of
/// `ANSWER_COLUMNS`), opened: those still replayed by key, and the keys of
/// those expired (not swept yet).
pub fn read_answers(
    row: &Row,
    column: &str,
    now: jiff::Timestamp,
    sealer: &Sealer,
) -> Result<(HashMap<String, StoredAnswer>, Vec<String>), OriginError> {
    let answers: Vec<(String, String, u16, String, i64)> = row.json(column)?;
    let (kept, expired): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|answer| answer.4 >= oldest_kept(now));
    let kept = kept
        .into_iter()
        .map(|(key, request_hash, status, body, _)| {
            let body = sealing::open(sealer, &body)?;
            Ok((key, StoredAnswer::new(&request_hash, status, body)))
        })
        .collect::<Result<_, OriginError>>()?;
    Ok((kept, expired.into_iter().map(|answer| answer.0).collect()))
}

/// Stores the answers decided for their keys among the caller's `writes`
/// (expired answers under the same keys forgotten first, by
/// `forget_expired`). A key stored meanwhile by a transaction outside the
/// caller's lock (another event's batch, given the same key) fails the
/// statement, and with it the caller's transaction, which is retried and
/// then finds the key answered: a key is never decided twice.
pub fn push(
    writes: &mut Writes,
    answered: &HashMap<&str, StoredAnswer>,
    now: jiff::Timestamp,
    sealer: &Sealer,
) {
    if answered.is_empty() {
        return;
    }
    let params = answered.iter().flat_map(|(key, answer)| {
        [
            text(*key),
            text(&answer.request_hash),
            int(i64::from(answer.status)),
            // Sealed: a 201's body holds the registration's manage token.
            text(sealing::seal(sealer, &answer.body)),
            int(now.as_millisecond()),
            opt_text(answer.registration.as_deref()),
        ]
    });
    writes.push(
        format!(
            "INSERT INTO idempotency (key, request_hash, status, body, created_ms, registration)
             VALUES {}",
            placeholders(answered.len(), 6)
        ),
        params,
    );
}

/// Removes the expired answers of `keys` that no sweep has removed yet, so
/// that their new answers can be stored.
pub async fn forget_expired(
    db: &Db,
    keys: &[String],
    now: jiff::Timestamp,
) -> Result<(), OriginError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut params = vec![int(oldest_kept(now))];
    params.extend(keys.iter().map(text));
    db.exec(
        &format!(
            "DELETE FROM idempotency WHERE created_ms < ? AND key IN ({})",
            in_list(keys.len())
        ),
        params,
    )
    .await
}

/// Removes the answers past their day: none is replayed once expired.
pub async fn sweep(db: &Db, now: jiff::Timestamp) -> Result<(), OriginError> {
    db.exec(
        "DELETE FROM idempotency WHERE created_ms < ?",
        [int(oldest_kept(now))],
    )
    .await
}
