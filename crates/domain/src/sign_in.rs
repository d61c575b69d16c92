//! Organizer sign-ins kept by the browser: a session opened with an API
//! token or a mailed link, carried in a cookie no script can read, that
//! ends when idle too long or when its absolute lifetime is over, and the
//! CSRF token every write it signs must carry besides.

use sha2::{Digest, Sha256};

/// The cookie holding a session's secret.
pub const COOKIE: &str = "eventfront_session";
/// The header a write signed by the cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the browser sends the cookie: the organizer API only.
const COOKIE_PATH: &str = "/api/admin";

/// A session unused this long ends.
pub const IDLE_MS: i64 = 2 * 60 * 60 * 1000;
/// A session ends this long after it began, however busy.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// A mailed sign-in link works once, within this long.
pub const LINK_MS: i64 = 15 * 60 * 1000;
/// An invitation (the sign-in link a new account is mailed) works once,
/// within this long: people read such mail days later.
pub const INVITATION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How often a session's last use is written: idleness is measured to
/// the minute, not every request.
pub const SEEN_EVERY_MS: i64 = 60 * 1000;

/// When a session began and when it was last seen in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

impl Lifetime {
    /// When it ends unless used before: idle, or at its absolute end.
    pub fn ends_ms(self) -> i64 {
        (self.last_seen_ms + IDLE_MS).min(self.created_ms + ABSOLUTE_MS)
    }

    pub fn live_at(self, now_ms: i64) -> bool {
        now_ms < self.ends_ms()
    }

    /// Whether a use at `now_ms` should be written down.
    pub fn seen_again_at(self, now_ms: i64) -> bool {
        now_ms - self.last_seen_ms >= SEEN_EVERY_MS
    }
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it),
/// SameSite=Strict (no other site's page sends it), for the organizer API
/// only, kept until the session's absolute end; Secure when the site is
/// served over HTTPS (development on `http://127.0.0.1` has no HTTPS).
pub fn set_cookie(secret: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={secret}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        ABSOLUTE_MS / 1000
    )
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

/// The session secret a `Cookie` header carries, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

/// The CSRF token of the session whose secret is `secret`: derived from
/// it, so that nothing more is stored, and useless without the cookie.
pub fn csrf_token(secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"eventfront csrf\0");
    digest.update(secret.as_bytes());
    hex::encode(digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 60 * 60 * 1000;

    #[test]
    fn a_session_ends_idle_or_at_its_absolute_end() {
        let fresh = Lifetime {
            created_ms: 0,
            last_seen_ms: 0,
        };
        assert!(fresh.live_at(2 * HOUR - 1));
        assert!(!fresh.live_at(2 * HOUR));
        let busy = Lifetime {
            created_ms: 0,
            last_seen_ms: 11 * HOUR,
        };
        assert!(busy.live_at(12 * HOUR - 1));
        assert!(!busy.live_at(12 * HOUR), "used, but at its absolute end");
        assert!(!busy.seen_again_at(11 * HOUR + 59_999));
        assert!(busy.seen_again_at(11 * HOUR + 60_000));
    }

    #[test]
    fn the_cookie_is_for_the_organizer_api_only_and_out_of_scripts_reach() {
        let cookie = set_cookie("s3cret", true);
        assert_eq!(
            cookie,
            "eventfront_session=s3cret; Path=/api/admin; Max-Age=43200; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("s3cret", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        assert_eq!(
            from_cookie_header("theme=dark; eventfront_session=abc; x=1"),
            Some("abc")
        );
        assert_eq!(from_cookie_header("eventfront_session="), None);
        assert_eq!(from_cookie_header("other_eventfront_session=abc"), None);
        assert_eq!(from_cookie_header(""), None);
    }

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a").len(), 64);
    }
}
