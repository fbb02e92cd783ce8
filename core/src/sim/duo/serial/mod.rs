//! The virtual Duo's serial port in normal mode (REFERENCE §7): a
//! pseudo-terminal ([`pty`]) served while the board runs firmware. The
//! server notices baud-rate changes (14400 → the board resets into DFU
//! mode, 28800 → listening mode) and, in listening mode only, answers the
//! console keys its firmware knows with the exact replies of §7.
//!
//! One server per board: `sim boot` starts it (in a thread with
//! [`SerialFace::start`], or as a small process running [`serve`]); it ends
//! when the board leaves firmware mode (`sim dfu`, the 14400 trigger), when
//! its directory goes away, or when a newer server takes over (a new boot).
//! It never outlives its board.
//!
//! Files in the board's directory: [`PORT_LINK`], a symbolic link to the
//! slave (`/dev/pts/N`), and [`OWNER_FILE`], naming the server in charge.

mod pty;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::normal::console::{BAUD_ENTER_DFU, BAUD_LISTEN};
use crate::time::Clock;

use super::{Mode, SimError, VirtualDuo};
use crate::platform::Firmware;

pub use pty::Pty;

/// The stable link to the board's serial port, in its directory.
pub const PORT_LINK: &str = "tty";
/// Which server owns the port: a token it alone knows.
pub const OWNER_FILE: &str = "serial-owner";

/// How often the server looks at the board's state file.
const STATE_CHECK: Duration = Duration::from_millis(100);
/// One wait on the pty.
const PTY_WAIT: Duration = Duration::from_millis(20);

/// What the firmware's console is: its version and the keys it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleFace {
    /// `0.3.3`.
    pub version: String,
    /// The keys answered (`imfxsvLw` on 0.2.x, plus `c` on 0.3.0+).
    pub keys: String,
    /// The `s` reply's module list (one line of JSON).
    pub modules_json: String,
}

impl ConsoleFace {
    /// The console of a system firmware (its version and keys, REFERENCE §7).
    pub fn of(firmware: &Firmware) -> Self {
        ConsoleFace {
            version: firmware.version.to_string(),
            keys: firmware.console_keys.to_string(),
            modules_json: duo_modules_json(firmware.version_tuple),
        }
    }

    /// The reply to `key` in listening mode, or `None` (no reply: `x`, `L`,
    /// `f`, `w`'s prompts are not simulated, and keys the firmware lacks).
    pub fn reply(&self, key: u8, device_id: &[u8; 12]) -> Option<Vec<u8>> {
        if !self.keys.as_bytes().contains(&key) {
            return None;
        }
        let text = match key {
            b'i' => format!("Your device id is {}\r\n", hex::encode(device_id)),
            b'v' => format!("system firmware version: {}\n\r\n", self.version),
            b's' => format!("{}\r\n", self.modules_json),
            b'm' => format!(
                "Your device MAC address is\r\n{}\r\n",
                mac_address(device_id)
            ),
            b'c' => "Device claimed: no\r\n".to_string(),
            _ => return None,
        };
        Some(text.into_bytes())
    }
}

