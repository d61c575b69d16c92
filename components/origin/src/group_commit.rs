//! Group commit for registrations. Concurrent registrations for one event
//! are decided together, in one write transaction per batch, one at a
//! time in arrival order, against the event's `Book`: the result is what
//! deciding them one by one would give, for the price of one commit per
//! batch.
//!
//! On SQLite (one writer, no network) registrations reaching one instance
//! join that event's queue, and one task per event drains it under the
//! write lock. On PostgreSQL a burst is spread over many instances, each
//! with a few registrations; so they are pooled in the database across
//! instances, and whichever instance decides next decides all of them,
//! reading without a lock and committing under the event's lock only
//! for the moments the server runs the writes (see `pooled`). Two
//! events' batches never wait for each other there.
//!
//! Each new attempt also counts against the client the edge named, in the
//! same transaction: one count across every edge and instance, written
//! with the batch's own commit.
//!
//! A key decided before gets its stored answer, never a second decision.
//! A key stored meanwhile by another batch fails this batch's write, which
//! is then decided again and finds it: a key is never decided twice.
//!
//! A registration waits at most `DECISION_WAIT` for its decision; past
//! that, or when the queue is already full, it is answered 503 with
//! `Retry-After` and nothing is written, so a retry with its key is safe.

mod pooled;

use crate::attempts;
use crate::auth::token_hash;
use crate::batch_queue::{BatchQueues, Pushed, Queued};
use crate::db::{self, Db, Engine, Row, Scope, Writes, in_list, int, opt_int, placeholders, text};
use crate::error::OriginError;
use crate::idempotency::{self, StoredAnswer};
use crate::instance::instance;
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
use spin_sdk::sqlite::Value;
use std::collections::{HashMap, HashSet};
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

/// Each event's registrations waiting in an instance for their batch.
pub type Queues = BatchQueues<Pending, Decided>;

/// More waiting than this for one event in one instance is answered 503
/// at once: they could not all be decided within `DECISION_WAIT`.
const MAX_WAITING: usize = 512;
/// Registrations decided in one transaction at most, so that one commit
/// never holds the write lock for long (and its statements stay under
/// SQLite's parameter limit).
const MAX_BATCH: usize = 64;

/// The answer to `pending`: the one stored for its key, or else its
/// decision, queued for.
pub async fn decide(pending: Pending) -> Decided {
    let engine = db::engine().await?;
    if engine == Engine::Sqlite {
        // A read costs no round trip here: a retry never waits for the
        // write lock. (On PostgreSQL the pooled read answers it.)
        let key = pending.key.as_str();
        if let Some(stored) = idempotency::stored(&[key]).await?.get(key) {
            return stored.replay(&pending.request_hash);
        }
    }
    let event = pending.slug.as_str().to_string();
    let queues = &instance().queues;
    let Pushed::Waiting { answer, drain } = queues.push(&event, pending, MAX_WAITING) else {
        return Err(OriginError::Busy);
    };
    if drain {
        // Spawned, not awaited here: the batch must be decided even if
        // this request's own task is dropped by a client that went away.
        match engine {
            Engine::Sqlite => spin_sdk::wasip3::spawn(drain_queue(event)),
            Engine::Postgres => spin_sdk::wasip3::spawn(pooled::drain(event)),
        }
    }
    // Polled again at once, so that the drain just spawned starts now.
    eventfront_domain::started::polled_again(answer)
        .await
        .unwrap_or_else(|_| {
            Err(OriginError::Database(
                "a queued decision was dropped".into(),
            ))
        })
}

