//! Watching and stopping long operations: phased progress events and a
//! cancellation token.
//!
//! Every long library call (DFU reads and writes, key load and reset,
//! batches) takes a [`Monitor`]: an optional [`Observer`] that receives
//! [`ProgressEvent`]s and a [`CancelToken`] that the operation checks between
//! DFU blocks, between batch jobs and during every wait. A front end renders
//! the events (the CLI as progress bars, a binding as callbacks) and triggers
//! the token (Ctrl-C, an `AbortSignal`, `KeyboardInterrupt`).
//!
//! Cancelling never leaves a mix: an operation that changes the board stops
//! only where the device holds a whole state (a key load finishes or restores
//! the old key), and reports what it did.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::error::{ErrorCode, ErrorInfo};
use crate::time::Clock;

/// What a long operation is doing now.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading device memory (a DFU upload).
    Read,
    /// Keeping a copy of what is about to be replaced (read and verified).
    Backup,
    /// Erasing flash sectors.
    Erase,
    /// Writing device memory (a DFU download).
    Write,
    /// Reading back what was written and comparing.
    Verify,
    /// Putting the old contents back after a failure or a cancellation.
    Restore,
    /// Asking the board to leave DFU mode / reset.
    Reset,
    /// Sending public keys to the cloud (a batch).
    Provision,
}

impl Phase {
    /// The stable lower-case name (also the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Read => "read",
            Phase::Backup => "backup",
            Phase::Erase => "erase",
            Phase::Write => "write",
            Phase::Verify => "verify",
            Phase::Restore => "restore",
            Phase::Reset => "reset",
            Phase::Provision => "provision",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `done` and `total` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bytes,
    Devices,
}

/// One step of progress: `done` of `total` `unit`s in `phase`. A phase
/// starts with `done == 0` and ends with `done == total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressEvent {
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    pub unit: Unit,
}

/// Receives progress events. Called on the thread doing the work; keep it
/// short (a binding forwards the event to its own event loop).
pub trait Observer: Send + Sync {
    fn on_progress(&self, event: &ProgressEvent);
}

impl<F> Observer for F
where
    F: Fn(&ProgressEvent) + Send + Sync,
{
    fn on_progress(&self, event: &ProgressEvent) {
        self(event)
    }
}

/// The operation was cancelled through its [`CancelToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("the operation was cancelled")]
pub struct Cancelled;

impl ErrorInfo for Cancelled {
    fn code(&self) -> ErrorCode {
        ErrorCode::Cancelled
    }
}

#[derive(Default)]
struct TokenInner {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    #[cfg(feature = "cloud")]
    notify: tokio::sync::Notify,
}

/// A cancellation flag shared by the caller and the operation. Clones share
/// one flag; once cancelled it stays cancelled.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<TokenInner>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the operation to stop; wakes every wait on this token.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let _guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.wake.notify_all();
        #[cfg(feature = "cloud")]
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Block for `d` of real time or until cancelled; `Err` if cancelled.
    pub fn wait_timeout(&self, d: Duration) -> Result<(), Cancelled> {
        let guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .inner
            .wake
            .wait_timeout_while(guard, d, |_| !self.is_cancelled())
            .unwrap_or_else(|e| e.into_inner());
        self.check()
    }

    /// Resolves once the token is cancelled (for `tokio::select!`).
    #[cfg(feature = "cloud")]
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What a long operation is given to report progress and notice
/// cancellation. `Monitor::default()` watches nothing and never cancels.
#[derive(Clone, Default)]
pub struct Monitor {
    observer: Option<Arc<dyn Observer>>,
    cancel: CancelToken,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("observer", &self.observer.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl Monitor {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// The same observer with a token of its own that is never cancelled:
    /// for the steps that, once begun, must run to the end (putting the
    /// old key back after a cancellation).
    pub fn uncancellable(&self) -> Monitor {
        Monitor {
            observer: self.observer.clone(),
            cancel: CancelToken::new(),
        }
    }

    /// Tell the observer, if any.
    pub fn report(&self, phase: Phase, done: u64, total: u64, unit: Unit) {
        if let Some(observer) = &self.observer {
            observer.on_progress(&ProgressEvent {
                phase,
                done,
                total,
                unit,
            });
        }
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), Cancelled> {
        self.cancel.check()
    }

    /// Wait `d` on `clock`, waking early (with `Err`) on cancellation. The
    /// clock decides what a wait is (real, scaled or manual), so the wait is
    /// taken in slices of at most 50 ms of clock time, checking between them.
    pub fn sleep(&self, clock: &dyn Clock, d: Duration) -> Result<(), Cancelled> {
        const SLICE: Duration = Duration::from_millis(50);
        self.check()?;
        let mut left = d;
        while !left.is_zero() {
            let step = left.min(SLICE);
            clock.sleep(step);
            left -= step;
            self.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Instant;

    #[test]
    fn a_cancelled_token_stays_cancelled_and_is_shared_by_clones() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(clone.check().is_ok());
        token.cancel();
        assert_eq!(clone.check(), Err(Cancelled));
        assert_eq!(Cancelled.code().as_str(), "CANCELLED");
    }

    #[test]
    fn cancel_wakes_a_waiting_thread() {
        let token = CancelToken::new();
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || token.wait_timeout(Duration::from_secs(3600)))
        };
        token.cancel();
        assert_eq!(waiter.join().unwrap(), Err(Cancelled));
    }

    #[test]
    fn the_observer_receives_each_event() {
        let seen = Arc::new(AtomicU64::new(0));
        let sink = seen.clone();
        let monitor = Monitor::new().with_observer(Arc::new(move |e: &ProgressEvent| {
            assert_eq!(e.phase, Phase::Write);
            sink.fetch_add(e.done, Ordering::SeqCst);
        }));
        monitor.report(Phase::Write, 0, 612, Unit::Bytes);
        monitor.report(Phase::Write, 612, 612, Unit::Bytes);
        assert_eq!(seen.load(Ordering::SeqCst), 612);
    }

    #[derive(Debug)]
    struct CountingClock(AtomicU64, CancelToken);
    impl Clock for CountingClock {
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn sleep(&self, d: Duration) {
            let total = self.0.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
            if total >= 100 {
                self.1.cancel();
            }
        }
    }

    #[test]
    fn a_monitored_sleep_stops_at_the_slice_after_cancellation() {
        let token = CancelToken::new();
        let clock = CountingClock(AtomicU64::new(0), token.clone());
        let monitor = Monitor::new().with_cancel(token);
        assert_eq!(
            monitor.sleep(&clock, Duration::from_secs(10)),
            Err(Cancelled)
        );
        // Cancelled during the third 50 ms slice (0, 50, 100 ms slept before).
        assert_eq!(clock.0.load(Ordering::SeqCst), 150);
    }

    #[cfg(feature = "cloud")]
    #[test]
    fn the_async_wait_resolves_on_cancel() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = CancelToken::new();
        let other = token.clone();
        rt.block_on(async move {
            let waiter = tokio::spawn(async move { other.cancelled().await });
            tokio::task::yield_now().await;
            token.cancel();
            waiter.await.unwrap();
        });
    }
}
