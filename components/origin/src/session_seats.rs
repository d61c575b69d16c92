//! Attendees' seats in sessions, as stored: each published session's
//! limit (rewritten at every publish), and the picks of registrations. A
//! change loads, inside the event's write transaction, every pick of each
//! session it can touch (those the registrations acted on hold picks in,
//! and the one picked), asks the domain's `Picks`, and writes each pick it
//! changed as it now stands, with an audit entry for each change and a
//! message (email and webhook) to whoever a freed seat promoted. The
//! routes are `POST`/`DELETE /api/registrations/{id}/sessions/{session}`,
//! for the holder of the registration's manage token; a registration's
//! picks are shown with it. Concurrent picks of an event are decided in
//! batches, each read in one go with the event's lock and written with
//! its commit (`Db::read_decide_write`): the lock is held for one round
//! trip to a PostgreSQL server, however many statements a batch needs.

use crate::audit::{self, Actor};
use crate::auth::token_hash;
use crate::batch_queue::{BatchQueues, Pushed};
use crate::db::{Db, Scope, Writes, in_list, int, opt_int, text};
use crate::error::OriginError;
use crate::idempotency::{self, StoredAnswer};
use crate::outbox::{self, Outgoing};
use crate::registration;
use crate::request::Incoming;
use crate::sealing;
use crate::seat_counts;
use crate::seats;
use crate::tokens::{self, Tokens};
use eventfront_domain::lifecycle::Status;
use eventfront_domain::messages::{EventAbout, Notice, SessionAbout};
use eventfront_domain::model::Session;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::session_seats::{Change, Clash, Limit, Pick, Picks, Plan, Refusal, Spot};
use eventfront_domain::{IdempotencyKey, Slug};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Registrations whose picks one statement loads at most.
const REGISTRATIONS_PER_LOAD: usize = 500;

/// A published session, as picks and messages need it.
pub struct Published {
    pub limit: Limit,
    pub title: String,
}

/// An event's picks opened inside its write transaction.
struct Opened {
    event: String,
    sessions: HashMap<String, Published>,
    picks: Picks,
    /// Name and address of each registration whose picks are loaded.
    people: HashMap<String, (String, String)>,
}

/// The published sessions of `event`.
pub async fn published(db: &Db, event: &str) -> Result<HashMap<String, Published>, OriginError> {
    let rows = db
        .rows(
            "SELECT session, title, capacity, registration_required, starts_ms, ends_ms
             FROM session_limits WHERE event = ?",
            [text(event)],
        )
        .await?;
    let at = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map_err(|e| OriginError::Database(format!("a session's time is out of range: {e}")))
    };
    rows.iter()
        .map(|row| {
            let limit = Limit {
                capacity: row
                    .opt_int("capacity")
                    .map(|c| u32::try_from(c).unwrap_or(0)),
                registration_required: row.int("registration_required") == 1,
                starts_at: at(row.int("starts_ms"))?,
                ends_at: at(row.int("ends_ms"))?,
            };
            let title = row.text("title");
            Ok((row.text("session"), Published { limit, title }))
        })
        .collect()
}

