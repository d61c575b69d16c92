//! An event's waiting room at the origin (`eventfront_domain::waiting_room`):
//! the organizer's settings and figures, the arrivals edges report (at most
//! once a second per edge, never one request per person), the cutoff moved
//! from them, and the check that lets only an admitted ticket register,
//! once. Where admission stands reaches every edge in the event's live
//! document (`seat_counts`), pushed at most once a second.

use crate::admin::no_content;
use crate::audit::{self, Actor};
use crate::db::{Db, Reader, Row, Scope, Writes, int, placeholders, text};
use crate::error::OriginError;
use crate::request::Incoming;
use crate::seat_counts;
use eventfront_domain::Slug;
use eventfront_domain::arrival_reports::Report;
use eventfront_domain::freshness::Millis;
use eventfront_domain::respond::{self, Reply, rfc3339};
use eventfront_domain::validate;
use eventfront_domain::waiting_room::{
    Admission, Heard, Lateness, Live, Place, Refused, Tally, Ticket, WaitingRoom,
};
use serde_json::{Value as Json, json};
use spin_sdk::sqlite::Value;
use std::collections::BTreeMap;

/// A report of arrivals: up to `MAX_REPORTED_BUCKETS` counts.
pub const MAX_REPORT: usize = 256 << 10;
/// Settings are a few short fields.
const MAX_SETTINGS: usize = 4 * 1024;
/// A move of the cutoff is tried at most this often per event: every edge
/// reports each second, and one move a second is what the rate needs.
const ADVANCE_EVERY: Millis = 1_000;

/// An event's room as stored.
struct Stored {
    room: WaitingRoom,
    admission: Admission,
    version: i64,
    /// What the next move is to take into account besides the arrivals.
    heard: Heard,
}

const SELECT_ROOM: &str = "SELECT settings, admission, version, shed_at, reports_late_by,
     reports_late_at FROM waiting_rooms WHERE event = ?";

fn stored_of(row: &Row) -> Result<Stored, OriginError> {
    Ok(Stored {
        room: row.json("settings")?,
        admission: row.json("admission")?,
        version: row.int("version"),
        heard: Heard {
            shed_at: Some(row.int("shed_at")).filter(|&at| at > 0),
            lateness: Lateness {
                most: row.int("reports_late_by"),
                at: row.int("reports_late_at"),
            },
            // Counted where a move needs it (`advance`).
            used: 0,
        },
    })
}

async fn stored(db: &Db, event: &str) -> Result<Option<Stored>, OriginError> {
    db.row(SELECT_ROOM, [text(event)])
        .await?
        .as_ref()
        .map(stored_of)
        .transpose()
}

/// Every arrival reported for `event`, by the bucket of its stamp.
async fn arrivals(db: &Db, event: &str) -> Result<BTreeMap<Millis, u64>, OriginError> {
    Ok(db
        .rows(
            "SELECT bucket_starts_ms, CAST(sum(count) AS BIGINT) AS count
             FROM waiting_room_arrivals WHERE event = ? GROUP BY bucket_starts_ms",
            [text(event)],
        )
        .await?
        .iter()
        .map(|row| (row.int("bucket_starts_ms"), row.int("count").max(0) as u64))
        .collect())
}

/// How many of `event`'s tickets were used to register.
async fn used(db: &Db, event: &str) -> Result<u64, OriginError> {
    let row = db
        .row(
            "SELECT count(*) AS used FROM waiting_room_uses WHERE event = ?",
            [text(event)],
        )
        .await?;
    Ok(row.map_or(0, |row| row.int("used").max(0) as u64))
}

/// What the edges are told of `event`'s room, if it has one: part of its
/// live document.
pub async fn live(db: &Db, event: &str) -> Result<Option<Live>, OriginError> {
    let (room, arrivals) = futures::join!(stored(db, event), arrivals(db, event));
    Ok(room?.map(|s| Live::of(s.room, s.admission, &arrivals.unwrap_or_default())))
}

fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// `GET /api/admin/events/{slug}/waiting-room`: the settings, the crowd
/// (arrived, admitted, waiting), where admission stands, and when each
/// band of those waiting is expected in; 404 when the event has none.
pub async fn show(db: &Db, slug: &Slug) -> Result<Reply, OriginError> {
    let event = slug.as_str();
    let (room, arrivals) = futures::join!(stored(db, event), arrivals(db, event));
    let Stored {
        room,
        admission,
        heard,
        ..
    } = room?.ok_or(OriginError::NotFound("This event has no waiting room."))?;
    let arrivals = arrivals?;
    let tally = Tally::of(&arrivals, &admission);
    let now = now_ms();
    let live = Live::of(room.clone(), admission, &arrivals);
    let state = if room.paused {
        "paused"
    } else if now < room.prequeue_from_ms() {
        "not_open"
    } else if now < room.opens_ms() {
        "prequeue"
    } else {
        "admitting"
    };
    let eta = |stamp| match live.place_at(stamp, now) {
        Place::Waiting { eta, .. } => eta.map_or(Json::Null, rfc3339),
        _ => Json::Null,
    };
    let bands: Vec<Json> = live
        .waiting
        .iter()
        .map(|band| {
            json!({
                "from": rfc3339(band.from),
                "until": rfc3339(band.until),
                "waiting": band.count,
                "admitted_by": eta(band.until - 1),
            })
        })
        .collect();
    let mut body = serde_json::to_value(&room).unwrap_or_default();
    body["state"] = json!(state);
    body["arrivals"] = json!(tally.arrivals);
    body["admitted"] = json!(tally.admitted);
    body["waiting"] = json!(tally.waiting);
    body["admitted_through"] = rfc3339(live.admission.cutoff);
    body["admitting_per_minute"] = json!(live.admission.per_minute(&room));
    body["shed_at"] = heard.shed_at.map_or(Json::Null, rfc3339);
    body["lag_ms"] = json!(heard.lateness.lag(now));
    body["bands"] = json!(bands);
    Ok(respond::json(200, &body))
}

/// `PUT /api/admin/events/{slug}/waiting-room`: opens the event's room or
/// changes it (the rate and a pause take effect at the next move). Until
/// someone is admitted, a change starts admission afresh from the new
/// settings; after, every place and admission stands.
pub async fn put(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let room =
        validate::waiting_room(&request.json(MAX_SETTINGS)?).map_err(OriginError::Invalid)?;
    let event = slug.as_str();
    crate::webhooks::require_event(db, slug).await?;
    db.transaction(Scope::Event(event), async |db| {
        let (held, arrivals) = futures::join!(stored(db, event), arrivals(db, event));
        let admission = match held? {
            Some(held) if held.admission.admitted > 0 || !held.admission.steps.is_empty() => {
                held.admission
            }
            // Nobody admitted yet: afresh, its tickets still good.
            Some(held) => Admission::new(&room, held.admission.room, &arrivals?),
            // A new room: tickets of any earlier one are not its own.
            None => Admission::new(&room, crate::tokens::random()[..16].to_string(), &arrivals?),
        };
        let mut writes = Writes::default();
        writes.push(
            "INSERT INTO waiting_rooms (event, settings, admission) VALUES (?, ?, ?)
             ON CONFLICT (event) DO UPDATE SET settings = excluded.settings,
                 admission = excluded.admission, version = waiting_rooms.version + 1"
                .into(),
            [text(event), json_text(&room), json_text(&admission)],
        );
        seat_counts::raise(&mut writes, event);
        writes.run(db).await?;
        audit::record(
            db,
            by,
            "waiting_room.set",
            Some(event),
            None,
            &serde_json::to_value(&room).unwrap_or_default(),
        )
        .await
    })
    .await?;
    show(db, slug).await
}

/// `DELETE /api/admin/events/{slug}/waiting-room`: registration is open
/// to all again, tickets or not.
pub async fn delete(db: &Db, slug: &Slug, by: &Actor) -> Result<Reply, OriginError> {
    let event = slug.as_str();
    crate::webhooks::require_event(db, slug).await?;
    db.transaction(Scope::Event(event), async |db| {
        let mut writes = Writes::default();
        for table in [
            "waiting_rooms",
            "waiting_room_arrivals",
            "waiting_room_uses",
        ] {
            writes.push(
                format!("DELETE FROM {table} WHERE event = ?"),
                [text(event)],
            );
        }
        seat_counts::raise(&mut writes, event);
        writes.run(db).await?;
        audit::record(
            db,
            by,
            "waiting_room.removed",
            Some(event),
            None,
            &json!({}),
        )
        .await
    })
    .await?;
    Ok(no_content())
}

fn json_text(value: &impl serde::Serialize) -> Value {
    text(serde_json::to_string(value).unwrap_or_default())
}

