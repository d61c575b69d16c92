//! Group commit for registrations. Concurrent registrations for one event
//! reaching one instance join that event's queue; one task per event
//! drains it, deciding everything waiting in one write transaction under
//! the event's lock, one registration at a time in arrival order, against
//! the event's `Book`. The result is what deciding them one by one would
//! give, for the price of one lock and one commit per batch; on PostgreSQL
//! two events' batches run at once, neither waiting for the other, and the
//! lock is held for about two round trips to the server (the batch's read
//! goes with the lock's request and its writes with the commit), not one
//! per statement.
//!
//! Each new attempt also counts against the client the edge named, in the
//! same transaction: one count across every edge and instance, written
//! with the batch's own commit.
//!
//! A key decided before gets its stored answer, never a second decision.
//! On SQLite, where a read costs no round trip, the key is looked up
//! before it is queued, so a retry never waits for the write lock. On
//! PostgreSQL every statement is two round trips to the server, and a
//! read per registration cost about a quarter of the throughput; so every
//! key is queued, and the batch's own read (one per batch) answers
//! retries. Should the lock not be had within `REPLAY_WAIT`, the keys
//! waiting are looked up outside it: a retry waits for the lock at most
//! that long (though it may wait for a batch of its instance's already
//! deciding). A key stored meanwhile by another event's batch (outside
//! this event's lock) fails the batch's write, which is then decided again
//! and finds it: a key is never decided twice.
//!
//! A registration waits at most `DECISION_WAIT` for its batch to start;
//! past that, or when the queue is already full, it is answered 503 with
//! `Retry-After` and nothing is written, so a retry with its key is safe.

use crate::attempts;
use crate::auth::token_hash;
use crate::batch_queue::{BatchQueues, Pushed, Queued};
use crate::db::{
    self, Db, Engine, Row, Scope, Slot, Writes, in_list, int, opt_int, placeholders, text,
};
use crate::error::OriginError;
use crate::idempotency::{self, StoredAnswer};
use crate::outbox::{self, Outgoing};
use crate::sealing;
use crate::seats;
use crate::tokens::{self, Tokens};
use eventfront_domain::client_limit::{Window, admits};
use eventfront_domain::lifecycle::{Change, Status};
use eventfront_domain::messages::Notice;
use eventfront_domain::sealed::Sealer;
use eventfront_domain::seats::{DECISION_WAIT, Placement, Refusal};
use eventfront_domain::{Email, IdempotencyKey, Problem, Slug};
use futures::channel::oneshot;
use futures::future::{self, Either};
use spin_sdk::sqlite::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A registration waiting for its decision.
#[derive(Clone)]
pub struct Pending {
    pub slug: Slug,
    pub key: IdempotencyKey,
    pub request_hash: String,
    pub name: String,
    pub email: Email,
    /// The form an address already registered is found by.
    pub canonical: String,
    /// When the origin received it: the instant the window is checked at.
    pub arrived: jiff::Timestamp,
    /// Whom it counts against, if anyone.
    pub client: Option<attempts::Client>,
}

/// A decided registration: the status and body stored for its key.
type Decided = idempotency::Answer;

/// A registration in its event's queue.
struct Waiting {
    pending: Pending,
    /// Whether its key was looked up since it arrived (and not found).
    looked_up: bool,
}

/// Each event's registrations waiting for their batch.
static QUEUES: BatchQueues<Waiting, Decided> = BatchQueues::new();

thread_local! {
    /// The queues' SQLite connection: SQLite has one writer, and the
    /// drains' transactions take turns on it (see `Db::writer`).
    static WRITER: RefCell<Slot> = const { RefCell::new(Slot::EMPTY) };
}

/// More waiting than this for one event in one instance is answered 503
/// at once: they could not all be decided within `DECISION_WAIT`.
const MAX_WAITING: usize = 512;
/// Registrations decided in one transaction at most, so that one commit
/// never holds the write lock for long (and its statements stay under
/// SQLite's parameter limit).
const MAX_BATCH: usize = 64;

/// How long a queued key waits for the write lock before it is looked up
/// outside it, when it was not looked up before it was queued.
const REPLAY_WAIT: Duration = Duration::from_millis(100);