/// Every pick of each session that `registrations` hold a pick in, and of
/// `sessions`, with the limits of `event`'s published sessions: those are
/// read alongside when a session is asked for, and otherwise only when a
/// pick was found, so that a registration ended or confirmed in an event
/// without workshops pays one read here.
async fn open(
    db: &Db,
    event: &str,
    registrations: &[&str],
    sessions: &[&str],
) -> Result<Opened, OriginError> {
    let mut params = vec![text(event), text(event)];
    params.extend(registrations.iter().map(|id| text(*id)));
    params.extend(sessions.iter().map(|session| text(*session)));
    let sql = format!(
        "SELECT s.session, s.registration, s.seq, s.spot, r.name, r.email
         FROM session_seats s JOIN registrations r ON r.id = s.registration
         WHERE s.event = ? AND (s.session IN (
             SELECT session FROM session_seats WHERE event = ? AND registration IN ({}))
             OR s.session IN ({}))",
        in_list(registrations.len()),
        in_list(sessions.len())
    );
    let (rows, sessions) = if sessions.is_empty() {
        let rows = db.rows(&sql, params).await?;
        let sessions = if rows.is_empty() {
            HashMap::new()
        } else {
            published(db, event).await?
        };
        (rows, sessions)
    } else {
        let (rows, sessions) = futures::join!(db.rows(&sql, params), published(db, event));
        (rows?, sessions?)
    };
    let mut people = HashMap::new();
    let mut picks = Vec::with_capacity(rows.len());
    for row in rows {
        let spot = row.text("spot");
        let spot = Spot::parse(&spot)
            .ok_or_else(|| OriginError::Database(format!("unknown session seat {spot}")))?;
        let registration = row.text("registration");
        people.insert(registration.clone(), (row.text("name"), row.text("email")));
        picks.push(Pick {
            registration,
            session: row.text("session"),
            seq: row.int("seq"),
            spot,
        });
    }
    let limits = sessions
        .iter()
        .map(|(id, s)| (id.clone(), s.limit.clone()))
        .collect();
    Ok(Opened {
        event: event.to_string(),
        sessions,
        picks: Picks::new(limits, picks),
        people,
    })
}

impl Opened {
    /// Writes `plan`, asked for by `by`, with an audit entry per change and
    /// a message to each registrant a freed seat promoted.
    async fn write(
        &self,
        db: &Db,
        plan: &Plan,
        by: &Actor,
        about: &EventAbout,
    ) -> Result<(), OriginError> {
        let (writes, messages) = self.changes(plan, by, about);
        writes.run(db).await?;
        outbox::write(db, &messages).await
    }

