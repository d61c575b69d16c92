//! Reading a request safely: the body is bounded as it streams in, its
//! type checked, and JSON parse errors reported as 400s.

use crate::error::OriginError;
use eventfront_domain::body::{BodyError, read_limited};
use eventfront_domain::headers::{declared_length, is_json};
use serde_json::Value;
use spin_sdk::http::Request;

/// A request with its body read (within a limit).
pub struct Incoming {
    pub method: http::Method,
    /// Path and query, as signed.
    pub target: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// The largest body the origin reads: a whole 2,000-session draft import.
pub const MAX_BODY: usize = 4 << 20;

impl Incoming {
    /// `request` with at most `limit` bytes of body read (413 past it).
    pub async fn read(request: Request, limit: usize) -> Result<Self, OriginError> {
        let (parts, body) = request.into_parts();
        if declared_length(&parts.headers).is_some_and(|n| n > limit) {
            return Err(OriginError::TooLarge(limit));
        }
        let body = read_limited(body, limit).await.map_err(|e| match e {
            BodyError::TooLarge(limit) => OriginError::TooLarge(limit),
            BodyError::Unreadable(why) => OriginError::BadRequest(why),
        })?;
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        Ok(Self {
            method: parts.method,
            target,
            headers: parts.headers,
            body: body.to_vec(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// The body as a JSON object, at most `limit` bytes.
    pub fn json(&self, limit: usize) -> Result<Value, OriginError> {
        if self.body.len() > limit {
            return Err(OriginError::TooLarge(limit));
        }
        if !is_json(&self.headers) {
            return Err(OriginError::UnsupportedMediaType);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| OriginError::BadRequest(format!("The body is not valid JSON: {e}.")))
    }

    /// The value of query parameter `name` as sent (not percent-decoded:
    /// for identifiers, which need no escaping), if given.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether the query asks for erasure: `erase=true`; `erase` with any
    /// other value, or given twice, is a 422, so that a typo never cancels
    /// without erasing.
    pub fn erase(&self) -> Result<bool, OriginError> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        let mut asked = query
            .split('&')
            .filter(|p| *p == "erase" || p.starts_with("erase="));
        match (asked.next(), asked.next()) {
            (None, _) => Ok(false),
            (Some("erase=true"), None) => Ok(true),
            _ => Err(OriginError::invalid(
                "erase",
                "must be true, and given once, when given",
            )),
        }
    }

    /// Whether the client asked for CSV rather than JSON.
    pub fn wants_csv(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| a.contains("text/csv"))
    }
}
