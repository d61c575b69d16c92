//! Each event's live seat counts (`eventfront_domain::seat_counts`): the
//! version that every change of a pick or of a session's limit raises in
//! its own transaction, the document made from what is stored, and its
//! push to every edge once such a change commits. Pushes of one event
//! begin at least `PUSH_EVERY` apart across all instances (a stored
//! compare-and-set elects the pusher): a change while a push is too
//! recent waits for the next turn, and every change made meanwhile goes
//! out in that one push. The edges fetch the document themselves when a
//! push is lost (`sync::seats`).

use crate::db::{Db, Scope, Writes, int, text};
use crate::error::OriginError;
use crate::instance::instance;
use crate::publish::{self, Announcement};
use crate::session_seats;
use crate::waiting_room;
use eventfront_domain::Slug;
use eventfront_domain::freshness::Millis;
use eventfront_domain::seat_counts::{SeatCounts, push_wait};
use eventfront_domain::session_seats::Spot;
use std::time::Duration;

/// Among `writes`: `event`'s counts change, and are pushed once the
/// transaction they are part of commits.
pub fn raise(writes: &mut Writes, event: &str) {
    writes.push(
        "INSERT INTO seat_count_versions (event, version) VALUES (?, 1)
         ON CONFLICT (event) DO UPDATE SET version = seat_count_versions.version + 1"
            .into(),
        [text(event)],
    );
    writes.change_seat_counts(event);
}

/// `event`'s counts as stored now.
pub async fn document(db: &Db, event: &Slug) -> Result<SeatCounts, OriginError> {
    // The version first: the counts read after it are as new as it or
    // newer, so a document never shows counts older than its version.
    let version = stored_version(db, event.as_str()).await?;
    document_at(db, event, version).await
}

/// `event`'s counts as stored now, with its waiting room, read after its
/// version was read as `version`.
pub async fn document_at(db: &Db, event: &Slug, version: u64) -> Result<SeatCounts, OriginError> {
    let (slug, event) = (event, event.as_str());
    let (published, rows, room) = futures::join!(
        session_seats::published(db, event),
        db.rows(
            "SELECT session, spot, count(*) AS picks FROM session_seats
             WHERE event = ? GROUP BY session, spot",
            [text(event)],
        ),
        waiting_room::live(db, event)
    );
    let (published, rows) = (published?, rows?);
    let spots = rows
        .iter()
        .filter_map(|row| {
            let spot = Spot::parse(row.opt_text("spot")?)?;
            let picks = u32::try_from(row.int("picks")).unwrap_or(u32::MAX);
            Some((row.opt_text("session")?, spot, picks))
        })
        .collect::<Vec<_>>();
    let mut counts = SeatCounts::tally(
        slug,
        version,
        published.iter().map(|(id, p)| (id.as_str(), &p.limit)),
        spots,
    );
    counts.waiting_room = room?;
    Ok(counts)
}

/// The version `event`'s counts are at (0 before any change).
pub async fn stored_version(db: &Db, event: &str) -> Result<u64, OriginError> {
    Ok(db
        .row(
            "SELECT version FROM seat_count_versions WHERE event = ?",
            [text(event)],
        )
        .await?
        .map_or(0, |row| row.int("version").max(0) as u64))
}

/// `event`'s counts changed and the change committed: they are pushed, at
/// once or at the event's next turn. An instance runs one push task per
/// event; a change meanwhile makes it look again when it ends.
pub fn changed(event: &str) {
    let instance = instance();
    let mut pushing = instance.seat_count_pushes.borrow_mut();
    if let Some(again) = pushing.get_mut(event) {
        *again = true;
        return;
    }
    pushing.insert(event.to_string(), false);
    spin_sdk::wasip3::spawn(push_while_changed(event.to_string()));
}

async fn push_while_changed(event: String) {
    loop {
        if let Err(e) = push_when_due(&event).await {
            eprintln!("origin: the seat counts of {event} were not pushed: {e}");
        }
        let instance = instance();
        let mut pushing = instance.seat_count_pushes.borrow_mut();
        if pushing.get(&event) == Some(&true) {
            pushing.insert(event.clone(), false);
        } else {
            pushing.remove(&event);
            return;
        }
    }
}

/// Where the pushes of an event stand.
struct Turn {
    version: u64,
    pushed_version: u64,
    /// When the last push began (0: never).
    pushed_ms: Millis,
}

/// Pushes `event`'s counts once its turn comes, unless another instance
/// pushed them (this version or a newer one) meanwhile.
async fn push_when_due(event: &str) -> Result<(), OriginError> {
    if crate::config::get().await.edge_urls.is_empty() {
        return Ok(());
    }
    let db = Db::open().await?;
    loop {
        let turn = turn(&db, event).await?;
        if turn.pushed_version >= turn.version {
            return Ok(());
        }
        let now = jiff::Timestamp::now().as_millisecond();
        match push_wait(turn.pushed_ms, now) {
            Some(wait) => spin_sdk::time::sleep(Duration::from_millis(wait as u64)).await,
            None if claim(&db, event, &turn, now).await? => break,
            // Another instance took this turn: look again.
            None => {}
        }
    }
    let slug = Slug::parse(event)
        .map_err(|_| OriginError::Database(format!("{event} is not an event's slug")))?;
    let counts = document(&db, &slug).await?;
    for (edge, outcome) in publish::notify_edges(Announcement::Seats(&counts)).await? {
        if outcome != "acknowledged" {
            // The edge heals within its staleness window by asking.
            eprintln!("origin: seat counts of {event} to {edge}: {outcome}");
        }
    }
    Ok(())
}

async fn turn(db: &Db, event: &str) -> Result<Turn, OriginError> {
    let version = stored_version(db, event).await?;
    let pushed = db
        .row(
            "SELECT pushed_version, pushed_ms FROM seat_count_pushes WHERE event = ?",
            [text(event)],
        )
        .await?;
    Ok(Turn {
        version,
        pushed_version: pushed
            .as_ref()
            .map_or(0, |row| row.int("pushed_version").max(0) as u64),
        pushed_ms: pushed.as_ref().map_or(0, |row| row.int("pushed_ms")),
    })
}

/// Takes `event`'s turn at `now` for `turn`'s version (or a newer one)
/// if the last push still began when `turn` says: whether this instance
/// is the one to push. A pusher that fails after this leaves the edges to
/// heal within their window.
async fn claim(db: &Db, event: &str, turn: &Turn, now: Millis) -> Result<bool, OriginError> {
    // A write like any other of the event's: it waits its turn for the
    // lock instead of failing while a decision holds it.
    let claimed = db
        .transaction(Scope::Event(event), async |db| {
            db.rows(
                "INSERT INTO seat_count_pushes (event, pushed_ms, pushed_version) VALUES (?, ?, ?)
                 ON CONFLICT (event) DO UPDATE
                 SET pushed_ms = excluded.pushed_ms, pushed_version = excluded.pushed_version,
                     pushes = seat_count_pushes.pushes + 1
                 WHERE seat_count_pushes.pushed_ms = ?
                 RETURNING event",
                [
                    text(event),
                    int(now),
                    int(turn.version as i64),
                    int(turn.pushed_ms),
                ],
            )
            .await
        })
        .await?;
    Ok(!claimed.is_empty())
}
