//! Registrations pooled in PostgreSQL across the origin's instances.
//!
//! Spin spreads a burst over many instances, each holding a few
//! registrations; were each to decide its own under the event's lock, the
//! lock would be taken once per one to three decisions, and held for the
//! round trips of each. So each instance puts its registrations in the
//! pool (`registration_requests`), and whichever instance decides next
//! decides every one waiting for the event: it reads the pool and the
//! event in one snapshot, taking no lock, decides in memory, and commits
//! under the event's lock with the lock's request, the writes and the
//! commit sent together (`Db::commit_locked`). The server holds the lock
//! only while it runs them, however far away it is.
//!
//! One instance decides at a time: the one whose request waited longest
//! (or any, once the longest-waiting one has waited `TAKEOVER`, should its
//! instance have stopped); the others look for their answers every
//! `POLL`, reading little. Every decision writes the event's counts row,
//! so of two decisions read from one snapshot only the first commits; the other fails as a
//! serialization failure, writing nothing, and its instance reads again,
//! finding its registrations answered (their answers stored) or still
//! waiting. A decided request leaves the pool in the transaction that
//! stores its answer; one refused without a stored answer (a closed
//! event, a client over its limit) is marked with its refusal for its
//! instance to read. An instance whose registration waited
//! `DECISION_WAIT` takes it out of the pool; if it was still there,
//! nothing was decided for it, and it is answered 503.

use super::{
    BatchRows, DECISION_WAIT, Decided, MAX_WAITING, Pending, Source, closed, decide_all,
    no_such_event, sweep_expired,
};
use crate::attempts::Client;
use crate::batch_queue::Queued;
use crate::db::{Db, Engine, Scope, Writes, in_list, int, opt_int, opt_text, placeholders, text};
use crate::error::OriginError;
use crate::sealing;
use eventfront_domain::client_limit::Window;
use eventfront_domain::{Email, IdempotencyKey, Slug};
use spin_sdk::sqlite::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The columns a pooled request is read with, in `PooledRow`'s order.
pub(super) const COLUMNS: &str = "key, request_hash, name, email, email_canonical, arrived_ms, \
                                  client, per_minute, queued_ms";

/// How long the request that waited longest may wait for its own instance
/// to decide, before any instance with requests waiting decides.
const TAKEOVER: Duration = Duration::from_millis(250);

/// How long an instance that found nothing to do waits before it looks
/// again.
const POLL: Duration = Duration::from_millis(5);

/// A request left in the pool this long is swept: its instance stopped
/// before it took it out, and no decision looks at it any more.
const ABANDONED: Duration = Duration::from_secs(60);

/// A registration of this instance's, and whether it is in the pool.
struct Mine {
    queued: Queued<Pending, Decided>,
    pooled: bool,
}

impl Mine {
    fn key(&self) -> &str {
        self.queued.item.key.as_str()
    }

    fn late(&self) -> bool {
        self.queued.since.elapsed() >= DECISION_WAIT
    }
}

/// Puts `event`'s registrations queued in this instance in the pool and
/// decides the pool until each of them is answered.
pub(super) async fn drain(event: String) {
    let instance = crate::instance::instance();
    let queues = &instance.queues;
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return queues.fail_all(&event, || Err(e.told_to_each())),
    };
    let mut mine: Vec<Mine> = Vec::new();
    // Pooled requests of answered keys, to take out of the pool.
    let mut answered: Vec<String> = Vec::new();
    // While this instance waits for answers, its queue stays (and no
    // second drain starts); once nothing waits, the queue goes with it.
    while !mine.is_empty() || queues.oldest(&event).is_some() {
        let room = MAX_WAITING.saturating_sub(mine.len());
        mine.extend(queues.take(&event, room).into_iter().map(|queued| Mine {
            queued,
            pooled: false,
        }));
        let now = jiff::Timestamp::now();
        let window = Window::at(now.as_second());
        sweep_expired(&db, now, window).await;
        match round(&db, &event, &mut mine, &mut answered, now, window).await {
            Ok(true) => {}
            Ok(false) => spin_sdk::time::sleep(POLL).await,
            // Another decision committed first: read again.
            Err(OriginError::Busy) => {}
            Err(e) => {
                for mine in mine.drain(..) {
                    let _ = mine.queued.answer.send(Err(e.told_to_each()));
                }
            }
        }
    }
    // Left for a sweep should this fail: nobody waits for them.
    let _ = take_out(&db, &answered, &[]).await;
}

