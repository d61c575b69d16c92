//! Publishing: the draft becomes the next immutable version, rendered as
//! the documents edges serve; a rollback republishes an old version's
//! content as the next version; archiving withdraws the event until it is
//! published again. After each, every configured edge is told at once,
//! signed, and whether it acknowledged is recorded (or reported).

use crate::audit::{self, Actor};
use crate::auth::{now_secs, signing_keys};
use crate::db::{Db, Scope, int, opt_int, text};
use crate::draft;
use crate::error::OriginError;
use crate::request::Incoming;
use crate::seats;
use eventfront_domain::feed;
use eventfront_domain::model::Draft;
use eventfront_domain::push::{self, Notice};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::seat_counts::SeatCounts;
use eventfront_domain::session_seats::Clash;
use eventfront_domain::signing::{
    self, BodyDigest, CONTENT_DIGEST_HEADER, Direction, Message, Secret,
};
use eventfront_domain::snapshot::{self, ChangelogEntry, Snapshot};
use eventfront_domain::{FieldError, Slug};
use futures::FutureExt;
use serde_json::{Value, json};
use spin_sdk::http::body::IncomingBodyExt;
use std::time::Duration;

const MAX_NOTE: usize = 500;
/// How long one edge gets to acknowledge a notice.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);
/// The edge route that receives notices.
pub const NOTICE_PATH: &str = "/_edge/publish";

fn note_from(body: &Value) -> Result<String, OriginError> {
    match body.get("note") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= MAX_NOTE => Ok(s.trim().to_string()),
        Some(_) => Err(OriginError::invalid(
            "note",
            "must be text of at most 500 characters",
        )),
    }
}

/// A version written: as edges serve it, and the picks of sessions that
/// its moves left overlapping, for the organizer to settle.
pub struct Written {
    pub snapshot: Snapshot,
    pub clashes: Vec<Clash>,
}

/// Writes version N+1 of `slug` from `draft`. Runs inside the caller's
/// transaction.
pub async fn publish_in(
    db: &Db,
    slug: &Slug,
    draft: &Draft,
    note: &str,
    from_version: Option<i64>,
    by: &Actor,
) -> Result<Written, OriginError> {
    let current = db
        .row(
            "SELECT current_version FROM events WHERE slug = ?",
            [text(slug.as_str())],
        )
        .await?
        .ok_or(OriginError::NotFound("There is no such event draft."))?;
    let version = current.int("current_version") + 1;
    let earlier = db
        .rows(
            "SELECT version, published_at, note, changes, draft FROM snapshots
             WHERE event = ? ORDER BY version",
            [text(slug.as_str())],
        )
        .await?;
    let changelog: Vec<ChangelogEntry> = earlier
        .iter()
        .filter_map(|r| {
            Some(ChangelogEntry {
                version: r.int("version") as u64,
                published_at: r.text("published_at").parse().ok()?,
                note: r.text("note"),
                changes: serde_json::from_str(&r.text("changes")).unwrap_or_default(),
            })
        })
        .collect();
    let previous: Option<Draft> = earlier
        .last()
        .map(|r| serde_json::from_str(&r.text("draft")))
        .transpose()
        .map_err(|e| OriginError::Database(e.to_string()))?;
    let now = jiff::Timestamp::now();
    let entry = ChangelogEntry {
        version: version as u64,
        published_at: now,
        note: note.to_string(),
        changes: feed::diff(previous.as_ref(), draft),
    };
    let changes = stored(&entry.changes)?;
    let public_url = crate::outbox::public_url().await?;
    let built = snapshot::build(slug, draft, entry, &changelog, public_url);
    db.exec(
        "INSERT INTO snapshots
         (event, version, published_at, note, action, from_version, draft, bundle, changes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            text(slug.as_str()),
            int(version),
            text(now.to_string()),
            text(note),
            text(if from_version.is_some() {
                "rollback"
            } else {
                "publish"
            }),
            opt_int(from_version),
            text(stored(draft)?),
            text(stored(&built)?),
            text(changes),
        ],
    )
    .await?;
    // Holds that lapsed before this publish expire under the settings they
    // lapsed under, as they would have on time; only then do the new ones
    // apply.
    seats::settled(db, slug.as_str(), now).await?;
    let registration = &draft.event.registration;
    db.exec(
        "UPDATE events SET current_version = ?, reg_open = ?, capacity = ?, opens_at_ms = ?, closes_at_ms = ?,
             confirm_email = ?, hold_minutes = ?, archived_at_ms = NULL
         WHERE slug = ?",
        [
            int(version),
            int(registration.open as i64),
            opt_int(registration.capacity.map(i64::from)),
            opt_int(registration.opens_at.map(seats::to_ms)),
            opt_int(registration.closes_at.map(seats::to_ms)),
            int(registration.confirm_email as i64),
            int(i64::from(registration.hold_minutes)),
            text(slug.as_str()),
        ],
    )
    .await?;
    // Sessions' new limits first: a registration the event's new capacity
    // promotes joins its deferred picks under them.
    let clashes = crate::session_seats::publish(db, slug.as_str(), &draft.sessions).await?;
    // A raised or removed capacity is a seat added: the line moves first.
    seats::promote_for_new_settings(db, slug.as_str()).await?;
    let (action, detail) = match from_version {
        Some(from) => (
            "event.rolled_back",
            json!({ "version": version, "from_version": from, "note": note }),
        ),
        None => (
            "event.published",
            json!({ "version": version, "note": note }),
        ),
    };
    audit::record(db, by, action, Some(slug.as_str()), None, &detail).await?;
    Ok(Written {
        snapshot: built,
        clashes,
    })
}