    /// What writing `plan`, asked for by `by`, writes (nothing when it is
    /// empty): each pick it changed, once, as it now stands, an audit entry
    /// per change and a new manage token for each registrant a freed seat
    /// promoted; and the message telling each of them, for the caller to
    /// write.
    fn changes(&self, plan: &Plan, by: &Actor, about: &EventAbout) -> (Writes, Vec<Outgoing>) {
        let mut writes = Writes::default();
        let mut messages = Vec::new();
        if plan.is_empty() {
            return (writes, messages);
        }
        let now = jiff::Timestamp::now();
        let at = now.to_string();
        for stands in self.picks.standing(plan) {
            let (registration, session) = (stands.registration, stands.session);
            match stands.pick {
                Some(pick) => writes.push(
                    "INSERT INTO session_seats
                         (event, session, registration, seq, spot, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (event, session, registration) DO UPDATE
                     SET seq = excluded.seq, spot = excluded.spot,
                         updated_at = excluded.updated_at"
                        .into(),
                    [
                        text(&self.event),
                        text(session),
                        text(registration),
                        int(pick.seq),
                        text(pick.spot.as_str()),
                        text(&at),
                    ],
                ),
                None => writes.push(
                    "DELETE FROM session_seats
                     WHERE event = ? AND session = ? AND registration = ?"
                        .into(),
                    [text(&self.event), text(session), text(registration)],
                ),
            }
        }
        let mut entries = Vec::new();
        let mut manage_tokens = Vec::new();
        let system = &Actor::SYSTEM;
        for change in plan {
            let (registration, session) = change.pick();
            let (action, spot) = match change {
                Change::Taken { spot, .. } => ("session_seat.taken", spot.as_str()),
                Change::Joined { spot, .. } => ("session_seat.joined", spot.as_str()),
                Change::Given { .. } => ("session_seat.given", "seat"),
                Change::Promoted { .. } => {
                    let token = tokens::random();
                    manage_tokens.push((registration.to_string(), token_hash(&token)));
                    messages.push(self.tell(registration, session, about, token));
                    ("session_seat.promoted", "seat")
                }
                Change::Released { held, .. } => ("session_seat.released", held.as_str()),
            };
            // The lifecycle promotes on its own; a person or organizer asks
            // for the rest.
            let actor = match change {
                Change::Promoted { .. } | Change::Joined { .. } => system,
                _ => by,
            };
            entries.push((
                actor,
                action,
                registration.to_string(),
                json!({ "registration": registration, "session": session, "spot": spot }),
            ));
        }
        tokens::push(&mut writes, Tokens::Manage, &manage_tokens, now);
        audit::push_all(&mut writes, Some(&self.event), &entries);
        // A row every registration decision writes too: on PostgreSQL a
        // pooled decision that read the picks before this commit then
        // fails as a serialization failure and is decided again, instead
        // of joining or promoting picks from a stale read.
        writes.push(
            "UPDATE seat_counts SET last_seq = last_seq WHERE event = ?".into(),
            [text(&self.event)],
        );
        seat_counts::raise(&mut writes, &self.event);
        (writes, messages)
    }

    fn tell(
        &self,
        registration: &str,
        session: &str,
        about: &EventAbout,
        token: String,
    ) -> Outgoing {
        let (name, email) = self.people.get(registration).cloned().unwrap_or_default();
        let published = self.sessions.get(session);
        Outgoing {
            event: self.event.clone(),
            about: about.clone(),
            registration: registration.to_string(),
            recipient: email,
            attendee: name,
            notice: Notice::SessionSeat,
            manage_token: Some(token),
            confirm_token: None,
            session: published.map(|p| SessionAbout {
                id: session.to_string(),
                title: p.title.clone(),
                starts_at: p.limit.starts_at,
            }),
        }
    }

    /// `registration`'s picks as its person is shown them.
    fn shown(&self, registration: &str) -> Vec<Value> {
        self.picks
            .of(registration)
            .map(|pick| self.shown_pick(pick))
            .collect()
    }

    fn shown_pick(&self, pick: &Pick) -> Value {
        let published = self.sessions.get(&pick.session);
        let mut shown = json!({
            "session": pick.session,
            "title": published.map(|p| p.title.as_str()),
            "starts_at": published.map(|p| p.limit.starts_at.to_string()),
            "ends_at": published.map(|p| p.limit.ends_at.to_string()),
            "spot": pick.spot.as_str(),
        });
        if let Some(position) = self.picks.position(&pick.registration, &pick.session) {
            shown["position"] = json!(position);
        }
        shown
    }
}

/// After the lifecycle changed registrations of `event` (inside its write
/// transaction): every pick of those that `ended` goes, each freed seat
/// promoting, and the deferred picks of those now `confirmed` join.
pub async fn follow(
    db: &Db,
    event: &str,
    ended: &[&str],
    confirmed: &[&str],
    about: &EventAbout,
) -> Result<(), OriginError> {
    let acted: Vec<&str> = ended.iter().chain(confirmed).copied().collect();
    for chunk in acted.chunks(REGISTRATIONS_PER_LOAD) {
        let mut opened = open(db, event, chunk, &[]).await?;
        let mut plan = Plan::new();
        for id in chunk {
            if ended.contains(id) {
                plan.extend(opened.picks.leave_all(id));
            } else {
                plan.extend(opened.picks.join_all(id));
            }
        }
        opened.write(db, &plan, &Actor::SYSTEM, about).await?;
    }
    Ok(())
}

/// At a publish of `event` (inside its transaction): the published
/// sessions' limits become `sessions`', and a raised or removed limit
/// promotes its line; a lowered one takes no seat from anyone, nor does a
/// session moved in time. Answers the picks a move left overlapping
/// (each in the audit log too), for the organizer to settle by hand.
pub async fn publish(
    db: &Db,
    event: &str,
    sessions: &[Session],
) -> Result<Vec<Clash>, OriginError> {
    let before: HashMap<String, Limit> = published(db, event)
        .await?
        .into_iter()
        .map(|(id, p)| (id, p.limit))
        .filter(|(_, limit)| limit.bookable())
        .collect();
    let after: HashMap<String, Limit> = sessions
        .iter()
        .map(|s| (s.id.as_str().to_string(), Limit::of(s)))
        .filter(|(_, limit)| limit.bookable())
        .collect();
    db.exec("DELETE FROM session_limits WHERE event = ?", [text(event)])
        .await?;
    let mut writes = Writes::default();
    for session in sessions {
        let limit = Limit::of(session);
        writes.push(
            "INSERT INTO session_limits
             (event, session, title, capacity, registration_required, starts_ms, ends_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)"
                .into(),
            [
                text(event),
                text(session.id.as_str()),
                text(&session.title),
                opt_int(limit.capacity.map(i64::from)),
                int(i64::from(limit.registration_required)),
                int(limit.starts_at.as_millisecond()),
                int(limit.ends_at.as_millisecond()),
            ],
        );
    }
    // The agenda's counts show the sessions picked and their limits.
    let shown = |limits: &HashMap<String, Limit>| -> BTreeMap<String, (Option<u32>, bool)> {
        limits
            .iter()
            .map(|(id, l)| (id.clone(), (l.capacity, l.registration_required)))
            .collect()
    };
    if shown(&before) != shown(&after) {
        seat_counts::raise(&mut writes, event);
    }
    writes.run(db).await?;
    let moved: Vec<&str> = after
        .iter()
        .filter(|(id, limit)| {
            before
                .get(*id)
                .is_some_and(|was| (was.starts_at, was.ends_at) != (limit.starts_at, limit.ends_at))
        })
        .map(|(id, _)| id.as_str())
        .collect();
    promote_lines(db, event).await?;
    clashes_of_moved(db, event, &moved).await
}

/// After new limits: every session whose line may move is loaded, and the
/// seats its limit added promote.
async fn promote_lines(db: &Db, event: &str) -> Result<(), OriginError> {
    let waiting = db
        .rows(
            "SELECT DISTINCT registration FROM session_seats WHERE event = ? AND spot = ?",
            [text(event), text(Spot::Line.as_str())],
        )
        .await?;
    if waiting.is_empty() {
        return Ok(());
    }
    let about = &seats::about(db, event).await?;
    let ids: Vec<String> = waiting.iter().map(|r| r.text("registration")).collect();
    for chunk in ids.chunks(REGISTRATIONS_PER_LOAD) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut opened = open(db, event, &chunk, &[]).await?;
        let limits = opened
            .sessions
            .iter()
            .map(|(id, s)| (id.clone(), s.limit.clone()))
            .collect();
        let plan = opened.picks.set_limits(limits);
        opened.write(db, &plan, &Actor::SYSTEM, about).await?;
    }
    Ok(())
}