/// One look at the pool: takes out what is to leave it, puts in what
/// arrived, answers this instance's registrations that were answered,
/// and, if it is this instance's turn, decides what waits. Returns
/// whether it answered or decided anything.
async fn round(
    db: &Db,
    event: &str,
    mine: &mut Vec<Mine>,
    answered: &mut Vec<String>,
    now: jiff::Timestamp,
    window: Window,
) -> Result<bool, OriginError> {
    let waiting = mine.len();
    let giving_up: Vec<String> = mine
        .iter()
        .filter(|m| m.pooled && m.late())
        .map(|m| m.key().to_string())
        .collect();
    // Never pooled and out of time: nothing was written for them.
    answer_where(mine, |m| {
        (!m.pooled && m.late()).then_some(Err(OriginError::Busy))
    });
    let mut arriving: Vec<&Pending> = Vec::new();
    let mut seen = HashSet::new();
    for m in mine.iter().filter(|m| !m.pooled) {
        if seen.insert(m.key()) {
            arriving.push(&m.queued.item);
        }
    }
    let arrived: HashSet<String> = arriving.iter().map(|p| p.key.as_str().into()).collect();
    let keys: Vec<&str> = mine.iter().map(Mine::key).collect();
    let (sql, params) = look_query(event, &keys, now);
    // Sent at once, in this order: the pool's changes commit on their own,
    // and the look sees them.
    let (removed, added, looked) = futures::join!(
        take_out(db, answered, &giving_up),
        put_in(db, &arriving, now),
        db.rows(&sql, params),
    );
    let removed = removed?;
    answered.clear();
    added?;
    for m in mine.iter_mut() {
        m.pooled |= arrived.contains(m.key());
    }
    // Taken out while still waiting: never decided, so refused safely.
    answer_where(mine, |m| {
        (m.late() && removed.contains(m.key())).then_some(Err(OriginError::Busy))
    });
    let looked = looked?;
    let row = looked
        .first()
        .ok_or_else(|| OriginError::Database("the pool's look gave no row".into()))?;
    let sealer = sealing::sealer().await?;
    let (stored, _) = crate::idempotency::read_answers(row, "answers", now, sealer)?;
    let pool: HashMap<String, Option<String>> = row
        .json::<Vec<(String, Option<String>)>>("queued")?
        .into_iter()
        .collect();
    // This instance's registrations answered by other decisions.
    answer_where(mine, |m| {
        let key = m.key();
        let reply = match (stored.get(key), pool.get(key)) {
            (Some(stored), _) => stored.replay(&m.queued.item.request_hash),
            (None, Some(Some(refusal))) => Err(refused(refusal)),
            (None, Some(None)) => return None,
            // Another instance sharing its key gave it up: in again, or
            // refused if out of time.
            (None, None) if m.late() => Err(OriginError::Busy),
            (None, None) => {
                m.pooled = false;
                return None;
            }
        };
        if pool.contains_key(key) {
            answered.push(key.to_string());
        }
        Some(reply)
    });
    if row.int("turn") == 0 {
        return Ok(mine.len() < waiting);
    }
    decide_pool(db, event, mine, answered, now, window).await?;
    Ok(true)
}

