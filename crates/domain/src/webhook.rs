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

/// Why a webhook URL is refused, in words for the organizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Fine to deliver to.
    Allowed,
    Refused(&'static str),
}

/// Whether a webhook may point at `url`: an absolute http or https URL
/// that the operator's `webhook_hosts` pattern (Spin's
/// `allowed_outbound_hosts` form, `scheme://host[:port]`, `*` for any
/// scheme, host or port, `*.example.com` for its subdomains) allows, and,
/// unless `private_allowed`, not this machine, a private or link-local
/// network or another component of the app (`*.spin.internal`), which an
/// organizer's token must not open a way into. A name is not resolved:
/// the runtime's outbound rules are what bound where a name may lead.
pub fn destination(url: &str, allowed: &str, private_allowed: bool) -> Destination {
    let Some((scheme, host, port)) = url.parse::<http::Uri>().ok().and_then(|uri| {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })?;
        // A name's trailing dot (`example.org.`) names the same host.
        let host = uri.host()?.trim_end_matches('.').to_ascii_lowercase();
        Some((scheme, host, port))
    }) else {
        return Destination::Refused("must be an absolute http or https URL");
    };
    if !matches!(scheme.as_str(), "http" | "https") {
        return Destination::Refused("must be an absolute http or https URL");
    }
    if !private_allowed && is_private(&host) {
        return Destination::Refused(
            "must not point at this machine, a private network or the app's own components",
        );
    }
    if !pattern_allows(allowed, &scheme, &host, port) {
        return Destination::Refused("is outside the hosts this origin may send webhooks to");
    }
    Destination::Allowed
}

/// Loopback, private, link-local, unspecified or shared addresses, and
/// the names that mean this machine or the app itself. An address in any
/// form but the usual one (`2130706433`, `0x7f.1`, `0177.0.0.1`,
/// `127.1`), which resolvers read as an address too, counts as private:
/// it cannot be told apart here, and no webhook needs one.
fn is_private(host: &str) -> bool {
    let bracketed = host.starts_with('[');
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = bare.parse::<std::net::IpAddr>() else {
        let last = bare.rsplit('.').next().unwrap_or_default();
        let numeric = !last.is_empty()
            && (last.bytes().all(|b| b.is_ascii_digit())
                || last
                    .strip_prefix("0x")
                    .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
        return bracketed || numeric || is_local_name(bare);
    };
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT (often a cloud's own).
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

/// The names that mean this machine or the app's own components.
fn is_local_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".spin.internal")
        || name == "spin.internal"
}

/// Whether one `allowed_outbound_hosts`-style entry allows the address.
fn pattern_allows(pattern: &str, scheme: &str, host: &str, port: u16) -> bool {
    let Some((allowed_scheme, rest)) = pattern.trim().split_once("://") else {
        return false;
    };
    let rest = rest.trim_end_matches('/');
    let (allowed_host, allowed_port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let scheme_ok = allowed_scheme == "*" || allowed_scheme.eq_ignore_ascii_case(scheme);
    let allowed_host = allowed_host.to_ascii_lowercase();
    let host_ok = allowed_host == "*"
        || allowed_host == host
        || allowed_host
            .strip_prefix("*.")
            .is_some_and(|domain| host.ends_with(&format!(".{domain}")));
    let port_ok = match allowed_port {
        Some("*") => true,
        Some(allowed) => allowed.parse::<u16>() == Ok(port),
        None => match allowed_scheme {
            "https" => port == 443,
            "http" => port == 80,
            _ => false,
        },
    };
    scheme_ok && host_ok && port_ok
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
    fn webhooks_reach_only_public_hosts_the_operator_allows() {
        let open = "https://*:443";
        for fine in [
            "https://hooks.example.org/eventfront",
            "https://hooks.example.org:443/x?y=1",
            "https://93.184.216.34/hook",
        ] {
            assert_eq!(
                destination(fine, open, false),
                Destination::Allowed,
                "{fine}"
            );
        }
        for inside in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[fe80::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://localhost/hook",
            "https://app.localhost/hook",
            "https://origin.spin.internal/api",
            // Addresses in the forms resolvers also read.
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://0/",
            "https://127.0.0.1./",
            "https://LOCALHOST./hook",
            "https://user@127.0.0.1/",
        ] {
            assert!(
                matches!(destination(inside, open, false), Destination::Refused(_)),
                "{inside}"
            );
            assert_eq!(
                destination(inside, "*://*:*", true),
                Destination::Allowed,
                "{inside} with private hosts allowed"
            );
        }
        for (url, pattern, allowed) in [
            ("http://hooks.example.org/x", open, false),
            ("https://hooks.example.org:8443/x", open, false),
            ("https://hooks.example.org:8443/x", "https://*:*", true),
            (
                "https://a.hooks.example.org/x",
                "https://*.hooks.example.org",
                true,
            ),
            (
                "https://hooks.example.org/x",
                "https://*.hooks.example.org",
                false,
            ),
            ("https://evil.example/x", "https://hooks.example.org", false),
            (
                "http://hooks.example.org/x",
                "*://hooks.example.org:80",
                true,
            ),
            ("https://hooks.example.org/x", "", false),
            ("https://hooks.example.org./x", open, true),
            ("https://ex4mple.org/x", open, true),
        ] {
            assert_eq!(
                destination(url, pattern, false) == Destination::Allowed,
                allowed,
                "{url} under {pattern}"
            );
        }
        for bad in [
            "ftp://x.example/",
            "/relative",
            "not a url",
            "https:///path",
        ] {
            assert_eq!(
                destination(bad, open, false),
                Destination::Refused("must be an absolute http or https URL"),
                "{bad}"
            );
        }
    }

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
