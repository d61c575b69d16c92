//! What both components read from request headers before touching a body
//! (its declared size, whether it claims to be JSON, the host it was sent
//! to), and the headers every answer of theirs carries.

use http::{HeaderMap, HeaderValue};

/// On the origin's answer to the edge when a registration's id and token
/// do not go together: the edge counts the client's guess and removes the
/// header before answering it (a 404 for an unknown session of a known
/// registration is no guess).
pub const TOKEN_REFUSED_HEADER: &str = "eventfront-token-refused";

/// `Content-Length`, when present and a number.
pub fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether `Content-Type` is `application/json` (parameters allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether `host` (a `Host` header's value, port and all) names this
/// machine: a developer's `spin up`, where no answer may pin HTTPS.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Adds what every answer carries: `X-Content-Type-Options: nosniff`, so
/// that no browser runs a body as another type than it is said to be; and,
/// given a `max_age` in seconds, `Strict-Transport-Security`, so that a
/// browser that once reached the site over HTTPS never asks it over HTTP
/// again (browsers ignore it over HTTP). Without one, any such header an
/// answer carried (the origin's, forwarded by the edge) is removed: the
/// component answering the browser decides.
pub fn harden(headers: &mut HeaderMap, hsts_max_age: Option<u64>) {
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match hsts_max_age.filter(|age| *age > 0) {
        Some(max_age) => {
            let value = HeaderValue::from_str(&format!("max-age={max_age}"))
                .expect("digits are a header value");
            headers.insert(http::header::STRICT_TRANSPORT_SECURITY, value);
        }
        None => {
            headers.remove(http::header::STRICT_TRANSPORT_SECURITY);
        }
    }
}

/// `hsts_max_age` when unset: a year, as browsers' preload lists ask.
pub const ONE_YEAR: u64 = 365 * 24 * 60 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn lengths_and_json_types_are_read() {
        assert_eq!(
            declared_length(&headers(&[("content-length", "42")])),
            Some(42)
        );
        assert_eq!(declared_length(&headers(&[("content-length", "x")])), None);
        assert!(is_json(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn loopback_hosts_are_told_from_public_ones() {
        for host in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "app.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "events.example.com",
            "events.example.com:443",
            "10.0.0.1",
            "[2001:db8::1]:80",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn every_answer_is_hardened_and_hsts_only_when_asked() {
        let mut headers = HeaderMap::new();
        harden(&mut headers, None);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!headers.contains_key("strict-transport-security"));
        harden(&mut headers, Some(0));
        assert!(!headers.contains_key("strict-transport-security"));
        harden(&mut headers, Some(ONE_YEAR));
        assert_eq!(headers["strict-transport-security"], "max-age=31536000");
        harden(&mut headers, None);
        assert!(
            !headers.contains_key("strict-transport-security"),
            "not passed on"
        );
    }
}
