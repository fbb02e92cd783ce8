//! What the user sees of a long operation, and how Ctrl-C reaches it: the
//! library's [`Monitor`] events drawn as `indicatif` bars on stderr (only
//! when stderr is a terminal, never with `--json`, and only once the
//! operation has run for about a second), and SIGINT / SIGTERM turned into
//! the monitor's cancellation. The library then finishes or undoes the step
//! under way and says what state the board is in; `output::finish` prints
//! that as "interrupted: …" and exits 130. A second signal exits at once.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use duo_provisioning::progress::{CancelToken, Monitor, Observer, Phase, ProgressEvent, Unit};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Ctx;

/// Operations shorter than this draw no bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED_EXIT: u8 = 130;

/// A monitored operation as the CLI runs it: bars on stderr and Ctrl-C as
/// cancellation. Dropping it clears the bar.
pub struct Watch {
    bars: Arc<Bars>,
    monitor: Monitor,
}

impl Watch {
    /// Install the signal handlers (once per process) and make a monitor
    /// that draws bars if `ctx` allows.
    pub fn new(ctx: &Ctx) -> Watch {
        let bars = Arc::new(Bars {
            enabled: !ctx.json && std::io::stderr().is_terminal(),
            started: Instant::now(),
            current: Mutex::new(None),
        });
        let monitor = Monitor::new()
            .with_observer(bars.clone())
            .with_cancel(interrupt_token());
        Watch { bars, monitor }
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Run `f` (printing a line) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let bar = self.bars.bar();
        match bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(bar) = self.bars.bar() {
            bar.finish_and_clear();
        }
    }
}

struct Bars {
    enabled: bool,
    started: Instant,
    current: Mutex<Option<(Phase, ProgressBar)>>,
}

impl Bars {
    fn bar(&self) -> Option<ProgressBar> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().map(|(_, bar)| bar.clone())
    }
}

fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Bytes => "{msg:>9} [{bar:40}] {bytes}/{total_bytes} {eta}",
        Unit::Devices => "{msg:>9} [{bar:40}] {pos}/{len} devices, {per_sec}, eta {eta}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Observer for Bars {
    fn on_progress(&self, event: &ProgressEvent) {
        if !self.enabled {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().map(|(phase, _)| *phase) != Some(event.phase) {
            if let Some((_, old)) = current.take() {
                old.finish_and_clear();
            }
            let bar =
                ProgressBar::with_draw_target(Some(event.total), ProgressDrawTarget::hidden());
            bar.set_style(style(event.unit));
            bar.set_message(event.phase.to_string());
            *current = Some((event.phase, bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            if bar.is_hidden() && self.started.elapsed() >= SHOW_AFTER {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.set_length(event.total);
            bar.set_position(event.done);
        }
    }
}

/// Signals received so far (SIGINT, SIGTERM).
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// The write end of the self-pipe the handler wakes the canceller through.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// True once a SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

extern "C" fn on_signal(_signal: libc::c_int) {
    // Only async-signal-safe calls here: an atomic, write(2) and _exit(2).
    if SIGNALS.fetch_add(1, Ordering::SeqCst) > 0 {
        // SAFETY: _exit is async-signal-safe; a second Ctrl-C means now.
        unsafe { libc::_exit(i32::from(INTERRUPTED_EXIT)) };
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = [1u8];
        // SAFETY: write(2) on a pipe we own is async-signal-safe.
        unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
    }
}

/// The process's cancellation token, triggered by the first SIGINT or
/// SIGTERM; installs the handlers on first use. If they cannot be
/// installed the token is never cancelled and the signals keep their
/// default (the process ends).
pub fn interrupt_token() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let token = CancelToken::new();
            install(token.clone());
            token
        })
        .clone()
}

fn install(token: CancelToken) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two descriptors it is given.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return;
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    let spawned = std::thread::Builder::new()
        .name("duoprov-signals".into())
        .spawn(move || loop {
            let mut byte = [0u8];
            // SAFETY: reading one byte into a local buffer from our pipe.
            let n = unsafe { libc::read(read_fd, byte.as_mut_ptr().cast(), 1) };
            if n == 1 {
                token.cancel();
            } else if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            } else {
                return;
            }
        });
    if spawned.is_err() {
        return;
    }
    WAKE_FD.store(write_fd, Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with our handler and an empty mask is
        // a valid argument; the handler only does async-signal-safe work.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}
