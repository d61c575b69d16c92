//! The waiting room at the edge (`eventfront_domain::waiting_room`): a
//! ticket issued, and a ticket's place told, from the event's live
//! document (`cache::counts`) with no request to the origin; and the
//! tickets this instance issued, counted by the bucket of their stamps and
//! reported to the origin once per edge, not per instance
//! (`eventfront_domain::arrival_reports`): a task of the instance writes
//! its totals to the store at most once a second, and one instance of the
//! edge, elected by a lease, sends all of them in one report a second.
//! A report also lets the origin move the cutoff, so an instance whose
//! visitors wait writes an ask even with nothing new when its copy shows
//! no move for a while (`Live::move_overdue`).
//! The task runs until the origin took what the instance counted (Spin
//! keeps an instance while a task of its runs), and what it wrote stays in
//! the store through an outage of any length, for a later reporter; with
//! the store failing, the instance reports its own counts. (A ticket whose
//! count is lost keeps its place and turn; it is only not counted against
//! the rate or in anyone's `ahead`.)

use crate::cache::{self, instance::instance, now_ms};
use crate::config::{EdgeConfig, OriginLink};
use crate::error::EdgeError;
use crate::kv;
use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::Slug;
use eventfront_domain::arrival_reports::{Batch, Counted, LEAD_FOR, Lead, REPORT_EVERY, Written};
use eventfront_domain::freshness::Millis;
use eventfront_domain::respond::{self, Reply, rfc3339};
use eventfront_domain::waiting_room::{
    CHECK_EVERY_SECS, Live, Place, Refused, TICKET_HEADER, Ticket,
};
use serde_json::{Value, json};
use spin_sdk::http::Request;
use spin_sdk::wasip3::random::random::get_random_u64;
use std::sync::Arc;

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

/// The tickets an instance issued for one event, and its reporter task.
#[derive(Default)]
pub struct Arrivals {
    counted: Counted,
    /// This instance's reporter task runs for the event.
    reporting: bool,
}

/// Runs `change` on this instance's arrivals of `slug`.
fn with_counted<T>(slug: &str, change: impl FnOnce(&mut Counted) -> T) -> T {
    let instance = instance();
    let mut arrivals = instance.arrivals.borrow_mut();
    change(&mut arrivals.entry(slug.to_string()).or_default().counted)
}

/// One more ticket stamped `stamp` for `slug`, to report.
fn count_arrival(slug: &str, stamp: Millis) {
    with_counted(slug, |counted| counted.count(stamp, now_ms()));
}

/// Makes sure this instance's reporter task for `slug` runs: it writes
/// what the instance counted for the edge's reporter at most once every
/// `REPORT_EVERY`, until the origin took it all. `asked`: a waiting page
/// asked, so the origin is to hear even with nothing new.
fn report_soon(slug: &str, asked: bool) {
    let instance = instance();
    let mut arrivals = instance.arrivals.borrow_mut();
    let event = arrivals.entry(slug.to_string()).or_default();
    if asked {
        event.counted.ask();
    }
    if event.reporting {
        return;
    }
    event.reporting = true;
    // Spin keeps the instance until the task ends, whatever requests it
    // takes meanwhile: what it counted is written before it goes.
    spin_sdk::wasip3::spawn(report_while_pending(slug.to_string()));
}

/// How long an instance keeps trying to report through an outage before
/// it leaves what it counted to the store (and says so): a reporter of a
/// later visit sends it.
const GIVE_UP_AFTER: Millis = 30 * 60_000;
/// The longest wait between two tries while the origin cannot be reached.
const MOST_BACKOFF: Millis = 5_000;
/// How long an elected instance waits before reading the lease back, so
/// that instances that raced for it settle on one.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// Where an instance's write for `slug` is kept, `arrivals/{slug}/{reporter}`.
fn written_prefix(slug: &str) -> String {
    format!("arrivals/{slug}/")
}

fn lead_key(slug: &str) -> String {
    format!("arrivals-lead/{slug}")
}

