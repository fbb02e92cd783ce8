//! The one error type of the virtual Duo.

use std::path::PathBuf;

use crate::dct::DctError;
use crate::keys::KeyError;

use super::STATE_FILE;

/// How to enter DFU mode, for error messages.
const ENTER_DFU_HINT: &str =
    "hold SETUP, tap RESET, release SETUP when the LED blinks yellow; for a virtual Duo: `duoprov sim dfu";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{} is not a virtual device: {} is missing. Create one with `duoprov sim create {}`", dir.display(), STATE_FILE, dir.display())]
    NotAVirtualDevice { dir: PathBuf },
    #[error("{} already holds a virtual device; remove the directory first or choose another one", dir.display())]
    AlreadyExists { dir: PathBuf },
    #[error("cannot create a virtual device in {}: the directory is not empty and is not a virtual device", dir.display())]
    DirNotEmpty { dir: PathBuf },
    #[error("the virtual device in {} is busy: another program has it open. Wait for it to finish, then retry", dir.display())]
    Busy { dir: PathBuf },
    #[error("the device in {dir} is running firmware, not in DFU mode. To enter DFU mode, {ENTER_DFU_HINT} {dir}`", dir = dir.display())]
    NotInDfuMode { dir: PathBuf },
    #[error("the virtual device in {} has disconnected (injected fault). Reconnect it in DFU mode: `duoprov sim dfu {}`", dir.display(), dir.display())]
    Disconnected { dir: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged: {detail}. Recreate the virtual device with `duoprov sim create`", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("unknown platform {0:?} (known: duo, photon, p1)")]
    UnknownPlatform(String),
    #[error("platform data: {0}")]
    Platform(String),
    #[error("a DCT image must be {expected} bytes (both partitions), got {got}")]
    DctImageSize { expected: usize, got: usize },
    #[error("DCT: {0}")]
    Dct(#[from] DctError),
    #[error("device key: {0}")]
    Key(KeyError),
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    #[error("the virtual device's serial port server failed: {0}")]
    SerialServer(String),
    #[error("the time factor must be a finite number ≥ 0 (1.0 = real device timing), got {0}")]
    TimeFactor(f64),
}