/// Decides `event`'s batches on SQLite until its queue is empty, each in
/// a write transaction that reads once, decides in memory and writes what
/// it decided; what arrived while the lock was waited for joins the batch
/// once it is had. Should the lock not be had in time, those out of time
/// are answered 503 and the rest wait on, first in line.
async fn drain_queue(event: String) {
    let instance = instance();
    let queues = &instance.queues;
    let db = match Db::kept(&instance.writer).await {
        Ok(db) => db,
        Err(e) => return queues.fail_all(&event, || Err(e.told_to_each())),
    };
    while let Some(oldest) = queues.oldest(&event) {
        let now = jiff::Timestamp::now();
        let window = Window::at(now.as_second());
        let mut batch = queues.take(&event, MAX_BATCH);
        // The lock is waited for only as long as the oldest may still wait.
        let budget = DECISION_WAIT.saturating_sub(oldest.elapsed());
        let outcome = db
            .transaction_within(Scope::Event(&event), budget, async |db| {
                // Under the write lock the batch holds anyway: on its own,
                // each statement would wait for the lock (a new
                // connection's busy wait is seconds long).
                sweep_expired(db, now, window).await;
                batch.extend(queues.take(&event, MAX_BATCH - batch.len()));
                let pendings: Vec<&Pending> = batch.iter().map(|queued| &queued.item).collect();
                let (sql, params) =
                    BatchRows::query(db.engine(), &Source::Listed(&pendings), window);
                let sealer = sealing::sealer().await?;
                let read = db.rows(&sql, params).await?;
                let rows = BatchRows::from_rows(&read, now, sealer)?;
                let (answers, writes) =
                    decide_all(db, &pendings, rows, now, window, sealer, budget).await?;
                writes.run(db).await?;
                Ok(answers)
            })
            .await;
        answer_batch(&event, batch, outcome);
    }
}