/// The stored form of a draft or snapshot; failing here is a bug, not bad input.
fn stored<T: serde::Serialize>(value: &T) -> Result<String, OriginError> {
    serde_json::to_string(value).map_err(|e| OriginError::Database(e.to_string()))
}

/// `POST /api/admin/events/{slug}/publish`
pub async fn publish(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(4 * 1024)?;
    reject_unknown(&body, &["note"])?;
    let note = note_from(&body)?;
    let written = db
        .transaction(Scope::Event(slug.as_str()), async |db| {
            let draft = draft::load(db, slug)
                .await?
                .ok_or(OriginError::NotFound("There is no such event draft."))?;
            publish_in(db, slug, &draft, &note, None, by).await
        })
        .await?;
    announce(db, &written).await
}

/// `POST /api/admin/events/{slug}/rollback`: the old version's content
/// becomes both the next version and the draft again, so the next publish
/// does not bring back what was rolled back.
pub async fn rollback(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(4 * 1024)?;
    reject_unknown(&body, &["version", "note"])?;
    let note = note_from(&body)?;
    let Some(target) = body
        .get("version")
        .and_then(Value::as_i64)
        .filter(|v| *v > 0)
    else {
        return Err(OriginError::invalid(
            "version",
            "must be a published version number",
        ));
    };
    let written = db
        .transaction(Scope::Event(slug.as_str()), async |db| {
            let old = db
                .row(
                    "SELECT draft FROM snapshots WHERE event = ? AND version = ?",
                    [text(slug.as_str()), int(target)],
                )
                .await?
                .ok_or_else(|| {
                    OriginError::invalid("version", "is not a published version of this event")
                })?;
            let old: Draft = serde_json::from_str(&old.text("draft"))
                .map_err(|e| OriginError::Database(e.to_string()))?;
            draft::replace(db, slug, &old).await?;
            let note = if note.is_empty() {
                format!("Rolled back to version {target}")
            } else {
                note.clone()
            };
            publish_in(db, slug, &old, &note, Some(target), by).await
        })
        .await?;
    announce(db, &written).await
}

fn reject_unknown(body: &Value, allowed: &[&str]) -> Result<(), OriginError> {
    let errors: Vec<FieldError> = crate::admin::unknown_fields(body, allowed);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(OriginError::Invalid(errors))
    }
}

/// Pushes the version to every edge, records who acknowledged, and answers
/// the organizer, naming the picks its moves left overlapping.
async fn announce(db: &Db, written: &Written) -> Result<Reply, OriginError> {
    let snapshot = &written.snapshot;
    let (slug, version) = (&snapshot.slug, snapshot.version as i64);
    let outcomes = notify_edges(Announcement::Published(snapshot)).await?;
    let now = jiff::Timestamp::now().to_string();
    for (edge, outcome) in &outcomes {
        db.exec(
            "INSERT INTO edge_notices (event, version, edge, outcome, at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (event, version, edge) DO UPDATE SET outcome = excluded.outcome,
                 at = excluded.at",
            [
                text(slug.as_str()),
                int(version),
                text(edge),
                text(outcome),
                text(&now),
            ],
        )
        .await?;
    }
    let mut answer = json!({ "version": version, "edges": edge_report(&outcomes) });
    if !written.clashes.is_empty() {
        answer["clashing_picks"] = written
            .clashes
            .iter()
            .map(|c| json!({ "registration": c.registration, "sessions": c.sessions }))
            .collect();
    }
    Ok(respond::json(201, &answer))
}

