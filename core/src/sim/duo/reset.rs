//! The bootloader's side of a reset (REFERENCE §1): the ~500 ms from the
//! leave GETSTATUS to the reset (r3–r5 save their system flags first), and
//! the `wiced_application` flag that makes it boot a WICED application
//! instead of the system firmware.

use super::*;

impl VirtualDuo {
    /// Run the reset that follows a leave once its time has come: r3–r5
    /// save their system flags (a DCT write, REFERENCE §1), then the board
    /// boots its firmware (a failed boot is kept in the state). Returns
    /// whether it happened.
    pub(super) fn settle(&mut self) -> Result<bool, SimError> {
        let Some(at) = self.state.reset_at else {
            return Ok(false);
        };
        if self.clock.now() < at {
            return Ok(false);
        }
        self.state.reset_at = None;
        if self.board.bootloader.saves_system_flags_on_leave {
            // The flags as the bootloader holds them: its own version at 4
            // (REFERENCE §2: rewritten at each boot; taken to be its
            // revision number, as the factory image's r3 wrote 3). A DCT
            // whose flags were never written is left alone.
            let mut flags = self.mem.app_dct_read(0, 32);
            if flags[..4] == [0xc0, 0xac, 0xde, 0x1a] {
                let version = u16::from(self.board.bootloader.generation);
                flags[4..6].copy_from_slice(&version.to_le_bytes());
            }
            match self.mem.app_dct_write(0, &flags) {
                Ok(_) | Err(SimError::Dct(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // A failed key rule or a board without firmware is kept in the
        // state by `boot`; only the state directory failing is an error.
        match self.boot() {
            Err(e @ SimError::Io { .. }) => Err(e),
            _ => Ok(true),
        }
    }

    /// REFERENCE §1: the bootloader boots a WICED application instead of the
    /// system firmware when the extra system flag `wiced_application` is
    /// 0x5AA5 (set by the trigger when one was written at 0x08010000).
    pub(super) fn wiced_application(&mut self) -> Result<Option<BootReport>, SimError> {
        let Some(trigger) = self.board.bootloader.wiced_trigger else {
            return Ok(None);
        };
        let flag = self.mem.app_dct_read(trigger.flag_offset, 2);
        if u16::from_le_bytes([flag[0], flag[1]]) != platform::board::WICED_APP_FLAG {
            return Ok(None);
        }
        let report = BootReport::wiced_application(&self.mem);
        self.state.wiced_app_running = true;
        self.state.last_boot = Some(report.clone());
        self.state.last_boot_error = None;
        self.persist()?;
        Ok(Some(report))
    }
}

impl Drop for VirtualDuo {
    /// A board left to reset (the host closed it after leaving DFU) does
    /// so: the rest of its ~500 ms passes on the device's clock, then the
    /// reset runs, so whoever opens the board next finds it in firmware.
    fn drop(&mut self) {
        let Some(at) = self.state.reset_at else {
            return;
        };
        if let Ok(left) = at.duration_since(self.clock.now()) {
            self.clock.sleep(left);
        }
        let _ = self.settle();
    }
}