/// Answers a batch taken out of `event`'s queue: each with its decision;
/// or, when the lock was not had in time and nothing was written, those
/// out of time with a 503 and the rest put back to wait on, first in line.
fn answer_batch(
    event: &str,
    batch: Vec<Queued<Pending, Decided>>,
    outcome: Result<Vec<Decided>, OriginError>,
) {
    match outcome {
        Ok(decided) => {
            for (queued, decided) in batch.into_iter().zip(decided) {
                let _ = queued.answer.send(decided);
            }
        }
        Err(OriginError::Busy) => {
            let (late, back): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .partition(|queued| queued.since.elapsed() >= DECISION_WAIT);
            for queued in late {
                let _ = queued.answer.send(Err(OriginError::Busy));
            }
            let queues = &instance().queues;
            queues.put_back(event, back);
            queues.refuse_late(event, DECISION_WAIT, || Err(OriginError::Busy));
        }
        Err(e) => {
            for queued in batch {
                let _ = queued.answer.send(Err(e.told_to_each()));
            }
        }
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
/// when there is some. Holds that lapsed are written at once, under the
/// event's lock (had within `budget`), taken then if the transaction
/// does not hold it yet (PostgreSQL's pooled decisions); the rest is left
/// in the writes returned.
///
/// Every event decided for has its counts among the writes, changed or
/// not: every writer of an event's registrations writes that one row, so
/// two decisions from one snapshot can never both commit (see
/// `Db::commit_locked`).
async fn decide_all(
    db: &Db,
    batch: &[&Pending],
    rows: BatchRows,
    now: jiff::Timestamp,
    window: Window,
    sealer: &Sealer,
    budget: Duration,
) -> Result<(Vec<Decided>, Writes), OriginError> {
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
        if opened.has_changes() {
            db.lock(Scope::Event(&slug), budget).await?;
            opened.write(db).await?;
        }
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
                    session: None,
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
            session: None,
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
    // The counts of every event decided for, as its book has them.
    for opened in ledgers.values() {
        opened.push_counts(&mut writes);
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

/// How often an instance removes expired records.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes idempotency records past their day, the attempt counts of
/// minutes that ended and requests left in the pool by an instance that
/// stopped, once a minute per instance (none is read once expired, so
/// this only bounds the tables and keeps no client's address past the
/// minute after its attempts). A failure is logged and the sweep tried
/// again at the next batch.
async fn sweep_expired(db: &Db, now: jiff::Timestamp, window: Window) {
    let swept_at = &instance().swept_at;
    let due = swept_at.get().is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
    if !due {
        return;
    }
    let swept = async {
        idempotency::sweep(db, now).await?;
        attempts::sweep(db, window).await?;
        if db.engine() == Engine::Postgres {
            pooled::sweep(db, now).await?;
        }
        Ok::<_, OriginError>(())
    };
    match swept.await {
        Ok(()) => swept_at.set(Some(Instant::now())),
        Err(e) => eprintln!("origin: sweeping expired records failed: {e}"),
    }
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

/// The registrations a batch's read is for.
enum Source<'a> {
    /// These, queued in this instance (SQLite).
    Listed(&'a [&'a Pending]),
    /// Those pooled for `event` (PostgreSQL, see `pooled`): the first
    /// `MAX_BATCH` queued since `since_ms` and not answered yet.
    Pooled { event: &'a str, since_ms: i64 },
}

impl BatchRows {
    /// The statement that reads them, and its parameters (in the order of
    /// their placeholders).
    fn query(engine: Engine, source: &Source, window: Window) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let (with, keys, clients, events, addresses, pooled) = match source {
            Source::Listed(batch) => {
                let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
                let clients: HashSet<&str> = batch
                    .iter()
                    .filter_map(|p| Some(p.client.as_ref()?.key.as_str()))
                    .collect();
                let events: HashSet<&str> = batch.iter().map(|p| p.slug.as_str()).collect();
                params.extend(keys.iter().map(|k| text(*k)));
                params.push(int(window.start));
                params.extend(clients.iter().map(|c| text(*c)));
                params.extend(events.iter().map(|e| text(*e)));
                params.extend(
                    batch
                        .iter()
                        .flat_map(|p| [text(p.slug.as_str()), text(&p.canonical)]),
                );
                params.extend(events.iter().map(|e| text(*e)));
                (
                    String::new(),
                    format!("key IN ({})", in_list(keys.len())),
                    in_list(clients.len()),
                    events.len(),
                    format!(
                        "(event, email_canonical) IN (VALUES {})",
                        placeholders(batch.len(), 2)
                    ),
                    String::new(),
                )
            }
            Source::Pooled { event, since_ms } => {
                params.extend([text(*event), int(*since_ms), int(MAX_BATCH as i64)]);
                params.push(int(window.start));
                params.extend([text(*event), text(*event), text(*event)]);
                (
                    format!(
                        "WITH batch AS MATERIALIZED (SELECT {columns} FROM registration_requests
                             WHERE event = ? AND refused IS NULL AND queued_ms >= ?
                             ORDER BY queued_ms, key LIMIT ?) ",
                        columns = pooled::COLUMNS,
                    ),
                    "key IN (SELECT key FROM batch)".to_string(),
                    "SELECT client FROM batch".to_string(),
                    1,
                    "event = ? AND email_canonical IN (SELECT email_canonical FROM batch)"
                        .to_string(),
                    format!(
                        ", (SELECT {requests} FROM batch) AS requests",
                        requests = engine.json_rows(pooled::COLUMNS),
                    ),
                )
            }
        };
        let sql = format!(
            "{with}SELECT
                 (SELECT {answers} FROM idempotency WHERE {keys}) AS answers,
                 (SELECT {attempts} FROM client_attempts
                  WHERE window_start = ? AND client IN ({clients})) AS attempts,
                 ({ledgers}) AS ledgers,
                 (SELECT {holders} FROM registrations
                  WHERE status IN ({live}) AND {addresses}) AS holders,
                 (SELECT {webhooks} FROM webhooks WHERE event IN ({events_in})) AS webhooks
                 {pooled}",
            answers = engine.json_rows(idempotency::ANSWER_COLUMNS),
            attempts = engine.json_rows("client, attempts"),
            ledgers = seats::ledgers_query(engine, events),
            holders = engine
                .json_rows("event, email_canonical, id, name, email, status, hold_expires_ms"),
            live = seats::live_statuses(),
            webhooks = engine.json_map("event", "url"),
            events_in = in_list(events),
        );
        (sql, params)
    }

    /// What the statement `query` gives read.
    fn from_rows(rows: &[Row], now: jiff::Timestamp, sealer: &Sealer) -> Result<Self, OriginError> {
        let row = rows
            .first()
            .ok_or_else(|| OriginError::Database("a batch's read gave no row".into()))?;
        let (earlier, expired) = idempotency::read_answers(row, "answers", now, sealer)?;
        let attempts: Vec<(String, u32)> = row.json("attempts")?;
        let holders: Vec<HolderRow> = row.json("holders")?;
        Ok(Self {
            earlier,
            expired,
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
