//! The audit log: who did what, when, to which event. Written in the same
//! transaction as the change it records.

use crate::db::{Db, ROWS_PER_STATEMENT, Writes, int, placeholders, text};
use crate::error::OriginError;
use serde_json::{Value, json};

pub async fn record(
    db: &Db,
    actor: &str,
    action: &str,
    event: Option<&str>,
    target: Option<&str>,
    detail: &Value,
) -> Result<(), OriginError> {
    db.exec(
        "INSERT INTO audit (at, actor, action, event, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [
            text(jiff::Timestamp::now().to_string()),
            text(actor),
            text(action),
            event.map_or(spin_sdk::sqlite::Value::Null, text),
            target.map_or(spin_sdk::sqlite::Value::Null, text),
            text(detail.to_string()),
        ],
    )
    .await
}

/// Entries about one event in the order they happened, among the
/// caller's `writes`, each `(actor, action, target, detail)`.
pub fn push_all(writes: &mut Writes, event: Option<&str>, entries: &[(&str, &str, String, Value)]) {
    let at = jiff::Timestamp::now().to_string();
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let params = chunk.iter().flat_map(|(actor, action, target, detail)| {
            [
                text(&at),
                text(*actor),
                text(*action),
                event.map_or(spin_sdk::sqlite::Value::Null, text),
                text(target),
                text(detail.to_string()),
            ]
        });
        writes.push(
            format!(
                "INSERT INTO audit (at, actor, action, event, target, detail) VALUES {}",
                placeholders(chunk.len(), 6)
            ),
            params,
        );
    }
}

/// The newest `limit` entries for one event, newest first.
pub async fn list(db: &Db, event: &str, limit: i64) -> Result<Value, OriginError> {
    let rows = db
        .rows(
            "SELECT id, at, actor, action, target, detail FROM audit
             WHERE event = ? ORDER BY id DESC LIMIT ?",
            [text(event), int(limit)],
        )
        .await?;
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.int("id"),
                "at": r.text("at"),
                "actor": r.text("actor"),
                "action": r.text("action"),
                "target": r.opt_text("target"),
                "detail": serde_json::from_str::<Value>(&r.text("detail")).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(json!({ "event": event, "entries": entries }))
}