/// The look at the pool: whether it is this instance's turn to decide
/// (its request waited longest, or the one that did waited `TAKEOVER`),
/// and for `mine`, the keys this instance waits for, their stored
/// answers and what the pool holds of them. One statement, no
/// transaction: most looks find nothing to do.
fn look_query(event: &str, mine: &[&str], now: jiff::Timestamp) -> (String, Vec<Value>) {
    let ago = |wait: Duration| now.as_millisecond() - wait.as_millis() as i64;
    let engine = Engine::Postgres;
    let sql = format!(
        "SELECT
             EXISTS (SELECT 1 FROM (SELECT key, queued_ms FROM registration_requests
                                    WHERE event = ? AND refused IS NULL AND queued_ms >= ?
                                    ORDER BY queued_ms, key LIMIT 1) AS oldest
                     WHERE key IN ({mine}) OR queued_ms < ?) AS turn,
             (SELECT {answers} FROM idempotency WHERE key IN ({mine})) AS answers,
             (SELECT {queued} FROM registration_requests WHERE key IN ({mine})) AS queued",
        mine = in_list(mine.len()),
        answers = engine.json_rows(crate::idempotency::ANSWER_COLUMNS),
        queued = engine.json_rows("key, refused"),
    );
    let keys = || mine.iter().map(|k| text(*k));
    let mut params = vec![text(event), int(ago(DECISION_WAIT))];
    params.extend(keys());
    params.push(int(ago(TAKEOVER)));
    params.extend(keys());
    params.extend(keys());
    (sql, params)
}

/// Decides the pool's waiting requests for `event` from one snapshot, and
/// commits under the event's lock; answers those of `mine` it decided.
async fn decide_pool(
    db: &Db,
    event: &str,
    mine: &mut Vec<Mine>,
    answered: &mut Vec<String>,
    now: jiff::Timestamp,
    window: Window,
) -> Result<(), OriginError> {
    let since_ms = now.as_millisecond() - DECISION_WAIT.as_millis() as i64;
    let (sql, params) = BatchRows::query(
        Engine::Postgres,
        &Source::Pooled { event, since_ms },
        window,
    );
    let (begun, read) = futures::join!(db.begin_snapshot(), db.rows(&sql, params));
    let decided = async {
        begun?;
        let read = read?;
        let sealer = sealing::sealer().await?;
        let rows = BatchRows::from_rows(&read, now, sealer)?;
        let row = read.first().expect("from_rows found a row");
        let mut pooled: Vec<PooledRow> = row.json("requests")?;
        pooled.sort_by(|a, b| (a.8, &a.0).cmp(&(b.8, &b.0)));
        let requests: Vec<Pending> = pooled
            .into_iter()
            .map(|row| row.pending(event))
            .collect::<Result<_, _>>()?;
        // Nothing to decide when every request waiting has its answer
        // stored (retries whose first try was decided): they only leave.
        if requests
            .iter()
            .all(|p| rows.earlier.contains_key(p.key.as_str()))
        {
            answered.extend(requests.iter().map(|p| p.key.as_str().to_string()));
            return Ok(None);
        }
        // The lock is waited for only as long as the oldest may still wait.
        let oldest = requests.iter().map(|p| p.arrived).min().unwrap_or(now);
        let budget = DECISION_WAIT.saturating_sub(now.duration_since(oldest).unsigned_abs());
        let batch: Vec<&Pending> = requests.iter().collect();
        let (answers, mut writes) =
            decide_all(db, &batch, rows, now, window, sealer, budget).await?;
        let keys: HashSet<&str> = mine.iter().map(Mine::key).collect();
        settle(&mut writes, &batch, &answers, &keys);
        let decided: Vec<(IdempotencyKey, String)> = requests
            .iter()
            .map(|p| (p.key.clone(), p.request_hash.clone()))
            .collect();
        Ok::<_, OriginError>(Some((decided, answers, writes, budget)))
    };
    let (decided, answers, writes, budget) = match decided.await {
        Ok(Some(decision)) => decision,
        Ok(None) => {
            db.rollback().await;
            return Ok(());
        }
        Err(e) => {
            db.rollback().await;
            return Err(e);
        }
    };
    db.commit_locked(Scope::Event(event), budget, writes)
        .await?;
    for ((key, request_hash), reply) in decided.iter().zip(answers) {
        let own = mine
            .iter()
            .position(|m| m.key() == key.as_str() && m.queued.item.request_hash == *request_hash);
        if let Some(own) = own {
            let _ = mine.remove(own).queued.answer.send(reply);
        }
    }
    Ok(())
}

