//! The draft in SQL: the event row with its tracks and rooms, and the
//! sessions and speakers, read and written as the domain's types.

use crate::db::{Db, int, opt_int, text};
use crate::error::OriginError;
use eventfront_domain::Slug;
use eventfront_domain::model::{Draft, Event, Room, Session, Speaker, Track};

fn corrupt(e: impl std::fmt::Display) -> OriginError {
    OriginError::Database(format!("stored draft does not parse: {e}"))
}

pub async fn load_event(db: &Db, slug: &Slug) -> Result<Option<Event>, OriginError> {
    let Some(row) = db
        .row(
            "SELECT draft FROM events WHERE slug = ?",
            [text(slug.as_str())],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut event: Event = serde_json::from_str(&row.text("draft")).map_err(corrupt)?;
    event.tracks = db
        .rows(
            "SELECT id, name FROM tracks WHERE event = ? ORDER BY position",
            [text(slug.as_str())],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Track {
                id: Slug::parse(&r.text("id")).map_err(corrupt)?,
                name: r.text("name"),
            })
        })
        .collect::<Result<_, OriginError>>()?;
    event.rooms = db
        .rows(
            "SELECT id, name, capacity FROM rooms WHERE event = ? ORDER BY position",
            [text(slug.as_str())],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Room {
                id: Slug::parse(&r.text("id")).map_err(corrupt)?,
                name: r.text("name"),
                capacity: r.opt_int("capacity").map(|c| c as u32),
            })
        })
        .collect::<Result<_, OriginError>>()?;
    Ok(Some(event))
}

pub async fn load_sessions(db: &Db, slug: &Slug) -> Result<Vec<Session>, OriginError> {
    db.rows(
        "SELECT data FROM sessions WHERE event = ? ORDER BY starts_at, id",
        [text(slug.as_str())],
    )
    .await?
    .iter()
    .map(|r| serde_json::from_str(&r.text("data")).map_err(corrupt))
    .collect()
}

pub async fn load_speakers(db: &Db, slug: &Slug) -> Result<Vec<Speaker>, OriginError> {
    db.rows(
        "SELECT data FROM speakers WHERE event = ? ORDER BY id",
        [text(slug.as_str())],
    )
    .await?
    .iter()
    .map(|r| serde_json::from_str(&r.text("data")).map_err(corrupt))
    .collect()
}

pub async fn load(db: &Db, slug: &Slug) -> Result<Option<Draft>, OriginError> {
    let Some(event) = load_event(db, slug).await? else {
        return Ok(None);
    };
    Ok(Some(Draft {
        event,
        sessions: load_sessions(db, slug).await?,
        speakers: load_speakers(db, slug).await?,
    }))
}

/// Creates or replaces the event's own fields, tracks and rooms.
pub async fn save_event(db: &Db, slug: &Slug, event: &Event) -> Result<(), OriginError> {
    let now = jiff::Timestamp::now().to_string();
    let core = Event {
        tracks: Vec::new(),
        rooms: Vec::new(),
        ..event.clone()
    };
    let core = serde_json::to_string(&core).map_err(corrupt)?;
    db.exec(
        "INSERT INTO events (slug, draft, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (slug) DO UPDATE SET draft = excluded.draft, updated_at = excluded.updated_at",
        [text(slug.as_str()), text(core), text(&now), text(&now)],
    )
    .await?;
    db.exec("DELETE FROM tracks WHERE event = ?", [text(slug.as_str())])
        .await?;
    for (position, track) in event.tracks.iter().enumerate() {
        db.exec(
            "INSERT INTO tracks (event, id, name, position) VALUES (?, ?, ?, ?)",
            [
                text(slug.as_str()),
                text(track.id.as_str()),
                text(&track.name),
                int(position as i64),
            ],
        )
        .await?;
    }
    db.exec("DELETE FROM rooms WHERE event = ?", [text(slug.as_str())])
        .await?;
    for (position, room) in event.rooms.iter().enumerate() {
        db.exec(
            "INSERT INTO rooms (event, id, name, capacity, position) VALUES (?, ?, ?, ?, ?)",
            [
                text(slug.as_str()),
                text(room.id.as_str()),
                text(&room.name),
                opt_int(room.capacity.map(i64::from)),
                int(position as i64),
            ],
        )
        .await?;
    }
    Ok(())
}

pub async fn save_session(db: &Db, slug: &Slug, session: &Session) -> Result<(), OriginError> {
    db.exec(
        "INSERT INTO sessions (event, id, starts_at, data) VALUES (?, ?, ?, ?)
         ON CONFLICT (event, id) DO UPDATE SET starts_at = excluded.starts_at, data = excluded.data",
        [
            text(slug.as_str()),
            text(session.id.as_str()),
            text(session.starts_at.to_string()),
            text(serde_json::to_string(session).map_err(corrupt)?),
        ],
    )
    .await
}

pub async fn save_speaker(db: &Db, slug: &Slug, speaker: &Speaker) -> Result<(), OriginError> {
    db.exec(
        "INSERT INTO speakers (event, id, data) VALUES (?, ?, ?)
         ON CONFLICT (event, id) DO UPDATE SET data = excluded.data",
        [
            text(slug.as_str()),
            text(speaker.id.as_str()),
            text(serde_json::to_string(speaker).map_err(corrupt)?),
        ],
    )
    .await
}

/// Replaces everything in the draft at once.
pub async fn replace(db: &Db, slug: &Slug, draft: &Draft) -> Result<(), OriginError> {
    save_event(db, slug, &draft.event).await?;
    db.exec(
        "DELETE FROM sessions WHERE event = ?",
        [text(slug.as_str())],
    )
    .await?;
    db.exec(
        "DELETE FROM speakers WHERE event = ?",
        [text(slug.as_str())],
    )
    .await?;
    for speaker in &draft.speakers {
        save_speaker(db, slug, speaker).await?;
    }
    for session in &draft.sessions {
        save_session(db, slug, session).await?;
    }
    Ok(())
}
