//! What the origin sends an edge after a publish or an archive: a notice
//! naming the event and its version and, for a publish, the version's
//! documents themselves, so that an edge applies it without asking back.
//! A large version travels in parts of bounded size; a document larger
//! than a part is cut into pieces. Every part carries the whole manifest
//! (each document's ETag and how many pieces it comes in), so an edge can
//! tell, from whatever parts it holds, whether the version is complete.
//! The body is JSON, gzipped on the wire.

use crate::ids::Slug;
use crate::seat_counts::SeatCounts;
use crate::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// What each document of the version is, in every part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub etag: String,
    /// How many pieces the document travels in (1 for a whole one).
    pub pieces: u32,
}

/// One piece of one document: all of it when its entry says one piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Piece {
    pub doc: String,
    /// From 0.
    pub index: u32,
    pub text: String,
}

/// One part of a pushed version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// From 0, of `parts`.
    pub part: u32,
    pub parts: u32,
    pub manifest: BTreeMap<String, Entry>,
    pub pieces: Vec<Piece>,
}

impl Part {
    /// Whether this part alone holds every document whole.
    pub fn is_whole(&self) -> bool {
        self.parts == 1
            && self.manifest.values().all(|e| e.pieces == 1)
            && self.pieces.len() == self.manifest.len()
    }

    /// The version's ETags, by document.
    pub fn etags(&self) -> BTreeMap<String, String> {
        self.manifest
            .iter()
            .map(|(name, entry)| (name.clone(), entry.etag.clone()))
            .collect()
    }

    /// Whether every piece this part carries is one its manifest expects.
    pub fn is_consistent(&self) -> bool {
        self.part < self.parts
            && self.pieces.iter().all(|p| {
                self.manifest
                    .get(&p.doc)
                    .is_some_and(|entry| p.index < entry.pieces)
            })
    }
}

/// The notice itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub slug: Slug,
    pub version: u64,
    /// The organizer archived the event: an edge drops it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
    /// Accepted and ignored: origins before pushes made each notice unique
    /// here; now the notice's query does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The version's documents, or a part of them; absent, the edge
    /// fetches the version itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Part>,
    /// The event's live seat counts, changed since the last push; then
    /// `version` is theirs, not a published version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<SeatCounts>,
}

/// `snapshot`'s documents in parts whose pieces hold at most `limit`
/// bytes of text together (a document larger than that is cut, at
/// character boundaries, into pieces of at most `limit`).
pub fn parts(snapshot: &Snapshot, limit: usize) -> Vec<Part> {
    let limit = limit.max(4);
    let mut manifest = BTreeMap::new();
    let mut pieces = Vec::new();
    for (name, doc) in &snapshot.docs {
        let cut = cut(&doc.body, limit);
        manifest.insert(
            name.clone(),
            Entry {
                etag: doc.etag.clone(),
                pieces: cut.len() as u32,
            },
        );
        pieces.extend(cut.into_iter().enumerate().map(|(index, text)| Piece {
            doc: name.clone(),
            index: index as u32,
            text: text.to_string(),
        }));
    }
    let mut packed: Vec<Vec<Piece>> = Vec::new();
    let mut size = 0;
    for piece in pieces {
        match packed.last_mut() {
            Some(current) if size + piece.text.len() <= limit => {
                size += piece.text.len();
                current.push(piece);
            }
            _ => {
                size = piece.text.len();
                packed.push(vec![piece]);
            }
        }
    }
    let count = packed.len().max(1) as u32;
    if packed.is_empty() {
        packed.push(Vec::new());
    }
    packed
        .into_iter()
        .enumerate()
        .map(|(part, pieces)| Part {
            part: part as u32,
            parts: count,
            manifest: manifest.clone(),
            pieces,
        })
        .collect()
}