/// Answers, and takes out of `mine`, each registration `reply` has an
/// answer for.
fn answer_where(mine: &mut Vec<Mine>, mut reply: impl FnMut(&mut Mine) -> Option<Decided>) {
    let mut replies = Vec::new();
    let answered: Vec<Mine> = mine
        .extract_if(.., |m| reply(m).map(|r| replies.push(r)).is_some())
        .collect();
    for (m, reply) in answered.into_iter().zip(replies) {
        let _ = m.queued.answer.send(reply);
    }
}

/// Takes out of the pool the requests whose keys were answered, and those
/// `giving_up` unless a decision refused them meanwhile; returns the keys
/// taken out.
async fn take_out(
    db: &Db,
    answered: &[String],
    giving_up: &[String],
) -> Result<HashSet<String>, OriginError> {
    if answered.is_empty() && giving_up.is_empty() {
        return Ok(HashSet::new());
    }
    let params = answered.iter().chain(giving_up).map(text);
    let rows = db
        .rows(
            &format!(
                "DELETE FROM registration_requests
                 WHERE key IN ({}) OR (key IN ({}) AND refused IS NULL) RETURNING key",
                in_list(answered.len()),
                in_list(giving_up.len())
            ),
            params.collect::<Vec<_>>(),
        )
        .await?;
    Ok(rows.iter().map(|row| row.text("key")).collect())
}

/// Puts `arriving` in the pool, but for those whose key has its answer
/// stored (retries, answered by the read that follows); one already there
/// under its key (another instance's try with the same key) waits on, as
/// if it had just come. (The numbers are cast: PostgreSQL types a `VALUES`
/// list's parameters as text.)
async fn put_in(db: &Db, arriving: &[&Pending], now: jiff::Timestamp) -> Result<(), OriginError> {
    if arriving.is_empty() {
        return Ok(());
    }
    let params = arriving.iter().flat_map(|p| {
        [
            text(p.key.as_str()),
            text(p.slug.as_str()),
            text(&p.request_hash),
            text(&p.name),
            text(p.email.as_str()),
            text(&p.canonical),
            int(p.arrived.as_millisecond()),
            opt_text(p.client.as_ref().map(|c| c.key.as_str())),
            opt_int(p.client.as_ref().map(|c| i64::from(c.per_minute))),
            int(now.as_millisecond()),
        ]
    });
    db.exec(
        &format!(
            "INSERT INTO registration_requests
             (key, event, request_hash, name, email, email_canonical, arrived_ms, client,
              per_minute, queued_ms)
             SELECT * FROM (VALUES {}) AS arriving
             WHERE NOT EXISTS (SELECT 1 FROM idempotency
                               WHERE key = arriving.column1 AND created_ms >= ?)
             ON CONFLICT (key) DO UPDATE SET queued_ms = excluded.queued_ms, refused = NULL",
            vec![
                "(?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT))";
                arriving.len()
            ]
            .join(", ")
        ),
        params
            .chain([int(crate::idempotency::oldest_kept(now))])
            .collect::<Vec<_>>(),
    )
    .await
}

/// A pooled request as `COLUMNS` reads it.
#[derive(serde::Deserialize)]
struct PooledRow(
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    i64,
);