/// The picks that overlap now among those of the registrations holding a
/// pick of a session in `moved`, each written to the audit log.
async fn clashes_of_moved(db: &Db, event: &str, moved: &[&str]) -> Result<Vec<Clash>, OriginError> {
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = vec![text(event)];
    params.extend(moved.iter().map(|id| text(*id)));
    let holders = db
        .rows(
            &format!(
                "SELECT DISTINCT registration FROM session_seats
                 WHERE event = ? AND session IN ({})",
                in_list(moved.len())
            ),
            params,
        )
        .await?;
    let ids: Vec<String> = holders.iter().map(|r| r.text("registration")).collect();
    let mut clashes = Vec::new();
    for chunk in ids.chunks(REGISTRATIONS_PER_LOAD) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let opened = open(db, event, &chunk, &[]).await?;
        clashes.extend(
            opened
                .picks
                .clashes()
                .into_iter()
                .filter(|c| chunk.contains(&c.registration.as_str())),
        );
    }
    let system = &Actor::SYSTEM;
    let entries: Vec<_> = clashes
        .iter()
        .map(|c| {
            let detail = json!({ "registration": c.registration, "sessions": c.sessions });
            (system, "session_seat.clash", c.registration.clone(), detail)
        })
        .collect();
    let mut writes = Writes::default();
    audit::push_all(&mut writes, Some(event), &entries);
    writes.run(db).await?;
    Ok(clashes)
}

