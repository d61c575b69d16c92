//! Per-client limits, counted in fixed one-minute windows
//! (`eventfront_domain::client_limit`): registration attempts, and failed
//! organizer sign-ins (so a token cannot be guessed at speed). Both are
//! counted in this instance's memory, so that a burst into one instance is
//! refused before anything else is done. The counts that hold across every
//! instance and every edge are the origin's, against the client this edge
//! names in the signed request: registration attempts in the transaction
//! that decides them, sign-ins in one atomic write before the token is
//! looked at. Neither costs the edge a KV write. Registration links that
//! name no registration (manage, cancel, confirm) are counted in memory
//! alone: a flood of them must cost the edge as little as possible, and a
//! 256-bit token is not found by guessing anyway. IPv6 clients are counted
//! by their /64, which one subscriber usually holds whole. The limit only
//! slows abusers down: capacity is decided at the origin, never here.

use crate::cache::now_ms;
use crate::error::EdgeError;
use eventfront_domain::client_limit::{SIGN_IN_FAILURES_PER_MINUTE, Window, admits};
use ipnet::IpNet;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Clients counted in one instance's memory at most; beyond it memory
/// starts over and the origin's count stands alone.
const CLIENTS_IN_MEMORY: usize = 4_096;

thread_local! {
    /// This instance's counts in the current window, by counter and client.
    static COUNTS: RefCell<(i64, HashMap<String, u32>)> = RefCell::default();
}

/// What is counted, and how many a client may have per minute.
#[derive(Clone, Copy)]
pub struct Limit {
    name: &'static str,
    pub per_minute: u32,
}

impl Limit {
    pub const fn registrations(per_minute: u32) -> Self {
        Self {
            name: "registrations",
            per_minute,
        }
    }

    /// Waiting-room tickets taken: a person takes one; many from one
    /// address is someone trying for a better place in the pre-queue's
    /// lottery (an office or a campus behind one address takes a few).
    pub const TICKETS: Self = Self {
        name: "tickets",
        per_minute: 30,
    };

    /// Failed organizer sign-ins: a few typing mistakes, never a search.
    pub const ADMIN_FAILURES: Self = Self {
        name: "admin-failures",
        per_minute: SIGN_IN_FAILURES_PER_MINUTE,
    };

    /// Manage, cancel and confirm requests the origin found no
    /// registration for (a wrong id or token), per instance: a person
    /// follows the link they were sent and misses rarely, a flood of
    /// guesses misses always.
    pub const TOKEN_FAILURES: Self = Self {
        name: "token-failures",
        per_minute: 30,
    };
}

/// An address as `spin-client-addr` or a forwarding header writes it:
/// `ip`, `ip:port` or `[ipv6]:port`.
fn parse_ip(addr: &str) -> Option<IpAddr> {
    let addr = addr.trim();
    addr.parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| addr.trim_matches(['[', ']']).parse::<IpAddr>())
        .ok()
}

