//! Sending a message through a mail provider's HTTP API, as plain data:
//! the request Postmark's `POST /email` takes, and when a failed delivery
//! is tried again.
//!
//! The request, as sent (Postmark's documented single-email API):
//! `POST {mail_api_url}/email` with `Accept: application/json`,
//! `Content-Type: application/json`, `X-Postmark-Server-Token: {token}`,
//! and the body `{From, To, Subject, TextBody, HtmlBody, MessageStream:
//! "outbound", Headers: [{Name: "X-Eventfront-Message-Id", Value: id}],
//! Metadata: {eventfront_message_id: id}}`. Any 2xx is delivered; anything
//! else, or no answer, is tried again later. The message id travels in a
//! header of the email and in the provider's metadata, so a receiver that
//! gets a message twice (delivery is at least once) can drop the copy.

use crate::messages::Message;
use serde_json::{Value, json};
use std::time::Duration;

/// The path of Postmark's single-email endpoint, after `mail_api_url`.
pub const SEND_PATH: &str = "/email";
/// The header carrying the provider's server token.
pub const TOKEN_HEADER: &str = "x-postmark-server-token";
/// The email header naming the message, for receivers to drop duplicates.
pub const MESSAGE_ID_HEADER: &str = "X-Eventfront-Message-Id";

/// The JSON body for sending `message` (id `id`) to `to` from `from`.
pub fn send_body(id: &str, from: &str, to: &str, message: &Message) -> Value {
    json!({
        "From": from,
        "To": to,
        "Subject": message.subject,
        "TextBody": message.text,
        "HtmlBody": message.html,
        "MessageStream": "outbound",
        "Headers": [{ "Name": MESSAGE_ID_HEADER, "Value": id }],
        "Metadata": { "eventfront_message_id": id },
    })
}

/// How long after its `attempts`-th failed try a message is tried again:
/// 5 s, doubling, at most an hour. A provider that is down for a day is
/// asked about 30 times, and every message goes out once it is back.
pub fn retry_after(attempts: u32) -> Duration {
    const FIRST: Duration = Duration::from_secs(5);
    const MOST: Duration = Duration::from_secs(3600);
    FIRST
        .saturating_mul(
            1u32.checked_shl(attempts.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(MOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_postmarks_with_the_id_twice() {
        let message = Message {
            subject: "S".into(),
            text: "T".into(),
            html: "<p>H</p>".into(),
        };
        let body = send_body(
            "m-1",
            "Conf <events@example.com>",
            "ada@example.com",
            &message,
        );
        assert_eq!(body["From"], "Conf <events@example.com>");
        assert_eq!(body["To"], "ada@example.com");
        assert_eq!(
            (&body["Subject"], &body["TextBody"], &body["HtmlBody"]),
            (&json!("S"), &json!("T"), &json!("<p>H</p>"))
        );
        assert_eq!(body["MessageStream"], "outbound");
        assert_eq!(body["Headers"][0]["Name"], MESSAGE_ID_HEADER);
        assert_eq!(body["Headers"][0]["Value"], "m-1");
        assert_eq!(body["Metadata"]["eventfront_message_id"], "m-1");
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        let secs: Vec<u64> = [1, 2, 3, 4, 10, 11, 40, u32::MAX]
            .map(|n| retry_after(n).as_secs())
            .to_vec();
        assert_eq!(secs, [5, 10, 20, 40, 2560, 3600, 3600, 3600]);
        assert_eq!(retry_after(0).as_secs(), 5, "a first try that failed");
    }
}
