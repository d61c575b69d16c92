//! How long registrants' data is kept once an event is over: the origin
//! scrubs an event's ended registrations and deletes its finished messages
//! `retention_days` after the event ends.

use jiff::{SignedDuration, Timestamp};

/// Days kept after an event ends when `retention_days` is unset.
pub const DEFAULT_DAYS: u32 = 30;

/// `retention_days` as configured: a whole number of days, the default
/// when unset, `None` for a value that is not one.
pub fn days(configured: &str) -> Option<u32> {
    match configured.trim() {
        "" => Some(DEFAULT_DAYS),
        days => days.parse().ok(),
    }
}

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

    #[test]
    fn days_are_whole_numbers_or_the_default() {
        assert_eq!(days(""), Some(DEFAULT_DAYS));
        assert_eq!(days(" 90 "), Some(90));
        assert_eq!(days("0"), Some(0));
        for bad in ["-1", "1.5", "forever", "1e3"] {
            assert_eq!(days(bad), None, "{bad}");
        }
    }
}