fn edge_report(outcomes: &[(String, String)]) -> Vec<Value> {
    outcomes
        .iter()
        .map(|(edge, outcome)| json!({ "edge": edge, "acknowledged": outcome == "acknowledged", "outcome": outcome }))
        .collect()
}

/// `POST /api/admin/events/{slug}/archive`: the event leaves the public
/// list, every edge is told to drop it, and registration stops. Its data
/// stays; publishing again brings it back. Archiving again is a no-op.
pub async fn archive(
    db: &Db,
    slug: &Slug,
    request: &Incoming,
    by: &Actor,
) -> Result<Reply, OriginError> {
    let body = request.json(4 * 1024)?;
    reject_unknown(&body, &["note"])?;
    let note = note_from(&body)?;
    let version = db
        .transaction(Scope::Event(slug.as_str()), async |db| {
            let event = db
                .row(
                    "SELECT current_version, archived_at_ms FROM events
                     WHERE slug = ? AND current_version > 0",
                    [text(slug.as_str())],
                )
                .await?
                .ok_or(OriginError::NotFound("There is no such published event."))?;
            let version = event.int("current_version");
            if event.opt_int("archived_at_ms").is_none() {
                db.exec(
                    "UPDATE events SET archived_at_ms = ? WHERE slug = ?",
                    [
                        int(jiff::Timestamp::now().as_millisecond()),
                        text(slug.as_str()),
                    ],
                )
                .await?;
                let detail = json!({ "version": version, "note": note });
                audit::record(db, by, "event.archived", Some(slug.as_str()), None, &detail).await?;
            }
            Ok(version)
        })
        .await?;
    let outcomes = notify_edges(Announcement::Archived {
        slug,
        version: version as u64,
    })
    .await?;
    Ok(respond::json(
        200,
        &json!({ "slug": slug, "archived": true, "version": version, "edges": edge_report(&outcomes) }),
    ))
}

/// The content type of a publish notice (covered by its signature).
const NOTICE_TYPE: &str = "application/json";

