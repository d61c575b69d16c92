//! The waiting room at the edge (`eventfront_domain::waiting_room`): a
//! ticket issued, and a ticket's place told, from the event's live
//! document (`cache::counts`) with no request to the origin; and the
//! tickets this instance issued, counted by the second of their stamps and
//! reported to the origin by a task of the instance at most once a second,
//! as totals (a report the origin took but whose answer was lost counts
//! once when sent again). A report also lets the origin move the cutoff,
//! so an instance whose visitors wait reports even with nothing new when
//! its copy shows no move for a while (`Live::move_overdue`).
//! Seconds a report did not deliver go with the next, and the task runs
//! until all are delivered: Spin keeps an instance while a task of its
//! runs, for up to a request timeout after its last response, so counts
//! survive the instance retiring and an outage shorter than that. (A
//! ticket whose count is lost keeps its place and turn; it is only not
//! counted against the rate or in anyone's `ahead`.)

use crate::cache::{self, instance::instance, now_ms};
use crate::config::{EdgeConfig, OriginLink};
use crate::error::EdgeError;
use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::Slug;
use eventfront_domain::freshness::Millis;
use eventfront_domain::respond::{self, Reply, rfc3339};
use eventfront_domain::waiting_room::{
    CHECK_EVERY_SECS, Live, MAX_REPORTED_SECONDS, Place, Refused, TICKET_HEADER, Ticket,
};
use serde_json::{Value, json};
use spin_sdk::http::Request;
use spin_sdk::wasip3::random::random::get_random_u64;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How often this instance reports to the origin at most.
const REPORT_EVERY: Millis = 1_000;

/// `slug`'s room as this edge holds it.
async fn live(config: &Arc<EdgeConfig>, slug: &Slug) -> Result<Arc<Live>, EdgeError> {
    let (counts, _) = cache::counts::lookup(config, slug.as_str()).await?;
    counts
        .waiting_room()
        .map_err(|e| EdgeError::Store(format!("unreadable live document of {slug}: {e}")))?
        .ok_or(EdgeError::Absent(
            "This event has no waiting room: register directly.",
        ))
}

/// `POST /api/events/{slug}/waiting-room`: a ticket, and its place.
pub async fn take(config: &Arc<EdgeConfig>, slug: &Slug) -> Result<Reply, EdgeError> {
    let live = live(config, slug).await?;
    let link = OriginLink::get().await?;
    let now = now_ms();
    let id = format!("{:016x}{:016x}", get_random_u64(), get_random_u64());
    let ticket = live
        .issue(slug, &config.region, now, get_random_u64(), id)
        .map_err(|from| {
            EdgeError::Conflict(format!(
                "The waiting room opens at {}: come back then.",
                rfc3339(from).as_str().unwrap_or("its opening")
            ))
        })?;
    count_arrival(slug.as_str(), ticket.stamp);
    report_soon(slug.as_str(), false);
    let mut body = told(&live, &ticket, live.place(&ticket, now));
    body["ticket"] = json!(ticket.seal(&link.secret));
    Ok(private(respond::json(201, &body)))
}

/// `GET /api/events/{slug}/waiting-room` with the ticket in
/// `Eventfront-Ticket`: where it stands, and when to ask again.
pub async fn place(
    config: &Arc<EdgeConfig>,
    slug: &Slug,
    request: &Request,
) -> Result<Reply, EdgeError> {
    // No room answers 404 whatever the request carries.
    let live = live(config, slug).await?;
    let sealed = request
        .headers()
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(EdgeError::Ticket(Refused::Missing))?;
    let link = OriginLink::get().await?;
    let ticket = Ticket::open(sealed, &link.verifier, slug).map_err(EdgeError::Ticket)?;
    let now = now_ms();
    let place = live.place(&ticket, now);
    if matches!(place, Place::Waiting { .. }) && live.move_overdue(now) {
        report_soon(slug.as_str(), true);
    }
    Ok(private(respond::json(200, &told(&live, &ticket, place))))
}

/// Nothing about a ticket is kept by a cache on the way.
fn private(mut reply: Reply) -> Reply {
    reply.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    reply
}

/// What a ticket's holder is told of its place.
fn told(live: &Live, ticket: &Ticket, place: Place) -> Value {
    let (low, high) = CHECK_EVERY_SECS;
    // Jittered, so that a crowd that arrived together does not ask together.
    let again = low + (get_random_u64() % u64::from(high - low + 1)) as u32;
    let mut body = json!({
        "event": ticket.event,
        "opens_at": rfc3339(live.room.opens_ms()),
        "paused": live.room.paused,
        "check_again_secs": again,
        "place_kept": true,
    });
    match place {
        Place::Waiting { ahead, eta } => {
            body["state"] = json!("waiting");
            body["ahead"] = json!(ahead);
            body["expected_at"] = eta.map_or(Value::Null, rfc3339);
        }
        Place::Admitted { until } => {
            body["state"] = json!("admitted");
            body["admitted_until"] = rfc3339(until);
            body["place_kept"] = json!(false);
        }
        Place::Lapsed => {
            body["state"] = json!("lapsed");
            body["place_kept"] = json!(false);
        }
    }
    body
}

/// The tickets an instance issued for one event, as it reports them.
#[derive(Default)]
pub struct Arrivals {
    /// How many it stamped in each Unix second so far.
    totals: BTreeMap<i64, u64>,
    /// The seconds whose totals the origin has not taken yet.
    unreported: BTreeSet<i64>,
    /// When the oldest count the origin has not taken was made: the
    /// origin keeps its cutoff as far behind as reports come late.
    unreported_since: Option<Millis>,
    /// A waiting page asked here since the last report while no move
    /// came for a while: the origin is to hear from this instance even
    /// with nothing new (it moves the cutoff on reports).
    asked: bool,
    /// This instance's reporter runs for the event.
    reporting: bool,
    /// When it last sent a report.
    reported_at: Option<Millis>,
}

