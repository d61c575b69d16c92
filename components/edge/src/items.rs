//! One session with its speakers embedded, or one speaker with their
//! sessions embedded, exactly as served: rendered from a version's sessions
//! and speakers documents.

use bytes::Bytes;
use serde_json::{Value, json};

/// The document key of an item: `items/sessions/{id}`, `items/speakers/{id}`.
pub fn key(kind: &str, id: &str) -> String {
    format!("items/{kind}/{id}")
}

/// The answer for item `id` of `kind` (`sessions` or `speakers`), if there
/// is one.
pub fn render(
    sessions: &Value,
    speakers: &Value,
    version: u64,
    kind: &str,
    id: &str,
) -> Option<Bytes> {
    let find = |list: &Value, key: &str, id: &str| -> Option<Value> {
        list[key]
            .as_array()?
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
    };
    // An item links to the other kind under that kind's own name.
    let (mut item, linked, links) = match kind {
        "sessions" => (find(sessions, "sessions", id)?, speakers, "speakers"),
        _ => (find(speakers, "speakers", id)?, sessions, "sessions"),
    };
    let embedded: Vec<Value> = item[links]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().and_then(|l| find(linked, links, l)))
        .collect();
    item[links] = json!(embedded);
    item["version"] = json!(version);
    Some(Bytes::from(item.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents() -> (Value, Value) {
        (
            json!({"sessions": [
                {"id": "keynote", "title": "Keynote", "speakers": ["ada"]},
                {"id": "panel", "title": "Panel", "speakers": ["ada", "bob"]},
            ]}),
            json!({"speakers": [
                {"id": "ada", "name": "Ada", "sessions": ["keynote", "panel"]},
                {"id": "bob", "name": "Bob", "sessions": ["panel"]},
            ]}),
        )
    }

    #[test]
    fn an_item_embeds_what_it_links_to() {
        let (sessions, speakers) = documents();
        let panel: Value =
            serde_json::from_slice(&render(&sessions, &speakers, 4, "sessions", "panel").unwrap())
                .unwrap();
        assert_eq!(panel["speakers"][1]["name"], "Bob");
        assert_eq!(panel["version"], 4);
        let ada: Value =
            serde_json::from_slice(&render(&sessions, &speakers, 4, "speakers", "ada").unwrap())
                .unwrap();
        assert_eq!(ada["sessions"][0]["title"], "Keynote");
        assert!(render(&sessions, &speakers, 4, "sessions", "nope").is_none());
    }
}
