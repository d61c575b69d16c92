//! The wall clock guests read, which a test may move forward: what happens
//! when time passes (a hold lapsing after half an hour) is tested without
//! sleeping through it. Spin reads the system clock; so does this one until
//! a test moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use wasmtime_wasi::HostWallClock;

/// The system clock plus however far a test has moved it; clones share it.
#[derive(Clone, Default, Debug)]
pub struct WallClock {
    ahead_ms: Arc<AtomicU64>,
}

impl WallClock {
    /// Moves the clock of every instance sharing it forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// The time on this clock, since the Unix epoch.
    pub fn since_epoch(&self) -> Duration {
        let system = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        system + Duration::from_millis(self.ahead_ms.load(Ordering::SeqCst))
    }
}

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.since_epoch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_is_ahead_for_every_clone() {
        let clock = WallClock::default();
        let shared = clock.clone();
        let before = shared.since_epoch();
        clock.advance(Duration::from_secs(1800));
        let after = shared.since_epoch();
        assert!(after >= before + Duration::from_secs(1800));
        assert!(after < before + Duration::from_secs(1810));
    }
}
