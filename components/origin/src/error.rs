//! The origin's one error type and the HTTP answer for each case. Internal
//! causes are logged, never sent.

use eventfront_domain::Problem;
use eventfront_domain::respond::{self, Reply};

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("database: {0}")]
    Database(String),
}

impl OriginError {
    pub fn into_response(self) -> Reply {
        match self {
            OriginError::NotFound => respond::not_found(),
            OriginError::MethodNotAllowed { allow } => respond::method_not_allowed(allow),
            OriginError::Database(cause) => {
                eprintln!("origin database error: {cause}");
                respond::problem(
                    &Problem::new(503, "The database is unavailable; try again shortly."),
                    Some(1),
                )
            }
        }
    }
}
