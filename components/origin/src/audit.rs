//! The audit log: who did what, when, to which event, and from where.
//! Written in the same transaction as the change it records.

use crate::db::{Db, ROWS_PER_STATEMENT, Writes, int, opt_text, placeholders, text};
use crate::error::OriginError;
use serde_json::{Value, json};
use spin_sdk::sqlite::Value as Param;
use std::borrow::Cow;

/// Who made a change, as the log names them.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The person (an organizer account's email), or what acted on its own
    /// (`attendee`, `system`, `bootstrap token`).
    pub name: Cow<'static, str>,
    /// The organizer account, when one acted.
    pub account: Option<String>,
    /// How it proved itself: `token:{id}` for an API token, `bootstrap`.
    pub via: Option<String>,
    /// The client address the edge named (an IPv6 address's /64).
    pub address: Option<String>,
}

impl Actor {
    const fn named(name: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            account: None,
            via: None,
            address: None,
        }
    }

    /// A registrant, through their manage or confirm link.
    pub const ATTENDEE: Actor = Actor::named("attendee");
    /// The lifecycle and retention, acting on their own.
    pub const SYSTEM: Actor = Actor::named("system");

    fn params(
        &self,
        at: &str,
        action: &str,
        event: Option<&str>,
        target: Option<&str>,
        detail: &Value,
    ) -> [Param; 9] {
        [
            text(at),
            text(self.name.as_ref()),
            text(action),
            opt_text(event),
            opt_text(target),
            text(detail.to_string()),
            opt_text(self.account.as_deref()),
            opt_text(self.via.as_deref()),
            opt_text(self.address.as_deref()),
        ]
    }
}

const COLUMNS: &str = "at, actor, action, event, target, detail, actor_account, actor_via, address";

pub async fn record(
    db: &Db,
    actor: &Actor,
    action: &str,
    event: Option<&str>,
    target: Option<&str>,
    detail: &Value,
) -> Result<(), OriginError> {
    let at = jiff::Timestamp::now().to_string();
    db.exec(
        &format!(
            "INSERT INTO audit ({COLUMNS}) VALUES {}",
            placeholders(1, 9)
        ),
        actor.params(&at, action, event, target, detail),
    )
    .await
}

/// Entries about one event in the order they happened, among the
/// caller's `writes`, each `(actor, action, target, detail)`.
pub fn push_all(
    writes: &mut Writes,
    event: Option<&str>,
    entries: &[(&Actor, &str, String, Value)],
) {
    let at = jiff::Timestamp::now().to_string();
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let params = chunk.iter().flat_map(|(actor, action, target, detail)| {
            actor.params(&at, action, event, Some(target), detail)
        });
        writes.push(
            format!(
                "INSERT INTO audit ({COLUMNS}) VALUES {}",
                placeholders(chunk.len(), 9)
            ),
            params,
        );
    }
}

/// The newest `limit` entries for one event (or, with `None`, for every
/// event and for none), newest first; the addresses organizers came from
/// only `with_addresses` (for those who manage the accounts).
pub async fn list(
    db: &Db,
    event: Option<&str>,
    limit: i64,
    with_addresses: bool,
) -> Result<Value, OriginError> {
    let select = "SELECT id, at, actor, actor_account, actor_via, address, action, event,
                      target, detail FROM audit";
    let rows = match event {
        Some(event) => {
            db.rows(
                &format!("{select} WHERE event = ? ORDER BY id DESC LIMIT ?"),
                [text(event), int(limit)],
            )
            .await?
        }
        None => {
            db.rows(&format!("{select} ORDER BY id DESC LIMIT ?"), [int(limit)])
                .await?
        }
    };
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.int("id"),
                "at": r.text("at"),
                "actor": r.text("actor"),
                "actor_account": r.opt_text("actor_account"),
                "actor_via": r.opt_text("actor_via"),
                "address": r.opt_text("address").filter(|_| with_addresses),
                "action": r.text("action"),
                "event": r.opt_text("event"),
                "target": r.opt_text("target"),
                "detail": serde_json::from_str::<Value>(&r.text("detail")).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(match event {
        Some(event) => json!({ "event": event, "entries": entries }),
        None => json!({ "entries": entries }),
    })
}
