//! What each publish changed in the agenda, and the changelog as an Atom
//! feed (RFC 4287) that attendees and their apps can follow: one entry per
//! published version with its note and the sessions it added, removed or
//! moved (in time or room). The diff is computed once, at publish, against
//! the version before.

use crate::ids::{Slug, stable_guid};
use crate::model::{Draft, Session};
use crate::snapshot::ChangelogEntry;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A session named in a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    pub id: Slug,
    pub title: String,
}

/// The agenda's changes from one version to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaChanges {
    pub added: Vec<SessionRef>,
    pub removed: Vec<SessionRef>,
    /// Kept, but at another time or in another room.
    pub moved: Vec<SessionRef>,
}

impl AgendaChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.moved.is_empty()
    }
}

fn reference(s: &Session) -> SessionRef {
    SessionRef {
        id: s.id.clone(),
        title: s.title.clone(),
    }
}

/// `current` against `previous`, each list in session id order; the first
/// version adds every session.
pub fn diff(previous: Option<&Draft>, current: &Draft) -> AgendaChanges {
    let by_id = |d: &Draft| -> BTreeMap<Slug, Session> {
        d.sessions
            .iter()
            .map(|s| (s.id.clone(), s.clone()))
            .collect()
    };
    let before = previous.map(by_id).unwrap_or_default();
    let after = by_id(current);
    let mut changes = AgendaChanges::default();
    for (id, now) in &after {
        match before.get(id) {
            None => changes.added.push(reference(now)),
            Some(then)
                if (then.starts_at, then.ends_at, &then.room)
                    != (now.starts_at, now.ends_at, &now.room) =>
            {
                changes.moved.push(reference(now));
            }
            Some(_) => {}
        }
    }
    changes.removed = before
        .iter()
        .filter(|(id, _)| !after.contains_key(*id))
        .map(|(_, s)| reference(s))
        .collect();
    changes
}

/// The entry's text: its note, then what changed.
fn entry_text(entry: &ChangelogEntry) -> String {
    let mut lines = Vec::new();
    if !entry.note.is_empty() {
        lines.push(entry.note.clone());
    }
    let c = &entry.changes;
    for (label, list) in [
        ("Added", &c.added),
        ("Removed", &c.removed),
        ("Changed time or room", &c.moved),
    ] {
        if !list.is_empty() {
            let titles: Vec<&str> = list.iter().map(|s| s.title.as_str()).collect();
            lines.push(format!("{label}: {}.", titles.join("; ")));
        }
    }
    if lines.is_empty() {
        lines.push("No change to the agenda.".to_string());
    }
    lines.join("\n")
}

