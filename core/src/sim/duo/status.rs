//! What a virtual Duo is doing, as one serialisable report: what
//! `duoprov sim show --json` prints and what the bindings' `status()` return.

use std::path::PathBuf;

use serde::Serialize;

use super::{serial, BootReport, Mode, Stats, VirtualDuo};

/// The state of a virtual Duo: board, mode, faults, last boot, counters.
#[derive(Debug, Clone, Serialize)]
pub struct DuoStatus {
    pub dir: PathBuf,
    pub platform: &'static str,
    pub bootloader: &'static str,
    pub firmware: Option<&'static str>,
    pub mode: Mode,
    /// Normal mode: in listening mode (REFERENCE §7).
    pub listening: bool,
    pub connected: bool,
    pub device_id: String,
    pub time_factor: f64,
    pub armed_faults: Vec<String>,
    pub fired_faults: Vec<String>,
    pub last_boot: Option<BootReport>,
    pub last_boot_error: Option<String>,
    /// The serial port while the board runs firmware.
    pub serial_port: Option<PathBuf>,
    pub stats: Stats,
}

impl VirtualDuo {
    /// This board's [`DuoStatus`].
    pub fn status(&self) -> DuoStatus {
        let (last_boot, last_boot_error) = self.last_boot();
        DuoStatus {
            dir: self.dir().to_path_buf(),
            platform: self.platform().name,
            bootloader: self.board().bootloader.name,
            firmware: self.board().firmware.map(|f| f.version),
            mode: self.mode(),
            listening: self.listening(),
            connected: self.connected(),
            device_id: self.device_id_hex(),
            time_factor: self.time_factor(),
            armed_faults: self
                .armed_faults()
                .iter()
                .map(ToString::to_string)
                .collect(),
            fired_faults: self
                .fired_faults()
                .iter()
                .map(ToString::to_string)
                .collect(),
            last_boot: last_boot.cloned(),
            last_boot_error: last_boot_error.map(str::to_string),
            serial_port: serial::port_path(self.dir()),
            stats: self.stats(),
        }
    }
}
