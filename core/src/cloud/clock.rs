//! The async counterpart of [`crate::time::Clock`]: the cloud client and the
//! local cloud sleep (retry backoff, `Retry-After`, fault delays) and read
//! time (latencies, the `order` field) only through this trait, so tests
//! can replace waiting with recording.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A boxed sleep, so the trait stays object-safe.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A replaceable source of time for async code.
pub trait AsyncClock: Send + Sync + Debug {
    /// Wait for `d` without blocking the runtime.
    fn sleep(&self, d: Duration) -> SleepFuture;
    /// A monotonic instant, for elapsed times and latencies.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch, for `order` names and record times.
    fn epoch_millis(&self) -> u64;
}

/// Real time on the tokio runtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl AsyncClock for TokioClock {
    fn sleep(&self, d: Duration) -> SleepFuture {
        Box::pin(async move {
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn epoch_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Test clock: sleeps return at once and are recorded.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct RecordingClock(pub(crate) std::sync::Mutex<Vec<Duration>>);

#[cfg(test)]
impl RecordingClock {
    pub(crate) fn sleeps(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(test)]
impl AsyncClock for RecordingClock {
    fn sleep(&self, d: Duration) -> SleepFuture {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn epoch_millis(&self) -> u64 {
        1_700_000_000_000
    }
}
