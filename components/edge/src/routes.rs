//! Which handler answers which method and path.

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use eventfront_domain::respond::{self, Reply};
use serde_json::{Map, Value, json};
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::key_value::Store;

/// Where the edge keeps what it knows of each event it holds.
const EVENTS_KEY: &str = "meta/events";

pub async fn route(request: Request) -> Result<Reply, EdgeError> {
    let path = request.uri().path().to_string();
    let get = request.method() == http::Method::GET;
    match path.as_str() {
        "/_edge/status" if get => status().await,
        "/api/health" if get => health().await,
        "/_edge/status" | "/api/health" => Err(EdgeError::MethodNotAllowed { allow: "GET" }),
        _ => Err(EdgeError::NotFound),
    }
}

/// The edge's region and the version it holds of each event.
async fn status() -> Result<Reply, EdgeError> {
    let config = EdgeConfig::load().await?;
    let store = Store::open_default()
        .await
        .map_err(|e| EdgeError::Store(format!("{e:?}")))?;
    let events: Map<String, Value> = match store.get(EVENTS_KEY).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map_err(|e| EdgeError::Store(format!("{EVENTS_KEY}: {e}")))?,
        Ok(None) => Map::new(),
        Err(e) => return Err(EdgeError::Store(format!("{e:?}"))),
    };
    Ok(respond::json(
        200,
        &json!({ "region": config.region, "events": events }),
    ))
}

/// The edge and its origin, checked end to end.
async fn health() -> Result<Reply, EdgeError> {
    let config = EdgeConfig::load().await?;
    let response = spin_sdk::http::get(format!("{}/health", config.origin_url))
        .await
        .map_err(|e| EdgeError::OriginUnavailable(format!("{e:?}")))?;
    let status = response.status();
    let body = response
        .into_body()
        .bytes()
        .await
        .map_err(|e| EdgeError::OriginUnavailable(format!("{e:?}")))?;
    let origin: Value = serde_json::from_slice(&body)
        .map_err(|e| EdgeError::OriginUnavailable(format!("origin answered {status}: {e}")))?;
    if !status.is_success() {
        return Err(EdgeError::OriginUnavailable(format!(
            "origin answered {status}"
        )));
    }
    Ok(respond::json(
        200,
        &json!({ "status": "ok", "region": config.region, "origin": origin }),
    ))
}
