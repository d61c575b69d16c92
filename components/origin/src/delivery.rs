//! Delivering the outbox, after the response and never in its way: email
//! through the mail provider (`mail_api_url`, `mail_api_token`,
//! `mail_from`; the request is `eventfront_domain::mail`'s), and events to
//! the organizer's webhook, signed (`eventfront_domain::webhook`). An
//! instance that queued entries, or that serves a request while it has not
//! looked for due entries in a while, starts a delivery task per lane, one
//! for email and one for webhooks, so that a webhook that hangs never holds
//! back a confirmation email; each task claims its lane's due entries for a
//! while (so that other instances leave them alone), sends each, and
//! records `sent`, or `failed` with the next try backed off. Delivery is
//! at least once: a task that dies between sending and recording leaves
//! the entry to be sent again once its claim lapses, under the same id.

use crate::config::MailProvider;
use crate::db::{Db, Scope, int, opt_int, text};
use crate::error::OriginError;
use crate::instance::instance;
use crate::sealing;
use eventfront_domain::mail::{self, SEND_PATH, TOKEN_HEADER};
use eventfront_domain::messages::Message;
use eventfront_domain::started;
use eventfront_domain::webhook::{self, Destination};
use futures::FutureExt;
use std::cell::Cell;
use std::time::Duration;

/// The configured provider, if any.
pub async fn provider() -> Option<&'static MailProvider> {
    crate::config::get().await.mail.as_ref()
}

/// How long one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages claimed at a time.
const CLAIM_BATCH: i64 = 5;
/// How long claimed messages are left to their task before another may
/// send them: longer than sending the whole claim may take, so that no
/// message is sent by two tasks because one was slow.
const CLAIM: Duration = Duration::from_secs(SEND_TIMEOUT.as_secs() * CLAIM_BATCH as u64 + 30);
/// How long one task delivers before it ends (and the instance with it);
/// what is left goes out on later activity.
const TASK_LIMIT: Duration = Duration::from_secs(300);
/// Tries after which a message is given up (`rejected`): about two days of
/// hourly tries, since a provider or webhook down longer needs a person.
const MOST_ATTEMPTS: u32 = 60;
/// How often an instance looks for messages due on its own, while it
/// serves requests.
const LOOK_EVERY: Duration = Duration::from_secs(10);

/// A channel delivered by a task of its own: what one lane's peer does
/// (a provider down, a webhook that never answers) never delays the other.
#[derive(Clone, Copy)]
enum Lane {
    Email,
    Webhook,
}

impl Lane {
    const ALL: [Lane; 2] = [Lane::Email, Lane::Webhook];

    /// The outbox's `channel` this lane delivers.
    fn channel(self) -> &'static str {
        match self {
            Lane::Email => "email",
            Lane::Webhook => "webhook",
        }
    }
}

/// One lane's task in an instance.
#[derive(Default)]
struct LaneState {
    /// Whether it runs now.
    running: Cell<bool>,
    /// Whether entries were queued since it last started.
    queued: Cell<bool>,
}

/// An instance's delivery lanes.
pub struct Lanes {
    lanes: [LaneState; 2],
    /// When a task last started, in Unix milliseconds.
    looked_at: Cell<i64>,
}

impl Default for Lanes {
    fn default() -> Self {
        Self {
            lanes: Default::default(),
            looked_at: Cell::new(i64::MIN),
        }
    }
}

impl Lanes {
    fn of(&self, lane: Lane) -> &LaneState {
        &self.lanes[lane as usize]
    }
}

/// Notes that entries were queued, for `start` to send. Either channel may
/// have been written: a lane with nothing due finds out with one read.
pub fn queued() {
    let instance = instance();
    for lane in Lane::ALL {
        instance.lanes.of(lane).queued.set(true);
    }
}

/// Starts delivering, after the response, what this instance queued, in
/// each lane not delivering already (that task sends it too).
pub fn start() {
    for lane in Lane::ALL {
        start_lane(lane);
    }
}

