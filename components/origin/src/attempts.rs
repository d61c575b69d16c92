//! Attempts counted per client and minute at the origin: one count across
//! every edge and instance (the edge names the client in the signed
//! request). Registration attempts are counted in the transaction that
//! decides them; organizer sign-ins each with one atomic write before the
//! token is looked at, so that a burst of guesses spread over many
//! instances is counted whole. Counts of minutes that ended are swept, so
//! no client's address is kept past the minute after its attempts.

use crate::db::{Db, Writes, int, placeholders, text};
use crate::error::OriginError;
use crate::request::Incoming;
use eventfront_domain::client_limit::{
    SIGN_IN_FAILURES_PER_MINUTE, SIGN_IN_LINKS_PER_CLIENT_PER_MINUTE,
    SIGN_IN_LINKS_PER_INBOX_PER_MINUTE, Window, admits,
};
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

/// An organizer sign-in counted against its client before the token was
/// looked at; `right` gives the count back once the token proved right.
pub struct SignIn<'a> {
    db: &'a Db,
    window: Window,
    client: String,
}

/// Where a client's sign-ins are counted: beside its registration
/// attempts, under a name of their own.
fn sign_in_key(client: &str) -> String {
    format!("sign-in {client}")
}

/// Counts one sign-in attempt of the client the edge named, or refuses it
/// (429, the token never looked at) once the client made its limit of
/// wrong ones this minute. A client at the limit costs one plain read and
/// no write. An edge that names nobody is not counted: only an edge
/// reaches the origin, and it always names the client.
pub async fn sign_in<'a>(
    db: &'a Db,
    request: &Incoming,
    now_secs: i64,
) -> Result<Option<SignIn<'a>>, OriginError> {
    let Some(client) = request.header(CLIENT_HEADER) else {
        return Ok(None);
    };
    let window = Window::at(now_secs);
    let client = sign_in_key(client);
    let limit = SIGN_IN_FAILURES_PER_MINUTE;
    if at_limit(db, &client, limit, window).await? {
        return Err(OriginError::RateLimited(window));
    }
    add(db, &client, limit, window).await?;
    Ok(Some(SignIn { db, window, client }))
}

/// Counts one request for a sign-in link against its client and against
/// the inbox it names, or refuses it (429) once either made its limit this
/// minute: before anything is looked up, so that a refusal says nothing of
/// whether an account has the address. An edge that names nobody is
/// counted by the inbox alone.
pub async fn sign_in_link(
    db: &Db,
    request: &Incoming,
    inbox: &str,
    now_secs: i64,
) -> Result<(), OriginError> {
    let window = Window::at(now_secs);
    let mut counts = vec![(
        format!("sign-in link to {inbox}"),
        SIGN_IN_LINKS_PER_INBOX_PER_MINUTE,
    )];
    if let Some(client) = request.header(CLIENT_HEADER) {
        let key = format!("sign-in link {client}");
        counts.push((key, SIGN_IN_LINKS_PER_CLIENT_PER_MINUTE));
    }
    // Both looked at before either is written: a refusal writes nothing.
    for (key, limit) in &counts {
        if at_limit(db, key, *limit, window).await? {
            return Err(OriginError::RateLimited(window));
        }
    }
    for (key, limit) in &counts {
        add(db, key, *limit, window).await?;
    }
    sweep_once_a_minute(db, window).await;
    Ok(())
}

/// Whether `key` made its limit of attempts this minute: a plain read.
async fn at_limit(db: &Db, key: &str, limit: u32, window: Window) -> Result<bool, OriginError> {
    let counted = db
        .row(
            "SELECT attempts FROM client_attempts WHERE window_start = ? AND client = ?",
            [int(window.start), text(key)],
        )
        .await?
        .map_or(0, |row| row.int("attempts"));
    Ok(!admits(counted as u32, limit))
}

/// Adds one attempt to `key`'s count this minute, or refuses it (429)
/// when others made the limit meanwhile.
async fn add(db: &Db, key: &str, limit: u32, window: Window) -> Result<(), OriginError> {
    let params = || [int(window.start), text(key)];
    // Atomic in either engine: of a burst read under the limit at once,
    // only as many as the limit get a count within it.
    let counted = db
        .row(
            "INSERT INTO client_attempts (window_start, client, attempts) VALUES (?, ?, 1)
             ON CONFLICT (window_start, client)
             DO UPDATE SET attempts = client_attempts.attempts + 1
             RETURNING attempts",
            params(),
        )
        .await?
        .map_or(1, |row| row.int("attempts"));
    if !admits((counted - 1) as u32, limit) {
        return Err(OriginError::RateLimited(window));
    }
    Ok(())
}

/// Sweeps the counts of minutes that ended, the first time an instance
/// leaves a count standing in a minute: sign-ins may fail, and links be
/// asked for, in minutes without registrations, whose decisions sweep
/// otherwise.
async fn sweep_once_a_minute(db: &Db, window: Window) {
    let swept_in = &crate::instance::instance().sign_ins_swept_in;
    if swept_in.replace(window.start) != window.start
        && let Err(e) = sweep(db, window).await
    {
        eprintln!("origin: sweeping ended attempt counts failed: {e}");
    }
}

impl SignIn<'_> {
    /// The token was right: the attempt is not held against the client,
    /// so an organizer's own requests never use up its limit, and a count
    /// back at nothing leaves no row (a right request writes nothing that
    /// stays). Should the writes fail, the request goes on: the count is
    /// one too high until the minute ends.
    pub async fn right(self) {
        let params = || [int(self.window.start), text(self.client.as_str())];
        let refunded = async {
            self.db
                .exec(
                    "UPDATE client_attempts SET attempts = attempts - 1
                     WHERE window_start = ? AND client = ? AND attempts > 0",
                    params(),
                )
                .await?;
            self.db
                .exec(
                    "DELETE FROM client_attempts
                     WHERE window_start = ? AND client = ? AND attempts <= 0",
                    params(),
                )
                .await
        };
        if let Err(e) = refunded.await {
            eprintln!("origin: giving a right sign-in its count back failed: {e}");
        }
    }

    /// The token was wrong: the count stays.
    pub async fn wrong(self) {
        sweep_once_a_minute(self.db, self.window).await;
    }
}

/// Removes the counts of minutes that ended before `window`.
pub async fn sweep(db: &Db, window: Window) -> Result<(), OriginError> {
    db.exec(
        "DELETE FROM client_attempts WHERE window_start < ?",
        [int(window.start)],
    )
    .await
}
