//! Conditional requests (RFC 9110 §13.1.2): whether an `If-None-Match`
//! header matches a representation's entity tag, so that every route of
//! either component answers 304 the same way. Matching is weak, as the RFC
//! requires for `If-None-Match`: `W/"x"` matches `"x"`.

/// Whether `if_none_match` (the header's value, if any) matches `etag`.
/// `*` matches any representation; a list matches when any member does; a
/// malformed member matches nothing.
pub fn none_match(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(header) = if_none_match else {
        return false;
    };
    if header.trim() == "*" {
        return true;
    }
    let Some(wanted) = opaque(etag) else {
        return false;
    };
    EntityTags(header).any(|tag| tag == wanted)
}

/// The quoted part of an entity tag, without any weakness prefix.
fn opaque(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    (tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')).then(|| &tag[1..tag.len() - 1])
}

/// The opaque tags of a comma-separated list. Commas may stand inside a
/// quoted tag, so the list is read tag by tag rather than split.
struct EntityTags<'a>(&'a str);

impl<'a> Iterator for EntityTags<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start_matches([' ', '\t', ',']);
        let rest = rest.strip_prefix("W/").unwrap_or(rest);
        let inner = rest.strip_prefix('"')?;
        let end = inner.find('"')?;
        self.0 = &inner[end + 1..];
        Some(&inner[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::none_match;

    #[test]
    fn strong_weak_lists_and_star_match() {
        assert!(none_match(Some("\"abc\""), "\"abc\""));
        assert!(none_match(Some("W/\"abc\""), "\"abc\""));
        assert!(none_match(Some("\"abc\""), "W/\"abc\""));
        assert!(none_match(Some("\"x\", W/\"abc\""), "\"abc\""));
        assert!(none_match(Some("\"x\",\"abc\""), "\"abc\""));
        assert!(none_match(Some(" * "), "\"abc\""));
        assert!(none_match(Some("\"a,b\", \"abc\""), "\"abc\""));
    }

    #[test]
    fn others_do_not() {
        assert!(!none_match(None, "\"abc\""));
        assert!(!none_match(Some(""), "\"abc\""));
        assert!(!none_match(Some("\"abcd\""), "\"abc\""));
        assert!(!none_match(Some("abc"), "\"abc\""));
        assert!(!none_match(Some("\"a,b\""), "\"a\""));
        assert!(!none_match(Some("\"abc"), "\"abc\""));
    }
}