/// The Atom feed of `entries` (newest first) for the event `name`.
pub fn atom(slug: &Slug, name: &str, public_url: &str, entries: &[ChangelogEntry]) -> String {
    let base = public_url.trim_end_matches('/');
    let page = format!("{base}/events/{slug}");
    let updated = entries
        .iter()
        .map(|e| e.published_at)
        .max()
        .map_or_else(String::new, |t| t.to_string());
    let mut out = Vec::from(&b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"[..]);
    let mut w = Writer::new(&mut out);
    // Writing to memory cannot fail.
    let _ = w
        .create_element("feed")
        .with_attribute(("xmlns", "http://www.w3.org/2005/Atom"))
        .write_inner_content(|w| {
            let text = |w: &mut Writer<&mut Vec<u8>>, name: &str, value: &str| {
                w.create_element(name)
                    .write_text_content(BytesText::new(value))
                    .map(drop)
            };
            text(
                w,
                "id",
                &format!("urn:uuid:{}", stable_guid(slug, "feed", "")),
            )?;
            text(w, "title", &format!("{name}: agenda changes"))?;
            text(w, "updated", &updated)?;
            w.create_element("author")
                .write_inner_content(|w| text(w, "name", name))?;
            w.create_element("link")
                .with_attribute(("rel", "self"))
                .with_attribute((
                    "href",
                    format!("{base}/api/events/{slug}/changelog.atom").as_str(),
                ))
                .write_empty()?;
            w.create_element("link")
                .with_attribute(("href", page.as_str()))
                .write_empty()?;
            for entry in entries {
                let version = entry.version.to_string();
                w.create_element("entry").write_inner_content(|w| {
                    text(
                        w,
                        "id",
                        &format!("urn:uuid:{}", stable_guid(slug, "version", &version)),
                    )?;
                    let title = match entry.note.as_str() {
                        "" => format!("Version {version}"),
                        note => format!("Version {version}: {note}"),
                    };
                    text(w, "title", &title)?;
                    text(w, "updated", &entry.published_at.to_string())?;
                    w.create_element("link")
                        .with_attribute(("href", page.as_str()))
                        .write_empty()?;
                    w.create_element("content")
                        .with_attribute(("type", "text"))
                        .write_text_content(BytesText::new(&entry_text(entry)))
                        .map(drop)
                })?;
            }
            Ok::<_, std::io::Error>(())
        });
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{DEMO_SLUG, demo_draft};
    use quick_xml::Reader;
    use quick_xml::events::Event;

    #[test]
    fn a_diff_names_what_was_added_removed_and_moved() {
        let before = demo_draft();
        let mut after = before.clone();
        let removed = after.sessions.remove(0);
        after.sessions[0].starts_at += jiff::SignedDuration::from_mins(30);
        after.sessions[0].ends_at += jiff::SignedDuration::from_mins(30);
        after.sessions[1].title = "Retitled only".into();
        let mut added = after.sessions[2].clone();
        added.id = Slug::parse("brand-new").unwrap();
        after.sessions.push(added);
        let changes = diff(Some(&before), &after);
        assert_eq!(changes.removed, [reference(&removed)]);
        assert_eq!(changes.moved, [reference(&after.sessions[0])]);
        assert_eq!(changes.added.len(), 1);
        assert_eq!(changes.added[0].id.as_str(), "brand-new");
        assert!(diff(Some(&after), &after).is_empty());
        assert_eq!(diff(None, &after).added.len(), after.sessions.len());
    }

    #[test]
    fn the_feed_has_every_element_rfc_4287_requires() {
        let slug = Slug::parse(DEMO_SLUG).unwrap();
        let entries = [
            ChangelogEntry {
                version: 2,
                published_at: "2027-05-02T10:00:00Z".parse().unwrap(),
                note: "Keynote moved & <renamed>".into(),
                changes: AgendaChanges {
                    moved: vec![SessionRef {
                        id: Slug::parse("keynote").unwrap(),
                        title: "Opening keynote".into(),
                    }],
                    ..AgendaChanges::default()
                },
            },
            ChangelogEntry {
                version: 1,
                published_at: "2027-05-01T10:00:00Z".parse().unwrap(),
                note: String::new(),
                changes: AgendaChanges::default(),
            },
        ];
        let xml = atom(&slug, "Summit", "https://events.example.com/", &entries);
        let mut reader = Reader::from_str(&xml);
        let mut path: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    path.push(name);
                    seen.push(path.join("/"));
                }
                Event::Empty(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    seen.push(format!("{}/{name}", path.join("/")));
                }
                Event::End(_) => {
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        for required in [
            "feed",
            "feed/id",
            "feed/title",
            "feed/updated",
            "feed/author/name",
            "feed/link",
            "feed/entry/id",
            "feed/entry/title",
            "feed/entry/updated",
            "feed/entry/content",
        ] {
            assert!(seen.iter().any(|s| s == required), "{required} in {xml}");
        }
        assert_eq!(seen.iter().filter(|s| *s == "feed/entry").count(), 2);
        assert!(xml.contains("<updated>2027-05-02T10:00:00Z</updated>"));
        assert!(xml.contains("Keynote moved &amp; &lt;renamed&gt;"));
        assert!(xml.contains("Changed time or room: Opening keynote."));
        assert!(xml.contains("No change to the agenda."));
        // Entry ids are stable: the same version gives the same id.
        let again = atom(&slug, "Summit", "https://events.example.com", &entries);
        assert_eq!(xml, again);
    }
}
