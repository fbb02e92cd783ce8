//! The in-process [`ControlTransport`] over a virtual Duo: what
//! `--device sim:DIR` uses.

use std::path::Path;
use std::sync::Arc;

use crate::dfu::transport::{ControlTransport, Setup, TransportError};
use crate::time::Clock;

use super::{Mode, SimError, Stats, VirtualDuo};

/// A virtual Duo opened as a DFU device. Holds the device (its lock) until
/// dropped.
#[derive(Debug)]
pub struct SimTransport {
    duo: VirtualDuo,
}

impl SimTransport {
    /// Open the device in `dir` for DFU. Fails, saying how to enter DFU
    /// mode, if it is running firmware, and if it has vanished.
    pub fn open(dir: &Path) -> Result<Self, SimError> {
        Self::new(VirtualDuo::open(dir)?)
    }

    pub fn open_with_clock(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, SimError> {
        Self::new(VirtualDuo::open_with_clock(dir, clock)?)
    }

    /// Use an open device, which must be in DFU mode and connected.
    pub fn new(duo: VirtualDuo) -> Result<Self, SimError> {
        if duo.mode() == Mode::Firmware {
            return Err(SimError::NotInDfuMode {
                dir: duo.dir().to_path_buf(),
            });
        }
        if !duo.connected() {
            return Err(SimError::Disconnected {
                dir: duo.dir().to_path_buf(),
            });
        }
        Ok(SimTransport { duo })
    }

    /// Open the board in `dir` in normal mode (running system firmware):
    /// its standard and vendor requests (REFERENCE §7), no DFU.
    pub fn open_normal(dir: &Path) -> Result<Self, SimError> {
        Self::new_normal(VirtualDuo::open(dir)?)
    }

    pub fn open_normal_with_clock(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, SimError> {
        Self::new_normal(VirtualDuo::open_with_clock(dir, clock)?)
    }

    /// Use an open device, which must be running system firmware.
    pub fn new_normal(duo: VirtualDuo) -> Result<Self, SimError> {
        if duo.mode() != Mode::Firmware || duo.board().firmware.is_none() {
            return Err(SimError::NotInNormalMode {
                dir: duo.dir().to_path_buf(),
            });
        }
        Ok(SimTransport { duo })
    }

    pub fn mode(&self) -> Mode {
        self.duo.mode()
    }

    pub fn device_id(&self) -> [u8; 12] {
        self.duo.device_id()
    }

    /// The simulator's own view of the alt-1 bytes (application DCT).
    pub fn app_dct_bytes(&self) -> Vec<u8> {
        self.duo.app_dct_bytes()
    }

    pub fn internal_flash(&self) -> &[u8] {
        self.duo.internal_flash()
    }

    pub fn stats(&self) -> Stats {
        self.duo.stats()
    }

    pub fn device(&self) -> &VirtualDuo {
        &self.duo
    }

    pub fn device_mut(&mut self) -> &mut VirtualDuo {
        &mut self.duo
    }

    pub fn into_device(self) -> VirtualDuo {
        self.duo
    }
}

impl ControlTransport for SimTransport {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.duo.control_in(setup, buf)
    }

    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        self.duo.control_out(setup, data)
    }

    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        self.duo.set_alt_setting(interface, alt)
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.duo.usb_reset()
    }
}