/// One more ticket stamped `stamp` for `slug`, to report.
fn count_arrival(slug: &str, stamp: Millis) {
    let instance = instance();
    let mut arrivals = instance.arrivals.borrow_mut();
    let event = arrivals.entry(slug.to_string()).or_default();
    let second = stamp.div_euclid(1_000);
    *event.totals.entry(second).or_default() += 1;
    event.unreported.insert(second);
    event.unreported_since.get_or_insert_with(now_ms);
    // Bounded: the oldest seconds the origin already took make room.
    while event.totals.len() > 2 * MAX_REPORTED_SECONDS {
        let Some(oldest) = event
            .totals
            .keys()
            .find(|s| !event.unreported.contains(s))
            .copied()
        else {
            break;
        };
        event.totals.remove(&oldest);
    }
}

/// Makes sure this instance's reporter for `slug` runs: it reports at most
/// once every `REPORT_EVERY` until nothing is left to tell. `asked`: a
/// waiting page asked, so the origin is to hear even with nothing new.
fn report_soon(slug: &str, asked: bool) {
    let instance = instance();
    let mut arrivals = instance.arrivals.borrow_mut();
    let event = arrivals.entry(slug.to_string()).or_default();
    event.asked |= asked;
    if event.reporting {
        return;
    }
    event.reporting = true;
    // Spin keeps the instance until the task ends, whatever requests it
    // takes meanwhile: what it counted is reported before it goes.
    spin_sdk::wasip3::spawn(report_while_pending(slug.to_string()));
}

/// How long an instance keeps trying to report through an outage before
/// it drops what it counted (and says so).
const GIVE_UP_AFTER: Millis = 30 * 60_000;
/// The longest wait between two tries while the origin cannot be reached.
const MOST_BACKOFF: Millis = 5_000;

async fn report_while_pending(slug: String) {
    let reporter = instance()
        .reporter
        .get_or_init(|| format!("{:016x}", get_random_u64()))
        .clone();
    let mut failing_since: Option<Millis> = None;
    let mut backoff: Millis = 0;
    loop {
        let due = {
            let instance = instance();
            let arrivals = instance.arrivals.borrow();
            let last = arrivals.get(&slug).and_then(|e| e.reported_at);
            last.map_or(0, |last| last + REPORT_EVERY + backoff)
        };
        let wait = due - now_ms();
        if wait > 0 {
            spin_sdk::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
        }
        let now = now_ms();
        let (seconds, since) = {
            let instance = instance();
            let mut arrivals = instance.arrivals.borrow_mut();
            let event = arrivals.entry(slug.clone()).or_default();
            if event.unreported.is_empty() && !event.asked {
                event.reporting = false;
                return;
            }
            event.asked = false;
            event.reported_at = Some(now);
            // The oldest seconds first; the rest go with the next report,
            // as old as these.
            let taken: Vec<i64> = event
                .unreported
                .iter()
                .take(MAX_REPORTED_SECONDS)
                .copied()
                .collect();
            let seconds = taken
                .into_iter()
                .map(|second| {
                    event.unreported.remove(&second);
                    (second, event.totals.get(&second).copied().unwrap_or(0))
                })
                .collect::<BTreeMap<i64, u64>>();
            let since = if event.unreported.is_empty() {
                event.unreported_since.take()
            } else {
                event.unreported_since
            };
            (seconds, since)
        };
        match report(&slug, &reporter, &seconds, since).await {
            Ok(()) => (failing_since, backoff) = (None, 0),
            Err(why) => {
                // Totals: sending them again, even if the origin took
                // them, counts each ticket once.
                let instance = instance();
                let mut arrivals = instance.arrivals.borrow_mut();
                let event = arrivals.entry(slug.clone()).or_default();
                event.unreported.extend(seconds.keys());
                event.unreported_since = match (event.unreported_since, since) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let since = *failing_since.get_or_insert(now);
                if now - since >= GIVE_UP_AFTER {
                    eprintln!(
                        "edge: gave up reporting {} seconds of arrivals of {slug} after {} min: {why}",
                        event.unreported.len(),
                        GIVE_UP_AFTER / 60_000
                    );
                    event.unreported.clear();
                    event.reporting = false;
                    return;
                }
                eprintln!("edge: arrivals of {slug} kept for the next report: {why}");
                backoff = (backoff * 2).clamp(500, MOST_BACKOFF);
            }
        }
    }
}

async fn report(
    slug: &str,
    reporter: &str,
    seconds: &BTreeMap<i64, u64>,
    since: Option<Millis>,
) -> Result<(), String> {
    let counts: serde_json::Map<String, Value> = seconds
        .iter()
        .map(|(second, count)| (second.to_string(), json!(count)))
        .collect();
    let mut body = json!({ "reporter": reporter, "seconds": counts });
    if let Some(since) = since {
        body["since"] = json!(since);
    }
    let body = Bytes::from(body.to_string());
    let headers = [(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    )];
    let target = format!("/_origin/events/{slug}/arrivals");
    let answer = origin::call(
        &http::Method::POST,
        &target,
        &headers,
        body,
        None,
        FETCH_TIMEOUT,
    )
    .await
    .map_err(|e| e.0)?;
    match answer.status.as_u16() {
        200..=299 => Ok(()),
        // The room is gone: nothing to keep for it.
        404 => Ok(()),
        // Sent again it would be refused again: said, and dropped.
        status @ 400..=499 => {
            eprintln!("edge: the origin refused a report of arrivals of {slug}: {status}");
            Ok(())
        }
        status => Err(format!("the origin answered {status}")),
    }
}
