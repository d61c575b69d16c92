//! How edge and origin trust each other: an HMAC-SHA256 signature over a
//! direction label, the method, path, a timestamp, a digest of the body,
//! the request headers that change what it means (`COVERED_HEADERS`:
//! each one's value, or that it is absent) and, when an edge forwards for
//! a client the origin counts, that client, sent in two headers (three
//! with the client). The label makes a request the edge signed for its
//! origin useless as a notice from the origin, and the other way round.
//! A captured request cannot be sent again with another
//! `Idempotency-Key` (a second registration), another `Authorization`
//! (or organizer's `Cookie` and its `X-CSRF-Token`) or another
//! `Content-Type`.
//! A verifier accepts any of its secrets (the current one and, during a
//! rotation, the previous one), a bounded clock skew, and compares in
//! constant time.
//! A large body may travel with its digest in `Content-Digest` (RFC 9530):
//! the signature is then checked against that digest before the body is
//! read, and the body against the digest once it is.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Unix seconds at which the request was signed.
pub const TIMESTAMP_HEADER: &str = "eventfront-timestamp";
/// `v2=<hex of the HMAC>`. (`v1` signatures, which covered no request
/// header, are refused: edges and origin are upgraded together.)
pub const SIGNATURE_HEADER: &str = "eventfront-signature";
/// The request headers a signature covers, in the order it covers them.
/// How many of `COVERED_HEADERS` (the first ones) a signature covers
/// even when absent; the others only when present.
const ALWAYS_COVERED: usize = 3;
pub const COVERED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "cookie",
    "x-csrf-token",
];
/// The client an edge forwards a registration for, as the edge counts it
/// (an address, or an IPv6 /64); covered by the signature.
pub const CLIENT_HEADER: &str = "eventfront-client";
/// How far a signature's timestamp may be from the verifier's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Shorter secrets are refused: they could be guessed.
pub const MIN_SECRET_LEN: usize = 16;
/// RFC 9530's header: `sha-256=:<base64 of the SHA-256 of the body>:`.
pub const CONTENT_DIGEST_HEADER: &str = "content-digest";

/// The SHA-256 of a body, which is what a signature covers of it.
pub type BodyDigest = [u8; 32];

pub fn digest(body: &[u8]) -> BodyDigest {
    Sha256::digest(body).into()
}

/// `body`'s `Content-Digest` header value.
pub fn content_digest(body: &[u8]) -> String {
    content_digest_of(&digest(body))
}

/// The `Content-Digest` header value of a body whose digest is `digest`.
pub fn content_digest_of(digest: &BodyDigest) -> String {
    use base64::Engine;
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The SHA-256 a `Content-Digest` header names, if it names one well
/// formed (other algorithms are not taken).
pub fn parse_content_digest(header: &str) -> Option<BodyDigest> {
    use base64::Engine;
    let encoded = header
        .split(',')
        .map(str::trim)
        .find_map(|member| member.strip_prefix("sha-256=:"))?
        .strip_suffix(':')?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?
        .try_into()
        .ok()
}

type HmacSha256 = Hmac<Sha256>;

/// Which way a signed request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Forwarded writes, snapshot fetches and other calls from an edge.
    ToOrigin,
    /// Publish notices from the origin.
    ToEdge,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::ToOrigin => b"eventfront/v2 edge-to-origin",
            Direction::ToEdge => b"eventfront/v2 origin-to-edge",
        }
    }
}

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub direction: Direction,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body_digest: BodyDigest,
    /// Whom an edge forwards for (`CLIENT_HEADER`), if anyone.
    pub client: Option<&'a str>,
    /// The value of each of `COVERED_HEADERS` the request carries.
    pub covered: [Option<&'a str>; COVERED_HEADERS.len()],
}

impl<'a> Message<'a> {
    pub fn new(
        direction: Direction,
        method: &'a str,
        path_and_query: &'a str,
        body: &[u8],
    ) -> Self {
        Self::of_digest(direction, method, path_and_query, digest(body))
    }

    /// A message whose body is known by its digest only (not yet read).
    pub fn of_digest(
        direction: Direction,
        method: &'a str,
        path_and_query: &'a str,
        body_digest: BodyDigest,
    ) -> Self {
        Self {
            direction,
            method,
            path_and_query,
            body_digest,
            client: None,
            covered: [None; COVERED_HEADERS.len()],
        }
    }

    pub fn for_client(self, client: Option<&'a str>) -> Self {
        Self { client, ..self }
    }

