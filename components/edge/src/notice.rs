//! `POST /_edge/publish`: the origin's signed notice that a version was
//! published, with its documents or a part of them (applied with no
//! request back to the origin), or without (the edge fetches the version),
//! that the event was archived, or that its seat counts changed (with
//! them). Forged, stale and replayed notices are
//! refused (each signature is remembered in KV, across the edge's
//! instances, for as long as it would verify); a notice for a version the
//! edge already holds (one overtaken by a newer notice) changes nothing.

use crate::cache::{self, Pushed, now_ms};
use crate::config::OriginLink;
use crate::error::EdgeError;
use crate::forward;
use crate::kv;
use eventfront_domain::push::{self, Notice};
use eventfront_domain::replay::Seen;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::signing::{
    self, BodyDigest, CONTENT_DIGEST_HEADER, Direction, Message, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use serde_json::json;
use spin_sdk::http::Request;

/// A notice that names a version only.
const MAX_NOTICE: usize = 4 * 1024;
/// A notice carrying documents, as sent (gzipped) and once inflated: a
/// part of a version is at most the origin's `push_part_bytes` (512 KiB by
/// default) of documents, and the rest of the notice is small.
const MAX_PUSH: usize = 4 << 20;
const MAX_PUSH_INFLATED: usize = 16 << 20;

/// Where the signatures of the notices accepted lately are kept.
const SEEN_KEY: &str = "notices-seen";

pub async fn receive(request: Request) -> Result<Reply, EdgeError> {
    let link = OriginLink::get().await?;
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let forged = |_| EdgeError::Unauthorized("Only the origin may announce a publish.");
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = parts.method.as_str();
    let verify = |digest: BodyDigest| {
        link.verifier
            .verify(
                &Message::of_digest(Direction::ToEdge, method, target, digest).covering(header),
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
                now_ms() / 1000,
            )
            .map_err(forged)
    };
    // An unsigned body is never read: headers and their time window first,
    // and a notice with documents signs their digest, checked before them.
    link.verifier
        .precheck(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            now_ms() / 1000,
        )
        .map_err(forged)?;
    let body = match header(CONTENT_DIGEST_HEADER) {
        Some(sent) => {
            let digest = signing::parse_content_digest(sent).ok_or(EdgeError::Unauthorized(
                "Content-Digest must name the body's SHA-256.",
            ))?;
            verify(digest)?;
            let body = forward::bounded(&parts.headers, body, MAX_PUSH).await?;
            if signing::digest(&body) != digest {
                return Err(EdgeError::Unauthorized(
                    "The notice's body is not the one its digest names.",
                ));
            }
            body
        }
        None => {
            let body = forward::bounded(&parts.headers, body, MAX_NOTICE).await?;
            verify(signing::digest(&body))?;
            body
        }
    };
    let body = match header("content-encoding") {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => push::gunzip(&body, MAX_PUSH_INFLATED)
            .ok_or_else(|| EdgeError::BadQuery("The notice is not gzip, or too large.".into()))?,
        Some(_) => return Err(EdgeError::UnsupportedMediaType),
    };
    let notice: Notice = serde_json::from_slice(&body)
        .map_err(|e| EdgeError::BadQuery(format!("The notice is not valid: {e}.")))?;
    if notice
        .push
        .as_ref()
        .is_some_and(|part| !part.is_consistent())
    {
        return Err(EdgeError::BadQuery(
            "The notice's pieces do not match its manifest.".into(),
        ));
    }
    let window = link.verifier.replay_window_secs();
    if !first_sight(header(SIGNATURE_HEADER).unwrap_or_default(), window).await {
        return Err(EdgeError::Replayed);
    }
    let slug = notice.slug.as_str();
    if let Some(counts) = &notice.seats {
        if counts.event != notice.slug || counts.version != notice.version {
            return Err(EdgeError::BadQuery(
                "The notice's seat counts are not the event's it names.".into(),
            ));
        }
        let held = cache::counts::apply_push(counts).await;
        return Ok(respond::json(
            200,
            &json!({ "slug": slug, "seats": notice.version, "held": held }),
        ));
    }
    if notice.archived {
        let withdrawn = cache::withdraw_archived(slug, notice.version).await;
        return Ok(respond::json(
            200,
            &json!({ "slug": slug, "archived": notice.version, "withdrawn": withdrawn }),
        ));
    }
    let answer = match &notice.push {
        None => {
            let held = cache::ensure_version(slug, notice.version).await?;
            json!({ "slug": slug, "announced": notice.version, "held": held })
        }
        Some(part) => match cache::apply_push(slug, notice.version, part).await? {
            Pushed::Held(held) => {
                json!({ "slug": slug, "announced": notice.version, "held": held, "complete": true })
            }
            Pushed::Awaiting(documents) => json!({
                "slug": slug, "announced": notice.version, "complete": false,
                "awaiting_documents": documents,
            }),
        },
    };
    Ok(respond::json(200, &answer))
}

/// Whether a notice signed `signature` was not accepted before, by any
/// instance; if so it is remembered. Two notices arriving at two instances
/// at once may each write the list without the other's, leaving that one
/// open to a replay; and while KV fails every notice is taken. Either way
/// a replay costs at most a fetch: versions never go backwards.
async fn first_sight(signature: &str, window: i64) -> bool {
    let mut seen: Seen = kv::get_json(SEEN_KEY).await.unwrap_or_default();
    if !seen.admit(signature, now_ms() / 1000, window) {
        return false;
    }
    kv::set_json(SEEN_KEY, &seen).await;
    true
}