/// What the edges are told.
pub enum Announcement<'a> {
    /// A new version, pushed with its documents.
    Published(&'a Snapshot),
    /// The event was archived at `version`.
    Archived { slug: &'a Slug, version: u64 },
    /// The event's live seat counts changed.
    Seats(&'a SeatCounts),
}

/// One notice's body, as sent to every edge.
struct Body {
    bytes: bytes::Bytes,
    digest: BodyDigest,
    gzipped: bool,
}

impl Body {
    fn of(notice: &Notice) -> Self {
        let json = serde_json::to_vec(notice).unwrap_or_default();
        let (bytes, gzipped) = match notice.push {
            Some(_) => (push::gzip(&json), true),
            None => (json, false),
        };
        Self {
            digest: signing::digest(&bytes),
            bytes: bytes.into(),
            gzipped,
        }
    }
}

/// Tells every edge concurrently, each notice bounded by `NOTICE_TIMEOUT`;
/// returns `(edge, outcome)` pairs. A publish goes as its documents, in
/// parts of at most `push_part_bytes`, all at once; an edge that could not
/// take a part is then sent the version alone, which it fetches.
pub async fn notify_edges(
    announcement: Announcement<'_>,
) -> Result<Vec<(String, String)>, OriginError> {
    let config = crate::config::get().await;
    if config.edge_urls.is_empty() {
        return Ok(Vec::new());
    }
    let (secret, _) = signing_keys().await?;
    let notice = |push| match &announcement {
        Announcement::Published(snapshot) => Notice {
            slug: snapshot.slug.clone(),
            version: snapshot.version,
            archived: false,
            nonce: None,
            push,
            seats: None,
        },
        Announcement::Archived { slug, version } => Notice {
            slug: (*slug).clone(),
            version: *version,
            archived: true,
            nonce: None,
            push: None,
            seats: None,
        },
        Announcement::Seats(counts) => Notice {
            slug: counts.event.clone(),
            version: counts.version,
            archived: false,
            nonce: None,
            push: None,
            seats: Some((*counts).clone()),
        },
    };
    let bodies: Vec<Body> = match &announcement {
        Announcement::Published(snapshot) => push::parts(snapshot, config.push_part_bytes)
            .into_iter()
            .map(|part| Body::of(&notice(Some(part))))
            .collect(),
        Announcement::Archived { .. } | Announcement::Seats(_) => vec![Body::of(&notice(None))],
    };
    let pushed = matches!(announcement, Announcement::Published(_));
    let plain = Body::of(&notice(None));
    let (secret, plain, bodies) = (&secret, &plain, &bodies);
    let sends = config.edge_urls.iter().map(|url| async move {
        let outcomes =
            futures::future::join_all(bodies.iter().map(|body| send_notice(secret, url, body)))
                .await;
        let could_not_take = outcomes.iter().any(Outcome::could_not_take);
        let outcome = match outcomes
            .into_iter()
            .find(|o| !matches!(o, Outcome::Acknowledged))
        {
            None => Outcome::Acknowledged,
            Some(_) if pushed && could_not_take => send_notice(secret, url, plain).await,
            Some(failed) => failed,
        };
        (url.clone(), outcome.to_string())
    });
    Ok(futures::future::join_all(sends).await)
}

/// What an edge made of a notice.
enum Outcome {
    Acknowledged,
    Refused(u16),
    Unreachable(String),
    TimedOut,
}

impl Outcome {
    /// The edge answered, but could not take the documents: its store
    /// failed (5xx), or it does not take pushes (an edge older than them:
    /// 400, 413, 415). It can still fetch the version. (A refused
    /// signature, 401, would be refused again.)
    fn could_not_take(&self) -> bool {
        matches!(self, Outcome::Refused(status) if matches!(status, 400 | 413 | 415 | 500..))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Acknowledged => f.write_str("acknowledged"),
            Outcome::Refused(status) => write!(f, "refused ({status})"),
            Outcome::Unreachable(why) => write!(f, "unreachable ({why})"),
            Outcome::TimedOut => f.write_str("timed out"),
        }
    }
}

/// Sends `body` to the edge at `url`, signed with `secret` under a target
/// of its own: a random `notice` in its query makes each edge's copy of a
/// notice unlike any other (an edge refuses a signature it saw before),
/// while the body is made once for every edge.
async fn send_notice(secret: &Secret, url: &str, body: &Body) -> Outcome {
    let target = format!("{NOTICE_PATH}?notice={}", uuid::Uuid::new_v4().simple());
    let signed = secret.sign(
        &Message::of_digest(Direction::ToEdge, "POST", &target, body.digest)
            .covering(|name| (name == "content-type").then_some(NOTICE_TYPE)),
        now_secs(),
    );
    let mut request = http::Request::post(format!("{url}{target}"))
        .header(http::header::CONTENT_TYPE, NOTICE_TYPE)
        .header(
            CONTENT_DIGEST_HEADER,
            signing::content_digest_of(&body.digest),
        );
    if body.gzipped {
        request = request.header(http::header::CONTENT_ENCODING, "gzip");
    }
    for (name, value) in signed {
        request = request.header(name, value);
    }
    let request = match request.body(spin_sdk::http::FullBody::new(body.bytes.clone())) {
        Ok(request) => request,
        Err(e) => return Outcome::Unreachable(format!("invalid edge url: {e}")),
    };
    let send = async {
        match eventfront_domain::started::polled_again(spin_sdk::http::send(request)).await {
            Ok(response) => {
                let status = response.status();
                let _ = response.into_body().bytes().await;
                if status.is_success() {
                    Outcome::Acknowledged
                } else {
                    Outcome::Refused(status.as_u16())
                }
            }
            Err(e) => Outcome::Unreachable(format!("{e:?}")),
        }
    };
    futures::select! {
        outcome = send.fuse() => outcome,
        () = spin_sdk::time::sleep(NOTICE_TIMEOUT).fuse() => Outcome::TimedOut,
    }
}