/// `POST /_origin/events/{slug}/arrivals` from an edge's reporter,
/// `{"bucket_ms": 100, "reporters": {"<instance>": {"<bucket's start, Unix ms>": count, …}, …},
/// "since": ms}`: how many tickets each instance of the edge stamped in
/// each bucket so far, for the buckets whose count changed since the
/// origin last took them (possibly none: a report also moves the cutoff). Totals, not
/// increments: a report the origin took but whose answer was lost, sent
/// again, counts once. 204; 404 when the event has no room.
pub async fn report(db: &Db, slug: &Slug, request: &Incoming) -> Result<Reply, OriginError> {
    let event = slug.as_str();
    let body = request.json(MAX_REPORT)?;
    let now = now_ms();
    let report = Report::read(&body, now).map_err(|why| OriginError::invalid("reporters", why))?;
    let rows: Vec<Value> = report
        .reporters
        .iter()
        .flat_map(|(reporter, buckets)| {
            buckets.iter().flat_map(move |(&starts, &count)| {
                [text(event), text(reporter), int(starts), int(count as i64)]
            })
        })
        .collect();
    let arrived = !rows.is_empty();
    let Some(held) = stored(db, event).await? else {
        return Err(OriginError::NotFound("This event has no waiting room."));
    };
    let lateness = report
        .since
        .map(|since| held.heard.lateness.heard(now - since, now))
        .filter(|&heard| heard != held.heard.lateness);
    if arrived {
        let mut writes = Writes::default();
        // A total only grows: an older report arriving late changes nothing.
        writes.push(
            format!(
                "INSERT INTO waiting_room_arrivals (event, reporter, bucket_starts_ms, count)
                 VALUES {}
                 ON CONFLICT (event, reporter, bucket_starts_ms) DO UPDATE
                 SET count = CASE WHEN excluded.count > waiting_room_arrivals.count
                                  THEN excluded.count ELSE waiting_room_arrivals.count END",
                placeholders(rows.len() / 4, 4)
            ),
            rows,
        );
        if let Some(lateness) = lateness {
            // Read before this transaction: a report alongside may write
            // its own, as recent (the next report corrects it).
            writes.push(
                "UPDATE waiting_rooms SET reports_late_by = ?, reports_late_at = ? WHERE event = ?"
                    .into(),
                [int(lateness.most), int(lateness.at), text(event)],
            );
        }
        // Who waits ahead of whom changed: the edges hear with the next push.
        seat_counts::raise(&mut writes, event);
        db.transaction(Scope::Event(event), async |db| writes.run(db).await)
            .await?;
    }
    if now - held.admission.advanced_at >= ADVANCE_EVERY {
        advance(db, event, now).await?;
    }
    Ok(no_content())
}

/// Moves `event`'s cutoff at `now`, in its own transaction; the edges hear
/// of it with the next push of its live document.
async fn advance(db: &Db, event: &str, now: Millis) -> Result<(), OriginError> {
    db.transaction(Scope::Event(event), async |db| {
        let (held, arrivals, used) =
            futures::join!(stored(db, event), arrivals(db, event), used(db, event));
        let Some(mut held) = held? else {
            return Ok(());
        };
        held.heard.used = used?;
        let moved = held
            .admission
            .advance(&held.room, &arrivals?, now, &held.heard);
        let mut writes = Writes::default();
        writes.push(
            "UPDATE waiting_rooms SET admission = ?, version = version + 1
             WHERE event = ? AND version = ?"
                .into(),
            [json_text(&held.admission), text(event), int(held.version)],
        );
        if moved {
            seat_counts::raise(&mut writes, event);
        }
        writes.run(db).await
    })
    .await
}

