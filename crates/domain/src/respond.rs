//! HTTP answers both components build the same way: JSON bodies and
//! problem+json errors, as `http` types that spin-sdk turns into responses.

use crate::problem::{CONTENT_TYPE as PROBLEM, Problem};
use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;

pub type Reply = http::Response<Full<Bytes>>;

/// A JSON answer.
pub fn json(status: u16, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(value).expect("response types always serialize");
    bytes(status, "application/json", body)
}

pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("status and content type are valid")
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

    #[test]
    fn problems_carry_their_status_type_and_retry_after() {
        let reply = problem(&Problem::new(503, "origin unavailable"), Some(2));
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()["content-type"], PROBLEM);
        assert_eq!(reply.headers()["retry-after"], "2");
    }
}
