//! Refusing a signed request seen before: a receiver remembers the
//! signatures it accepted for as long as their timestamps are accepted
//! (the signing tolerance), so that a captured request cannot be sent
//! again within that window. Kept small and bounded: what falls out of it
//! is older than the window, or past `MOST_REMEMBERED` at once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// At most this many signatures are remembered; beyond it the oldest is
/// forgotten (a receiver of more within one window than this is flooded
/// by signed requests, and has larger trouble).
pub const MOST_REMEMBERED: usize = 512;

/// The signatures accepted within the window, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// A short digest of each signature, and when it was accepted (Unix
    /// seconds).
    accepted: Vec<(String, i64)>,
}

impl Seen {
    /// Whether `signature`, accepted at `now`, is new; if so it is
    /// remembered. What is older than `window` seconds is forgotten first.
    pub fn admit(&mut self, signature: &str, now: i64, window: i64) -> bool {
        self.accepted.retain(|(_, at)| now - at <= window);
        let digest = hex::encode(&Sha256::digest(signature.as_bytes())[..16]);
        if self.accepted.iter().any(|(seen, _)| *seen == digest) {
            return false;
        }
        if self.accepted.len() >= MOST_REMEMBERED {
            self.accepted.remove(0);
        }
        self.accepted.push((digest, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_admitted_once_within_the_window_and_again_after_it() {
        let mut seen = Seen::default();
        assert!(seen.admit("t=1,v2=aa", 1_000, 300));
        assert!(seen.admit("t=1,v2=bb", 1_000, 300), "another one is new");
        assert!(!seen.admit("t=1,v2=aa", 1_299, 300), "a replay is refused");
        assert!(
            seen.admit("t=1,v2=aa", 1_301, 300),
            "past the window it is forgotten (its timestamp is refused by then)"
        );
    }

    #[test]
    fn what_is_remembered_is_bounded() {
        let mut seen = Seen::default();
        for n in 0..=MOST_REMEMBERED {
            assert!(seen.admit(&format!("sig-{n}"), 1_000, 300));
        }
        assert_eq!(seen.accepted.len(), MOST_REMEMBERED);
        assert!(seen.admit("sig-0", 1_000, 300), "the oldest was forgotten");
        assert!(!seen.admit(&format!("sig-{MOST_REMEMBERED}"), 1_000, 300));
    }

    #[test]
    fn it_round_trips_as_json() {
        let mut seen = Seen::default();
        seen.admit("sig", 5, 300);
        let kept: Seen = serde_json::from_str(&serde_json::to_string(&seen).unwrap()).unwrap();
        assert_eq!(kept, seen);
    }
}
