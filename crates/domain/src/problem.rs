//! RFC 9457 problem details, the body of every error answer. Built here so
//! edge and origin word their errors the same way.

use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid input field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem whose type is `about:blank`, so its title is the status's
    /// reason phrase, as RFC 9457 section 4.2.1 asks.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: reason(status).into(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem always serializes")
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc_9457_with_field_errors() {
        let p = Problem::new(422, "2 fields are invalid")
            .with_errors(vec![FieldError::new("email", "must be an email address")]);
        let json: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Unprocessable Content");
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"][0]["field"], "email");
    }

    #[test]
    fn omits_errors_when_there_are_none() {
        let json = String::from_utf8(Problem::new(404, "no such event").to_json()).unwrap();
        assert!(!json.contains("errors"), "{json}");
    }
}
