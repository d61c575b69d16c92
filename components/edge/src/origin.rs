//! Talking to the origin: every request signed, every call bounded by a
//! timeout, and an unreachable origin reported as such (never as an answer).

use crate::config::OriginLink;
use bytes::Bytes;
use eventfront_domain::signing::{Direction, Message};
use futures::FutureExt;
use spin_sdk::http::FullBody;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::wasip3::http::types::ErrorCode;
use std::time::Duration;

/// How long a read-side call (snapshot fetch) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a forwarded write may take before the client is told to retry
/// (organizer writes include a publish that waits for every edge).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded registration may take: twice the origin's longest
/// wait for a decision, so a slow link still gets its answer, while an
/// attendee facing a hung origin hears 503 in seconds, not ten (measured
/// by the registration bench's hung-link case). A decision the edge gave
/// up on is still replayed to the retry that carries its key.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(4);
const _: () = assert!(
    REGISTRATION_TIMEOUT.as_millis() >= 2 * eventfront_domain::seats::DECISION_WAIT.as_millis()
);

/// What the origin said, in full.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// The origin could not be reached or did not answer in time.
#[derive(Debug)]
pub struct Unreachable {
    pub why: String,
    /// Whether the origin may have the request and act on it: the wait ran
    /// out, or its answer broke off. A refused or unresolved connection
    /// says the request never arrived.
    pub maybe_received: bool,
}

impl Unreachable {
    fn before_sending(why: String) -> Self {
        Self {
            why,
            maybe_received: false,
        }
    }

    fn after_sending(why: String) -> Self {
        Self {
            why,
            maybe_received: true,
        }
    }

    fn of_send(code: &ErrorCode) -> Self {
        let never_arrived = matches!(
            code,
            ErrorCode::DnsTimeout
                | ErrorCode::DnsError(_)
                | ErrorCode::DestinationNotFound
                | ErrorCode::DestinationUnavailable
                | ErrorCode::DestinationIpProhibited
                | ErrorCode::DestinationIpUnroutable
                | ErrorCode::ConnectionRefused
                | ErrorCode::ConnectionTimeout
                | ErrorCode::HttpRequestDenied
        );
        Self {
            why: format!("{code:?}"),
            maybe_received: !never_arrived,
        }
    }
}

/// Sends a signed request to the origin and reads the whole answer;
/// `client`, when given, is the client the origin is to count it against.
pub async fn call(
    method: &http::Method,
    target: &str,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body: Bytes,
    client: Option<&str>,
    timeout: Duration,
) -> Result<Answer, Unreachable> {
    let link = OriginLink::get()
        .await
        .map_err(|e| Unreachable::before_sending(e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut request = http::Request::builder()
        .method(method.clone())
        .uri(format!("{}{target}", link.origin_url));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let forwarded = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    };
    let message = Message::new(Direction::ToOrigin, method.as_str(), target, &body)
        .covering(forwarded)
        .for_client(client);
    for (name, value) in link.secret.sign(&message, now) {
        request = request.header(name, value);
    }
    let request = request
        .body(FullBody::new(body))
        .map_err(|e| Unreachable::before_sending(format!("invalid request: {e}")))?;
    let exchange = async {
        let response = eventfront_domain::started::polled_again(spin_sdk::http::send(request))
            .await
            .map_err(|e| Unreachable::of_send(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| Unreachable::after_sending(format!("body: {e:?}")))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    };
    futures::select! {
        answer = exchange.fuse() => answer,
        () = spin_sdk::time::sleep(timeout).fuse() => {
            Err(Unreachable::after_sending(format!("no answer within {timeout:?}")))
        }
    }
}
