//! The one source of time in the core. Nothing else sleeps or reads a clock,
//! so simulated device delays can be scaled in tests and real in benchmarks.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A replaceable source of time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration);
}

/// Wall-clock time: real sleeps.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// The default clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
