//! Outbound HTTP policy: the `allowed_outbound_hosts` grammar Spin accepts
//! (`scheme://host:port` with `*` wildcards, `*.suffix` hosts and port
//! ranges), and the link controls tests use to cut or slow the path from one
//! app to another.

use anyhow::{Result, bail, ensure};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`.
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// One port, or Spin's `start..end` (the end left out).
    Range(std::ops::Range<u32>),
}

impl PortPattern {
    fn one(port: u16) -> Self {
        let port = u32::from(port);
        PortPattern::Range(port..port + 1)
    }
}

/// The port Spin assumes for an entry or address that names none.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one resolved entry of `allowed_outbound_hosts`.
    pub fn parse(entry: &str) -> Result<Self> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("{entry:?} must have the form scheme://host[:port]");
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        ensure!(
            !authority.contains('/'),
            "{entry:?} must not contain a path"
        );
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                Some(s.to_ascii_lowercase())
            }
            _ => bail!("{entry:?} has an invalid scheme"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        ensure!(!host.is_empty(), "{entry:?} has no host");
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomain(suffix.to_ascii_lowercase())
        } else {
            ensure!(
                !host.contains('*'),
                "{entry:?}: '*' must stand alone or start the host"
            );
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((start, end)) => {
                    let (start, end): (u16, u16) = (start.parse()?, end.parse()?);
                    PortPattern::Range(u32::from(start)..u32::from(end))
                }
                None => PortPattern::one(p.parse()?),
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(n) => PortPattern::one(n),
                None => bail!("{entry:?} must name a port for this scheme"),
            },
        };
        Ok(Self { scheme, host, port })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomain(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.ends_with('.') && head.len() > 1),
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(ref ports) => ports.contains(&u32::from(port)),
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Whether any of `component`'s entries allows `scheme://host:port`; a
/// refusal is logged as Spin logs it.
pub(crate) fn permits(
    allowed: &[AllowedHost],
    component: &str,
    scheme: &str,
    host: &str,
    port: u16,
) -> bool {
    let allowed = allowed.iter().any(|a| a.allows(scheme, host, port));
    if !allowed {
        eprintln!(
            "[{component}] A component tried to make an outbound network connection to \
             disallowed destination '{scheme}://{host}:{port}'."
        );
    }
    allowed
}

/// A fault injected on the path to one authority (`host:port`, or
/// `<id>.spin.internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// Connections are refused, as if the peer were down.
    Cut,
    /// The peer answers, but only after this delay.
    Delay(Duration),
    /// The connection is accepted and the request never answered, as by a
    /// peer that is wedged rather than down: only a timeout ends the call.
    Hang,
    /// The request reaches the peer, which does the work, and the answer
    /// is lost on the way back: what makes retries need idempotency.
    LoseAnswer,
}

/// Faults on outbound links, and the requests sent on each, shared by
/// every instance of an app and changeable while the app runs.
#[derive(Debug, Clone, Default)]
pub struct Links {
    state: Arc<Mutex<LinkState>>,
}

#[derive(Debug, Default)]
struct LinkState {
    faults: HashMap<String, LinkFault>,
    requests: HashMap<String, usize>,
}

impl Links {
    pub fn set(&self, authority: &str, fault: LinkFault) {
        self.lock()
            .faults
            .insert(authority.to_ascii_lowercase(), fault);
    }

    pub fn heal(&self, authority: &str) {
        self.lock().faults.remove(&authority.to_ascii_lowercase());
    }

    pub fn fault(&self, authority: &str) -> Option<LinkFault> {
        self.lock()
            .faults
            .get(&authority.to_ascii_lowercase())
            .copied()
    }

    /// How many requests instances have sent to `authority` so far,
    /// whatever became of them.
    pub fn requests(&self, authority: &str) -> usize {
        self.lock()
            .requests
            .get(&authority.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Counts a request sent to `authority`, and says what fault it meets.
    pub(crate) fn send(&self, authority: &str) -> Option<LinkFault> {
        let authority = authority.to_ascii_lowercase();
        let mut state = self.lock();
        *state.requests.entry(authority.clone()).or_default() += 1;
        state.faults.get(&authority).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: u16) -> bool {
        AllowedHost::parse(entry)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_hosts_use_the_schemes_default_port() {
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            8443
        ));
        assert!(!allows(
            "https://api.example.com",
            "http",
            "api.example.com",
            443
        ));
        assert!(allows(
            "http://origin.spin.internal",
            "http",
            "origin.spin.internal",
            80
        ));
        assert!(allows("http://127.0.0.1:3001/", "http", "127.0.0.1", 3001));
        assert!(allows(
            "postgres://db.internal",
            "postgres",
            "db.internal",
            5432
        ));
    }

    #[test]
    fn wildcards_and_ranges() {
        assert!(allows("*://*:*", "https", "anything", 1));
        assert!(allows(
            "http://*.example.com",
            "http",
            "a.b.example.com",
            80
        ));
        assert!(!allows("http://*.example.com", "http", "example.com", 80));
        assert!(!allows(
            "http://*.example.com",
            "http",
            "badexample.com",
            80
        ));
        assert!(allows("redis://cache", "redis", "cache", 6379));
        // Spin's ranges leave their end out.
        assert!(allows(
            "http://localhost:3000..3010",
            "http",
            "localhost",
            3009
        ));
        assert!(!allows(
            "http://localhost:3000..3010",
            "http",
            "localhost",
            3010
        ));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "example.com",
            "https://",
            "https://a.com/path",
            "*://a.com",
            "http://a*b.com",
            // Spin writes a range `3000..3010`.
            "http://localhost:3000-3010",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_faults_are_set_and_healed() {
        let links = Links::default();
        links.set("Origin:80", LinkFault::Cut);
        assert_eq!(links.fault("origin:80"), Some(LinkFault::Cut));
        links.heal("origin:80");
        assert_eq!(links.fault("origin:80"), None);
    }
}
