//! Webhooks for organizers' own systems: each registration event is POSTed
//! as JSON with `Eventfront-Signature: t={unix seconds},v1={hex}`, where
//! the hex is HMAC-SHA256, under the webhook's secret, of `{t}.{body}`
//! (the scheme Stripe uses, so receivers may already have the code). A
//! receiver recomputes it over the raw body, compares in constant time, and
//! refuses a `t` outside its tolerance, so that a captured delivery cannot
//! be replayed later.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The header a delivery is signed in.
pub const SIGNATURE_HEADER: &str = "eventfront-signature";
/// How far `t` may be from a receiver's clock, as this module checks it.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Shorter secrets are refused: they could be guessed.
pub const MIN_SECRET_LEN: usize = 16;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Eventfront-Signature` value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// What a receiver does: checks `header` against `body` and `secret`, with
/// `tolerance_secs` around `now` (Unix seconds). Any `v1=` in the header may
/// match, so a sender can sign with two secrets while rotating.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &str,
    tolerance_secs: i64,
    now: i64,
) -> Result<(), Refused> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| Refused::Malformed)?),
            Some(("v1", tag)) => tags.push(hex::decode(tag).map_err(|_| Refused::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refused::Malformed)?;
    if tags.is_empty() {
        return Err(Refused::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(Refused::Stale);
    }
    let mac = mac(secret, timestamp, body);
    if tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
        Ok(())
    } else {
        Err(Refused::Mismatch)
    }
}

/// The delivery for one change to a registration: `type` is
/// `registration.{kind}`, `id` is stable across retries.
pub fn payload(id: &str, kind: &str, created_at: &str, event: &str, registration: Value) -> Value {
    json!({
        "id": id,
        "type": format!("registration.{kind}"),
        "created_at": created_at,
        "event": event,
        "data": { "registration": registration },
    })
}

/// A delivery's body with the registrant's name and address taken out
/// (null), for erasure: the change it tells of stays. A body that is not
/// a delivery is replaced by an empty object, so nothing it held is kept.
pub fn without_personal_data(body: &str) -> String {
    let Ok(mut delivery) = serde_json::from_str::<Value>(body) else {
        return "{}".into();
    };
    if let Some(registration) = delivery
        .pointer_mut("/data/registration")
        .and_then(Value::as_object_mut)
    {
        for field in ["name", "email"] {
            if registration.contains_key(field) {
                registration.insert(field.into(), Value::Null);
            }
        }
    }
    delivery.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_delivery_keeps_the_change_and_loses_the_person() {
        let person =
            json!({"id": "r1", "status": "cancelled", "name": "Ada", "email": "ada@example.org"});
        let body = payload("e1", "cancelled", "2027-05-01T09:00:00Z", "conf", person).to_string();
        let erased: Value = serde_json::from_str(&without_personal_data(&body)).unwrap();
        assert_eq!(erased["type"], "registration.cancelled");
        assert_eq!(
            erased["data"]["registration"],
            json!({"id": "r1", "status": "cancelled", "name": null, "email": null})
        );
        assert_eq!(without_personal_data("not json ada@example.org"), "{}");
    }

    const SECRET: &str = "whsec-0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signature_verifies_and_a_tampered_body_does_not() {
        let body = br#"{"id":"e1","type":"registration.confirmed"}"#;
        let header = sign(SECRET, NOW, body);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(verify(&header, body, SECRET, 300, NOW + 10), Ok(()));
        let tampered = br#"{"id":"e1","type":"registration.cancelled"}"#;
        assert_eq!(
            verify(&header, tampered, SECRET, 300, NOW),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(&header, body, "another-secret-0123", 300, NOW),
            Err(Refused::Mismatch)
        );
    }

    #[test]
    fn old_and_malformed_signatures_are_refused() {
        let body = b"{}";
        let header = sign(SECRET, NOW, body);
        assert_eq!(
            verify(&header, body, SECRET, 300, NOW + 301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(&header, body, SECRET, 300, NOW - 301),
            Err(Refused::Stale)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(
                verify(bad, body, SECRET, 300, NOW),
                Err(Refused::Malformed),
                "{bad}"
            );
        }
        // The Stripe shape also allows several v1 tags: any one may match.
        let both = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify(&both, body, SECRET, 300, NOW), Ok(()));
    }

    #[test]
    fn the_payload_names_its_type_and_id() {
        let p = payload(
            "e1",
            "promoted",
            "2027-01-01T00:00:00Z",
            "conf",
            json!({"id": "r1"}),
        );
        assert_eq!(p["type"], "registration.promoted");
        assert_eq!(p["id"], "e1");
        assert_eq!(p["data"]["registration"]["id"], "r1");
    }
}
