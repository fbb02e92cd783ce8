//! The bus the stand-in presents: one device per virtual Duo directory named
//! by `DUO_VIRTUAL_DIRS` (colon-separated), enumerated only while it is in
//! DFU mode and connected — a board running firmware or unplugged by the
//! vanish fault is not on the DFU bus.
//!
//! Topology, fixed so selectors like `usb:1-2` stay stable when other
//! devices come and go: every device is on bus 1; the directory at position
//! `i` of the list (0-based, counting every entry) sits on root port `i + 1`
//! and has device address `i + 2` (address 1 is the root hub's).

use std::env;
use std::path::PathBuf;

use duo_provisioning::platform::Board;
use duo_provisioning::sim::duo::{usb, Mode, VirtualDuo};

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
    pub bus: u8,
    pub port: u8,
    pub address: u8,
}

impl Device {
    pub fn device_descriptor(&self) -> [u8; 18] {
        usb::device_descriptor(&self.board)
    }

    pub fn config_descriptor(&self) -> Vec<u8> {
        usb::config_descriptor(&self.board)
    }

    /// Whether the board is still in DFU mode and connected, read without
    /// taking it (another program may hold it).
    pub fn present(&self) -> bool {
        matches!(VirtualDuo::probe(&self.dir), Ok(info) if info.mode == Mode::Dfu && info.connected)
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

/// Every configured board that is on the DFU bus now.
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
            if info.mode != Mode::Dfu || !info.connected {
                return None;
            }
            Some(Device {
                dir,
                board: info.board,
                device_id: info.device_id,
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
        assert_eq!(seen, vec![(a, 1, 1, 2), (c, 1, 4, 5)]);
        assert_eq!(
            &found[0].device_descriptor()[8..12],
            &[0x04, 0x2b, 0x58, 0xd0]
        );
    }
}