/// `registration`'s picks of `event`, as its person is shown them: a
/// plain read.
pub async fn shown(db: &Db, event: &str, registration: &str) -> Result<Vec<Value>, OriginError> {
    Ok(open(db, event, &[registration], &[])
        .await?
        .shown(registration))
}

/// A pick or release asked for: the registration by its manage token,
/// the session, and the key its answer is kept under, if any.
pub struct Asked {
    registration: String,
    event: String,
    session: String,
    picking: bool,
    key: Option<(IdempotencyKey, String)>,
}

/// An answer: status and JSON body, or why not.
pub type Answered = Result<(u16, String), OriginError>;

/// The picks and releases waiting in an instance for their batch.
pub type PickQueues = BatchQueues<Asked, Answered>;

/// Picks waiting in one instance at most before more are refused (503).
const MAX_WAITING: usize = 512;
/// Picks decided in one transaction at most.
const MAX_BATCH: usize = 64;

async fn asked(
    id: &str,
    session: &str,
    picking: bool,
    request: &Incoming,
) -> Result<Asked, OriginError> {
    let session = Slug::parse(session)
        .map_err(|_| OriginError::NotFound("There is no such session."))?
        .as_str()
        .to_string();
    let key = request
        .header("idempotency-key")
        .map(|k| IdempotencyKey::parse(k).map_err(|e| OriginError::invalid("Idempotency-Key", e.0)))
        .transpose()?
        .map(|key| {
            let hash = hex::encode(Sha256::digest(
                [
                    request.method.as_str().as_bytes(),
                    b" ",
                    request.target.as_bytes(),
                ]
                .concat(),
            ));
            (key, hash)
        });
    // The token is checked by a plain read: a guess takes no lock.
    let registration = registration::authorized(id, request, Tokens::Manage).await?;
    Ok(Asked {
        registration: id.to_string(),
        event: registration.event,
        session,
        picking,
        key,
    })
}

/// `POST /api/registrations/{id}/sessions/{session}`: a seat when one is
/// free, else the end of the session's line (201); a registration not
/// confirmed yet keeps its pick deferred until it is. Picking again
/// answers the pick as it stands (200).
pub async fn pick(id: &str, session: &str, request: &Incoming) -> Result<Reply, OriginError> {
    decide(asked(id, session, true, request).await?).await
}

/// `DELETE /api/registrations/{id}/sessions/{session}`: the pick given up,
/// a freed seat going to the first in line (200, `released`); releasing
/// what is not held is answered the same.
pub async fn release(id: &str, session: &str, request: &Incoming) -> Result<Reply, OriginError> {
    decide(asked(id, session, false, request).await?).await
}

/// Answers `asked` from its key's kept answer, or queues it for its
/// event's next batch, as registrations are (`group_commit`): concurrent
/// picks of one event are decided together, one write transaction per
/// batch, one by one in arrival order.
async fn decide(asked: Asked) -> Result<Reply, OriginError> {
    if let Some((key, hash)) = &asked.key
        && let Some(stored) = idempotency::stored(&[key.as_str()])
            .await?
            .remove(key.as_str())
    {
        let (status, body) = stored.replay(hash)?;
        return Ok(respond::bytes(status, "application/json", body));
    }
    let event = asked.event.clone();
    let queues = &crate::instance::instance().picks;
    let Pushed::Waiting { answer, drain } = queues.push(&event, asked, MAX_WAITING) else {
        return Err(OriginError::Busy);
    };
    if drain {
        // Spawned, not awaited: the batch is decided even if this
        // request's own task is dropped by a client that went away.
        spin_sdk::wasip3::spawn(drain_picks(event));
    }
    let (status, body) = eventfront_domain::started::polled_again(answer)
        .await
        .unwrap_or_else(|_| Err(OriginError::Database("a queued pick was dropped".into())))?;
    Ok(respond::bytes(status, "application/json", body))
}

