//! The edge's one error type and the HTTP answer for each case. Internal
//! causes are logged, never sent.

use eventfront_domain::Problem;
use eventfront_domain::client_limit::{self, Window};
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::waiting_room::Refused;

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("origin unreachable: {0}")]
    OriginUnavailable(String),
    /// A write sent on whose answer the wait ran out or broke off: the
    /// origin may have made it. `keyed`: it carried an Idempotency-Key.
    #[error("no answer from the origin: {cause}")]
    OriginSilent { cause: String, keyed: bool },
    #[error("configuration: {0}")]
    Config(String),
    #[error("key-value store: {0}")]
    Store(String),
    #[error("body over {0} bytes")]
    TooLarge(usize),
    #[error("bad request: {0}")]
    BadQuery(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A signed request accepted before, sent again.
    #[error("a signed notice sent again")]
    Replayed,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("rate limited for {} s", .0.retry_after)]
    RateLimited(Window),
    /// Nothing of the kind here, said in words (a 404 with a reason).
    #[error("absent: {0}")]
    Absent(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A waiting-room ticket that is missing or not this event's.
    #[error("waiting-room ticket refused: {0}")]
    Ticket(Refused),
}

impl From<eventfront_domain::body::BodyError> for EdgeError {
    fn from(e: eventfront_domain::body::BodyError) -> Self {
        match e {
            eventfront_domain::body::BodyError::TooLarge(limit) => EdgeError::TooLarge(limit),
            eventfront_domain::body::BodyError::Unreadable(why) => EdgeError::BadQuery(why),
        }
    }
}

impl EdgeError {
    pub fn into_response(self) -> Reply {
        match self {
            EdgeError::NotFound => respond::not_found(),
            EdgeError::MethodNotAllowed { allow } => respond::method_not_allowed(allow),
            EdgeError::OriginUnavailable(cause) => {
                eprintln!("edge: origin unavailable: {cause}");
                respond::problem(
                    &Problem::new(503, "The origin cannot be reached; try again shortly."),
                    Some(2),
                )
            }
            EdgeError::OriginSilent { cause, keyed } => {
                eprintln!("edge: no answer from the origin: {cause}");
                let next = if keyed {
                    "Send it again with the same Idempotency-Key: it takes effect once, and the \
                     answer tells its outcome."
                } else {
                    "Look at its outcome before sending it again."
                };
                let detail = format!(
                    "The origin did not answer in time and may still act on this request. {next}"
                );
                respond::problem(&Problem::new(503, detail), Some(2))
            }
            EdgeError::TooLarge(limit) => respond::problem(
                &Problem::new(413, format!("The body must be at most {limit} bytes.")),
                None,
            ),
            EdgeError::UnsupportedMediaType => respond::problem(
                &Problem::new(
                    415,
                    "The body must be JSON (Content-Type: application/json).",
                ),
                None,
            ),
            EdgeError::RateLimited(window) => client_limit::refused(window),
            EdgeError::BadQuery(why) => respond::problem(&Problem::new(400, why), None),
            EdgeError::Absent(why) => respond::problem(&Problem::new(404, why), None),
            EdgeError::Conflict(why) => respond::problem(&Problem::new(409, why), None),
            EdgeError::Ticket(why) => {
                respond::problem(&Problem::new(why.status(), why.to_string()), None)
            }
            EdgeError::Unauthorized(why) => respond::problem(&Problem::new(401, why), None),
            EdgeError::Replayed => respond::problem(
                &Problem::new(
                    409,
                    "This notice was received before; a notice counts once.",
                ),
                None,
            ),
            // A setting that is missing or invalid: the operator's to mend
            // (the log says which), not the client's fault.
            EdgeError::Config(cause) => {
                eprintln!("edge: configuration: {cause}");
                respond::problem(
                    &Problem::new(503, "The edge is not configured to serve this request."),
                    None,
                )
            }
            EdgeError::Store(cause) => {
                eprintln!("edge: {cause}");
                respond::problem(
                    &Problem::new(500, "The edge cannot serve this request right now."),
                    None,
                )
            }
        }
    }
}
