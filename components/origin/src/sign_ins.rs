//! Organizers' browser sign-ins: a session opened with a token (the cookie
//! then stands for it, and ends with it) or with a link mailed through the
//! outbox, kept in a cookie no script can read, ended by its holder or by
//! an owner, and listed per account.

use crate::admin::{no_content, unknown_fields};
use crate::attempts;
use crate::audit::{self, Actor};
use crate::auth::{now_secs, token_hash};
use crate::db::{Db, Scope, int, opt_text, text};
use crate::error::OriginError;
use crate::organizer::{Organizer, Proof};
use crate::request::Incoming;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::sign_in::{self, Lifetime};
use eventfront_domain::signing::CLIENT_HEADER;
use eventfront_domain::{Email, FieldError, messages};
use serde_json::json;

/// `POST /api/admin/sign-in` with a bearer token: a session for this
/// browser, standing for that token (201, its cookie set, and the CSRF
/// token its writes must carry).
pub async fn open(
    db: &Db,
    organizer: &Organizer,
    request: &Incoming,
) -> Result<Reply, OriginError> {
    let opener = match &organizer.proof {
        Proof::Token { id, .. } => Opened::Token(id),
        Proof::Bootstrap => {
            let configured = &crate::config::get().await.admin_token;
            Opened::Bootstrap(token_hash(configured))
        }
        Proof::Session { .. } => {
            return Err(OriginError::Conflict(
                "This browser is signed in already; sign out first.".into(),
            ));
        }
    };
    let by = &organizer.actor;
    let (reply, new) = begin(by, &opener, request).await;
    db.transaction(Scope::Whole, async |db| record(db, by, &opener, &new).await)
        .await?;
    Ok(reply)
}

/// What a sign-in stands for.
enum Opened<'a> {
    /// An API token (and so its account).
    Token(&'a str),
    /// The bootstrap token of this hash.
    Bootstrap(String),
    /// A mailed link, for the account alone.
    Link,
}

/// A new sign-in's answer (201 with its cookie and CSRF token) and id;
/// `record` writes it, ending the sign-in whose cookie the browser had.
async fn begin(by: &Actor, opened: &Opened<'_>, request: &Incoming) -> (Reply, NewSignIn) {
    let secret = crate::tokens::random();
    let now = jiff::Timestamp::now().as_millisecond();
    let id = uuid::Uuid::new_v4().to_string();
    let lifetime = Lifetime {
        created_ms: now,
        last_seen_ms: now,
    };
    let via = match opened {
        Opened::Token(token) => format!("token:{token}"),
        Opened::Bootstrap(_) => "bootstrap".into(),
        Opened::Link => "link".into(),
    };
    let mut reply = respond::json(
        201,
        &json!({
            "id": id,
            "actor": by.name,
            "account": by.account,
            "opened_with": via,
            "csrf_token": sign_in::csrf_token(&secret),
            "ends_at": at(lifetime.ends_ms()),
        }),
    );
    set_cookie(&mut reply, &sign_in::set_cookie(&secret, secure().await));
    let hash = token_hash(&secret);
    let replaced = request
        .header("cookie")
        .and_then(sign_in::from_cookie_header)
        .map(token_hash);
    let new = NewSignIn {
        id,
        hash,
        now,
        replaced,
    };
    (reply, new)
}

/// A sign-in whose answer is made, to be written.
struct NewSignIn {
    id: String,
    hash: String,
    now: i64,
    /// The hash of the sign-in the browser's cookie held, which the new
    /// cookie replaces: ended, so that none stays live unseen.
    replaced: Option<String>,
}

/// Writes a sign-in `begin` made, audited, in the caller's transaction.
async fn record(
    db: &Db,
    by: &Actor,
    opened: &Opened<'_>,
    new: &NewSignIn,
) -> Result<(), OriginError> {
    let (token, bootstrap_hash) = match opened {
        Opened::Token(token) => (Some(*token), None),
        Opened::Bootstrap(hash) => (None, Some(hash.as_str())),
        Opened::Link => (None, None),
    };
    if let Some(replaced) = &new.replaced {
        db.exec(
            "UPDATE organizer_sessions SET ended_ms = ? WHERE hash = ? AND ended_ms IS NULL",
            [int(new.now), text(replaced)],
        )
        .await?;
    }
    db.exec(
        "INSERT INTO organizer_sessions
             (id, hash, account, token, bootstrap_hash, created_ms, last_seen_ms, address)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            text(&new.id),
            text(&new.hash),
            opt_text(by.account.as_deref()),
            opt_text(token),
            opt_text(bootstrap_hash),
            int(new.now),
            int(new.now),
            opt_text(by.address.as_deref()),
        ],
    )
    .await?;
    audit::record(db, by, "sign_in.opened", None, Some(&new.id), &json!({})).await
}

/// The words every request for a sign-in link is answered with.
const LINK_ON_ITS_WAY: &str = "If an account has this address, a sign-in link is on its way to it. It works once, within 15 minutes.";

/// The body of a request for a link, or of a sign-in with one.
const LINK_BODY: usize = 1024;

