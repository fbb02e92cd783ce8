//! The bus the stand-in presents: one device per virtual Duo directory named
//! by `DUO_VIRTUAL_DIRS` (colon-separated), enumerated while it is connected:
//! in DFU mode as the bootloader presents it (2b04:d058), running system
//! firmware as the board in normal mode presents it (2b04:c058, its
//! firmware's strings and vendor requests, REFERENCE §7 — the simulator's
//! own firmware face, `sim::duo::firmware`). A board unplugged by the
//! vanish fault, re-enumerating after a reset into DFU mode, or running no
//! system firmware is not on the bus.
//!
//! Topology, fixed so selectors like `usb:1-2` stay stable when other
//! devices come and go: every device is on bus 1; the directory at position
//! `i` of the list (0-based, counting every entry) sits on root port `i + 1`
//! and has device address `i + 2` (address 1 is the root hub's).

use std::env;
use std::path::PathBuf;

use duo_provisioning::platform::Board;
use duo_provisioning::sim::duo::{firmware, usb, Mode, VirtualDuo};

/// Environment variable naming the virtual Duo state directories.
pub const DIRS_VAR: &str = "DUO_VIRTUAL_DIRS";

/// A `libusb_device`: shared through `Arc` reference counts
/// (`libusb_ref_device` / `libusb_unref_device`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub dir: PathBuf,
    /// Platform, bootloader and firmware as the board was when listed.
    pub board: Board,
    pub device_id: [u8; 12],
    /// The mode the board was in when listed: a board that changes mode
    /// leaves the bus and comes back as another device.
    pub mode: Mode,
    pub bus: u8,
    pub port: u8,
    pub address: u8,
}

impl Device {
    pub fn device_descriptor(&self) -> [u8; 18] {
        match self.mode {
            Mode::Dfu => usb::device_descriptor(&self.board),
            Mode::Firmware => firmware::device_descriptor(&self.board),
        }
    }

    pub fn config_descriptor(&self) -> Vec<u8> {
        match self.mode {
            Mode::Dfu => usb::config_descriptor(&self.board),
            Mode::Firmware => firmware::config_descriptor(),
        }
    }

    /// String descriptor `index` in the listed mode, as sent on the wire.
    pub fn string_descriptor(&self, index: u8) -> Option<Vec<u8>> {
        match (self.mode, self.board.firmware) {
            (Mode::Firmware, Some(fw)) => {
                firmware::string_descriptor(&self.board, fw, &self.device_id, index)
            }
            _ => usb::string_descriptor(&self.board, &self.device_id, index),
        }
    }

    /// Whether the board is still in the mode it was listed in and
    /// connected, read without taking it (another program may hold it).
    pub fn present(&self) -> bool {
        matches!(VirtualDuo::probe(&self.dir), Ok(info) if info.mode == self.mode && info.connected)
    }
}

/// The directories of `DUO_VIRTUAL_DIRS`, in order, empty entries skipped
/// but counted (so a port number never shifts).
pub fn configured_dirs() -> Vec<(usize, PathBuf)> {
    env::var_os(DIRS_VAR)
        .map(|v| {
            env::split_paths(&v)
                .enumerate()
                .filter(|(_, p)| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Every configured board that is on the bus now, in either mode.
pub fn enumerate() -> Vec<Device> {
    configured_dirs()
        .into_iter()
        .filter_map(|(i, dir)| {
            let info = match VirtualDuo::probe(&dir) {
                Ok(info) => info,
                Err(e) => {
                    crate::debug(format_args!("skipping {}: {e}", dir.display()));
                    return None;
                }
            };
            let on_bus = match info.mode {
                Mode::Dfu => true,
                Mode::Firmware => info.board.firmware.is_some(),
            };
            if !on_bus || !info.connected {
                return None;
            }
            Some(Device {
                dir,
                board: info.board,
                device_id: info.device_id,
                mode: info.mode,
                bus: 1,
                port: u8::try_from(i + 1).ok()?,
                address: u8::try_from(i + 2).ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_provisioning::sim::duo::CreateOptions;

    #[test]
    fn only_boards_in_dfu_mode_enumerate_and_ports_follow_the_list() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        let c = tmp.path().join("c");
        VirtualDuo::create(&a, CreateOptions::default()).unwrap();
        let mut duo_b = VirtualDuo::create(&b, CreateOptions::default()).unwrap();
        duo_b.boot().unwrap();
        drop(duo_b);
        VirtualDuo::create(&c, CreateOptions::default()).unwrap();
        let list = env::join_paths([&a, &tmp.path().join("missing"), &b, &c]).unwrap();
        // The only test in this crate that touches the variable.
        env::set_var(DIRS_VAR, &list);
        let found = enumerate();
        env::remove_var(DIRS_VAR);
        let seen: Vec<(PathBuf, u8, u8, u8)> = found
            .iter()
            .map(|d| (d.dir.clone(), d.bus, d.port, d.address))
            .collect();
        // b runs its system firmware: on the bus in normal mode (REFERENCE §7).
        assert_eq!(seen, vec![(a, 1, 1, 2), (b, 1, 3, 4), (c, 1, 4, 5)]);
        let modes: Vec<Mode> = found.iter().map(|d| d.mode).collect();
        assert_eq!(modes, [Mode::Dfu, Mode::Firmware, Mode::Dfu]);
        assert_eq!(
            &found[0].device_descriptor()[8..12],
            &[0x04, 0x2b, 0x58, 0xd0]
        );
        assert_eq!(
            &found[1].device_descriptor()[8..12],
            &[0x04, 0x2b, 0x58, 0xc0]
        );
    }
}