/// Decides `event`'s queued picks, a batch per write transaction, until
/// none waits.
async fn drain_picks(event: String) {
    let queues = &crate::instance::instance().picks;
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return queues.fail_all(&event, || Err(e.told_to_each())),
    };
    while queues.oldest(&event).is_some() {
        let batch = queues.take(&event, MAX_BATCH);
        let items: Vec<&Asked> = batch.iter().map(|queued| &queued.item).collect();
        let now = jiff::Timestamp::now();
        let outcome = db
            .read_decide_write(
                Scope::Event(&event),
                async |db| read_batch(db, &event, &items, now).await,
                async |db, read| decide_batch(db, &event, &items, read, now).await,
            )
            .await;
        match outcome {
            Ok(answers) => {
                for (queued, answer) in batch.into_iter().zip(answers) {
                    let _ = queued.answer.send(answer);
                }
            }
            Err(e) => {
                for queued in batch {
                    let _ = queued.answer.send(Err(e.told_to_each()));
                }
            }
        }
    }
}

/// What a batch of picks is decided from, read in one go inside the
/// event's write transaction.
struct BatchRead {
    /// The event's book, its lapsed holds not expired yet.
    book: Option<seats::Opened>,
    statuses: HashMap<String, Status>,
    opened: Opened,
    /// Answers stored for the batch's keys (by another batch or instance
    /// since the plain read that let them in).
    stored: HashMap<String, StoredAnswer>,
    webhooks: HashMap<String, String>,
}

/// Reads what `batch` is decided from: every statement is sent at once.
async fn read_batch(
    db: &Db,
    event: &str,
    batch: &[&Asked],
    now: jiff::Timestamp,
) -> Result<BatchRead, OriginError> {
    let registrations: Vec<&str> = batch.iter().map(|a| a.registration.as_str()).collect();
    let sessions: Vec<&str> = batch.iter().map(|a| a.session.as_str()).collect();
    let keys: Vec<&str> = batch
        .iter()
        .filter_map(|asked| asked.key.as_ref().map(|(key, _)| key.as_str()))
        .collect();
    // Joined, not tried in turn: each statement is answered before the
    // transaction goes on.
    let (book, statuses, opened, stored, webhooks) = futures::join!(
        seats::open(db, event, now, None),
        statuses_of(db, &registrations),
        open(db, event, &registrations, &sessions),
        idempotency::stored_in(db, &keys, now),
        outbox::webhooks_of(db, std::slice::from_ref(&event)),
    );
    Ok(BatchRead {
        book: book?,
        statuses: statuses?,
        opened: opened?,
        stored: stored?,
        webhooks: webhooks?,
    })
}

