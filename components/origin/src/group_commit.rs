//! Group commit for registrations. Concurrent registrations reaching one
//! instance join a queue; one task drains it, deciding everything waiting
//! in one write transaction, one registration at a time in arrival order,
//! against the event's `Ledger`. The result is what deciding them one by
//! one would give, for the price of one lock and one commit per batch.
//!
//! A registration waits at most `DECISION_WAIT` for its batch to start;
//! past that, or when the queue is already full, it is answered 503 with
//! `Retry-After` and nothing is written, so a retry with its key is safe.

use crate::db::{Db, int, text};
use crate::error::OriginError;
use crate::registration::{answer, oldest_kept, random_token, stored_answer};
use crate::{auth::token_hash, seats};
use eventfront_domain::seats::{DECISION_WAIT, Placement, Refusal};
use eventfront_domain::{Email, IdempotencyKey, Slug};
use futures::channel::oneshot;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// A registration waiting for its decision.
pub struct Pending {
    pub slug: Slug,
    pub key: IdempotencyKey,
    pub request_hash: String,
    pub name: String,
    pub email: Email,
    /// When the origin received it: the instant the window is checked at.
    pub arrived: jiff::Timestamp,
}

/// A decided registration: the status and body stored for its key.
type Decided = Result<(u16, String), OriginError>;

struct Queued {
    pending: Pending,
    since: Instant,
    answer: oneshot::Sender<Decided>,
}

struct Queue {
    waiting: VecDeque<Queued>,
    /// Whether a task is draining the queue now.
    draining: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    waiting: VecDeque::new(),
    draining: false,
});

/// More waiting than this in one instance is answered 503 at once: they
/// could not all be decided within `DECISION_WAIT`.
const MAX_WAITING: usize = 512;
/// Registrations decided in one transaction at most, so that one commit
/// never holds the write lock for long.
const MAX_BATCH: usize = 128;

fn queue() -> std::sync::MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `pending` and waits for its decision.
pub async fn decide(pending: Pending) -> Decided {
    let (answer, decided) = oneshot::channel();
    let start_draining = {
        let mut queue = queue();
        if queue.waiting.len() >= MAX_WAITING {
            return Err(OriginError::Busy);
        }
        queue.waiting.push_back(Queued {
            pending,
            since: Instant::now(),
            answer,
        });
        !std::mem::replace(&mut queue.draining, true)
    };
    if start_draining {
        // Spawned, not awaited here: the batch must be decided even if
        // this request's own task is dropped by a client that went away.
        spin_sdk::wasip3::spawn(drain());
    }
    decided.await.unwrap_or_else(|_| {
        Err(OriginError::Database(
            "a queued decision was dropped".into(),
        ))
    })
}

/// Decides batches until the queue is empty.
async fn drain() {
    let db = Db::open().await;
    loop {
        let batch: Vec<Queued> = {
            let mut queue = queue();
            if queue.waiting.is_empty() {
                queue.draining = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..take).collect()
        };
        match &db {
            Ok(db) => decide_batch(db, batch).await,
            Err(e) => {
                for queued in batch {
                    let _ = queued.answer.send(Err(shared(e)));
                }
            }
        }
    }
}

/// One error reported to every registration of a failed batch.
fn shared(e: &OriginError) -> OriginError {
    match e {
        OriginError::Busy => OriginError::Busy,
        e => OriginError::Database(e.to_string()),
    }
}

async fn decide_batch(db: &Db, batch: Vec<Queued>) {
    // Those that waited their whole budget in this instance are refused
    // before the lock is even asked for.
    let (late, batch): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|q| q.since.elapsed() >= DECISION_WAIT);
    for queued in late {
        let _ = queued.answer.send(Err(OriginError::Busy));
    }
    let Some(oldest) = batch.first() else {
        return;
    };
    // The lock is waited for only as long as the oldest may still wait.
    let budget = DECISION_WAIT.saturating_sub(oldest.since.elapsed());
    let pendings: Vec<&Pending> = batch.iter().map(|q| &q.pending).collect();
    let outcome = match db.wait_for_lock(budget).await {
        Ok(()) => {
            db.transaction(async |db| decide_all(db, &pendings).await)
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(answers) => {
            for (queued, decided) in batch.into_iter().zip(answers) {
                let _ = queued.answer.send(decided);
            }
        }
        Err(e) => {
            for queued in batch {
                let _ = queued.answer.send(Err(shared(&e)));
            }
        }
    }
}

/// A row to insert once the whole batch is decided.
struct Accepted<'a> {
    pending: &'a Pending,
    id: String,
    seq: i64,
    status: &'static str,
    token_hash: String,
}