    /// This message with the request's `COVERED_HEADERS`, each as `header`
    /// finds it (by its lower-case name).
    pub fn covering(self, header: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            covered: COVERED_HEADERS.map(header),
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed")]
    Missing,
    #[error("the signature headers are malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the accepted window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing secrets must be at least {MIN_SECRET_LEN} bytes")]
pub struct WeakSecret;

/// A shared secret, checked for length once.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(secret: &str) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self, message: &Message<'_>, timestamp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(message.direction.label());
        mac.update(b"\n");
        mac.update(message.method.to_ascii_uppercase().as_bytes());
        mac.update(b"\n");
        mac.update(message.path_and_query.as_bytes());
        mac.update(b"\n");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(hex::encode(message.body_digest).as_bytes());
        // After the fixed-length digest, one line each (a header value holds
        // no line break), so no other message reads the same. The headers
        // covered since an organizer's sign-in cookie came are left out
        // when absent, so that a message without them signs as it did
        // before: edges and origins of both releases verify each other
        // during a rolling upgrade.
        for (index, (name, value)) in COVERED_HEADERS.iter().zip(message.covered).enumerate() {
            if value.is_none() && index >= ALWAYS_COVERED {
                continue;
            }
            mac.update(b"\n");
            mac.update(name.as_bytes());
            match value {
                Some(value) => {
                    mac.update(b"=");
                    mac.update(value.as_bytes());
                }
                None => mac.update(b" absent"),
            }
        }
        if let Some(client) = message.client {
            mac.update(b"\nclient ");
            mac.update(client.as_bytes());
        }
        mac
    }

    /// An HMAC-SHA256 of `data` for one purpose other than requests
    /// (`label` keeps each purpose's tags apart from every other's).
    pub fn tag(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        self.tag_mac(label, data).finalize().into_bytes().into()
    }

    fn tag_mac(&self, label: &[u8], data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(label);
        mac.update(b"\n");
        mac.update(data);
        mac
    }

    /// The headers to add to a request: `(name, value)` pairs, the
    /// message's client among them when it has one.
    pub fn sign(&self, message: &Message<'_>, timestamp: i64) -> Vec<(&'static str, String)> {
        let tag = self.mac(message, timestamp).finalize().into_bytes();
        let mut headers = vec![
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, format!("v2={}", hex::encode(tag))),
        ];
        if let Some(client) = message.client {
            headers.push((CLIENT_HEADER, client.to_string()));
        }
        headers
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Checks signatures against one or more secrets.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance_secs: i64,
}