/// An instance's reporter task for `slug` (`arrival_reports`): each
/// second, it writes what the instance counted, and then either learns
/// from the edge's reporter what the origin took, or is the reporter.
async fn report_while_pending(slug: String) {
    let reporter = instance()
        .reporter
        .get_or_init(|| format!("{:016x}", get_random_u64()))
        .clone();
    let owner = get_random_u64();
    let mine = format!("{}{reporter}", written_prefix(&slug));
    let mut failing_since: Option<Millis> = None;
    let mut backoff: Millis = 0;
    let mut ticked: Option<Millis> = None;
    loop {
        if let Some(last) = ticked {
            let wait = last + REPORT_EVERY + backoff - now_ms();
            if wait > 0 {
                spin_sdk::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            }
        }
        let now = now_ms();
        ticked = Some(now);
        let outcome = match with_counted(&slug, |counted| counted.due(now)) {
            Some(due) if !kv::set_json(&mine, &due).await => {
                // The store fails: this instance tells the origin itself.
                let at = due.at;
                let batch = Batch::of(
                    &Lead::taken_over(owner, now, None),
                    &[(reporter.clone(), due.clone())],
                );
                let sent = report(&slug, batch.report.body()).await;
                if sent.is_ok() {
                    with_counted(&slug, |counted| {
                        counted.wrote(due);
                        counted.taken(at);
                    });
                }
                sent.map(|()| true)
            }
            due => {
                if let Some(due) = due {
                    with_counted(&slug, |counted| counted.wrote(due));
                }
                lead_or_follow(&slug, &reporter, owner).await
            }
        };
        let reported = match outcome {
            Ok(reported) => {
                (failing_since, backoff) = (None, 0);
                reported
            }
            Err(why) => {
                let since = *failing_since.get_or_insert(now);
                if now - since >= GIVE_UP_AFTER {
                    eprintln!(
                        "edge: stopped reporting arrivals of {slug} after {} min; a later reporter sends what is stored: {why}",
                        GIVE_UP_AFTER / 60_000
                    );
                    break;
                }
                eprintln!("edge: arrivals of {slug} kept for the next report: {why}");
                backoff = (backoff * 2).clamp(500, MOST_BACKOFF);
                true
            }
        };
        if !reported && with_counted(&slug, |counted| counted.done()) {
            kv::delete(&mine).await;
            break;
        }
    }
    let key = lead_key(&slug);
    if let Some(mut lead) = kv::get_json::<Lead>(&key)
        .await
        .filter(|l| l.owner == owner)
    {
        // Lapsed, not deleted: instances yet to read their marks still can.
        lead.until = now_ms();
        kv::set_json(&key, &lead).await;
    }
    let instance = instance();
    if let Some(event) = instance.arrivals.borrow_mut().get_mut(&slug) {
        event.reporting = false;
    }
}

/// Learns from the edge's reporter which write of this instance the origin
/// took, or, with no reporter, becomes it and reports: `Ok(true)` when it
/// sent a report, so there may be more to send.
async fn lead_or_follow(slug: &str, reporter: &str, owner: u64) -> Result<bool, String> {
    let now = now_ms();
    let key = lead_key(slug);
    let stored: Option<Lead> = kv::get_json(&key).await;
    if let Some(lead) = stored.as_ref().filter(|lead| lead.owner != owner) {
        // A lapsed lease still tells what its reporter sent.
        if let Some(at) = lead.taken_of(reporter) {
            with_counted(slug, |counted| counted.taken(at));
        }
        if lead.active(now) || with_counted(slug, |counted| counted.done()) {
            return Ok(false);
        }
    }
    let lead = match stored {
        Some(lead) if lead.owner == owner => lead,
        before => {
            // Several instances may find it free at once; the write that
            // stands after a moment decides.
            let mine = Lead::taken_over(owner, now, before);
            if !kv::set_json(&key, &mine).await {
                return Ok(false);
            }
            spin_sdk::time::sleep(SETTLE).await;
            match kv::get_json::<Lead>(&key).await {
                Some(standing) if standing.owner == owner => mine,
                _ => return Ok(false),
            }
        }
    };
    lead_once(slug, reporter, lead).await
}

/// As the edge's reporter: sends the origin every write it has not sent
/// (as many as one report takes), and marks them taken in the lease.
async fn lead_once(slug: &str, reporter: &str, mut lead: Lead) -> Result<bool, String> {
    let prefix = written_prefix(slug);
    let keys: Vec<String> = kv::keys_with_prefix(&prefix)
        .await
        .into_iter()
        .filter(|key| !key.contains('#'))
        .collect();
    let writes: Vec<(String, Written)> = futures::future::join_all(keys.iter().map(async |key| {
        let written = kv::get_json::<Written>(key).await?;
        Some((key[prefix.len()..].to_string(), written))
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let now = now_ms();
    for gone in lead.forget(&writes, now) {
        kv::delete(&format!("{prefix}{gone}")).await;
    }
    let batch = Batch::of(&lead, &writes);
    let key = lead_key(slug);
    // The lease covers the next call too, so a reporter that reports
    // every second writes it once a second.
    let held_for = FETCH_TIMEOUT.as_millis() as Millis + LEAD_FOR;
    if !batch.any {
        if lead.until - now < LEAD_FOR {
            lead.until = now + held_for;
            kv::set_json(&key, &lead).await;
        }
        return Ok(false);
    }
    if lead.until - now < held_for - REPORT_EVERY {
        lead.until = now + held_for;
        kv::set_json(&key, &lead).await;
    }
    let own = batch.mark_of(reporter);
    report(slug, batch.report.body()).await?;
    batch.taken(&mut lead);
    lead.until = now_ms() + held_for;
    kv::set_json(&key, &lead).await;
    if let Some(at) = own {
        with_counted(slug, |counted| counted.taken(at));
    }
    Ok(true)
}

/// Sends the origin one report of arrivals, `body` as `Report::body` makes it.
async fn report(slug: &str, body: Value) -> Result<(), String> {
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
    .map_err(|e| e.why)?;
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
