//! Everything one edge instance keeps between requests (Spin reuses a
//! WASIp3 instance for many), behind one handle: the events it holds in
//! memory and their seat counts, the revalidation leases it knows of, the
//! published list, the calls in flight that concurrent requests share, and
//! the waiting-room arrivals it has yet to report. Every map is
//! bounded.

use super::counts::{ColdCounts, Counts};
use super::flights::Flights;
use super::held::Held;
use super::published::Published;
use super::{Cold, Refill};
use crate::waiting_room::Arrivals;
use eventfront_domain::freshness::{Lease, Millis};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long this instance trusts its memory before asking KV whether a
/// newer version arrived (another instance may have stored it).
pub const MEMORY_RECHECK: Duration = Duration::from_millis(50);

/// How long a running lease read from KV is trusted: past the window every
/// read consults the lease, and an election reads KV once more anyway
/// before writing its own. A failure behind it shows up this much later.
const LEASE_RECHECK: Duration = Duration::from_millis(500);

/// At most this many events are kept in an instance's memory; beyond it
/// the one loaded longest ago makes room (KV still has it).
const MEMORY_EVENTS: usize = 32;

/// Leases are known for held events and the published list; this bounds
/// them whatever the slugs asked for.
const LEASES: usize = 2 * MEMORY_EVENTS;

/// A lease as this instance knows it: its own (trusted until it ends) or
/// one read from KV (trusted for `LEASE_RECHECK` while it runs, else like
/// memory, for `MEMORY_RECHECK`).
#[derive(Clone, Copy)]
struct KnownLease {
    lease: Lease,
    own: bool,
    seen: Instant,
}

#[derive(Default)]
pub struct Instance {
    memory: RefCell<HashMap<String, Arc<Held>>>,
    /// Seat counts by slug, with when they were last read from KV.
    counts: RefCell<HashMap<String, (Instant, Arc<Counts>)>>,
    leases: RefCell<HashMap<String, KnownLease>>,
    published: RefCell<Option<(Instant, Published)>>,
    /// Cold snapshot fetches, by slug.
    pub cold: Flights<Cold>,
    /// Cold fetches of seat counts, by slug.
    pub counts_cold: Flights<ColdCounts>,
    /// Documents refilled from the origin, by slug and version.
    pub refills: Flights<Refill>,
    /// The published list fetched with nothing held.
    pub lists: Flights<Option<Published>>,
    /// The waiting-room tickets this instance issued, by slug
    /// (`waiting_room`).
    pub arrivals: RefCell<HashMap<String, Arrivals>>,
    /// This instance's name in its reports of arrivals: random.
    pub reporter: std::cell::OnceCell<String>,
}

thread_local! {
    static INSTANCE: Rc<Instance> = Rc::default();
}

/// This instance's state.
pub fn instance() -> Rc<Instance> {
    INSTANCE.with(Rc::clone)
}

impl Instance {
    pub fn held(&self, slug: &str) -> Option<Arc<Held>> {
        self.memory.borrow().get(slug).cloned()
    }

    /// Every event held in memory.
    pub fn all_held(&self) -> Vec<(String, Arc<Held>)> {
        self.memory
            .borrow()
            .iter()
            .map(|(slug, held)| (slug.clone(), held.clone()))
            .collect()
    }

    /// Keeps `held` unless memory has a newer version; returns what memory
    /// now holds.
    pub fn remember(&self, slug: &str, held: Arc<Held>) -> Arc<Held> {
        let mut memory = self.memory.borrow_mut();
        if let Some(newer) = memory
            .get(slug)
            .filter(|h| h.head.version > held.head.version)
        {
            return newer.clone();
        }
        make_room(&mut memory, slug, |h| h.loaded);
        memory.insert(slug.to_string(), held.clone());
        held
    }

    pub fn forget(&self, slug: &str) {
        self.memory.borrow_mut().remove(slug);
        self.leases.borrow_mut().remove(slug);
    }