impl Verifier {
    /// Accepts a signature made with any of `secrets`.
    pub fn new(secrets: Vec<Secret>) -> Self {
        Self {
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    pub fn with_tolerance(mut self, secs: i64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    /// How long after a signature is accepted it may still verify: its
    /// timestamp may be ahead of the clock by the tolerance, and is then
    /// accepted until as far behind it. A receiver refusing replays
    /// remembers a signature this long.
    pub fn replay_window_secs(&self) -> i64 {
        2 * self.tolerance_secs
    }

    /// What can be checked before the body is read: both headers there and
    /// well formed, and the timestamp within the window. `now` is the
    /// verifier's clock in Unix seconds.
    pub fn precheck(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(i64, Vec<u8>), SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let timestamp: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
        let tag = signature
            .strip_prefix("v2=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(SignatureError::Malformed)?;
        // `abs_diff` cannot overflow, whatever timestamp is sent.
        if now.abs_diff(timestamp) > self.tolerance_secs.unsigned_abs() {
            return Err(SignatureError::Stale);
        }
        Ok((timestamp, tag))
    }

    /// Whether `tag` is `Secret::tag` of `label` and `data` under any of
    /// the secrets, compared in constant time.
    pub fn verifies_tag(&self, label: &[u8], data: &[u8], tag: &[u8]) -> bool {
        self.secrets
            .iter()
            .any(|secret| secret.tag_mac(label, data).verify_slice(tag).is_ok())
    }

    /// `now` is the verifier's clock in Unix seconds.
    pub fn verify(
        &self,
        message: &Message<'_>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let (timestamp, tag) = self.precheck(timestamp, signature, now)?;
        let matched = self
            .secrets
            .iter()
            .any(|secret| secret.mac(message, timestamp).verify_slice(&tag).is_ok());
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn a_content_digest_is_rfc_9530s_and_a_signature_checks_against_it_before_the_body() {
        // RFC 9530, section 2's example.
        let body = br#"{"hello": "world"}"#;
        let sent = content_digest(body);
        assert_eq!(
            sent,
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        let named = parse_content_digest(&format!("sha-512=:AAAA:, {sent}")).unwrap();
        assert_eq!(named, digest(body));
        for malformed in ["sha-256=:AAAA:", "sha-256=X48E", "md5=:AAAA:", ""] {
            assert_eq!(parse_content_digest(malformed), None, "{malformed}");
        }
        let signed = secret("0123456789abcdef").sign(
            &Message::new(Direction::ToEdge, "POST", "/_edge/publish", body),
            NOW,
        );
        let verifier = Verifier::new(vec![secret("0123456789abcdef")]);
        let checked = |digest| {
            verifier.verify(
                &Message::of_digest(Direction::ToEdge, "POST", "/_edge/publish", digest),
                header(&signed, TIMESTAMP_HEADER),
                header(&signed, SIGNATURE_HEADER),
                NOW,
            )
        };
        assert_eq!(checked(named), Ok(()));
        assert_eq!(checked(digest(b"{}")), Err(SignatureError::Mismatch));
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s).unwrap()
    }

    fn header<'a>(headers: &'a [(&str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn to_origin<'a>(method: &'a str, target: &'a str, body: &'a [u8]) -> Message<'a> {
        Message::new(Direction::ToOrigin, method, target, body)
    }

    fn sign(
        key: &Secret,
        method: &str,
        target: &str,
        at: i64,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        key.sign(&to_origin(method, target, body), at)
    }

    /// Checks `signed` as a POST to `/x?y=1` with `body`, for the client
    /// the headers name.
    fn check(
        verifier: &Verifier,
        signed: &[(&str, String)],
        body: &[u8],
    ) -> Result<(), SignatureError> {
        verifier.verify(
            &to_origin("POST", "/x?y=1", body).for_client(header(signed, CLIENT_HEADER)),
            header(signed, TIMESTAMP_HEADER),
            header(signed, SIGNATURE_HEADER),
            NOW,
        )
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let key = secret("0123456789abcdef-current");
        let signed = sign(&key, "post", "/x?y=1", NOW, b"{}");
        let verifier = Verifier::new(vec![key.clone()]);
        assert_eq!(check(&verifier, &signed, b"{}"), Ok(()));
        assert_eq!(
            check(&verifier, &signed, b"{ }"),
            Err(SignatureError::Mismatch)
        );
        let other_path = sign(&key, "POST", "/x?y=2", NOW, b"{}");
        assert_eq!(
            check(&verifier, &other_path, b"{}"),
            Err(SignatureError::Mismatch)
        );
        let other_method = sign(&key, "PUT", "/x?y=1", NOW, b"{}");
        assert_eq!(
            check(&verifier, &other_method, b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_client_an_edge_forwards_for_is_signed() {
        let key = secret("0123456789abcdef-current");
        let verifier = Verifier::new(vec![key.clone()]);
        let signed = key.sign(
            &to_origin("POST", "/x?y=1", b"{}").for_client(Some("198.51.100.7")),
            NOW,
        );
        assert_eq!(header(&signed, CLIENT_HEADER), Some("198.51.100.7"));
        assert_eq!(check(&verifier, &signed, b"{}"), Ok(()));
        let mut forged = signed.clone();
        forged[2].1 = "203.0.113.1".into();
        assert_eq!(
            check(&verifier, &forged, b"{}"),
            Err(SignatureError::Mismatch),
            "another client"
        );
        assert_eq!(
            check(&verifier, &signed[..2], b"{}"),
            Err(SignatureError::Mismatch),
            "the client taken away"
        );
        let unsigned_for = sign(&key, "POST", "/x?y=1", NOW, b"{}");
        let mut added = unsigned_for.clone();
        added.push((CLIENT_HEADER, "198.51.100.7".into()));
        assert_eq!(
            check(&verifier, &added, b"{}"),
            Err(SignatureError::Mismatch),
            "a client added"
        );
        assert_eq!(
            check(&verifier, &unsigned_for, b"{}"),
            Ok(()),
            "no client, as before"
        );
    }

    #[test]
    fn the_headers_that_change_a_request_are_signed_present_or_absent() {
        let key = secret("0123456789abcdef-current");
        let verifier = Verifier::new(vec![key.clone()]);
        fn sent(name: &str) -> Option<&'static str> {
            match name {
                "content-type" => Some("application/json"),
                "idempotency-key" => Some("key-1"),
                _ => None,
            }
        }
        let signed = key.sign(&to_origin("POST", "/x", b"{}").covering(sent), NOW);
        /// Where a request's headers are looked up.
        type Headers = dyn Fn(&str) -> Option<&'static str>;
        let check = |header: &Headers| {
            verifier.verify(
                &to_origin("POST", "/x", b"{}").covering(header),
                signed.first().map(|(_, v)| v.as_str()),
                signed.get(1).map(|(_, v)| v.as_str()),
                NOW,
            )
        };
        assert_eq!(check(&sent), Ok(()));
        let changes: [(&str, &Headers); 5] = [
            ("another key", &|name| match name {
                "idempotency-key" => Some("key-2"),
                other => sent(other),
            }),
            ("an authorization added", &|name| match name {
                "authorization" => Some("Bearer guessed"),
                other => sent(other),
            }),
            ("the content type taken away", &|name| match name {
                "content-type" => None,
                other => sent(other),
            }),
            ("another sign-in's cookie", &|name| match name {
                "cookie" => Some("eventfront_session=other"),
                other => sent(other),
            }),
            ("a CSRF token added", &|name| match name {
                "x-csrf-token" => Some("forged"),
                other => sent(other),
            }),
        ];
        for (change, header) in changes {
            assert_eq!(check(header), Err(SignatureError::Mismatch), "{change}");
        }
    }

    /// A request without a sign-in cookie signs exactly as it did when
    /// only three headers were covered: the earlier scheme, written out.
    #[test]
    fn a_request_without_a_cookie_signs_as_before_cookies_were_covered() {
        let key = secret("compat-secret-0123456789");
        let sent = |name: &str| match name {
            "content-type" => Some("application/json"),
            "idempotency-key" => Some("key-1"),
            _ => None,
        };
        let message = to_origin("POST", "/api/x", b"{}")
            .covering(sent)
            .for_client(Some("203.0.113.7"));
        let signed = key.sign(&message, NOW);
        let mut earlier = HmacSha256::new_from_slice(b"compat-secret-0123456789").unwrap();
        let digest = hex::encode(Sha256::digest(b"{}"));
        let text = format!(
            "{}\nPOST\n/api/x\n{NOW}\n{digest}\nauthorization absent\ncontent-type=application/json\nidempotency-key=key-1\nclient 203.0.113.7",
            String::from_utf8_lossy(Direction::ToOrigin.label())
        );
        earlier.update(text.as_bytes());
        let earlier = format!("v2={}", hex::encode(earlier.finalize().into_bytes()));
        assert_eq!(signed[1].1, earlier);
    }

    #[test]
    fn rotation_accepts_either_secret_and_nothing_else() {
        let old = secret("old-secret-0123456789");
        let new = secret("new-secret-0123456789");
        let rotating = Verifier::new(vec![new.clone(), old.clone()]);
        assert_eq!(
            check(&rotating, &sign(&old, "POST", "/x?y=1", NOW, b""), b""),
            Ok(())
        );
        assert_eq!(
            check(&rotating, &sign(&new, "POST", "/x?y=1", NOW, b""), b""),
            Ok(())
        );
        let stranger = secret("someone-else-0123456789");
        assert_eq!(
            check(&rotating, &sign(&stranger, "POST", "/x?y=1", NOW, b""), b""),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_missing_and_malformed_signatures_are_refused() {
        let key = secret("0123456789abcdef-current");
        let verifier = Verifier::new(vec![key.clone()]).with_tolerance(60);
        let old = sign(&key, "POST", "/x?y=1", NOW - 61, b"");
        assert_eq!(check(&verifier, &old, b""), Err(SignatureError::Stale));
        let future = sign(&key, "POST", "/x?y=1", NOW + 61, b"");
        assert_eq!(check(&verifier, &future, b""), Err(SignatureError::Stale));
        let edge = sign(&key, "POST", "/x?y=1", NOW - 60, b"");
        assert_eq!(check(&verifier, &edge, b""), Ok(()));
        assert_eq!(
            verifier.verify(&to_origin("POST", "/", b""), None, Some("v1=00"), NOW),
            Err(SignatureError::Missing)
        );
        // `v1` covered no request header: refused as unknown.
        for bad in ["00", "v2=zz", "v1=00"] {
            assert_eq!(
                verifier.verify(&to_origin("POST", "/", b""), Some("1"), Some(bad), NOW),
                Err(SignatureError::Malformed)
            );
        }
    }

    #[test]
    fn a_signature_is_good_only_in_its_direction() {
        let key = secret("0123456789abcdef-current");
        let verifier = Verifier::new(vec![key.clone()]);
        let signed = sign(&key, "POST", "/_edge/publish", NOW, b"{}");
        let as_notice = verifier.verify(
            &Message::new(Direction::ToEdge, "POST", "/_edge/publish", b"{}"),
            header(&signed, TIMESTAMP_HEADER),
            header(&signed, SIGNATURE_HEADER),
            NOW,
        );
        assert_eq!(as_notice, Err(SignatureError::Mismatch));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_overflows() {
        let key = secret("0123456789abcdef-current");
        let verifier = Verifier::new(vec![key]);
        for timestamp in [i64::MIN, i64::MAX, -1] {
            assert_eq!(
                verifier.precheck(Some(&timestamp.to_string()), Some("v2=00"), NOW),
                Err(SignatureError::Stale)
            );
        }
        assert!(
            verifier
                .precheck(Some(&NOW.to_string()), Some("v2=00"), NOW)
                .is_ok()
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Secret::new("short").is_err());
        assert!(Secret::new(&"k".repeat(MIN_SECRET_LEN)).is_ok());
    }
}