/// Decides `batch` one by one in arrival order from what `read_batch`
/// read, and answers what to write in one go: each pick its own answer, a
/// refusal refusing that pick alone.
async fn decide_batch(
    db: &Db,
    event: &str,
    batch: &[&Asked],
    read: BatchRead,
    now: jiff::Timestamp,
) -> Result<(Vec<Answered>, Writes), OriginError> {
    let BatchRead {
        book,
        mut statuses,
        mut opened,
        stored,
        webhooks,
    } = read;
    let mut book = book.ok_or(OriginError::NotFound("There is no such registration."))?;
    // Holds that lapsed by now expire first, their picks with them
    // (rarely: then what they changed is read again).
    book.fill_free_seats();
    if book.has_changes() {
        book.write(db).await?;
        let registrations: Vec<&str> = batch.iter().map(|a| a.registration.as_str()).collect();
        let sessions: Vec<&str> = batch.iter().map(|a| a.session.as_str()).collect();
        let (now_statuses, now_opened) = futures::join!(
            statuses_of(db, &registrations),
            open(db, event, &registrations, &sessions),
        );
        (statuses, opened) = (now_statuses?, now_opened?);
    }
    let mut plan = Plan::new();
    let mut answers = Vec::with_capacity(batch.len());
    // Keys answered before or earlier in this batch are replayed, never
    // decided twice.
    let mut kept: HashMap<&str, StoredAnswer> = HashMap::new();
    for asked in batch {
        if let Some((key, hash)) = &asked.key
            && let Some(earlier) = kept.get(key.as_str()).or_else(|| stored.get(key.as_str()))
        {
            answers.push(earlier.replay(hash));
            continue;
        }
        let status = statuses
            .get(asked.registration.as_str())
            .copied()
            .ok_or(OriginError::NotFound("There is no such registration."));
        let answer = status.and_then(|status| {
            let (code, changes) = if asked.picking {
                if !status.is_live() {
                    return Err(OriginError::Conflict(
                        "This registration was cancelled; it cannot pick sessions.".into(),
                    ));
                }
                let taken = opened
                    .picks
                    .pick(
                        &asked.registration,
                        status.takes_session_seats(),
                        &asked.session,
                    )
                    .map_err(|why| refused(&opened, why))?;
                let code = if taken.is_some() { 201 } else { 200 };
                (code, taken.into_iter().collect())
            } else {
                (
                    200,
                    opened.picks.release(&asked.registration, &asked.session),
                )
            };
            plan.extend(changes);
            let body = match opened
                .picks
                .of(&asked.registration)
                .find(|p| p.session == asked.session)
            {
                Some(pick) => opened.shown_pick(pick),
                None => json!({ "session": asked.session, "spot": "released" }),
            };
            Ok((code, body.to_string()))
        });
        if let (Some((key, hash)), Ok((code, body))) = (&asked.key, &answer) {
            let kept_answer =
                StoredAnswer::new(hash, *code, body.clone()).creating(&asked.registration);
            kept.insert(key.as_str(), kept_answer);
        }
        answers.push(answer);
    }
    let (mut writes, messages) = opened.changes(&plan, &Actor::ATTENDEE, &book.stored.about);
    outbox::write_for(&mut writes, &messages, &webhooks).await?;
    idempotency::push(&mut writes, &kept, now, sealing::sealer().await?);
    Ok((answers, writes))
}

/// The statuses of `ids`, read inside the transaction that acts on them.
async fn statuses_of(db: &Db, ids: &[&str]) -> Result<HashMap<String, Status>, OriginError> {
    let rows = db
        .rows(
            &format!(
                "SELECT id, status FROM registrations WHERE id IN ({})",
                in_list(ids.len())
            ),
            ids.iter().map(|id| text(*id)),
        )
        .await?;
    rows.iter()
        .map(|row| {
            let stored = row.text("status");
            let status = Status::parse(&stored)
                .ok_or_else(|| OriginError::Database(format!("unknown status {stored}")))?;
            Ok((row.text("id"), status))
        })
        .collect()
}

/// Why a pick was refused, told to its person.
fn refused(opened: &Opened, why: Refusal) -> OriginError {
    match why {
        Refusal::NoSuchSession => OriginError::NotFound("There is no such session."),
        Refusal::NotBookable => OriginError::Conflict(
            "This session has no seat limit and takes no picks: simply come.".into(),
        ),
        Refusal::Full => OriginError::Conflict(
            "Every seat of this session is taken: raise its seat limit first.".into(),
        ),
        Refusal::NotConfirmed => {
            OriginError::Conflict("Only a confirmed registration is given a seat by hand.".into())
        }
        Refusal::Clash { session } => {
            let title = opened
                .sessions
                .get(&session)
                .map_or(session.as_str(), |s| s.title.as_str());
            OriginError::Conflict(format!(
                "This session overlaps “{title}” ({session}), which you already picked. \
                 Release that one first."
            ))
        }
    }
}

/// The columns of a session's list of seats, as its CSV has them.
const SEAT_COLUMNS: [&str; 7] = [
    "registration",
    "name",
    "email",
    "status",
    "spot",
    "position",
    "updated_at",
];

