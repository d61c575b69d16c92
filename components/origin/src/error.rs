//! The origin's one error type and the HTTP answer for each case. Internal
//! causes are logged, never sent.

use eventfront_domain::client_limit::{self, Window};
use eventfront_domain::headers::TOKEN_REFUSED_HEADER;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::waiting_room::Refused;
use eventfront_domain::{FieldError, Problem};

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A registration's id and token do not go together (or the id is
    /// unknown): the same 404 either way, and the edge counts it against
    /// the client as a guess (`TOKEN_REFUSED_HEADER`).
    #[error("no registration with that id and token")]
    UnknownRegistration,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A signed-in organizer whose roles do not allow the request.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("body over {0} bytes")]
    TooLarge(usize),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A registration while the event's waiting room is active, without
    /// a ticket that lets it register.
    #[error("waiting-room ticket refused: {0}")]
    Ticket(Refused),
    #[error("idempotency key reused with another request")]
    KeyReused,
    #[error("database: {0}")]
    Database(String),
    /// The write lock stayed taken for this request's whole wait budget;
    /// nothing was written, so a retry with the same key is safe.
    #[error("database busy")]
    Busy,
    /// The client the edge named made its limit of attempts this minute.
    #[error("rate limited for {} s", .0.retry_after)]
    RateLimited(Window),
    /// A variable is unset or set to something it must not be: logged
    /// (naming the variable, never its value's secrets), answered 503.
    #[error("configuration: {0}")]
    Config(std::borrow::Cow<'static, str>),
    /// The organizer API stays closed: a variable is set to something it
    /// must not be (logged once per instance where it is found).
    #[error("organizer API closed: {0}")]
    OrganizerClosed(&'static str),
}

impl OriginError {
    pub fn invalid(field: &str, message: &str) -> Self {
        OriginError::Invalid(vec![FieldError::new(field, message)])
    }

    /// This error, told to each request of a batch that failed with it:
    /// what a client acts on (busy: retry; not found) as it is, anything
    /// else as the internal failure it is.
    pub fn told_to_each(&self) -> OriginError {
        match self {
            OriginError::Busy => OriginError::Busy,
            OriginError::NotFound(what) => OriginError::NotFound(what),
            OriginError::UnknownRegistration => OriginError::UnknownRegistration,
            e => OriginError::Database(e.to_string()),
        }
    }

    pub fn into_response(self) -> Reply {
        match self {
            OriginError::NotFound(what) => respond::problem(&Problem::new(404, what), None),
            OriginError::UnknownRegistration => {
                let problem = Problem::new(404, "There is no such registration.");
                let mut reply = respond::problem(&problem, None);
                reply
                    .headers_mut()
                    .insert(TOKEN_REFUSED_HEADER, http::HeaderValue::from_static("1"));
                reply
            }
            OriginError::MethodNotAllowed { allow } => respond::method_not_allowed(allow),
            OriginError::Unauthorized(why) => {
                let mut reply = respond::problem(&Problem::new(401, why), None);
                reply.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                reply
            }
            OriginError::Forbidden(why) => respond::problem(&Problem::new(403, why), None),
            OriginError::BadRequest(why) => respond::problem(&Problem::new(400, why), None),
            OriginError::TooLarge(limit) => respond::problem(
                &Problem::new(413, format!("The body must be at most {limit} bytes.")),
                None,
            ),
            OriginError::UnsupportedMediaType => respond::problem(
                &Problem::new(
                    415,
                    "The body must be JSON (Content-Type: application/json).",
                ),
                None,
            ),
            OriginError::Invalid(errors) => {
                let detail = match errors.len() {
                    1 => format!("{} {}.", errors[0].field, errors[0].message),
                    n => format!("{n} fields are invalid."),
                };
                respond::problem(&Problem::new(422, detail).with_errors(errors), None)
            }
            OriginError::Conflict(why) => respond::problem(&Problem::new(409, why), None),
            OriginError::Ticket(why) => {
                respond::problem(&Problem::new(why.status(), why.to_string()), None)
            }
            OriginError::KeyReused => respond::problem(
                &Problem::new(
                    422,
                    "This Idempotency-Key was already used with a different request.",
                ),
                None,
            ),
            OriginError::RateLimited(window) => client_limit::refused(window),
            OriginError::Config(cause) => {
                eprintln!("origin configuration error: {cause}");
                respond::problem(
                    &Problem::new(503, "The origin is not configured to answer this."),
                    None,
                )
            }
            OriginError::OrganizerClosed(why) => respond::problem(
                &Problem::new(503, format!("The organizer API is closed: {why}.")),
                None,
            ),
            OriginError::Busy => respond::problem(
                &Problem::new(
                    503,
                    "Too many changes are waiting to be written; nothing was changed. Try again shortly.",
                ),
                Some(1),
            ),
            OriginError::Database(cause) => {
                eprintln!("origin database error: {cause}");
                respond::problem(
                    &Problem::new(
                        503,
                        "The database is busy or unavailable; try again shortly.",
                    ),
                    Some(1),
                )
            }
        }
    }
}