/// `POST /api/admin/sign-in-link` with `{email}`: 202 with the same words
/// whether an account has the address or not. For a live account, a link
/// goes out through the outbox, as registrants' mail does. Counted per
/// client and per inbox before anything is looked up (429 past either).
pub async fn send_link(db: &Db, request: &Incoming) -> Result<Reply, OriginError> {
    let body = request.json(LINK_BODY)?;
    let mut errors = unknown_fields(&body, &["email"]);
    let email = Email::parse(body["email"].as_str().unwrap_or_default())
        .map_err(|e| errors.push(FieldError::new("email", e.0)))
        .ok();
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(OriginError::Invalid(errors));
    };
    attempts::sign_in_link(db, request, &email.mailbox(), now_secs()).await?;
    // A failure past this point is logged, not answered: the answer for an
    // address an account has must read as the one for any other.
    if let Err(e) = link_if_known(db, &email.canonical(false)).await {
        eprintln!("origin: a sign-in link could not be written: {e}");
    }
    Ok(respond::json(202, &json!({ "detail": LINK_ON_ITS_WAY })))
}

/// Mails a sign-in link to the live account whose address is `canonical`,
/// if there is one (delivered after the answer, as registrants' mail is).
async fn link_if_known(db: &Db, canonical: &str) -> Result<(), OriginError> {
    // The outbox's own lock: a request anyone may send takes no lock that
    // holds up registrations or organizers.
    db.transaction(Scope::Outbox, async |db| {
        let Some(account) = db
            .row(
                "SELECT id, email, name FROM accounts
                 WHERE email_canonical = ? AND revoked_at IS NULL",
                [text(canonical)],
            )
            .await?
        else {
            return Ok(());
        };
        let to = Email::parse(&account.text("email"))
            .map_err(|_| OriginError::Database("an account's stored address is invalid".into()))?;
        let (id, name) = (account.text("id"), account.text("name"));
        mail_link(db, &id, &to, &name, Mailed::SignIn).await
    })
    .await
}