impl PooledRow {
    fn pending(self, event: &str) -> Result<Pending, OriginError> {
        let PooledRow(key, request_hash, name, email, canonical, arrived_ms, client, per_minute, _) =
            self;
        let unreadable = |what: &str| OriginError::Database(format!("a pooled request's {what}"));
        Ok(Pending {
            slug: Slug::parse(event).map_err(|_| unreadable("event"))?,
            key: IdempotencyKey::parse(&key).map_err(|_| unreadable("key"))?,
            request_hash,
            name,
            email: Email::parse(&email).map_err(|_| unreadable("address"))?,
            canonical,
            arrived: jiff::Timestamp::from_millisecond(arrived_ms)
                .map_err(|_| unreadable("arrival"))?,
            client: client.map(|key| Client {
                key,
                per_minute: per_minute.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            }),
        })
    }
}

/// Adds to a decision's writes what leaves the pool: requests with a
/// stored answer (or whose key answers another request), and this
/// instance's own; the others' refusals are marked for their instances.
fn settle(writes: &mut Writes, batch: &[&Pending], answers: &[Decided], mine: &HashSet<&str>) {
    let mut leaving = Vec::new();
    let mut refusals = Vec::new();
    for (pending, reply) in batch.iter().zip(answers) {
        let key = pending.key.as_str();
        match reply {
            Ok(_) | Err(OriginError::KeyReused) => leaving.push(key),
            _ if mine.contains(key) => leaving.push(key),
            // One a decision never gives is left for its instance to decide.
            Err(e) => refusals.extend(refusal(e).map(|code| (key, code))),
        }
    }
    if !leaving.is_empty() {
        writes.push(
            format!(
                "DELETE FROM registration_requests WHERE key IN ({})",
                in_list(leaving.len())
            ),
            leaving.iter().map(|k| text(*k)),
        );
    }
    if !refusals.is_empty() {
        writes.push(
            format!(
                "UPDATE registration_requests SET refused = refusal.column2
                 FROM (VALUES {}) AS refusal WHERE key = refusal.column1",
                placeholders(refusals.len(), 2)
            ),
            refusals
                .into_iter()
                .flat_map(|(key, code)| [text(key), text(code)]),
        );
    }
}

/// A refusal without a stored answer, as the pool keeps it.
fn refusal(e: &OriginError) -> Option<String> {
    match e {
        OriginError::RateLimited(window) => Some(format!(
            "rate_limited {} {}",
            window.start, window.retry_after
        )),
        OriginError::NotFound(_) => Some("no_such_event".into()),
        OriginError::Conflict(_) => Some("closed".into()),
        _ => None,
    }
}

/// The refusal the pool kept, as it is answered.
fn refused(code: &str) -> OriginError {
    let mut words = code.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("no_such_event"), None, None) => no_such_event(),
        (Some("closed"), None, None) => closed(),
        (Some("rate_limited"), Some(start), Some(retry_after)) => {
            match (start.parse(), retry_after.parse()) {
                (Ok(start), Ok(retry_after)) => {
                    OriginError::RateLimited(Window { start, retry_after })
                }
                _ => OriginError::Database(format!("an unreadable refusal: {code}")),
            }
        }
        _ => OriginError::Database(format!("an unreadable refusal: {code}")),
    }
}

/// Removes requests left in the pool by instances that stopped.
pub(super) async fn sweep(db: &Db, now: jiff::Timestamp) -> Result<(), OriginError> {
    let before = now.as_millisecond() - ABANDONED.as_millis() as i64;
    db.exec(
        "DELETE FROM registration_requests WHERE queued_ms < ?",
        [int(before)],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_kept_in_the_pool_reads_back_as_it_was_decided() {
        let window = Window::at(1_800_000_042);
        for decided in [OriginError::RateLimited(window), no_such_event(), closed()] {
            let code = refusal(&decided).expect("a decision's refusal is kept");
            assert_eq!(format!("{:?}", refused(&code)), format!("{decided:?}"));
        }
        assert!(refusal(&OriginError::Busy).is_none());
        assert!(matches!(refused("closed 1"), OriginError::Database(_)));
    }
}