    /// `slug`'s seat counts, if read from KV (or kept) within `within`.
    pub fn counts(&self, slug: &str, within: Duration) -> Option<Arc<Counts>> {
        self.counts
            .borrow()
            .get(slug)
            .filter(|(loaded, _)| loaded.elapsed() < within)
            .map(|(_, counts)| counts.clone())
    }

    /// Keeps `counts`, as read just now, unless memory holds a newer
    /// version or the same one confirmed later; returns what it now holds.
    pub fn remember_counts(&self, slug: &str, counts: Arc<Counts>) -> Arc<Counts> {
        let mut memory = self.counts.borrow_mut();
        let kept = match memory.get(slug) {
            Some((_, held))
                if (held.version, held.checked_at_ms) > (counts.version, counts.checked_at_ms) =>
            {
                held.clone()
            }
            _ => counts,
        };
        make_room(&mut memory, slug, |(loaded, _)| *loaded);
        memory.insert(slug.to_string(), (Instant::now(), kept.clone()));
        kept
    }

    pub fn forget_counts(&self, slug: &str) {
        self.counts.borrow_mut().remove(slug);
    }

    /// The lease of `key` as far as this instance can answer without KV.
    pub fn lease(&self, key: &str, now: Millis) -> Option<Lease> {
        let leases = self.leases.borrow();
        let known = leases.get(key)?;
        let trusted = if known.own {
            known.lease.active(now)
        } else if known.lease.active(now) {
            known.seen.elapsed() < LEASE_RECHECK
        } else {
            known.seen.elapsed() < MEMORY_RECHECK
        };
        trusted.then_some(known.lease)
    }

    /// Whether this instance leads a revalidation of `key` right now.
    pub fn leads(&self, key: &str, now: Millis) -> bool {
        self.leases
            .borrow()
            .get(key)
            .is_some_and(|k| k.own && k.lease.active(now))
    }

    /// A lease read from KV.
    pub fn saw_lease(&self, key: &str, lease: Lease, now: Millis) {
        self.keep_lease(key, lease, false, now);
    }

    /// A lease this instance wrote.
    pub fn took_lease(&self, key: &str, lease: Lease, now: Millis) {
        self.keep_lease(key, lease, true, now);
    }

    fn keep_lease(&self, key: &str, lease: Lease, own: bool, now: Millis) {
        let mut leases = self.leases.borrow_mut();
        if leases.len() >= LEASES && !leases.contains_key(key) {
            leases.retain(|_, k| k.lease.active(now));
            if leases.len() >= LEASES {
                leases.clear();
            }
        }
        let known = KnownLease {
            lease,
            own,
            seen: Instant::now(),
        };
        leases.insert(key.to_string(), known);
    }

    pub fn clear_lease(&self, key: &str) {
        self.leases.borrow_mut().remove(key);
    }

    /// The published list, while memory may still trust it.
    pub fn published(&self) -> Option<Published> {
        self.published
            .borrow()
            .as_ref()
            .filter(|(loaded, _)| loaded.elapsed() < MEMORY_RECHECK)
            .map(|(_, list)| list.clone())
    }

    pub fn remember_published(&self, list: Published) {
        *self.published.borrow_mut() = Some((Instant::now(), list));
    }
}

/// Makes room for `slug` in `memory`, which keeps `MEMORY_EVENTS` events
/// at most: the one `loaded` longest ago goes.
fn make_room<V>(memory: &mut HashMap<String, V>, slug: &str, loaded: impl Fn(&V) -> Instant) {
    if memory.len() < MEMORY_EVENTS || memory.contains_key(slug) {
        return;
    }
    let oldest = memory
        .iter()
        .min_by_key(|(_, value)| loaded(value))
        .map(|(slug, _)| slug.clone());
    if let Some(oldest) = oldest {
        memory.remove(&oldest);
    }
}
