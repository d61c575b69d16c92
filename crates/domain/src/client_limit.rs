//! Per-client limits, counted in fixed one-minute windows: the edge's
//! in-memory first line and the origin's count of registration attempts
//! both keep them this way, so they agree on when a window ends.

use crate::Problem;
use crate::respond::{self, Reply};

/// A window's length.
pub const WINDOW_SECS: i64 = 60;

/// The window an instant falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Unix seconds at which it began: the window's name.
    pub start: i64,
    /// Whole seconds until it ends, at least 1: a refusal's `Retry-After`.
    pub retry_after: u32,
}

impl Window {
    pub fn at(now_secs: i64) -> Self {
        let start = now_secs - now_secs.rem_euclid(WINDOW_SECS);
        Self {
            start,
            retry_after: (start + WINDOW_SECS - now_secs).max(1) as u32,
        }
    }
}

/// Organizer sign-ins with a token that turns out wrong, per client and
/// minute: a few typing mistakes, never a search. The origin counts every
/// attempt before it looks at the token and gives a right one its count
/// back; the edge keeps the same limit as a first line in each instance.
pub const SIGN_IN_FAILURES_PER_MINUTE: u32 = 10;

/// Sign-in links one client address may ask for in a minute, whatever the
/// addresses it names.
pub const SIGN_IN_LINKS_PER_CLIENT_PER_MINUTE: u32 = 5;
/// Sign-in links one inbox may be sent in a minute, whoever asks (the
/// mail limits then bound the hour).
pub const SIGN_IN_LINKS_PER_INBOX_PER_MINUTE: u32 = 3;

/// Whether one more attempt fits when `counted` were made in this window;
/// a limit of `0` is off.
pub fn admits(counted: u32, per_minute: u32) -> bool {
    per_minute == 0 || counted < per_minute
}

/// The answer to an attempt over the limit, from the edge or the origin.
pub fn refused(window: Window) -> Reply {
    respond::problem(
        &Problem::new(
            429,
            "Too many attempts from this address; try again after Retry-After seconds.",
        ),
        Some(window.retry_after),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_minutes_and_say_when_they_end() {
        assert_eq!(
            Window::at(119),
            Window {
                start: 60,
                retry_after: 1
            }
        );
        assert_eq!(
            Window::at(120),
            Window {
                start: 120,
                retry_after: 60
            }
        );
        assert_eq!(
            Window::at(-1),
            Window {
                start: -60,
                retry_after: 1
            }
        );
    }

    #[test]
    fn a_limit_admits_that_many_and_zero_admits_all() {
        assert!(admits(0, 1));
        assert!(!admits(1, 1));
        assert!(admits(19, 20));
        assert!(!admits(20, 20));
        assert!(admits(u32::MAX, 0));
    }
}