/// The answer to `pending`: the one stored for its key, or else its
/// decision, queued for.
pub async fn decide(pending: Pending) -> Decided {
    let looked_up = match db::engine().await? {
        Engine::Sqlite => {
            let key = pending.key.as_str();
            if let Some(stored) = idempotency::stored(&[key]).await?.get(key) {
                return stored.replay(&pending.request_hash);
            }
            true
        }
        Engine::Postgres => false,
    };
    let event = pending.slug.as_str().to_string();
    let waiting = Waiting { pending, looked_up };
    let Pushed::Waiting { answer, drain } = QUEUES.push(&event, waiting, MAX_WAITING) else {
        return Err(OriginError::Busy);
    };
    if drain {
        // Spawned, not awaited here: the batch must be decided even if
        // this request's own task is dropped by a client that went away.
        spin_sdk::wasip3::spawn(drain_queue(event));
    }
    answer.await.unwrap_or_else(|_| {
        Err(OriginError::Database(
            "a queued decision was dropped".into(),
        ))
    })
}

/// Decides `event`'s batches until its queue is empty. A batch is taken
/// and its read sent with the lock's request (`Db::decide_within`), so
/// that the lock is held for about two round trips, not for one per
/// statement. What arrived while the lock was waited for joins the batch
/// once it is had, read in one more statement: when instances wait for
/// each other's locks, a round trip more beats a decision and a commit
/// for each of them.
async fn drain_queue(event: String) {
    let db = match Db::writer(&WRITER).await {
        Ok(db) => db,
        Err(e) => return QUEUES.fail_all(&event, || Err(shared(&e))),
    };
    while QUEUES.oldest(&event).is_some() {
        let batch = Batch::default();
        let first = batch.take(&event, MAX_BATCH);
        let Some(oldest) = batch.since.borrow().first().copied() else {
            continue;
        };
        // The lock is waited for only as long as the oldest may still wait.
        let budget = DECISION_WAIT.saturating_sub(oldest.elapsed());
        let (locked, lock_had) = oneshot::channel();
        // Only keys not looked up before queueing need it (PostgreSQL's).
        // A task of its own, not awaited here: its read may wait for a
        // session from Spin's pool, which drains holding theirs could
        // empty; none of them may wait for it in turn.
        if db.engine() == Engine::Postgres {
            let replays = Replays {
                event: event.clone(),
                batch: batch.unlooked(),
                answers: batch.answers.clone(),
            };
            spin_sdk::wasip3::spawn(replays.answer_until(lock_had));
        }
        let now = jiff::Timestamp::now();
        let window = Window::at(now.as_second());
        let engine = db.engine();
        let read = BatchRows::query(engine, &first.iter().collect::<Vec<_>>(), window);
        let outcome = db
            .decide_within(Scope::Event(&event), budget, read, async |db, rows| {
                let _ = locked.send(());
                let sealer = sealing::sealer().await?;
                let mut rows = BatchRows::from_rows(rows, now, sealer)?;
                let mut pendings = first;
                let arrived = batch.take(&event, MAX_BATCH - pendings.len());
                if !arrived.is_empty() {
                    let (sql, params) =
                        BatchRows::query(engine, &arrived.iter().collect::<Vec<_>>(), window);
                    rows.add(BatchRows::from_rows(
                        db.rows(&sql, params).await?,
                        now,
                        sealer,
                    )?);
                    pendings.extend(arrived);
                }
                let pendings: Vec<&Pending> = pendings.iter().collect();
                decide_all(db, &pendings, rows, now, window, sealer).await
            })
            .await;
        batch.answer(&event, outcome);
    }
}

/// A batch taken out of its event's queue. Each answer goes to whoever
/// gives it first: the decision, or a look at its key while the lock is
/// waited for.
#[derive(Default)]
struct Batch {
    waiting: RefCell<Vec<Waiting>>,
    since: RefCell<Vec<Instant>>,
    answers: Rc<RefCell<Vec<Option<oneshot::Sender<Decided>>>>>,
}

impl Batch {
    /// Takes up to `max` of `event`'s queue into the batch, and returns
    /// what they ask for.
    fn take(&self, event: &str, max: usize) -> Vec<Pending> {
        let taken = QUEUES.take(event, max);
        let mut pendings = Vec::with_capacity(taken.len());
        for queued in taken {
            pendings.push(queued.item.pending.clone());
            self.waiting.borrow_mut().push(queued.item);
            self.since.borrow_mut().push(queued.since);
            self.answers.borrow_mut().push(Some(queued.answer));
        }
        pendings
    }