fn start_lane(lane: Lane) {
    let instance = instance();
    let state = instance.lanes.of(lane);
    if state.running.get() || !state.queued.replace(false) {
        return;
    }
    state.running.set(true);
    instance.lanes.looked_at.set(now_ms());
    spin_sdk::wasip3::spawn(async move {
        if let Err(e) = deliver_due(lane).await {
            eprintln!(
                "origin: delivering the {} outbox failed: {e}",
                lane.channel()
            );
        }
        crate::instance::instance()
            .lanes
            .of(lane)
            .running
            .set(false);
        // Entries queued after this task last looked go out now.
        start_lane(lane);
    });
}

/// Starts delivering if this instance has not looked for due entries in a
/// while: entries that failed go out on later activity, with no scheduler.
pub fn start_if_idle() {
    let looked_at = instance().lanes.looked_at.get();
    if now_ms().saturating_sub(looked_at) >= LOOK_EVERY.as_millis() as i64 {
        queued();
        start();
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A claimed entry.
struct Due {
    id: String,
    /// Until when it is this task's: the claim's token, so that a late
    /// record of a claim that lapsed cannot overwrite a newer one's.
    claimed_until: i64,
    event: String,
    webhook: bool,
    /// An address, or the webhook's URL when it was written.
    to: String,
    /// The inbox and the domain an email reaches (none for a webhook, or
    /// an email written before mail was limited).
    mailbox: Option<String>,
    mail_domain: Option<String>,
    /// An email; for a webhook, `text` is the JSON body. `None` when it
    /// was sealed under a secret retired since.
    message: Option<Message>,
    attempts: u32,
}

/// What became of one try.
enum Outcome {
    Sent,
    /// Worth trying again later.
    Failed(String),
    /// Refused in a way a retry cannot change (a 4xx other than 408 or
    /// 429: a bad token, an address the provider will not take).
    Rejected(String),
    /// The webhook it was for was removed: never sent.
    Dropped,
    /// Its inbox or its domain was sent all that the limits allow within
    /// the hour: never sent.
    Withheld(String),
}

/// Sends what is due in `lane` until nothing is, or `TASK_LIMIT`.
async fn deliver_due(lane: Lane) -> Result<(), OriginError> {
    // Nothing is sent by an origin that answers nothing, nor read from a
    // database not migrated yet.
    if crate::config::get().await.check().is_err() {
        return Ok(());
    }
    crate::schema::ready().await?;
    let db = Db::open().await?;
    let started = now_ms();
    while now_ms() - started < TASK_LIMIT.as_millis() as i64 {
        let due = claim(&db, lane).await?;
        if due.is_empty() {
            // Once nothing waits to be sent, and never in its way.
            if let Err(e) = crate::retention::sweep_if_due(&db).await {
                eprintln!("origin: the retention sweep failed: {e}");
            }
            return Ok(());
        }
        for entry in due {
            // A claim about to lapse is left for the next task to take.
            if now_ms() + SEND_TIMEOUT.as_millis() as i64 >= entry.claimed_until {
                break;
            }
            let outcome = match &entry.message {
                None => Outcome::Rejected(
                    "its text was sealed under a signing secret retired since".into(),
                ),
                Some(message) if entry.webhook => post_webhook(&db, &entry, message).await?,
                Some(message) => match over_mail_limit(&db, &entry).await? {
                    Some(why) => Outcome::Withheld(why),
                    None => match provider().await {
                        Some(provider) => email(provider, &entry, message).await,
                        None => Outcome::Failed("no mail provider is configured".into()),
                    },
                },
            };
            record(&db, &entry, outcome).await?;
        }
    }
    Ok(())
}

/// Takes `lane`'s oldest due messages for `CLAIM`, in one transaction so
/// that two instances never claim the same message at once. Whether
/// anything is due is asked first with a plain read: most looks find
/// nothing, and must not take the write lock registrations are decided
/// under.
async fn claim(db: &Db, lane: Lane) -> Result<Vec<Due>, OriginError> {
    let due = db
        .row(
            "SELECT EXISTS (SELECT 1 FROM outbox
                 WHERE state IN ('queued', 'failed') AND next_try_ms <= ? AND channel = ?) AS due",
            [int(now_ms()), text(lane.channel())],
        )
        .await?
        .is_some_and(|r| r.int("due") == 1);
    if !due {
        return Ok(Vec::new());
    }
    let sealer = sealing::sealer().await?;
    db.transaction(Scope::Outbox, async |db| {
        let now = now_ms();
        let until = now + CLAIM.as_millis() as i64;
        let rows = db
            .rows(
                "SELECT id, event, channel, recipient, subject, body_text, body_html, attempts,
                     mailbox, mail_domain
                 FROM outbox
                 WHERE state IN ('queued', 'failed') AND next_try_ms <= ? AND channel = ?
                 ORDER BY next_try_ms LIMIT ?",
                [int(now), text(lane.channel()), int(CLAIM_BATCH)],
            )
            .await?;
        for row in &rows {
            db.exec(
                "UPDATE outbox SET next_try_ms = ? WHERE id = ?",
                [int(until), text(row.text("id"))],
            )
            .await?;
        }
        Ok(rows
            .iter()
            .map(|r| Due {
                id: r.text("id"),
                claimed_until: until,
                event: r.text("event"),
                webhook: r.text("channel") == "webhook",
                to: r.text("recipient"),
                mailbox: r.opt_text("mailbox").map(str::to_string),
                mail_domain: r.opt_text("mail_domain").map(str::to_string),
                message: sealing::open(sealer, &r.text("body_text"))
                    .and_then(|text| Ok((text, sealing::open(sealer, &r.text("body_html"))?)))
                    .ok()
                    .map(|(text, html)| Message {
                        subject: r.text("subject"),
                        text,
                        html,
                    }),
                attempts: u32::try_from(r.int("attempts")).unwrap_or(u32::MAX),
            })
            .collect())
    })
    .await
}

/// How far back the emails an inbox or a domain was sent are counted.
const MAIL_LIMIT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Why the email `due` is not to be sent, if it is not: its inbox or its
/// domain was sent as many emails within the hour as the origin's limits
/// allow, whatever events they were for. The registration form lets
/// anyone name any address, so without this it would write as often as
/// someone submits it, under a tag each time (`ada+1@`, `ada+2@`). Counted
/// when sent: two instances delivering at once may each send one more.
async fn over_mail_limit(db: &Db, due: &Due) -> Result<Option<String>, OriginError> {
    let config = crate::config::get().await;
    let limits = [
        (
            config.mail_per_address_per_hour,
            "mailbox",
            &due.mailbox,
            "this inbox",
        ),
        (
            config.mail_per_domain_per_hour,
            "mail_domain",
            &due.mail_domain,
            "this domain",
        ),
    ];
    let since = now_ms() - MAIL_LIMIT_WINDOW.as_millis() as i64;
    for (limit, column, value, whom) in limits {
        let Some(value) = value.as_deref().filter(|_| limit > 0) else {
            continue;
        };
        let sent = db
            .row(
                &format!(
                    "SELECT count(*) AS sent FROM outbox
                     WHERE channel = 'email' AND {column} = ? AND state = 'sent' AND sent_ms > ?"
                ),
                [text(value), int(since)],
            )
            .await?
            .map_or(0, |row| row.int("sent"));
        if sent >= i64::from(limit) {
            return Ok(Some(format!(
                "withheld: {whom} was sent {sent} emails within the hour, the most allowed"
            )));
        }
    }
    Ok(None)
}

/// One try at handing `due` to the mail provider.
async fn email(provider: &MailProvider, due: &Due, message: &Message) -> Outcome {
    let body = mail::send_body(&due.id, &provider.from, &due.to, message).to_string();
    let request = http::Request::post(format!("{}{SEND_PATH}", provider.url))
        .header(http::header::ACCEPT, "application/json")
        .header(TOKEN_HEADER, &provider.token);
    post(request, body, "the provider").await
}

/// One try at posting `due` to the event's webhook as configured now (a
/// changed URL or secret applies to retries too), signed at this instant.
async fn post_webhook(db: &Db, due: &Due, message: &Message) -> Result<Outcome, OriginError> {
    let Some(row) = db
        .row(
            "SELECT url, secret FROM webhooks WHERE event = ?",
            [text(&due.event)],
        )
        .await?
    else {
        return Ok(Outcome::Dropped);
    };
    // Checked again as configured now: a URL set before a rule changed.
    let config = crate::config::get().await;
    if let Destination::Refused(why) = webhook::destination(
        &row.text("url"),
        &config.webhook_hosts,
        config.webhook_private_hosts,
    ) {
        return Ok(Outcome::Rejected(format!("the webhook's URL {why}")));
    }
    let body = message.text.clone();
    let signature = webhook::sign(
        &row.text("secret"),
        jiff::Timestamp::now().as_second(),
        body.as_bytes(),
    );
    let request = http::Request::post(row.text("url")).header(webhook::SIGNATURE_HEADER, signature);
    Ok(post(request, body, "the webhook").await)
}

/// Sends a JSON `body` with `request`'s head, within `SEND_TIMEOUT`; a
/// failure says why in words for the organizer (never a token or secret).
async fn post(request: http::request::Builder, body: String, whom: &str) -> Outcome {
    let request = match request
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(spin_sdk::http::FullBody::new(bytes::Bytes::from(body)))
    {
        Ok(request) => request,
        Err(e) => return Outcome::Failed(format!("the request could not be built: {e}")),
    };
    let exchange = async {
        // Only the status counts: the body is never read, so a peer
        // cannot make the origin hold much, and what failed is said in
        // words, not in the runtime's detail about the peer.
        let status = match started::polled_again(spin_sdk::http::send(request)).await {
            Ok(response) => response.status(),
            Err(_) => return Outcome::Failed(format!("{whom} could not be reached")),
        };
        let why = format!("{whom} answered {}", status.as_u16());
        match status.as_u16() {
            200..=299 => Outcome::Sent,
            408 | 429 => Outcome::Failed(why),
            400..=499 => Outcome::Rejected(why),
            _ => Outcome::Failed(why),
        }
    };
    futures::select! {
        outcome = exchange.fuse() => outcome,
        () = spin_sdk::time::sleep(SEND_TIMEOUT).fuse() => {
            Outcome::Failed(format!("{whom} did not answer within {SEND_TIMEOUT:?}"))
        }
    }
}

/// Records what became of `due`, only while its claim is still this
/// task's (`next_try_ms` is the claim's end until then) and nothing ended
/// it meanwhile (an erasure drops it).
async fn record(db: &Db, due: &Due, outcome: Outcome) -> Result<(), OriginError> {
    let attempts = due.attempts.saturating_add(1);
    let now = now_ms();
    let (state, next_try, sent, error) = match outcome {
        Outcome::Sent => ("sent", None, Some(now), None),
        Outcome::Dropped => (
            "dropped",
            None,
            None,
            Some("the webhook was removed".into()),
        ),
        Outcome::Rejected(why) => ("rejected", None, None, Some(why)),
        Outcome::Withheld(why) => ("withheld", None, None, Some(why)),
        Outcome::Failed(why) if attempts >= MOST_ATTEMPTS => (
            "rejected",
            None,
            None,
            Some(format!("{why}; given up after {attempts} tries")),
        ),
        Outcome::Failed(why) => (
            "failed",
            Some(now + mail::retry_after(attempts).as_millis() as i64),
            None,
            Some(why),
        ),
    };
    // In a write transaction taken up front: a plain UPDATE on SQLite
    // reads first and is refused at once (no busy wait) when a decision
    // committed meanwhile, which a burst of registrations makes likely.
    db.transaction(Scope::Outbox, async |db| {
        db.exec(
            "UPDATE outbox SET state = ?, attempts = ?, next_try_ms = ?, sent_ms = ?, last_error = ?
             WHERE id = ? AND next_try_ms = ? AND state IN ('queued', 'failed')",
            [
                text(state),
                int(i64::from(attempts)),
                opt_int(next_try),
                opt_int(sent),
                error.map_or(spin_sdk::sqlite::Value::Null, text),
                text(&due.id),
                int(due.claimed_until),
            ],
        )
        .await
    })
    .await
}
