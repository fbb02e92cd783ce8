//! Time for the virtual Duo. The device never sleeps: it only reports
//! bwPollTimeout and refuses to be done before its busy period ends, which
//! it judges by the injected [`Clock`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::time::Clock;

/// The injected clock, anchored to calendar time once per handle so that a
/// busy deadline can be stored in the state file and mean the same thing to
/// the next process. (The anchor is the only wall-clock read in the
/// simulator; all progress of time comes from the injected clock.)
#[derive(Debug, Clone)]
pub(crate) struct DeviceClock {
    clock: Arc<dyn Clock>,
    anchor_instant: Instant,
    anchor_system: SystemTime,
}

impl DeviceClock {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        DeviceClock {
            anchor_instant: clock.now(),
            anchor_system: SystemTime::now(),
            clock,
        }
    }

    /// Wait on the injected clock (a connected device staying up).
    pub fn sleep(&self, d: Duration) {
        self.clock.sleep(d);
    }

    /// Now, as calendar time, advancing only as the injected clock does.
    pub fn now(&self) -> SystemTime {
        self.anchor_system
            + self
                .clock
                .now()
                .saturating_duration_since(self.anchor_instant)
    }
}

/// A clock that moves only when told to — or when someone sleeps on it, so
/// that a host waiting out bwPollTimeout against the virtual Duo takes no
/// wall time and no test depends on timing.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    /// Move time forward by `d`.
    pub fn advance(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }

    /// Time advanced since creation.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}