    /// The keys not looked up before they were queued, each with its place
    /// in the batch and its request's hash.
    fn unlooked(&self) -> Vec<(usize, IdempotencyKey, String)> {
        self.waiting
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.looked_up)
            .map(|(i, w)| (i, w.pending.key.clone(), w.pending.request_hash.clone()))
            .collect()
    }

    /// Answers what the look at the keys has not: each with its decision;
    /// or, when the lock was not had in time (or the server gave up the
    /// transaction) and nothing was written, those out of time with a 503
    /// and the rest put back to wait on, first in line.
    fn answer(self, event: &str, outcome: Result<Vec<Decided>, OriginError>) {
        // Taken out: the look may still be reading, and then finds nothing
        // left to answer.
        let answers: Vec<_> = self
            .answers
            .borrow_mut()
            .iter_mut()
            .map(Option::take)
            .collect();
        match outcome {
            Ok(decided) => {
                for (answer, decided) in answers.into_iter().zip(decided) {
                    if let Some(answer) = answer {
                        let _ = answer.send(decided);
                    }
                }
            }
            Err(OriginError::Busy) => {
                let mut back = Vec::new();
                let waiting = self.waiting.into_inner();
                let since = self.since.into_inner();
                for ((item, since), answer) in waiting.into_iter().zip(since).zip(answers) {
                    let Some(answer) = answer else { continue };
                    if since.elapsed() >= DECISION_WAIT {
                        let _ = answer.send(Err(OriginError::Busy));
                    } else {
                        back.push(Queued {
                            item,
                            since,
                            answer,
                        });
                    }
                }
                QUEUES.put_back(event, back);
                QUEUES.refuse_late(event, DECISION_WAIT, || Err(OriginError::Busy));
            }
            Err(e) => {
                for answer in answers.into_iter().flatten() {
                    let _ = answer.send(Err(shared(&e)));
                }
            }
        }
    }
}

/// The keys of a batch whose lock is waited for, and of the registrations
/// queued behind it, to be looked up outside the lock.
struct Replays {
    event: String,
    /// The batch's keys not looked up before they were queued, each with
    /// its place in the batch and its request's hash.
    batch: Vec<(usize, IdempotencyKey, String)>,
    answers: Rc<RefCell<Vec<Option<oneshot::Sender<Decided>>>>>,
}