/// Whom an attempt is counted against: the address Spin saw, without its
/// port, and an IPv6 address as its /64; or the client behind trusted
/// proxies: when the address Spin saw is one of
/// `trusted`, the forwarding header (`X-Forwarded-For` style, nearest hop
/// last) is read from the right, past every trusted hop, to the first
/// address no trusted proxy vouches beyond. From anyone else the header is
/// ignored: a client cannot choose the address it is counted as.
pub fn client_key_behind(
    spin_client_addr: Option<&str>,
    forwarded: Option<&str>,
    trusted: &[IpNet],
) -> String {
    let Some(mut client) = spin_client_addr.and_then(parse_ip) else {
        return "unknown".to_string();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if is_trusted(&client) {
        for hop in forwarded.unwrap_or("").rsplit(',') {
            let Some(ip) = parse_ip(hop) else {
                break;
            };
            client = ip;
            if !is_trusted(&ip) {
                break;
            }
        }
    }
    key_of(client)
}

fn key_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Counts one more for `key` in this instance and returns the count, or
/// reads it (`add` 0). Synchronous, so concurrent attempts in one instance
/// never read the same number.
fn count_here(key: &str, window: i64, add: u32) -> u32 {
    COUNTS.with_borrow_mut(|(counted_window, counts)| {
        if *counted_window != window || counts.len() >= CLIENTS_IN_MEMORY {
            *counted_window = window;
            counts.clear();
        }
        let count = counts.entry(key.to_string()).or_default();
        *count += add;
        *count
    })
}

fn now() -> Window {
    Window::at(now_ms() / 1000)
}

impl Limit {
    fn counted_as(&self, client: &str) -> String {
        format!("{}/{client}", self.name)
    }

    /// Counts one attempt in this instance; `Err(RateLimited)` once the
    /// limit is exceeded here, with the seconds until the window ends. A
    /// limit of `0` is off. The count across instances is the origin's.
    pub fn admit_here(&self, client: &str) -> Result<(), EdgeError> {
        let window = now();
        let before = count_here(&self.counted_as(client), window.start, 1) - 1;
        if admits(before, self.per_minute) {
            Ok(())
        } else {
            Err(EdgeError::RateLimited(window))
        }
    }

    /// Refuses a client that already reached the limit in this instance,
    /// counting nothing.
    pub fn check_here(&self, client: &str) -> Result<(), EdgeError> {
        let window = now();
        let here = count_here(&self.counted_as(client), window.start, 0);
        if admits(here, self.per_minute) {
            Ok(())
        } else {
            Err(EdgeError::RateLimited(window))
        }
    }

    /// Counts one against `client` after the fact, in this instance only.
    pub fn record_here(&self, client: &str) {
        let window = now().start;
        count_here(&self.counted_as(client), window, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_key(spin_client_addr: Option<&str>) -> String {
        client_key_behind(spin_client_addr, None, &[])
    }

    #[test]
    fn clients_are_counted_by_address_and_ipv6_by_its_64() {
        assert_eq!(client_key(Some("203.0.113.9:51234")), "203.0.113.9");
        assert_eq!(client_key(Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(
            client_key(Some("[2001:db8:1:2:aaaa::1]:443")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(Some("[2001:db8:1:2:bbbb::9]:443")),
            client_key(Some("[2001:db8:1:2:aaaa::1]:443"))
        );
        assert_eq!(client_key(Some("[::ffff:192.0.2.1]:80")), "192.0.2.1");
        assert_eq!(client_key(Some("nonsense")), "unknown");
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let header = Some("203.0.113.66, 198.51.100.2, 10.1.1.1");
        // From the proxy: the hop before the trusted ones.
        assert_eq!(
            client_key_behind(Some("10.0.0.5:1234"), header, &trusted),
            "198.51.100.2"
        );
        // From anyone else the header is the client's own word: ignored.
        assert_eq!(
            client_key_behind(Some("192.0.2.9:1234"), header, &trusted),
            "192.0.2.9"
        );
        assert_eq!(
            client_key_behind(Some("192.0.2.9:1234"), header, &[]),
            "192.0.2.9"
        );
        // A proxy that forwards nothing readable: the proxy itself.
        assert_eq!(
            client_key_behind(Some("10.0.0.5:1234"), Some("junk"), &trusted),
            "10.0.0.5"
        );
        assert_eq!(
            client_key_behind(Some("10.0.0.5:1234"), None, &trusted),
            "10.0.0.5"
        );
        assert_eq!(
            client_key_behind(Some("10.0.0.5:1"), Some("[2001:db8:1:2::7]:443"), &trusted),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_burst_in_one_instance_counts_every_attempt() {
        let counts: Vec<u32> = (0..5)
            .map(|_| count_here("a/198.51.100.7", 120, 1))
            .collect();
        assert_eq!(counts, [1, 2, 3, 4, 5]);
        assert_eq!(count_here("a/198.51.100.7", 120, 0), 5, "reading adds none");
        assert_eq!(count_here("a/198.51.100.8", 120, 1), 1);
        assert_eq!(count_here("a/198.51.100.7", 180, 1), 1, "a new window");
    }
}
