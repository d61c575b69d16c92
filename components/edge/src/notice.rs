//! `POST /_edge/publish`: the origin's signed notice that a version was
//! published, or that the event was archived. Forged, stale and replayed
//! notices are refused (each signature is remembered in KV, across the
//! edge's instances, for as long as it would verify); a notice for a
//! version the edge already holds (one overtaken by a newer notice)
//! changes nothing.

use crate::cache::{self, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::forward;
use crate::kv;
use eventfront_domain::Slug;
use eventfront_domain::replay::Seen;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::signing::{Direction, Message, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde::Deserialize;
use spin_sdk::http::Request;

const MAX_NOTICE: usize = 4 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    slug: Slug,
    version: u64,
    /// The organizer archived the event: drop it rather than fetch it.
    #[serde(default)]
    archived: bool,
    /// Random, so that no two notices are alike (two sent within a second
    /// would otherwise share a signature, and the second be refused).
    #[serde(default, rename = "nonce")]
    _nonce: Option<String>,
}

/// Where the signatures of the notices accepted lately are kept.
const SEEN_KEY: &str = "notices-seen";

pub async fn receive(config: &EdgeConfig, request: Request) -> Result<Reply, EdgeError> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let forged = |_| EdgeError::Unauthorized("Only the origin may announce a publish.");
    // Headers and their time window first: an unsigned body is never read.
    config
        .verifier
        .precheck(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            now_ms() / 1000,
        )
        .map_err(forged)?;
    let body = forward::bounded(&parts.headers, body, MAX_NOTICE).await?;
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    config
        .verifier
        .verify(
            &Message::new(Direction::ToEdge, parts.method.as_str(), target, &body).covering(header),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            now_ms() / 1000,
        )
        .map_err(forged)?;
    let notice: Notice = serde_json::from_slice(&body)
        .map_err(|e| EdgeError::BadQuery(format!("The notice is not valid: {e}.")))?;
    if !first_sight(config, header(SIGNATURE_HEADER).unwrap_or_default()).await {
        return Err(EdgeError::Replayed);
    }
    if notice.archived {
        let withdrawn = cache::withdraw_archived(notice.slug.as_str(), notice.version).await;
        return Ok(respond::json(
            200,
            &serde_json::json!({ "slug": notice.slug, "archived": notice.version, "withdrawn": withdrawn }),
        ));
    }
    let held = cache::ensure_version(config, notice.slug.as_str(), notice.version).await?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "slug": notice.slug, "announced": notice.version, "held": held }),
    ))
}

/// Whether a notice signed `signature` was not accepted before, by any
/// instance; if so it is remembered. Two notices arriving at two instances
/// at once may each write the list without the other's, leaving that one
/// open to a replay; and while KV fails every notice is taken. Either way
/// a replay costs at most a fetch: versions never go backwards.
async fn first_sight(config: &EdgeConfig, signature: &str) -> bool {
    let mut seen: Seen = kv::get_json(SEEN_KEY).await.unwrap_or_default();
    let window = config.verifier.replay_window_secs();
    if !seen.admit(signature, now_ms() / 1000, window) {
        return false;
    }
    kv::set_json(SEEN_KEY, &seen).await;
    true
}
