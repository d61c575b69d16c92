//! Parse-don't-validate newtypes for the identifiers and inputs the API
//! accepts: once a value has one of these types, it is known to be valid.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an input was refused, in words fit for a problem+json `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// An event slug, or a session, speaker, track or room id:
/// `[a-z0-9][a-z0-9-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut bytes = s.bytes();
        let first_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'));
        let rest_ok = bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        if first_ok && rest_ok && s.len() <= 64 {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid(
                "must be 1 to 64 characters of a-z, 0-9 and '-', not starting with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, checked against RFC 5322's addr-spec and compared
/// case-insensitively (so one person cannot register twice by shouting).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.len() > Self::MAX_LEN {
            return Err(Invalid("must be at most 254 characters"));
        }
        // Display names ("Ada <ada@example.com>") are not addresses.
        if s.contains(['<', '>', ' ']) || !email_address::EmailAddress::is_valid(s) {
            return Err(Invalid("must be an email address such as ada@example.com"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two registrations are compared by: the address in lower
    /// case, or, when `plus_tags_ignored` (an event-wide option, off by
    /// default), its `mailbox`, so that `ada+x@` and `ada@` are one person.
    pub fn canonical(&self, plus_tags_ignored: bool) -> String {
        if plus_tags_ignored {
            self.mailbox()
        } else {
            self.0.to_lowercase()
        }
    }

    /// The inbox the address most likely reaches: in lower case, without
    /// a `+tag` after its local part (`Ada+events@Example.com` is
    /// `ada@example.com`), as most providers deliver. Mail limits count by
    /// it, so that tags cannot multiply what one inbox is sent.
    pub fn mailbox(&self) -> String {
        let lower = self.0.to_lowercase();
        let (local, domain) = lower.rsplit_once('@').unwrap_or((&lower, ""));
        let local = local
            .split_once('+')
            .map_or(local, |(untagged, _)| untagged);
        // An address whose local part is all tag keeps it.
        if local.is_empty() {
            return lower;
        }
        format!("{local}@{domain}")
    }

    /// The address's domain, in lower case.
    pub fn domain(&self) -> String {
        self.0
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
            .to_lowercase()
    }
}

/// A client's `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if (1..=255).contains(&s.len()) && s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid("must be 1 to 255 printable ASCII characters"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_conversions!(Slug, Email, IdempotencyKey);

/// Eventfront's own namespace for name-based GUIDs.
const GUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2d7e_93a4_4b5f_8e21_0c9a_5d3b_7e40);

/// A GUID that names the same thing in every version and every export: a
/// name-based UUID (v5) of the event, the kind of thing and its id.
pub fn stable_uuid(slug: &Slug, kind: &str, id: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&GUID_NAMESPACE, format!("{slug}/{kind}/{id}").as_bytes())
}

/// [`stable_uuid`] in its usual text form.
pub fn stable_guid(slug: &Slug, kind: &str, id: &str) -> String {
    stable_uuid(slug, kind, id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_contract_pattern() {
        for ok in ["a", "0", "rust-conf-2026", &"a".repeat(64)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", "é", &"a".repeat(65)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<Slug>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<Slug>("\"Not OK\"").is_err());
    }

    #[test]
    fn emails_are_checked_and_compared_case_insensitively() {
        let a = Email::parse(" Ada@Example.com ").unwrap();
        assert_eq!(a.as_str(), "Ada@Example.com");
        assert_eq!(
            a.canonical(false),
            Email::parse("ada@example.COM").unwrap().canonical(false)
        );
        let tagged = Email::parse("Ada+Events@Example.com").unwrap();
        assert_eq!(tagged.canonical(false), "ada+events@example.com");
        assert_eq!(tagged.canonical(true), "ada@example.com");
        assert_eq!(tagged.mailbox(), "ada@example.com");
        assert_eq!(tagged.domain(), "example.com");
        assert_eq!(
            Email::parse("+x@example.com").unwrap().mailbox(),
            "+x@example.com"
        );
        for bad in ["", "ada", "ada@", "@x.com", "Ada <ada@x.com>", "a b@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("9f1c-4b2e 7d!~").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "tab\there", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