/// Whether a registration for `slug` carrying `ticket` under `key` may be
/// decided: always when the event has no waiting room; with one, only for
/// an admitted ticket of this event, whose use by `key` is recorded here
/// (a retry with the same key may use it again, and replays its answer).
/// Answers the ticket's id when it was used.
pub async fn admit(
    slug: &Slug,
    ticket: Option<&str>,
    key: &str,
) -> Result<Option<String>, OriginError> {
    let event = slug.as_str();
    let reader = Reader::get().await?;
    let Some(row) = reader
        .rows(SELECT_ROOM, [text(event)])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let held = stored_of(&row)?;
    let config = crate::config::get().await;
    let (_, verifier) = config
        .signing
        .as_ref()
        .ok_or(OriginError::Config("signing_secret is unset".into()))?;
    let sealed = ticket.ok_or(OriginError::Ticket(Refused::Missing))?;
    let ticket = Ticket::open(sealed, verifier, slug).map_err(OriginError::Ticket)?;
    let used_with = async |reader: &Reader| {
        reader
            .rows(
                "SELECT idempotency_key FROM waiting_room_uses WHERE event = ? AND ticket = ?",
                [text(event), text(ticket.id.as_str())],
            )
            .await
            .map(|rows| rows.first().map(|row| row.text("idempotency_key")))
    };
    // A retry of the registration it was used for replays its answer,
    // even once the ticket's time is up.
    let again = |used: String| {
        if used == key {
            Ok(Some(ticket.id.clone()))
        } else {
            Err(OriginError::Ticket(Refused::Used))
        }
    };
    if let Some(used) = used_with(&reader).await? {
        return again(used);
    }
    held.admission
        .lets_register(&held.room, &ticket, now_ms())
        .map_err(OriginError::Ticket)?;
    // Using the ticket writes: an origin too busy for that sheds it.
    let use_it = async || {
        Db::open()
            .await?
            .rows(
                "INSERT INTO waiting_room_uses (event, ticket, idempotency_key) VALUES (?, ?, ?)
                 ON CONFLICT (event, ticket) DO NOTHING RETURNING ticket",
                [text(event), text(ticket.id.as_str()), text(key)],
            )
            .await
    };
    let first = use_it()
        .await
        .inspect_err(|e| shed_if_overloaded(slug, e))?;
    if !first.is_empty() {
        return Ok(Some(ticket.id.clone()));
    }
    // Used meanwhile, by this key's other attempt or another's.
    again(used_with(&reader).await?.unwrap_or_default())
}

/// How often an instance notes that it shed an event's registrations: the
/// pace moves at most once a second, and a shedding origin is not to be
/// given more writes than that.
const NOTE_SHED_EVERY: Millis = 1_000;
/// The events an instance remembers noting a shed for, at most.
const MOST_SHEDS_NOTED: usize = 1_000;

/// How many times a note of a shed is tried, a second apart: a shedding
/// origin's database may stay busy for a few seconds.
const NOTE_SHED_TRIES: u32 = 10;

/// A registration for `slug` failed with `error`: when that is for want
/// of capacity (503: too many waiting to be written, or the database
/// unavailable), the origin shed it, which the room's pace is to hear
/// of (`Pace::Decided`). Noted at most once a second per event and
/// instance, by a task of its own, never in the way of the answer. Only
/// for an event with a room: a note is a write, which an overloaded
/// origin is not to be given for nothing.
pub fn shed_if_overloaded(slug: &Slug, error: &OriginError) {
    if !matches!(error, OriginError::Busy | OriginError::Database(_)) {
        return;
    }
    let now = now_ms();
    let instance = crate::instance::instance();
    let mut noted = instance.sheds_noted.borrow_mut();
    if noted
        .get(slug.as_str())
        .is_some_and(|&at| now - at < NOTE_SHED_EVERY)
    {
        return;
    }
    if noted.len() >= MOST_SHEDS_NOTED {
        noted.clear();
    }
    noted.insert(slug.to_string(), now);
    spin_sdk::wasip3::spawn(note_shed(slug.to_string()));
}

/// Notes a shed as of when the note is written: one that waited for the
/// database is still news to the next move.
async fn note_shed(event: String) {
    let note = async || {
        let at = now_ms();
        Db::open()
            .await?
            .exec(
                "UPDATE waiting_rooms SET shed_at = ? WHERE event = ? AND shed_at < ?",
                [int(at), text(&event), int(at)],
            )
            .await
    };
    for _ in 1..NOTE_SHED_TRIES {
        if note().await.is_ok() {
            return;
        }
        spin_sdk::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    if let Err(e) = note().await {
        eprintln!("origin: a shed registration of {event} not noted for its room: {e}");
    }
}

/// The registration that used ticket `id` under `key` was refused (its
/// address registered already, registration closed): the ticket may try
/// again under another key, within its time.
pub async fn refused(slug: &Slug, id: &str, key: &str) -> Result<(), OriginError> {
    Db::open()
        .await?
        .exec(
            "DELETE FROM waiting_room_uses WHERE event = ? AND ticket = ? AND idempotency_key = ?",
            [text(slug.as_str()), text(id), text(key)],
        )
        .await
}
