//! Reading an operator's settings (Spin variables) strictly: a value is
//! what it should be, or unset (its default), or a problem that names the
//! variable. A typo never falls back to a default silently, and a value
//! that would trap later (`inf`, `-1`) never gets that far.

use std::str::FromStr;

/// A whole number: `default` when unset, an error naming `name` when set
/// to anything else.
pub fn whole_number<T: FromStr>(name: &str, configured: &str, default: T) -> Result<T, String> {
    match configured.trim() {
        "" => Ok(default),
        set => set
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {set:?}")),
    }
}

/// `true` or `false` in any case: false when unset, an error naming
/// `name` when set to anything else (a typo must not turn a setting off).
pub fn flag(name: &str, configured: &str) -> Result<bool, String> {
    match configured.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "" | "false" => Ok(false),
        _ => Err(format!("{name} must be true or false, not {configured:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_or_unset() {
        assert_eq!(whole_number("n", "", 20u32), Ok(20));
        assert_eq!(whole_number("n", " 600 ", 20u32), Ok(600));
        assert_eq!(whole_number("n", "0", 20u32), Ok(0));
        for bad in ["-1", "1.5", "inf", "1e20", "lots", "99999999999"] {
            let refused = whole_number("n", bad, 20u32).unwrap_err();
            assert!(refused.starts_with("n must be a whole number"), "{bad}");
        }
    }

    #[test]
    fn flags_are_true_or_false_or_unset() {
        assert_eq!(flag("f", ""), Ok(false));
        assert_eq!(flag("f", "TRUE"), Ok(true));
        assert_eq!(flag("f", "false"), Ok(false));
        for bad in ["yes", "1", "on", "treu"] {
            assert!(flag("f", bad).is_err(), "{bad}");
        }
    }
}
