//! The clock guests read, wall and monotonic alike, and wait on, which a
//! test may move forward: what happens when time passes (a hold lapsing
//! after half an hour, a staleness window ending, a timeout) is tested
//! without sleeping through it. Both readings move together, so a guest comparing `Instant`s and one
//! comparing wall times see the same time pass. Spin reads the system's
//! clocks and waits on them; so does this one until a test moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The system's clocks plus however far a test has moved them; clones
/// share it.
#[derive(Clone, Debug)]
pub struct Clock {
    ahead_ms: Arc<AtomicU64>,
    /// Where the monotonic reading counts from.
    origin: Instant,
    /// Told whenever the test moves the clock, so that waits look again.
    moved: Arc<watch::Sender<()>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            ahead_ms: Arc::default(),
            origin: Instant::now(),
            moved: Arc::new(watch::Sender::new(())),
        }
    }
}

impl Clock {
    /// Moves the clock of every instance sharing it forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        self.moved.send_replace(());
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

    /// Waits until the monotonic time on this clock is `deadline`: on
    /// real time, and looking again whenever the test moves the clock.
    pub async fn wait_until(&self, deadline: Duration) {
        let mut moved = self.moved.subscribe();
        loop {
            let now = self.elapsed();
            if now >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(deadline - now) => {}
                _ = moved.changed() => {}
            }
        }
    }

    /// Waits for `how_long` on this clock.
    pub async fn wait_for(&self, how_long: Duration) {
        self.wait_until(self.elapsed() + how_long).await;
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

    #[tokio::test]
    async fn a_running_clocks_waits_end_on_real_time_or_when_it_is_moved() {
        let clock = Clock::default();
        clock.wait_for(Duration::from_millis(5)).await;
        let moved = tokio::spawn({
            let clock = clock.clone();
            async move { clock.wait_for(Duration::from_secs(3600)).await }
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3600));
        moved.await.unwrap();
    }
}
