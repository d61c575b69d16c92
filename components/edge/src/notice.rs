//! `POST /_edge/publish`: the origin's signed notice that a version was
//! published. Forged or stale notices are refused; a notice for a version
//! the edge already holds (a replay, or one overtaken by a newer notice)
//! changes nothing.

use crate::cache::{self, now_ms};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use eventfront_domain::Slug;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::signing::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde::Deserialize;
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;

const MAX_NOTICE: usize = 4 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    slug: Slug,
    version: u64,
}

pub async fn receive(config: &EdgeConfig, request: Request) -> Result<Reply, EdgeError> {
    let (parts, body) = request.into_parts();
    let body = body
        .bytes()
        .await
        .map_err(|e| EdgeError::BadQuery(format!("the body could not be read: {e:?}")))?;
    if body.len() > MAX_NOTICE {
        return Err(EdgeError::TooLarge(MAX_NOTICE));
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    config
        .verifier
        .verify(
            parts.method.as_str(),
            target,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            now_ms() / 1000,
        )
        .map_err(|_| EdgeError::Unauthorized("Only the origin may announce a publish."))?;
    let notice: Notice = serde_json::from_slice(&body)
        .map_err(|e| EdgeError::BadQuery(format!("The notice is not valid: {e}.")))?;
    let held = cache::ensure_version(config, notice.slug.as_str(), notice.version).await?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "slug": notice.slug, "announced": notice.version, "held": held }),
    ))
}
