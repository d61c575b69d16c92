//! Registration attempts counted per client and minute at the origin, in
//! the transaction that decides them: one count across every edge and
//! instance (the edge names the client in the signed request). Counts of
//! minutes that ended are swept, so no client's address is kept past the
//! minute after its attempts.

use crate::db::{Db, Writes, int, placeholders, text};
use crate::error::OriginError;
use crate::request::Incoming;
use eventfront_domain::client_limit::Window;
use eventfront_domain::signing::CLIENT_HEADER;

/// A client the edge named, and the attempts it may make per minute.
#[derive(Clone)]
pub struct Client {
    pub key: String,
    pub per_minute: u32,
}

/// Whom a new registration attempt is counted against: the client the
/// edge named (the signature covers it, and `routes` checked it), unless
/// the limit is off. An edge that names nobody is not counted.
pub async fn counted_client(request: &Incoming) -> Option<Client> {
    let key = request.header(CLIENT_HEADER)?;
    let per_minute = crate::config::get().await.registrations_per_minute;
    (per_minute > 0).then(|| Client {
        key: key.to_string(),
        per_minute,
    })
}

/// Adds the clients' new attempts to their counts for this minute: added,
/// not overwritten, as another event's batch may count the same client at
/// the same time under its own lock.
pub fn push_added(writes: &mut Writes, window: Window, counted: &[(&str, u32)]) {
    if counted.is_empty() {
        return;
    }
    let params = counted
        .iter()
        .flat_map(|(client, added)| [int(window.start), text(*client), int(i64::from(*added))]);
    writes.push(
        format!(
            "INSERT INTO client_attempts (window_start, client, attempts) VALUES {}
             ON CONFLICT (window_start, client)
             DO UPDATE SET attempts = client_attempts.attempts + excluded.attempts",
            placeholders(counted.len(), 3)
        ),
        params,
    );
}

/// Removes the counts of minutes that ended before `window`.
pub async fn sweep(db: &Db, window: Window) -> Result<(), OriginError> {
    db.exec(
        "DELETE FROM client_attempts WHERE window_start < ?",
        [int(window.start)],
    )
    .await
}