/// `GET /api/admin/events/{slug}/sessions/{id}/seats`: who holds a seat
/// of the published session, who waits in its line (in order) and whose
/// pick waits for their registration's confirmation; CSV when asked for.
pub async fn list(
    db: &Db,
    event: &Slug,
    session: &Slug,
    request: &Incoming,
) -> Result<Reply, OriginError> {
    let (event, session) = (event.as_str(), session.as_str());
    // As they stand now: holds that lapsed are expired first.
    seats::settle(db, event).await?;
    let opened = open(db, event, &[], &[session]).await?;
    let published = opened
        .sessions
        .get(session)
        .ok_or(OriginError::NotFound("There is no such published session."))?;
    let rows = db
        .rows(
            "SELECT s.registration, r.status, s.updated_at FROM session_seats s
             JOIN registrations r ON r.id = s.registration
             WHERE s.event = ? AND s.session = ? ORDER BY s.seq",
            [text(event), text(session)],
        )
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|row| {
            let id = row.text("registration");
            let (name, email) = opened.people.get(&id).cloned().unwrap_or_default();
            json!({
                "registration": id,
                "name": name,
                "email": email,
                "status": row.text("status"),
                "spot": opened.picks.spot(&id, session).map(Spot::as_str),
                "position": opened.picks.position(&id, session),
                "updated_at": row.text("updated_at"),
            })
        })
        .collect();
    if request.wants_csv() {
        return Ok(respond::bytes(
            200,
            "text/csv; charset=utf-8",
            crate::admin::to_csv(&SEAT_COLUMNS, &list),
        ));
    }
    let tally = opened.picks.tally(session);
    Ok(respond::json(
        200,
        &json!({
            "event": event,
            "session": session,
            "title": published.title,
            "capacity": tally.capacity,
            "seated": tally.seated,
            "waiting": tally.waiting,
            "picks": list,
        }),
    ))
}

/// `POST /api/admin/events/{slug}/sessions/{id}/seats` `{registration,
/// from?}`: an organizer gives a confirmed registration a free seat of the
/// session by hand, moving it from session `from` when given (the seat it
/// leaves going to the first in that line). Never over the seat limit.
pub async fn give(
    db: &Db,
    event: &Slug,
    session: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(4 << 10)?;
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let registration = field("registration")
        .ok_or_else(|| OriginError::invalid("registration", "must be a registration's id"))?
        .to_string();
    let from = match body.get("from") {
        None | Some(Value::Null) => None,
        Some(Value::String(from)) => Some(
            Slug::parse(from)
                .map_err(|_| OriginError::invalid("from", "must be a session's id"))?,
        ),
        Some(_) => {
            return Err(OriginError::invalid(
                "from",
                "must be a session's id or null",
            ));
        }
    };
    if let Some(unknown) = body.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["registration", "from"].contains(&k.as_str()))
    }) {
        return Err(OriginError::invalid(
            unknown,
            "is not a field of this request",
        ));
    }
    let (event, session) = (event.as_str(), session.as_str());
    let now = jiff::Timestamp::now();
    let body = db
        .transaction(Scope::Event(event), async |db| {
            let stored = seats::settled(db, event, now)
                .await?
                .ok_or(OriginError::NotFound("There is no such event."))?;
            let status = db
                .row(
                    "SELECT status FROM registrations WHERE id = ? AND event = ?",
                    [text(&registration), text(event)],
                )
                .await?
                .map(|row| row.text("status"))
                .ok_or(OriginError::NotFound("The event has no such registration."))?;
            let confirmed = Status::parse(&status).is_some_and(Status::takes_session_seats);
            let mut opened = open(db, event, &[&registration], &[session]).await?;
            let plan = opened
                .picks
                .give(
                    &registration,
                    confirmed,
                    session,
                    from.as_ref().map(Slug::as_str),
                )
                .map_err(|why| refused(&opened, why))?;
            opened.write(db, &plan, by, &stored.about).await?;
            let pick = opened
                .picks
                .of(&registration)
                .find(|p| p.session == session)
                .map(|pick| opened.shown_pick(pick));
            Ok(pick)
        })
        .await?;
    Ok(respond::json(200, &body))
}