impl Replays {
    /// While the batch's lock is waited for: every `REPLAY_WAIT`, the keys
    /// not looked up yet are looked up, and those decided before get their
    /// stored answer, so that a retry does not wait out a lock held long
    /// (by a stalled transaction, or a slow commit). Returns once the lock
    /// is had or given up.
    async fn answer_until(mut self, mut lock_had: oneshot::Receiver<()>) {
        loop {
            let tick = pin!(spin_sdk::time::sleep(REPLAY_WAIT));
            if let Either::Right(_) = future::select(tick, &mut lock_had).await {
                return;
            }
            // The batch's keys once, and those queued since not yet.
            let batch = std::mem::take(&mut self.batch);
            let mut keys: Vec<String> = batch
                .iter()
                .map(|(_, k, _)| k.as_str().to_string())
                .collect();
            QUEUES.each_waiting(&self.event, |waiting| {
                if !std::mem::replace(&mut waiting.looked_up, true) {
                    keys.push(waiting.pending.key.as_str().to_string());
                }
            });
            if keys.is_empty() {
                continue;
            }
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            // A failed read leaves them to the batch, whose read answers them.
            let Ok(stored) = idempotency::stored(&keys).await else {
                continue;
            };
            for (place, key, request_hash) in batch {
                let answer =
                    self.answers.borrow_mut()[place].take_if(|_| stored.contains_key(key.as_str()));
                if let Some(answer) = answer {
                    let _ = answer.send(stored[key.as_str()].replay(&request_hash));
                }
            }
            let replayed = QUEUES.take_where(&self.event, |queued| {
                stored.contains_key(queued.item.pending.key.as_str())
            });
            for queued in replayed {
                let pending = &queued.item.pending;
                let answer = stored[pending.key.as_str()].replay(&pending.request_hash);
                let _ = queued.answer.send(answer);
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

/// A row to insert once the whole batch is decided.
struct Accepted<'a> {
    pending: &'a Pending,
    id: String,
    seq: i64,
    status: Status,
    holds_seat: bool,
    /// Until when it is held for confirmation, if it is.
    hold_expires_at: Option<jiff::Timestamp>,
}

/// The answer to a registration decided at once: its id, status, manage
/// token and, in line, its place.
fn answer(id: &str, status: &str, token: &str, position: Option<u32>) -> serde_json::Value {
    let mut body = serde_json::json!({ "id": id, "status": status, "manage_token": token });
    if let Some(p) = position {
        body["position"] = serde_json::json!(p);
    }
    body
}

fn no_such_event() -> OriginError {
    OriginError::NotFound("There is no such event.")
}

fn closed() -> OriginError {
    OriginError::Conflict("Registration for this event is closed.".into())
}

/// The answer to every submission while an event confirms by email, for a
/// new address and a registered one alike: it reveals nothing about who is
/// registered.
fn pending_answer(hold_expires_at: jiff::Timestamp) -> String {
    serde_json::json!({ "status": "pending", "hold_expires_at": hold_expires_at.to_string() })
        .to_string()
}

/// Decides every pending registration in order, inside the write
/// transaction, from what the batch's read found; returns each one's
/// answer and what the decisions write. An `Err` for one registration is
/// its answer, an `Err` for the whole is a failed transaction. What it
/// reads beyond `rows` (lapsed holds, a link sent lately) it reads only
/// when there is some.
async fn decide_all(
    db: &Db,
    batch: &[&Pending],
    rows: BatchRows,
    now: jiff::Timestamp,
    window: Window,
    sealer: &Sealer,
) -> Result<(Vec<Decided>, Writes), OriginError> {
    sweep_expired(db, now, window).await?;
    let BatchRows {
        earlier,
        expired,
        attempts: stored_attempts,
        ledgers: published,
        holders,
        webhooks,
    } = rows;
    // Their keys' answers are stored anew (rarely: a key used again after
    // a day).
    idempotency::forget_expired(db, &expired, now).await?;
    let mut attempts: HashMap<&str, u32> = HashMap::new();
    let mut manage_tokens = Vec::new();
    let mut confirm_tokens = Vec::new();
    let mut messages = Vec::new();
    // Registrations whose link this batch considered sending again.
    let mut sent_again: HashSet<String> = HashSet::new();
    // Every event's ledger first, its lapsed holds expired: an address
    // whose hold lapsed is no longer registered.
    let mut ledgers: HashMap<String, seats::Opened> = HashMap::new();
    for row in published {
        let slug = row.slug.clone();
        let mut opened = seats::open_from(db, row, now).await?;
        opened.fill_free_seats();
        opened.write(db).await?;
        ledgers.insert(slug, opened);
    }
    // Holders whose hold lapsed were just expired with it.
    let mut registered: HashMap<(String, String), Holder> = holders
        .into_iter()
        .filter(|(_, holder)| holder.hold_expires_at.is_none_or(|until| until > now))
        .collect();
    // Keys decided earlier in this same batch.
    let mut answered: HashMap<&str, StoredAnswer> = HashMap::new();
    let mut accepted = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for pending in batch {
        let key = pending.key.as_str();
        let slug = pending.slug.as_str();
        if let Some(before) = earlier.get(key).or_else(|| answered.get(key)) {
            answers.push(before.replay(&pending.request_hash));
            continue;
        }
        if let Some(client) = &pending.client {
            let made = attempts
                .entry(&client.key)
                .or_insert_with(|| stored_attempts.get(&client.key).copied().unwrap_or(0));
            if !admits(*made, client.per_minute) {
                answers.push(Err(OriginError::RateLimited(window)));
                continue;
            }
            *made += 1;
        }
        let Some(opened) = ledgers.get_mut(slug) else {
            answers.push(Err(no_such_event()));
            continue;
        };
        let stored = &opened.stored;
        if stored.archived {
            answers.push(Err(no_such_event()));
            continue;
        }
        // Closed is answered before the address is looked at: a closed
        // event must not tell a registered address from a new one.
        let settings = &opened.book.ledger().settings;
        if !settings.accepts_at(pending.arrived) {
            answers.push(Err(closed()));
            continue;
        }
        // The answer to every address while the event confirms by email:
        // the same for a new address as for one already registered.
        let held_until = settings.hold_expires_at(pending.arrived);
        let address = (slug.to_string(), pending.canonical.clone());
        if let Some(holder) = registered.get(&address) {
            // The address's holder gets a working link to the registration
            // it has; nothing else changes. At most one such message per
            // registration per `SENT_AGAIN_EVERY`, so that nobody can flood
            // an inbox (or the tokens) through the form.
            if sent_again.insert(holder.id.clone())
                && !link_sent_lately(db, slug, &holder.id, now).await?
            {
                let token = tokens::random();
                let mut message = Outgoing {
                    event: slug.to_string(),
                    about: stored.about.clone(),
                    registration: holder.id.clone(),
                    recipient: holder.email.clone(),
                    attendee: holder.name.clone(),
                    notice: Notice::LinkAgain,
                    manage_token: None,
                    confirm_token: None,
                };
                match holder.hold_expires_at {
                    // Still waiting for its confirmation: that link again.
                    Some(hold_expires_at) => {
                        confirm_tokens.push((holder.id.clone(), token_hash(&token)));
                        message.notice = Notice::ConfirmAgain { hold_expires_at };
                        message.confirm_token = Some(token);
                    }
                    None => {
                        manage_tokens.push((holder.id.clone(), token_hash(&token)));
                        message.manage_token = Some(token);
                    }
                }
                messages.push(message);
            }
            let (status, body) = match held_until {
                Some(until) => (202, pending_answer(until)),
                None => (
                    409,
                    String::from_utf8(Problem::new(409, ALREADY_REGISTERED).to_json())
                        .expect("JSON is UTF-8"),
                ),
            };
            answers.push(Ok((status, body.clone())));
            answered.insert(key, StoredAnswer::new(&pending.request_hash, status, body));
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (seq, placement) = match opened.book.admit(&id, pending.arrived) {
            Ok(Change::Admitted { seq, placement, .. }) => (seq, placement),
            Ok(_) | Err(Refusal::Closed) => {
                answers.push(Err(closed()));
                continue;
            }
        };
        let admitted = opened.book.by_seq(seq).expect("admitted just now").clone();
        let token = tokens::random();
        registered.insert(
            address,
            Holder {
                id: id.clone(),
                name: pending.name.clone(),
                email: pending.email.as_str().to_string(),
                hold_expires_at: held_until,
            },
        );
        let mut message = Outgoing {
            event: slug.to_string(),
            about: stored.about.clone(),
            registration: id.clone(),
            recipient: pending.email.as_str().to_string(),
            attendee: pending.name.clone(),
            notice: Notice::Confirmed,
            manage_token: None,
            confirm_token: None,
        };
        let (status, body) = match held_until {
            // Held for its address to confirm: the place is taken in
            // submission order now, and becomes the person's by the link.
            Some(until) => {
                confirm_tokens.push((id.clone(), token_hash(&token)));
                message.notice = Notice::Pending {
                    hold_expires_at: until,
                };
                message.confirm_token = Some(token);
                (202, pending_answer(until))
            }
            None => {
                manage_tokens.push((id.clone(), token_hash(&token)));
                let position = match placement {
                    Placement::Seat => None,
                    Placement::Line { position } => Some(position),
                };
                if let Some(position) = position {
                    message.notice = Notice::Waitlisted { position };
                }
                let body = answer(&id, admitted.status.as_str(), &token, position).to_string();
                message.manage_token = Some(token);
                (201, body)
            }
        };
        messages.push(message);
        answers.push(Ok((status, body.clone())));
        answered.insert(
            key,
            StoredAnswer::new(&pending.request_hash, status, body).creating(&id),
        );
        accepted.push(Accepted {
            pending,
            seq,
            status: admitted.status,
            holds_seat: admitted.holds_seat,
            hold_expires_at: admitted.hold_expires,
            id,
        });
    }
    let mut writes = Writes::default();
    store(&mut writes, &accepted, &answered, now, sealer);
    // The counts of every event that admitted someone, as its book has them.
    for opened in ledgers.values() {
        if accepted
            .iter()
            .any(|a| a.pending.slug.as_str() == opened.event)
        {
            opened.push_counts(&mut writes);
        }
    }
    tokens::push(&mut writes, Tokens::Manage, &manage_tokens, now);
    tokens::push(&mut writes, Tokens::Confirm, &confirm_tokens, now);
    outbox::write_for(&mut writes, &messages, &webhooks).await?;
    let mut counted: Vec<(&str, u32)> = attempts
        .into_iter()
        .map(|(client, made)| {
            let before = stored_attempts.get(client).copied().unwrap_or(0);
            (client, made.saturating_sub(before))
        })
        .filter(|(_, added)| *added > 0)
        .collect();
    // In one order, so that two events' batches counting the same
    // clients at once take their rows' locks alike and never deadlock.
    counted.sort_unstable();
    attempts::push_added(&mut writes, window, &counted);
    Ok((answers, writes))
}

/// When this instance last removed expired idempotency records and the
/// attempt counts of ended minutes.
static SWEPT_AT: Mutex<Option<Instant>> = Mutex::new(None);
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes idempotency records past their day and the attempt counts of
/// minutes that ended, once a minute per instance (neither is read once
/// expired, so this only bounds the tables and keeps no client's address
/// past the minute after its attempts).
async fn sweep_expired(db: &Db, now: jiff::Timestamp, window: Window) -> Result<(), OriginError> {
    let due = SWEPT_AT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
    if due {
        idempotency::sweep(db, now).await?;
        attempts::sweep(db, window).await?;
        *SWEPT_AT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }
    Ok(())
}

/// Everything a batch reads before deciding, read in one statement: every
/// statement inside the write transaction lengthens the time the lock is
/// held, and waiting on each one's round trip costs more than its work.
struct BatchRows {
    /// Stored answers by key, for the batch's keys decided before (by
    /// another instance since the first look).
    earlier: HashMap<String, StoredAnswer>,
    /// The batch's keys whose stored answer expired and is not swept yet.
    expired: Vec<String>,
    /// The attempts the batch's clients made earlier in this minute.
    attempts: HashMap<String, u32>,
    /// The ledgers of the batch's events that were published.
    ledgers: Vec<seats::LedgerRow>,
    /// Who holds an active registration for the batch's (event, address)
    /// pairs, as stored before lapsed holds are expired.
    holders: HashMap<(String, String), Holder>,
    /// The webhook URL of each of the batch's events that has one.
    webhooks: HashMap<String, String>,
}

impl BatchRows {
    /// The statement that reads them, and its parameters.
    fn query(engine: Engine, batch: &[&Pending], window: Window) -> (String, Vec<Value>) {
        let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
        let clients: HashSet<&str> = batch
            .iter()
            .filter_map(|p| Some(p.client.as_ref()?.key.as_str()))
            .collect();
        let events: HashSet<&str> = batch.iter().map(|p| p.slug.as_str()).collect();
        let sql = format!(
            "SELECT
                 (SELECT {answers} FROM idempotency WHERE key IN ({keys})) AS answers,
                 (SELECT {attempts} FROM client_attempts
                  WHERE window_start = ? AND client IN ({clients})) AS attempts,
                 ({ledgers}) AS ledgers,
                 (SELECT {holders} FROM registrations
                  WHERE status IN ({live})
                      AND (event, email_canonical) IN (VALUES {addresses})) AS holders,
                 (SELECT {webhooks} FROM webhooks WHERE event IN ({events})) AS webhooks",
            answers = engine.json_rows("key, request_hash, status, body, created_ms"),
            keys = in_list(keys.len()),
            attempts = engine.json_rows("client, attempts"),
            clients = in_list(clients.len()),
            ledgers = seats::ledgers_query(engine, events.len()),
            holders = engine
                .json_rows("event, email_canonical, id, name, email, status, hold_expires_ms"),
            live = seats::live_statuses(),
            addresses = placeholders(batch.len(), 2),
            webhooks = engine.json_map("event", "url"),
            events = in_list(events.len()),
        );
        let mut params: Vec<Value> = keys.iter().map(|k| text(*k)).collect();
        params.push(int(window.start));
        params.extend(clients.iter().map(|c| text(*c)));
        params.extend(events.iter().map(|e| text(*e)));
        params.extend(
            batch
                .iter()
                .flat_map(|p| [text(p.slug.as_str()), text(&p.canonical)]),
        );
        params.extend(events.iter().map(|e| text(*e)));
        (sql, params)
    }

    /// Adds what another read found, for more of the same events'
    /// registrations: the ledgers are the first read's.
    fn add(&mut self, more: BatchRows) {
        self.earlier.extend(more.earlier);
        self.expired.extend(more.expired);
        self.attempts.extend(more.attempts);
        self.holders.extend(more.holders);
        self.webhooks.extend(more.webhooks);
    }

    /// What the statement `query` gives read.
    fn from_rows(
        rows: Vec<Row>,
        now: jiff::Timestamp,
        sealer: &Sealer,
    ) -> Result<Self, OriginError> {
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| OriginError::Database("a batch's read gave no row".into()))?;
        let answers: Vec<(String, String, u16, String, i64)> = row.json("answers")?;
        let attempts: Vec<(String, u32)> = row.json("attempts")?;
        let holders: Vec<HolderRow> = row.json("holders")?;
        let (kept, expired): (Vec<_>, Vec<_>) = answers
            .into_iter()
            .partition(|answer| answer.4 >= idempotency::oldest_kept(now));
        Ok(Self {
            earlier: kept
                .into_iter()
                .map(|(key, request_hash, status, body, _)| {
                    let body = sealing::open(sealer, &body)?;
                    Ok((key, StoredAnswer::new(&request_hash, status, body)))
                })
                .collect::<Result<_, OriginError>>()?,
            expired: expired.into_iter().map(|answer| answer.0).collect(),
            attempts: attempts.into_iter().collect(),
            ledgers: row.json("ledgers")?,
            holders: holders
                .into_iter()
                .map(
                    |(event, canonical, id, name, email, status, hold_expires_ms)| {
                        // Held until then while it waits for its confirmation.
                        let held = Status::parse(&status) == Some(Status::Pending);
                        let holder = Holder {
                            id,
                            name,
                            email,
                            hold_expires_at: hold_expires_ms
                                .filter(|_| held)
                                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
                        };
                        ((event, canonical), holder)
                    },
                )
                .collect(),
            webhooks: row.json("webhooks")?,
        })
    }
}

/// A holder as the batch's read gives it: event, canonical address, id,
/// name, address, status and the end of its hold.
type HolderRow = (String, String, String, String, String, String, Option<i64>);

/// Who holds an active registration for an (event, address) pair.
struct Holder {
    id: String,
    name: String,
    /// The address as they registered it.
    email: String,
    /// Until when it is held, while it waits for its confirmation.
    hold_expires_at: Option<jiff::Timestamp>,
}

/// The answer to an address that is already registered, when events do
/// not ask for confirmation by email: its holder is sent the link again
/// (or was, within `SENT_AGAIN_EVERY`).
const ALREADY_REGISTERED: &str = "This email address is already registered for this event. \
     A link to manage that registration has been sent to it.";

/// How often a registration's link is sent again at most.
const SENT_AGAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Whether `registration`'s link (to manage or confirm it) was sent again
/// within `SENT_AGAIN_EVERY`.
async fn link_sent_lately(
    db: &Db,
    event: &str,
    registration: &str,
    now: jiff::Timestamp,
) -> Result<bool, OriginError> {
    let since = now.as_millisecond() - SENT_AGAIN_EVERY.as_millis() as i64;
    Ok(db
        .row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE event = ? AND channel = 'email'
                 AND registration = ? AND kind IN ('link_again', 'confirm_again')
                 AND created_ms > ?) AS lately",
            [text(event), text(registration), int(since)],
        )
        .await?
        .is_some_and(|r| r.int("lately") == 1))
}

/// Writes the batch's registrations and stored answers, one statement each
/// (a batch is at most `MAX_BATCH` rows).
fn store(
    writes: &mut Writes,
    accepted: &[Accepted<'_>],
    answered: &HashMap<&str, StoredAnswer>,
    now: jiff::Timestamp,
    sealer: &Sealer,
) {
    let now_text = now.to_string();
    if !accepted.is_empty() {
        let params = accepted.iter().flat_map(|row| {
            let p = row.pending;
            [
                text(&row.id),
                text(p.slug.as_str()),
                int(row.seq),
                text(&p.name),
                text(p.email.as_str()),
                text(&p.canonical),
                text(row.status.as_str()),
                int(i64::from(row.holds_seat)),
                opt_int(row.hold_expires_at.map(seats::to_ms)),
                text(&now_text),
                text(&now_text),
            ]
        });
        writes.push(
            format!(
                "INSERT INTO registrations
                 (id, event, seq, name, email, email_canonical, status, holds_seat,
                  hold_expires_ms, created_at, updated_at) VALUES {}",
                placeholders(accepted.len(), 11)
            ),
            params,
        );
    }
    idempotency::push(writes, answered, now, sealer);
}
