//! Delivering the outbox through the mail provider (`mail_api_url`,
//! `mail_api_token`, `mail_from`; the request is `eventfront_domain::mail`'s),
//! after the response and never in its way. An instance that wrote
//! messages, or that serves any request while messages are due, starts one
//! delivery task; the task claims due messages for a while (so that other
//! instances leave them alone), sends each, and records `sent`, or `failed`
//! with the next try backed off. Delivery is at least once: a task that
//! dies between sending and recording leaves the message to be sent again
//! once its claim lapses, under the same id.

use crate::db::{Db, int, text};
use crate::error::OriginError;
use eventfront_domain::mail::{self, SEND_PATH, TOKEN_HEADER};
use eventfront_domain::messages::Message;
use futures::FutureExt;
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

/// The configured provider; without a token and a sender there is none,
/// and messages stay in the development outbox.
pub struct Provider {
    url: String,
    token: String,
    from: String,
}

async fn variable(name: &str) -> String {
    spin_sdk::variables::get(name)
        .await
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The provider, read once per instance.
pub async fn provider() -> Option<&'static Provider> {
    static PROVIDER: OnceLock<Option<Provider>> = OnceLock::new();
    if let Some(provider) = PROVIDER.get() {
        return provider.as_ref();
    }
    let (url, token, from) = (
        variable("mail_api_url").await,
        variable("mail_api_token").await,
        variable("mail_from").await,
    );
    let provider = (!url.is_empty() && !token.is_empty() && !from.is_empty()).then(|| Provider {
        url: url.trim_end_matches('/').to_string(),
        token,
        from,
    });
    PROVIDER.get_or_init(|| provider).as_ref()
}

/// How long a claimed message is left to its task before another may
/// send it: longer than a send may take.
const CLAIM: Duration = Duration::from_secs(60);
/// How long one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages claimed at a time.
const CLAIM_BATCH: i64 = 20;
/// How often an instance looks for messages due on its own, while it
/// serves requests.
const LOOK_EVERY: Duration = Duration::from_secs(10);

thread_local! {
    /// Whether this instance runs a delivery task now.
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// When this instance last started one, in Unix milliseconds.
    static LOOKED_AT: Cell<i64> = const { Cell::new(i64::MIN) };
}

/// Starts delivering, after the response, if a provider is configured and
/// this instance is not delivering already.
pub async fn start() {
    if provider().await.is_none() || RUNNING.get() {
        return;
    }
    RUNNING.set(true);
    LOOKED_AT.set(now_ms());
    spin_sdk::wasip3::spawn(async {
        if let Err(e) = deliver_due().await {
            eprintln!("origin: delivering the outbox failed: {e}");
        }
        RUNNING.set(false);
    });
}

/// Starts delivering if this instance has not looked for due messages in a
/// while: messages that failed go out on later activity, with no scheduler.
pub async fn start_if_idle() {
    if now_ms().saturating_sub(LOOKED_AT.get()) >= LOOK_EVERY.as_millis() as i64 {
        start().await;
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A claimed message.
struct Due {
    id: String,
    to: String,
    message: Message,
    attempts: u32,
}

/// Sends what is due until nothing is.
async fn deliver_due() -> Result<(), OriginError> {
    let Some(provider) = provider().await else {
        return Ok(());
    };
    let db = Db::open().await?;
    loop {
        let due = claim(&db).await?;
        if due.is_empty() {
            return Ok(());
        }
        for message in due {
            let outcome = send(provider, &message).await;
            record(&db, &message, outcome).await?;
        }
    }
}

/// Takes the oldest due messages for `CLAIM`, in one transaction so that
/// two instances never claim the same message at once. Whether anything is
/// due is asked first with a plain read: most looks find nothing, and must
/// not take the write lock registrations are decided under.
async fn claim(db: &Db) -> Result<Vec<Due>, OriginError> {
    let due = db
        .row(
            "SELECT EXISTS (SELECT 1 FROM outbox
                 WHERE state IN ('queued', 'failed') AND next_try_ms <= ?) AS due",
            [int(now_ms())],
        )
        .await?
        .is_some_and(|r| r.int("due") == 1);
    if !due {
        return Ok(Vec::new());
    }
    db.transaction(async |db| {
        let now = now_ms();
        let rows = db
            .rows(
                "SELECT id, recipient, subject, body_text, body_html, attempts FROM outbox
                 WHERE state IN ('queued', 'failed') AND next_try_ms <= ?
                 ORDER BY next_try_ms LIMIT ?",
                [int(now), int(CLAIM_BATCH)],
            )
            .await?;
        for row in &rows {
            db.exec(
                "UPDATE outbox SET next_try_ms = ? WHERE id = ?",
                [int(now + CLAIM.as_millis() as i64), text(row.text("id"))],
            )
            .await?;
        }
        Ok(rows
            .iter()
            .map(|r| Due {
                id: r.text("id"),
                to: r.text("recipient"),
                message: Message {
                    subject: r.text("subject"),
                    text: r.text("body_text"),
                    html: r.text("body_html"),
                },
                attempts: u32::try_from(r.int("attempts")).unwrap_or(u32::MAX),
            })
            .collect())
    })
    .await
}

/// One try at handing `due` to the provider: `Err` says why it failed, in
/// words for the organizer (never the token).
async fn send(provider: &Provider, due: &Due) -> Result<(), String> {
    let body = mail::send_body(&due.id, &provider.from, &due.to, &due.message).to_string();
    let request = http::Request::post(format!("{}{SEND_PATH}", provider.url))
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(TOKEN_HEADER, &provider.token)
        .body(spin_sdk::http::FullBody::new(bytes::Bytes::from(body)))
        .map_err(|e| format!("the request could not be built: {e}"))?;
    let exchange = async {
        let response = spin_sdk::http::send(request)
            .await
            .map_err(|e| format!("the provider could not be reached ({e:?})"))?;
        let status = response.status();
        let _ = spin_sdk::http::body::IncomingBodyExt::bytes(response.into_body()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the provider answered {}", status.as_u16()))
        }
    };
    futures::select! {
        outcome = exchange.fuse() => outcome,
        () = spin_sdk::time::sleep(SEND_TIMEOUT).fuse() => Err(format!("no answer within {SEND_TIMEOUT:?}")),
    }
}

async fn record(db: &Db, due: &Due, outcome: Result<(), String>) -> Result<(), OriginError> {
    let attempts = due.attempts.saturating_add(1);
    let now = now_ms();
    match outcome {
        Ok(()) => {
            db.exec(
                "UPDATE outbox SET state = 'sent', attempts = ?, sent_ms = ?,
                     next_try_ms = NULL, last_error = NULL WHERE id = ?",
                [int(i64::from(attempts)), int(now), text(&due.id)],
            )
            .await
        }
        Err(why) => {
            let next = now + mail::retry_after(attempts).as_millis() as i64;
            db.exec(
                "UPDATE outbox SET state = 'failed', attempts = ?, next_try_ms = ?,
                     last_error = ? WHERE id = ?",
                [
                    int(i64::from(attempts)),
                    int(next),
                    text(why),
                    text(&due.id),
                ],
            )
            .await
        }
    }
}
