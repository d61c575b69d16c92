//! The edge's freshness rule, in one place: given what an edge holds of an
//! event (the head's times), the lease that elects one revalidator per edge,
//! and the clock, whether a read serves its copy as is, serves it and
//! revalidates in the background, or has nothing to serve and must fetch.
//! A read never waits for the origin while a copy exists; revalidation is
//! background work, at most one per edge per window across its instances.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// How long one elected revalidation may run before another instance may
/// take over: the origin call's timeout and some slack.
pub const LEASE_TTL: Duration = Duration::from_secs(4);

/// How long the edge waits before asking again after the origin failed to
/// answer a revalidation; readers meanwhile get the copy, marked stale.
pub const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// When the copy an edge holds was last confirmed by the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    pub version: u64,
    pub checked_at: Millis,
}

/// The revalidation lease of one event on one edge (kept in KV so that
/// every instance sees it): who may ask the origin, until when, and how
/// the last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Nobody else revalidates before this instant.
    pub until: Millis,
    /// The last revalidation could not reach the origin.
    pub failed: bool,
    /// A random number naming the instance that took it, so that racing
    /// instances can tell whose write stood.
    pub owner: u64,
}

impl Lease {
    /// The lease an instance writes when it starts a revalidation.
    pub fn taken(now: Millis, owner: u64) -> Self {
        Self {
            until: now + millis(LEASE_TTL),
            failed: false,
            owner,
        }
    }

    /// The lease left behind by a revalidation the origin did not answer:
    /// it holds everyone back for the backoff.
    pub fn backing_off(now: Millis) -> Self {
        Self {
            until: now + millis(RETRY_BACKOFF),
            failed: true,
            owner: 0,
        }
    }

    pub fn active(&self, now: Millis) -> bool {
        now < self.until
    }
}

/// What a read does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is held anywhere: fetch from the origin (one fetch shared by
    /// every concurrent cold read).
    Fetch,
    /// Serve the copy now. `stale` marks it as one the origin could not
    /// confirm lately; `revalidate` elects this read to start one
    /// revalidation in the background, after answering.
    Serve { stale: bool, revalidate: bool },
}

/// Whether a copy confirmed at `checked_at` is still within `window`: then
/// no lease is needed and none is read.
pub fn within_window(copy: &Copy, now: Millis, window: Duration) -> bool {
    now - copy.checked_at < millis(window)
}

/// The rule. `lease` is what the edge knows of the event's lease; it is
/// only consulted once the copy is past its window.
pub fn decide(
    copy: Option<&Copy>,
    lease: Option<&Lease>,
    now: Millis,
    window: Duration,
) -> Decision {
    let Some(copy) = copy else {
        return Decision::Fetch;
    };
    if within_window(copy, now, window) {
        return Decision::Serve {
            stale: false,
            revalidate: false,
        };
    }
    // Past the window the copy is stale once the origin failed to confirm
    // it, or once a whole revalidation could have run and did not confirm
    // it (a revalidator that died, an origin that hangs).
    let overdue = now - copy.checked_at >= millis(window) + millis(LEASE_TTL);
    let failed = lease.is_some_and(|l| l.failed);
    Decision::Serve {
        stale: failed || overdue,
        revalidate: !lease.is_some_and(|l| l.active(now)),
    }
}

/// Whether the origin's answer to a revalidation of `confirmed` may update
/// a head that now reads `current`: a 304 refreshes `checked_at` only for
/// the version it confirmed, and a version never replaces a newer one.
pub fn confirms(current: Option<&Copy>, confirmed: u64) -> bool {
    current.is_none_or(|c| c.version == confirmed)
}

/// Whether a head of `version` may be written over `current`.
pub fn may_replace(current: Option<&Copy>, version: u64) -> bool {
    current.is_none_or(|c| c.version <= version)
}

pub fn millis(d: Duration) -> Millis {
    d.as_millis().try_into().unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(5);
    const T0: Millis = 1_800_000_000_000;

    fn copy(checked_at: Millis) -> Copy {
        Copy {
            version: 3,
            checked_at,
        }
    }

    fn serve(stale: bool, revalidate: bool) -> Decision {
        Decision::Serve { stale, revalidate }
    }

    #[test]
    fn nothing_held_means_a_fetch() {
        assert_eq!(decide(None, None, T0, WINDOW), Decision::Fetch);
        let lease = Lease::taken(T0, 1);
        assert_eq!(decide(None, Some(&lease), T0, WINDOW), Decision::Fetch);
    }

    #[test]
    fn within_the_window_the_copy_is_served_without_asking() {
        let held = copy(T0);
        assert_eq!(decide(Some(&held), None, T0, WINDOW), serve(false, false));
        assert_eq!(
            decide(Some(&held), None, T0 + 4_999, WINDOW),
            serve(false, false)
        );
        // A lease left by a failure does not matter inside the window.
        let failed = Lease::backing_off(T0);
        assert_eq!(
            decide(Some(&held), Some(&failed), T0 + 10, WINDOW),
            serve(false, false)
        );
    }

    #[test]
    fn past_the_window_one_read_is_elected_and_everyone_is_served() {
        let held = copy(T0);
        let now = T0 + 5_000;
        assert_eq!(decide(Some(&held), None, now, WINDOW), serve(false, true));
        // Once the elected read has taken the lease, others just serve.
        let lease = Lease::taken(now, 1);
        assert_eq!(
            decide(Some(&held), Some(&lease), now + 1, WINDOW),
            serve(false, false)
        );
        // An expired lease (its holder died) lets another read take over.
        assert_eq!(
            decide(Some(&held), Some(&lease), lease.until, WINDOW),
            serve(true, true)
        );
    }

    #[test]
    fn a_failed_revalidation_marks_the_copy_stale_and_backs_off() {
        let held = copy(T0);
        let failed_at = T0 + 8_000;
        let lease = Lease::backing_off(failed_at);
        assert_eq!(
            decide(Some(&held), Some(&lease), failed_at + 1, WINDOW),
            serve(true, false)
        );
        // After the backoff the next read tries again, still marked stale.
        assert_eq!(
            decide(
                Some(&held),
                Some(&lease),
                failed_at + millis(RETRY_BACKOFF),
                WINDOW
            ),
            serve(true, true)
        );
    }

    #[test]
    fn a_hanging_revalidation_turns_the_copy_stale_after_its_lease() {
        let held = copy(T0);
        let started = T0 + 5_000;
        let lease = Lease::taken(started, 1);
        assert_eq!(
            decide(Some(&held), Some(&lease), started + 3_999, WINDOW),
            serve(false, false)
        );
        assert_eq!(
            decide(Some(&held), Some(&lease), started + 4_000, WINDOW),
            serve(true, true)
        );
    }

    #[test]
    fn a_not_modified_confirms_only_the_version_it_was_asked_about() {
        assert!(confirms(Some(&copy(T0)), 3));
        assert!(!confirms(
            Some(&Copy {
                version: 4,
                checked_at: T0
            }),
            3
        ));
        assert!(confirms(None, 3));
    }

    #[test]
    fn versions_never_go_back() {
        let held = copy(T0);
        assert!(may_replace(Some(&held), 3));
        assert!(may_replace(Some(&held), 4));
        assert!(!may_replace(Some(&held), 2));
        assert!(may_replace(None, 1));
    }
}
