//! Cross-origin reads. The embeddable agenda runs on organizers' own sites,
//! so the published agenda (the read routes under `/api/events`), the
//! widget's own files under `/embed/` and the contract (`/api/openapi.json`)
//! may be read from any origin; nothing else is shared: registrations,
//! organizer routes and the pages stay same-origin, so a foreign page can
//! neither write nor read them.

use eventfront_domain::respond::{self, Reply};
use http::{HeaderValue, Method};

/// Whether `method` on `path` is a read any origin may make.
pub fn shared(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    read && match segments.as_slice() {
        ["embed", ..] | ["api", "openapi.json"] => true,
        ["api", "events", .., "registrations"] => false,
        ["api", "events", ..] => true,
        _ => false,
    }
}

/// Adds what lets any origin read `reply`, and the headers it may see.
pub fn allow(reply: &mut Reply) {
    let headers = reply.headers_mut();
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "ETag, Age, Eventfront-Version, Eventfront-Stale, Eventfront-Edge",
        ),
    );
}

/// The answer to a preflight for a shared read: GET and HEAD, with the
/// one request header a conditional read needs.
pub fn preflight() -> Reply {
    let mut reply = respond::bytes(204, "text/plain", Vec::new());
    let headers = reply.headers_mut();
    headers.remove(http::header::CONTENT_TYPE);
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-None-Match"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_reads_and_the_widget_are_shared() {
        for path in [
            "/api/events",
            "/api/events/summit",
            "/api/events/summit/sessions",
            "/api/events/summit/schedule.json",
            "/embed/agenda.js",
            "/api/openapi.json",
        ] {
            assert!(shared(&Method::GET, path), "{path}");
        }
        for path in [
            "/api/events/summit/registrations",
            "/api/registrations/abc",
            "/api/admin/events/summit/draft",
            "/_edge/status",
            "/",
            "/admin/",
        ] {
            assert!(!shared(&Method::GET, path), "{path}");
        }
        assert!(!shared(&Method::POST, "/api/events/summit"));
        assert!(!shared(&Method::DELETE, "/api/events/summit"));
    }
}
