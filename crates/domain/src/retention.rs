//! How long registrants' data is kept once an event is over: the origin
//! scrubs an event's ended registrations and deletes its finished messages
//! `retention_days` after the event ends.

use jiff::{SignedDuration, Timestamp};

/// Days kept after an event ends when `retention_days` is unset.
pub const DEFAULT_DAYS: u32 = 30;

/// Whether an event that ended at `ended` has been over for longer than
/// `days` at `now`.
pub fn over(ended: Timestamp, now: Timestamp, days: u32) -> bool {
    now.duration_since(ended) > SignedDuration::from_hours(24 * i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_kept_its_days_and_no_longer() {
        let ended: Timestamp = "2027-05-01T18:00:00Z".parse().unwrap();
        let after = |hours: i64| ended + SignedDuration::from_hours(hours);
        assert!(!over(ended, after(-1), 30));
        assert!(!over(ended, after(30 * 24), 30));
        assert!(over(ended, after(30 * 24 + 1), 30));
        assert!(over(ended, after(1), 0), "0 keeps nothing past the end");
    }
}