/// What a mailed link is for.
pub enum Mailed<'a> {
    /// Asked for on the sign-in page.
    SignIn,
    /// Sent with a new account, by the organizer named.
    Invitation { by: &'a str },
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Mails account `account` (at `to`, named `name`) a link that opens a
/// sign-in once before it expires, through the outbox, in the caller's
/// transaction. Links and their mail are deleted a day after the longest
/// of them expires, used or not.
pub async fn mail_link(
    db: &Db,
    account: &str,
    to: &Email,
    name: &str,
    mailed: Mailed<'_>,
) -> Result<(), OriginError> {
    let now = jiff::Timestamp::now().as_millisecond();
    let kept_since = now - sign_in::INVITATION_MS - DAY_MS;
    db.exec(
        "DELETE FROM sign_in_links WHERE created_ms < ?",
        [int(kept_since)],
    )
    .await?;
    db.exec(
        "DELETE FROM outbox WHERE event IS NULL AND created_ms < ?
             AND state NOT IN ('queued', 'failed')",
        [int(kept_since)],
    )
    .await?;
    let lifetime = match mailed {
        Mailed::SignIn => sign_in::LINK_MS,
        Mailed::Invitation { .. } => sign_in::INVITATION_MS,
    };
    let secret = crate::tokens::random();
    db.exec(
        "INSERT INTO sign_in_links (hash, account, created_ms, expires_ms) VALUES (?, ?, ?, ?)",
        [
            text(token_hash(&secret)),
            text(account),
            int(now),
            int(now + lifetime),
        ],
    )
    .await?;
    let link = messages::sign_in_link(crate::outbox::public_url().await?, &secret);
    let (kind, mail) = match mailed {
        Mailed::SignIn => (
            "sign_in_link",
            messages::sign_in(name, &link, lifetime / 60_000),
        ),
        Mailed::Invitation { by } => (
            "invitation",
            messages::invitation(name, by, &link, lifetime / DAY_MS),
        ),
    };
    crate::outbox::write_organization_mail(db, to, kind, &mail).await
}

/// `POST /api/admin/sign-in` with `{link}` and no bearer token: the
/// secret of a mailed link, used once within its lifetime, opens a sign-in
/// for its account (201 as with a token). Every try is counted as a
/// sign-in before the link is looked at; a wrong, used or old link is 401.
pub async fn redeem(db: &Db, request: &Incoming) -> Result<Reply, OriginError> {
    let body = request.json(LINK_BODY)?;
    let errors = unknown_fields(&body, &["link"]);
    if !errors.is_empty() {
        return Err(OriginError::Invalid(errors));
    }
    let secret = body["link"].as_str().unwrap_or_default();
    let attempt = attempts::sign_in(db, request, now_secs()).await?;
    let now = jiff::Timestamp::now().as_millisecond();
    let account = match secret {
        "" => None,
        secret => {
            db.row(
                "SELECT a.id AS account, a.email FROM sign_in_links l
                 JOIN accounts a ON a.id = l.account
                 WHERE l.hash = ? AND l.used_ms IS NULL AND l.expires_ms > ?
                     AND a.revoked_at IS NULL",
                [text(token_hash(secret)), int(now)],
            )
            .await?
        }
    };
    match attempt {
        Some(attempt) if account.is_some() => attempt.right().await,
        Some(attempt) => attempt.wrong().await,
        None => {}
    }
    let Some(account) = account else {
        return Err(OriginError::Unauthorized(
            "Organizer requests need a valid bearer token, sign-in link or sign-in.",
        ));
    };
    let by = Actor {
        name: account.text("email").into(),
        account: Some(account.text("account")),
        via: Some("link".into()),
        address: request.header(CLIENT_HEADER).map(str::to_string),
    };
    let (reply, new) = begin(&by, &Opened::Link, request).await;
    db.transaction(Scope::Whole, async |db| {
        // Used once: of two tries at once, one marks it and the other
        // finds it used.
        db.row(
            "UPDATE sign_in_links SET used_ms = ? WHERE hash = ? AND used_ms IS NULL
             RETURNING account",
            [int(new.now), text(token_hash(secret))],
        )
        .await?
        .ok_or(OriginError::Unauthorized(
            "This sign-in link was used already.",
        ))?;
        record(db, &by, &Opened::Link, &new).await
    })
    .await?;
    Ok(reply)
}

/// `DELETE /api/admin/sign-in`: this browser signs out (204, its cookie
/// cleared); 404 for a request that no sign-in cookie signed.
pub async fn close(db: &Db, organizer: &Organizer) -> Result<Reply, OriginError> {
    let Proof::Session { id, .. } = &organizer.proof else {
        return Err(OriginError::NotFound("There is no browser sign-in to end."));
    };
    end_one(db, id, &organizer.actor).await?;
    let mut reply = no_content();
    set_cookie(&mut reply, &sign_in::clear_cookie(secure().await));
    Ok(reply)
}

/// `DELETE /api/admin/sign-ins/{id}`: an owner ends someone's sign-in; its
/// cookie stops working at once.
pub async fn end(db: &Db, id: &str, by: &Actor) -> Result<Reply, OriginError> {
    end_one(db, id, by).await?;
    Ok(no_content())
}

async fn end_one(db: &Db, id: &str, by: &Actor) -> Result<(), OriginError> {
    db.transaction(Scope::Whole, async |db| {
        db.row(
            "UPDATE organizer_sessions SET ended_ms = ? WHERE id = ? AND ended_ms IS NULL
             RETURNING id",
            [int(jiff::Timestamp::now().as_millisecond()), text(id)],
        )
        .await?
        .ok_or(OriginError::NotFound("There is no such live sign-in."))?;
        audit::record(db, by, "sign_in.ended", None, Some(id), &json!({})).await
    })
    .await
}

/// Ends every sign-in of an account (`column` `account`) or opened with a
/// token (`token`), among the caller's transaction: revoking either ends
/// them too.
pub async fn end_all(db: &Db, column: Opener, id: &str) -> Result<(), OriginError> {
    let column = match column {
        Opener::Account => "account",
        Opener::Token => "token",
    };
    db.exec(
        &format!(
            "UPDATE organizer_sessions SET ended_ms = ? WHERE {column} = ? AND ended_ms IS NULL"
        ),
        [int(jiff::Timestamp::now().as_millisecond()), text(id)],
    )
    .await
}

/// What a sign-in was opened for.
#[derive(Clone, Copy)]
pub enum Opener {
    Account,
    Token,
}

/// `GET /api/admin/accounts/{id}/sign-ins`: the account's sign-ins, newest
/// first, with when each ends or ended.
pub async fn list(db: &Db, account: &str) -> Result<Reply, OriginError> {
    let rows = db
        .rows(
            "SELECT id, token, created_ms, last_seen_ms, address, ended_ms FROM organizer_sessions
             WHERE account = ? ORDER BY created_ms DESC, id",
            [text(account)],
        )
        .await?;
    let now = jiff::Timestamp::now().as_millisecond();
    let sign_ins: Vec<_> = rows
        .iter()
        .map(|row| {
            let lifetime = Lifetime {
                created_ms: row.int("created_ms"),
                last_seen_ms: row.int("last_seen_ms"),
            };
            let ended = row.opt_int("ended_ms");
            json!({
                "id": row.text("id"),
                "token": row.opt_text("token"),
                "opened_at": at(lifetime.created_ms),
                "last_seen_at": at(lifetime.last_seen_ms),
                "address": row.opt_text("address"),
                "live": ended.is_none() && lifetime.live_at(now),
                "ends_at": at(ended.unwrap_or(lifetime.ends_ms())),
            })
        })
        .collect();
    Ok(respond::json(
        200,
        &json!({ "account": account, "sign_ins": sign_ins }),
    ))
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn set_cookie(reply: &mut Reply, cookie: &str) {
    if let Ok(value) = http::HeaderValue::from_str(cookie) {
        reply.headers_mut().insert(http::header::SET_COOKIE, value);
    }
}

/// Whether the cookie is Secure: whenever the site is served over HTTPS,
/// which leaves out development on `http://127.0.0.1` alone.
async fn secure() -> bool {
    crate::outbox::public_url()
        .await
        .map_or(true, |url| url.starts_with("https://"))
}