/// `text` in pieces of at most `limit` bytes (one, possibly empty, when it
/// fits), each ending at a character boundary.
fn cut(text: &str, limit: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > limit {
        let mut end = limit;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// `body` gzipped.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// `gzipped` inflated, or `None` when it is not gzip or inflates past
/// `limit` bytes.
pub fn gunzip(gzipped: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .ok()?;
    (inflated.len() <= limit).then_some(inflated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Doc;
    use proptest::prelude::*;

    fn snapshot(docs: &[(&str, String)]) -> Snapshot {
        Snapshot {
            slug: Slug::parse("conf").unwrap(),
            version: 7,
            published_at: jiff::Timestamp::UNIX_EPOCH,
            docs: docs
                .iter()
                .map(|(name, body)| (name.to_string(), Doc::text(body.clone())))
                .collect(),
        }
    }

    /// The documents the parts carry, put back together.
    fn reassembled(parts: &[Part]) -> BTreeMap<String, String> {
        let mut pieces: BTreeMap<(String, u32), String> = BTreeMap::new();
        for part in parts {
            for piece in &part.pieces {
                pieces.insert((piece.doc.clone(), piece.index), piece.text.clone());
            }
        }
        parts[0]
            .manifest
            .iter()
            .map(|(name, entry)| {
                let text = (0..entry.pieces)
                    .map(|i| pieces[&(name.clone(), i)].clone())
                    .collect::<String>();
                (name.clone(), text)
            })
            .collect()
    }

    #[test]
    fn a_small_version_is_one_whole_part() {
        let s = snapshot(&[("event", "{}".into()), ("sessions", "[1,2]".into())]);
        let parts = parts(&s, 1024);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].is_whole() && parts[0].is_consistent());
        assert_eq!(parts[0].etags()["event"], s.docs["event"].etag);
    }

    #[test]
    fn a_document_larger_than_a_part_is_cut_at_character_boundaries() {
        let big = "é".repeat(100);
        let s = snapshot(&[("sessions", big.clone()), ("event", "{}".into())]);
        let parts = parts(&s, 33);
        assert!(parts.len() > 1);
        assert_eq!(parts[0].manifest["sessions"].pieces, 7, "200 bytes by 32");
        for part in &parts {
            assert!(!part.is_whole());
            assert!(part.is_consistent());
            let size: usize = part.pieces.iter().map(|p| p.text.len()).sum();
            assert!(size <= 33, "{size}");
        }
        assert_eq!(reassembled(&parts)["sessions"], big);
    }

    proptest! {
        #[test]
        fn parts_stay_within_the_limit_and_give_back_every_document(
            bodies in proptest::collection::vec("\\PC{0,300}", 1..6),
            limit in 4usize..200,
        ) {
            let docs: Vec<(String, String)> = bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| (format!("doc{i}"), body))
                .collect();
            let named: Vec<(&str, String)> = docs.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
            let s = snapshot(&named);
            let parts = parts(&s, limit);
            for (i, part) in parts.iter().enumerate() {
                prop_assert_eq!(part.part as usize, i);
                prop_assert_eq!(part.parts as usize, parts.len());
                prop_assert!(part.is_consistent());
                let size: usize = part.pieces.iter().map(|p| p.text.len()).sum();
                prop_assert!(size <= limit);
            }
            let back = reassembled(&parts);
            for (name, body) in &docs {
                prop_assert_eq!(&back[name], body);
            }
        }
    }

    #[test]
    fn gzip_round_trips_and_inflation_is_bounded() {
        let body = b"agenda ".repeat(1000);
        let packed = gzip(&body);
        assert!(packed.len() < body.len() / 10);
        assert_eq!(gunzip(&packed, body.len()).as_deref(), Some(&body[..]));
        assert_eq!(
            gunzip(&packed, body.len() - 1),
            None,
            "a bomb stops at the limit"
        );
        assert_eq!(gunzip(b"not gzip", 100), None);
    }

    #[test]
    fn a_notice_without_a_push_reads_as_before() {
        let notice: Notice = serde_json::from_str(r#"{"slug":"conf","version":3}"#).unwrap();
        assert_eq!(notice.push, None);
        assert!(!notice.archived);
        assert_eq!(
            serde_json::to_value(Notice {
                nonce: None,
                ..notice
            })
            .unwrap(),
            serde_json::json!({"slug": "conf", "version": 3})
        );
    }
}
