//! The clock guests read, wall and monotonic alike, which a test may move
//! forward: what happens when time passes (a hold lapsing after half an
//! hour, a staleness window ending) is tested without sleeping through it.
//! Both readings move together, so a guest comparing `Instant`s and one
//! comparing wall times see the same time pass. Spin reads the system's
//! clocks; so does this one until a test moves it. (Guest timers, such as
//! `spin_sdk::time::sleep`, still run on real time: wasmtime waits for them
//! itself.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The system's clocks plus however far a test has moved them; clones
/// share it.
#[derive(Clone, Debug)]
pub struct Clock {
    ahead_ms: Arc<AtomicU64>,
    /// Where the monotonic reading counts from.
    origin: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            ahead_ms: Arc::default(),
            origin: Instant::now(),
        }
    }
}

impl Clock {
    /// Moves the clock of every instance sharing it forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Ordering::SeqCst))
    }

    /// The wall time on this clock, since the Unix epoch.
    pub fn since_epoch(&self) -> Duration {
        let system = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        system + self.ahead()
    }

    /// The monotonic time on this clock, since it was made.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed() + self.ahead()
    }
}

impl HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.since_epoch()
    }
}

impl HostMonotonicClock for Clock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_is_ahead_for_every_clone_wall_and_monotonic() {
        let clock = Clock::default();
        let shared = clock.clone();
        let (wall, monotonic) = (shared.since_epoch(), HostMonotonicClock::now(&shared));
        clock.advance(Duration::from_secs(1800));
        let after = shared.since_epoch();
        assert!(after >= wall + Duration::from_secs(1800));
        assert!(after < wall + Duration::from_secs(1810));
        let moved = HostMonotonicClock::now(&shared) - monotonic;
        assert!((1_800_000_000_000..1_810_000_000_000).contains(&moved));
    }
}