/// A Wi-Fi MAC derived from the device id (the simulator's own choice).
fn mac_address(device_id: &[u8; 12]) -> String {
    let b = &device_id[9..];
    format!("94:a1:a2:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// The `s` JSON of a Duo: bootloader, system parts 1 and 2, user part. The
/// module versions are the simulator's numbering (system parts: the
/// firmware's minor × 10 + patch, e.g. 33 for 0.3.3).
fn duo_modules_json((_, minor, patch): (u8, u8, u8)) -> String {
    let sv = u32::from(minor) * 10 + u32::from(patch);
    format!(
        concat!(
            r#"{{"p":88,"m":["#,
            r#"{{"s":16384,"l":"m","vc":30,"vv":30,"f":"b","n":"0","v":6,"d":[]}},"#,
            r#"{{"s":262144,"l":"m","vc":30,"vv":30,"f":"s","n":"1","v":{sv},"d":[]}},"#,
            r#"{{"s":262144,"l":"m","vc":30,"vv":30,"f":"s","n":"2","v":{sv},"d":[{{"f":"s","n":"1","v":{sv}}}]}},"#,
            r#"{{"s":131072,"l":"m","vc":30,"vv":30,"f":"u","n":"1","v":2,"d":[{{"f":"s","n":"2","v":{sv}}}]}}"#,
            "]}}"
        ),
        sv = sv
    )
}

/// Why a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// The host set 14400 baud: the board reset into DFU mode.
    EnteredDfu,
    /// The board left firmware mode or vanished (`sim dfu`, a fault).
    BoardLeft,
    /// The board's directory or state is gone.
    BoardGone,
    /// A newer server took the port over (a new boot).
    Replaced,
    /// Asked to stop ([`SerialFace::stop`]).
    Stopped,
}

/// Serve the board in `dir` until one of the [`ServeEnd`] reasons; its
/// firmware decides the console. `ready` is called once the port is
/// published.
pub fn serve(
    dir: &Path,
    clock: Arc<dyn Clock>,
    stop: &AtomicBool,
    ready: impl FnOnce(&Path),
) -> Result<ServeEnd, SimError> {
    let info = VirtualDuo::probe(dir)?;
    let device_id = info.device_id;
    let firmware = info.board.firmware.ok_or_else(|| {
        SimError::SerialServer(format!(
            "the board in {} has no system firmware, so no serial port",
            dir.display()
        ))
    })?;
    let face = &ConsoleFace::of(firmware);
    let io = |path: PathBuf| move |source| SimError::Io { path, source };
    let pty = Pty::open().map_err(io(PathBuf::from("/dev/ptmx")))?;
    let token = owner_token();
    let link = dir.join(PORT_LINK);
    let owner = dir.join(OWNER_FILE);
    std::fs::write(&owner, &token).map_err(io(owner.clone()))?;
    // Replace the link atomically: a host may be resolving it.
    let tmp = dir.join(format!("{PORT_LINK}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(pty.path(), &tmp).map_err(io(tmp.clone()))?;
    std::fs::rename(&tmp, &link).map_err(io(link.clone()))?;
    // The rate before any host can open the port: a host's first rate is
    // a change from it.
    let mut speed = pty.speed().map_err(io(pty.path().to_path_buf()))?;
    let mut listening = false;
    let mut seen_listening = info.listening;
    ready(pty.path());
    let mut last_check = clock.now();
    let end = loop {
        if stop.load(Ordering::SeqCst) {
            break ServeEnd::Stopped;
        }
        if clock.now().saturating_duration_since(last_check) >= STATE_CHECK {
            last_check = clock.now();
            if std::fs::read(&owner).ok().as_deref() != Some(token.as_bytes()) {
                break if dir.join(super::STATE_FILE).exists() {
                    ServeEnd::Replaced
                } else {
                    ServeEnd::BoardGone
                };
            }
            match VirtualDuo::probe(dir) {
                Ok(info) if info.mode == Mode::Firmware && info.connected => {
                    // Service requests 70/71 set listening mode over USB.
                    if info.listening != seen_listening {
                        seen_listening = info.listening;
                        listening = info.listening;
                    }
                }
                Ok(_) => break ServeEnd::BoardLeft,
                Err(_) => break ServeEnd::BoardGone,
            }
        }
        let event = match pty.wait(PTY_WAIT) {
            Ok(event) => event,
            Err(_) => break ServeEnd::BoardGone,
        };
        // The line coding first: a host sets the rate before it writes.
        let now_speed = pty.speed().unwrap_or(speed);
        if now_speed != speed {
            speed = now_speed;
            match speed {
                BAUD_ENTER_DFU => {
                    let mut duo = VirtualDuo::open_with_clock(dir, clock.clone())?;
                    duo.reset_into_dfu()?;
                    break ServeEnd::EnteredDfu;
                }
                BAUD_LISTEN => {
                    listening = true;
                    seen_listening = persist_listening(dir, true, seen_listening);
                }
                _ => {}
            }
        }
        if let pty::Event::Data(bytes) = event {
            for key in bytes {
                if !listening {
                    continue;
                }
                if key == b'x' && face.keys.contains('x') {
                    listening = false;
                    seen_listening = persist_listening(dir, false, seen_listening);
                } else if let Some(reply) = face.reply(key, &device_id) {
                    if pty.write(&reply).is_err() {
                        break;
                    }
                }
            }
        }
    };
    // Unpublish only what is still ours; dropping the pty hangs the host up.
    if std::fs::read(&owner).ok().as_deref() == Some(token.as_bytes()) {
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_file(&owner);
    }
    drop(pty);
    Ok(end)
}

/// Record listening mode in the board's state (`sim show` and the USB
/// side's service requests see it) if nobody holds the board now (a host
/// may hold it while it talks to the console); returns what the state
/// says, `seen` if it could not be written.
fn persist_listening(dir: &Path, on: bool, seen: bool) -> bool {
    match VirtualDuo::try_open(dir) {
        Ok(mut duo) => {
            let _ = duo.set_listening(on);
            duo.listening()
        }
        Err(_) => seen,
    }
}

fn owner_token() -> String {
    let mut nonce = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    format!("{} {}", std::process::id(), hex::encode(nonce))
}

/// The serial port a board in firmware mode publishes, if a server runs.
pub fn port_path(dir: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(dir.join(PORT_LINK)).ok()?;
    target.exists().then_some(target)
}

/// Start a server as its own process: `command` must run [`serve`] for
/// `dir` (the CLI's hidden `duoprov sim serve-serial DIR`). Its standard
/// streams are closed, so it holds no caller's pipe open. Returns the
/// port's path once the new server has published it (within `patience`).
pub fn spawn_server(
    mut command: std::process::Command,
    dir: &Path,
    clock: &dyn Clock,
    patience: Duration,
) -> Result<PathBuf, SimError> {
    use std::process::Stdio;
    let owner = dir.join(OWNER_FILE);
    let before = std::fs::read(&owner).ok();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| SimError::SerialServer(format!("cannot start it: {e}")))?;
    let start = clock.now();
    loop {
        let now_owner = std::fs::read(&owner).ok();
        if now_owner.is_some() && now_owner != before {
            if let Some(path) = port_path(dir) {
                return Ok(path);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(SimError::SerialServer(format!(
                "it exited ({status}) before publishing the port"
            )));
        }
        if clock.now().saturating_duration_since(start) >= patience {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SimError::SerialServer(format!(
                "it did not publish the port within {} ms",
                patience.as_millis()
            )));
        }
        clock.sleep(Duration::from_millis(10));
    }
}

/// A server running in a thread of this process.
#[derive(Debug)]
pub struct SerialFace {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<ServeEnd, SimError>>>,
}

impl SerialFace {
    /// Serve the board in `dir` (which must run firmware) from a thread;
    /// returns once the port is published.
    pub fn start(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, SimError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = {
            let dir = dir.to_path_buf();
            let stop = stop.clone();
            std::thread::spawn(move || {
                serve(&dir, clock, &stop, |path| {
                    let _ = tx.send(path.to_path_buf());
                })
            })
        };
        match rx.recv() {
            Ok(path) => Ok(SerialFace {
                path,
                stop,
                thread: Some(thread),
            }),
            // The server failed before publishing: its error.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => SimError::SerialServer("it stopped before publishing the port".into()),
            }),
        }
    }

    /// The slave path (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the server has stopped on its own.
    pub fn finished(&self) -> bool {
        match &self.thread {
            Some(t) => t.is_finished(),
            None => true,
        }
    }

    /// Stop the server (if it still runs) and say why it ended.
    pub fn stop(mut self) -> Result<ServeEnd, SimError> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    /// Wait for the server to end on its own.
    pub fn join(&mut self) -> Result<ServeEnd, SimError> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(SimError::SerialServer("it panicked".into()))),
            None => Ok(ServeEnd::Stopped),
        }
    }
}

impl Drop for SerialFace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests;
