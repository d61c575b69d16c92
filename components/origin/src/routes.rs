//! Which handler answers which method and path.

use crate::error::OriginError;
use eventfront_domain::respond::{self, Reply};
use spin_sdk::http::Request;
use spin_sdk::sqlite::Connection;

pub async fn route(request: Request) -> Result<Reply, OriginError> {
    let path = request.uri().path().to_string();
    match (request.method().as_str(), path.as_str()) {
        ("GET", "/health") => health().await,
        (_, "/health") => Err(OriginError::MethodNotAllowed { allow: "GET" }),
        _ => Err(OriginError::NotFound),
    }
}

/// Healthy means the database answers a query.
async fn health() -> Result<Reply, OriginError> {
    let db = Connection::open_default()
        .await
        .map_err(|e| OriginError::Database(format!("{e:?}")))?;
    db.execute("SELECT 1", [])
        .await
        .map_err(|e| OriginError::Database(format!("{e:?}")))?
        .collect()
        .await
        .map_err(|e| OriginError::Database(format!("{e:?}")))?;
    Ok(respond::json(
        200,
        &serde_json::json!({ "status": "ok", "database": "ok" }),
    ))
}
