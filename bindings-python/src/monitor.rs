//! Long core calls from Python: progress events to an `on_progress`
//! callback, and Ctrl-C (`KeyboardInterrupt`) to the core's `CancelToken`.
//!
//! The core call runs on a worker thread without the GIL; the calling
//! thread waits for it in slices of [`POLL`], taking the GIL between slices
//! only to run `check_signals()`. When that raises (the signal handler of
//! SIGINT raises `KeyboardInterrupt`), or the callback raises, the token is
//! cancelled — while the GIL is still held, so a callback that triggered the
//! signal cannot return into the core before the token is set — then the
//! core is waited for (it stops only where the device holds a whole state:
//! a key load keeps the new key or restores the old one), and the Python
//! exception is raised with the core's error, if any, as its `__cause__`.
//! Cancelling and undoing are the core's; nothing here decides either.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

use duo_provisioning::progress::{CancelToken, Monitor, ProgressEvent};

/// How often the waiting thread looks at pending signals.
const POLL: Duration = Duration::from_millis(50);

/// The first Python exception raised while the core ran: from the signal
/// check or from the callback.
type Raised = Arc<Mutex<Option<PyErr>>>;

/// Hands each `ProgressEvent` to the Python callback, as a
/// `duo_provisioning.ProgressEvent` (`phase`, `done`, `total`, `unit`). A
/// callback that raises cancels the operation; its exception is raised once
/// the core has stopped.
struct Callback {
    callback: Py<PyAny>,
    raised: Raised,
    cancel: CancelToken,
}

impl Callback {
    fn call(&self, event: &ProgressEvent) {
        Python::attach(|py| {
            if self
                .raised
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
            {
                return;
            }
            let called = crate::convert::report(py, "ProgressEvent", event)
                .and_then(|e| self.callback.call1(py, (e,)).map(drop));
            if let Err(e) = called {
                self.cancel.cancel();
                let mut raised = self.raised.lock().unwrap_or_else(|p| p.into_inner());
                raised.get_or_insert(e);
            }
        });
    }
}

/// Run `work` (a monitored core call, its error already the Python
/// exception) as described in the module docs. Its `Err` is raised; a `KeyboardInterrupt` or a
/// callback's exception wins over the core's result (which becomes its
/// `__cause__` when it is an error).
pub fn run<T: Send>(
    py: Python<'_>,
    on_progress: Option<Py<PyAny>>,
    work: impl FnOnce(&Monitor) -> PyResult<T> + Send,
) -> PyResult<T> {
    let cancel = CancelToken::new();
    let raised: Raised = Arc::default();
    let mut monitor = Monitor::new().with_cancel(cancel.clone());
    if let Some(callback) = on_progress {
        let callback = Callback {
            callback,
            raised: raised.clone(),
            cancel: cancel.clone(),
        };
        monitor = monitor.with_observer(Arc::new(move |e: &ProgressEvent| callback.call(e)));
    }
    let outcome = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            let monitor = &monitor;
            scope.spawn(move || {
                let _ = tx.send(work(monitor));
            });
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(done) => return Some(done),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        Python::attach(|py| {
                            if let Err(e) = py.check_signals() {
                                cancel.cancel();
                                let mut raised = raised.lock().unwrap_or_else(|p| p.into_inner());
                                raised.get_or_insert(e);
                            }
                        });
                    }
                    // The worker panicked; the scope re-raises the panic.
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
        })
    });
    let outcome = outcome.expect("the worker thread returned a result");
    // Drop the observer (it holds the callback) with the GIL held.
    drop(monitor);
    let first = raised.lock().unwrap_or_else(|p| p.into_inner()).take();
    match (first, outcome) {
        (None, Ok(value)) => Ok(value),
        (None, Err(e)) => Err(e),
        (Some(raised), Ok(_)) => Err(raised),
        (Some(raised), Err(e)) => {
            raised.set_cause(py, Some(e));
            Err(raised)
        }
    }
}
