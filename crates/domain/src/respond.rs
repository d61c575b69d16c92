//! HTTP answers both components build the same way: JSON bodies and
//! problem+json errors, as `http` types that spin-sdk turns into responses.

use crate::problem::{CONTENT_TYPE as PROBLEM, Problem};
use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;

pub type Reply = http::Response<Full<Bytes>>;

/// A JSON answer.
/// An instant in Unix milliseconds as the API writes every time: RFC 3339
/// (null for one out of range).
pub fn rfc3339(ms: i64) -> serde_json::Value {
    jiff::Timestamp::from_millisecond(ms).map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(t.to_string())
    })
}

pub fn json(status: u16, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(value).expect("response types always serialize");
    bytes(status, "application/json", body)
}

/// An answer of `body` as it is, with its `Content-Length`: Spin's server
/// then writes it in one piece. Without the length it streams the answer
/// chunked and its last chunk waits ~40 ms for the client's delayed ACK on
/// a kept connection (DESIGN.md, Testing). A 304 has no length of its
/// own to give, so it gives none.
pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let body = body.into();
    let mut reply = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type);
    if status != 304 {
        reply = reply.header(http::header::CONTENT_LENGTH, body.len());
    }
    reply
        .body(Full::new(body))
        .expect("status and content type are valid")
}

/// A representation tagged `etag`: 304 with no body when `if_none_match`
/// matches it (weakly, lists and `*` included), else 200 with `body`.
/// Every read route answers through this one helper.
pub fn conditional(
    if_none_match: Option<&str>,
    etag: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut reply = if crate::conditional::none_match(if_none_match, etag) {
        bytes(304, content_type, Bytes::new())
    } else {
        bytes(200, content_type, body)
    };
    if let Ok(value) = etag.parse() {
        reply.headers_mut().insert(http::header::ETAG, value);
    }
    reply
}

/// A problem+json answer, with `Retry-After` where the status asks for one.
pub fn problem(problem: &Problem, retry_after_secs: Option<u32>) -> Reply {
    let mut reply = bytes(problem.status, PROBLEM, problem.to_json());
    if let Some(secs) = retry_after_secs {
        reply
            .headers_mut()
            .insert(http::header::RETRY_AFTER, secs.into());
    }
    reply
}

/// 404 for a path nothing answers.
pub fn not_found() -> Reply {
    problem(
        &Problem::new(404, "There is nothing at this address."),
        None,
    )
}

/// 405 naming the methods the resource does accept.
pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = problem(
        &Problem::new(405, format!("This resource only accepts {allow}.")),
        None,
    );
    reply
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn problems_carry_their_status_type_and_retry_after() {
        let reply = problem(&Problem::new(503, "origin unavailable"), Some(2));
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()["content-type"], PROBLEM);
        assert_eq!(reply.headers()["retry-after"], "2");
    }

    #[test]
    fn every_answer_but_a_304_states_its_length() {
        let reply = json(200, &serde_json::json!({ "seat": "yes" }));
        assert_eq!(reply.headers()["content-length"], "14");
        assert_eq!(
            not_found().headers()["content-length"].to_str().unwrap(),
            not_found().body().size_hint().exact().unwrap().to_string()
        );
        let unchanged = conditional(Some("\"b\""), "\"b\"", "text/plain", "body");
        assert!(!unchanged.headers().contains_key("content-length"));
    }

    #[test]
    fn conditional_answers_304_for_a_matching_tag_and_keeps_the_tag() {
        let fresh = conditional(Some("W/\"a\", \"b\""), "\"b\"", "text/plain", "body");
        assert_eq!(fresh.status(), 304);
        assert_eq!(fresh.headers()["etag"], "\"b\"");
        let changed = conditional(Some("\"a\""), "\"b\"", "text/plain", "body");
        assert_eq!(changed.status(), 200);
        assert_eq!(changed.headers()["etag"], "\"b\"");
    }
}
