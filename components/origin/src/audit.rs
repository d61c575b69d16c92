//! The audit log: who did what, when, to which event. Written in the same
//! transaction as the change it records.

use crate::db::{Db, col_int, col_text, int, text};
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
                "id": col_int(r, 0),
                "at": col_text(r, 1),
                "actor": col_text(r, 2),
                "action": col_text(r, 3),
                "target": r.get::<&str>(4),
                "detail": serde_json::from_str::<Value>(&col_text(r, 5)).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(json!({ "event": event, "entries": entries }))
}