/// Decides every pending registration in order, inside the write
/// transaction; an `Err` for one registration is its answer, an `Err` for
/// the whole is a failed transaction.
async fn decide_all(db: &Db, batch: &[&Pending]) -> Result<Vec<Decided>, OriginError> {
    let now = jiff::Timestamp::now();
    db.exec(
        "DELETE FROM idempotency WHERE created_ms < ?",
        [int(oldest_kept(now))],
    )
    .await?;
    let mut ledgers: HashMap<&str, Option<seats::Stored>> = HashMap::new();
    // Keys and addresses decided earlier in this same batch.
    let mut answered: HashMap<&str, (&str, u16, String)> = HashMap::new();
    let mut registered: HashSet<(&str, String)> = HashSet::new();
    let mut accepted = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for pending in batch {
        let key = pending.key.as_str();
        let slug = pending.slug.as_str();
        if let Some((hash, status, body)) = answered.get(key) {
            answers.push(if *hash == pending.request_hash {
                Ok((*status, body.clone()))
            } else {
                Err(OriginError::KeyReused)
            });
            continue;
        }
        // Another instance may have decided this key since our first read.
        if let Some(stored) = stored_answer(db, key, &pending.request_hash)
            .await
            .transpose()
        {
            answers.push(stored);
            continue;
        }
        if !ledgers.contains_key(slug) {
            let mut stored = seats::load(db, slug).await?;
            if let Some(stored) = &mut stored {
                // Seats left free while people wait (from before promotion
                // was automatic) go to the line before any newcomer.
                let heal = stored.ledger.promote();
                seats::promote(db, slug, heal, "free seat").await?;
            }
            ledgers.insert(slug, stored);
        }
        let Some(Some(stored)) = ledgers.get_mut(slug) else {
            answers.push(Err(OriginError::NotFound("There is no such event.")));
            continue;
        };
        let canonical = pending.email.canonical();
        let already = registered.contains(&(slug, canonical.clone()))
            || db
                .row(
                    "SELECT EXISTS (SELECT 1 FROM registrations
                        WHERE event = ? AND email_canonical = ? AND status != 'cancelled') AS already",
                    [text(slug), text(&canonical)],
                )
                .await?
                .is_some_and(|r| r.int("already") == 1);
        // Someone already registered gets the answer a newcomer would get,
        // and nothing is stored for them, so the form reveals nobody.
        let placement = if already {
            stored.ledger.clone().admit(pending.arrived)
        } else {
            stored.ledger.admit(pending.arrived)
        };
        let (status, position) = match placement {
            Ok(Placement::Confirmed) => ("confirmed", None),
            Ok(Placement::Waitlisted { position }) => ("waitlisted", Some(position)),
            Err(Refusal::Closed) => {
                answers.push(Err(OriginError::Conflict(
                    "Registration for this event is closed.".into(),
                )));
                continue;
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        let token = random_token();
        let body = answer(&id, status, &token, position).to_string();
        if !already {
            stored.last_seq += 1;
            registered.insert((slug, canonical));
            accepted.push(Accepted {
                pending,
                id,
                seq: stored.last_seq,
                status,
                token_hash: token_hash(&token),
            });
        }
        answered.insert(key, (&pending.request_hash, 201, body.clone()));
        answers.push(Ok((201, body)));
    }
    store(db, &accepted, &answered, now).await?;
    Ok(answers)
}

/// Writes the batch's registrations and stored answers, one statement each.
async fn store(
    db: &Db,
    accepted: &[Accepted<'_>],
    answered: &HashMap<&str, (&str, u16, String)>,
    now: jiff::Timestamp,
) -> Result<(), OriginError> {
    let now_text = now.to_string();
    for chunk in accepted.chunks(ROWS_PER_INSERT) {
        let mut params = Vec::with_capacity(chunk.len() * 10);
        for row in chunk {
            let p = row.pending;
            params.extend([
                text(&row.id),
                text(p.slug.as_str()),
                int(row.seq),
                text(&p.name),
                text(p.email.as_str()),
                text(p.email.canonical()),
                text(row.status),
                text(&row.token_hash),
                text(&now_text),
                text(&now_text),
            ]);
        }
        db.exec(
            &format!(
                "INSERT INTO registrations
                 (id, event, seq, name, email, email_canonical, status,
                  manage_token_hash, created_at, updated_at) VALUES {}",
                placeholders(chunk.len(), 10)
            ),
            params,
        )
        .await?;
    }
    let answers: Vec<_> = answered.iter().collect();
    for chunk in answers.chunks(ROWS_PER_INSERT) {
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (key, (hash, status, body)) in chunk {
            params.extend([
                text(**key),
                text(*hash),
                int(i64::from(*status)),
                text(body),
                int(now.as_millisecond()),
            ]);
        }
        db.exec(
            &format!(
                "INSERT INTO idempotency (key, request_hash, status, body, created_ms) VALUES {}",
                placeholders(chunk.len(), 5)
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

/// Rows per multi-row INSERT: well under SQLite's parameter limit.
const ROWS_PER_INSERT: usize = 64;

/// `(?, ?, …), (?, ?, …)…`: `rows` groups of `columns` placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}
