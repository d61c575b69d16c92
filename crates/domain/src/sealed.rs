//! Values kept at rest sealed under a key the database does not hold: an
//! idempotent answer carries a live manage token, and a message a live
//! manage or confirm link, so a dump of the database must not be enough
//! to open anyone's registration. Sealed with ChaCha20-Poly1305 under a
//! key derived from the origin's signing secret (which only the origin
//! and its edges hold); during a rotation the previous secret's key still
//! opens what it sealed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a sealed value starts: the format's version, then the nonce and the
/// ciphertext in base64.
const PREFIX: &str = "sealed.v1.";
/// What tells the key apart from every other use of the secret.
const LABEL: &[u8] = b"eventfront: values sealed at rest, v1";

/// Seals with the first key, opens with any.
pub struct Sealer {
    ciphers: Vec<ChaCha20Poly1305>,
}

/// A sealed value no key at hand opens: sealed under a secret retired
/// since, or altered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a value sealed at rest could not be opened with the secrets at hand")]
pub struct Unreadable;

impl Sealer {
    /// A sealer keyed by `secrets`, the current one first.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let ciphers = secrets
            .into_iter()
            .map(|secret| {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                    .expect("HMAC accepts any key length");
                mac.update(LABEL);
                ChaCha20Poly1305::new(Key::from_slice(&mac.finalize().into_bytes()))
            })
            .collect();
        Self { ciphers }
    }

    /// `plain` sealed with `nonce`, which must never be used twice with
    /// the same secret (the caller draws it at random).
    pub fn seal(&self, plain: &str, nonce: [u8; 12]) -> String {
        let cipher = self.ciphers.first().expect("a sealer has a secret");
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("sealing a string cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{}", BASE64.encode(bytes))
    }

    /// What `stored` holds: opened when sealed, as it is when it was
    /// stored before values were sealed.
    pub fn open(&self, stored: &str) -> Result<String, Unreadable> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let bytes = BASE64.decode(encoded).map_err(|_| Unreadable)?;
        if bytes.len() < 12 {
            return Err(Unreadable);
        }
        let (nonce, sealed) = bytes.split_at(12);
        self.ciphers
            .iter()
            .find_map(|cipher| cipher.decrypt(Nonce::from_slice(nonce), sealed).ok())
            .and_then(|plain| String::from_utf8(plain).ok())
            .ok_or(Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &[u8] = b"the current secret, long enough";
    const PREVIOUS: &[u8] = b"the previous secret, long enough";

    #[test]
    fn a_sealed_value_hides_its_text_and_opens_again() {
        let sealer = Sealer::new([CURRENT]);
        let plain = r#"{"id":"r1","manage_token":"t0k3n"}"#;
        let sealed = sealer.seal(plain, [7; 12]);
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("t0k3n"));
        assert_eq!(sealer.open(&sealed).unwrap(), plain);
        assert_ne!(sealer.seal(plain, [8; 12]), sealed, "each nonce seals anew");
    }

    #[test]
    fn a_rotation_opens_what_the_previous_secret_sealed_and_nothing_else() {
        let before = Sealer::new([PREVIOUS]).seal("link", [1; 12]);
        let rotated = Sealer::new([CURRENT, PREVIOUS]);
        assert_eq!(rotated.open(&before).unwrap(), "link");
        assert_eq!(Sealer::new([CURRENT]).open(&before), Err(Unreadable));
        let mut altered = before.clone();
        altered.pop();
        altered.push('A');
        assert_eq!(rotated.open(&altered), Err(Unreadable));
        assert_eq!(rotated.open("sealed.v1.!!"), Err(Unreadable));
    }

    #[test]
    fn values_stored_before_sealing_read_as_they_are() {
        let sealer = Sealer::new([CURRENT]);
        assert_eq!(sealer.open("Hello Ada").unwrap(), "Hello Ada");
        assert_eq!(sealer.open("").unwrap(), "");
    }
}
