//! Boards in normal mode on USB (feature `usb`): found by the normal-mode
//! ids of the platform table (2b04:c058, Photon c006, P1 c008, REFERENCE §7),
//! their serial-number string read once during the scan, opened without
//! claiming an interface (the vendor requests go to the device; the
//! kernel's CDC driver keeps the serial interfaces).

use std::time::Duration;

use rusb::{Context, UsbContext};
use serde::Serialize;

use super::identity::device_id_from_usb_serial;
use super::NormalError;
use crate::dfu::usb::UsbTransport;
use crate::platform::{self, Platform};
use crate::types::DeviceSelector;

/// Timeout of one control transfer to a board in normal mode. A reset into
/// DFU mode may end the transfer early (REFERENCE §7); nothing it asks takes
/// longer.
pub const NORMAL_CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

/// A board in normal mode on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbNormalDevice {
    pub bus: u8,
    /// Port chain from the root hub (`usb:BUS-P1.P2`).
    pub ports: Vec<u8>,
    pub address: u8,
    pub vid: u16,
    pub pid: u16,
    /// bcdDevice as libusb caches it.
    pub device_version: u16,
    /// iSerialNumber (the device id on firmware 0.3.x), if it could be read.
    pub serial: Option<String>,
    #[serde(serialize_with = "platform_name")]
    pub platform: &'static Platform,
}

fn platform_name<S: serde::Serializer>(p: &&'static Platform, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.name)
}

impl UsbNormalDevice {
    /// The `--device` value that picks exactly this board (its port).
    pub fn selector(&self) -> String {
        DeviceSelector::port_string(self.bus, &self.ports)
    }

    /// The device id its serial string carries (firmware 0.3.x).
    pub fn device_id_from_serial(&self) -> Option<String> {
        self.serial.as_deref().and_then(device_id_from_usb_serial)
    }

    /// Does the selector designate this board? `device_id` is the id it
    /// told (serial or vendor request), for `id:` selectors.
    pub fn matches(&self, selector: &DeviceSelector, device_id: Option<&str>) -> bool {
        selector.matches_board(
            self.vid,
            self.pid,
            self.bus,
            &self.ports,
            self.serial.as_deref(),
            device_id,
        )
    }
}

impl std::fmt::Display for UsbNormalDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}  [{:04x}:{:04x}] {} in normal mode  serial {}",
            self.selector(),
            self.vid,
            self.pid,
            self.platform.display_name,
            self.serial.as_deref().unwrap_or("?"),
        )
    }
}

fn usb_error(doing: &str, e: rusb::Error) -> NormalError {
    NormalError::Usb {
        doing: doing.to_string(),
        detail: e.to_string(),
    }
}

/// rusb decodes bcdDevice into decimal parts; put the BCD back (0x0250).
fn bcd(v: rusb::Version) -> u16 {
    let major = u16::from(v.major());
    (major / 10) << 12 | (major % 10) << 8 | u16::from(v.minor()) << 4 | u16::from(v.sub_minor())
}

/// Every board in normal mode on the bus, with the libusb device to open
/// it. A machine without a USB subsystem has none.
fn scan() -> Result<Vec<(UsbNormalDevice, rusb::Device<Context>)>, NormalError> {
    let ctx = match Context::new() {
        Ok(ctx) => ctx,
        Err(rusb::Error::Access) => {
            return Err(usb_error("starting libusb", rusb::Error::Access));
        }
        Err(_) => return Ok(Vec::new()),
    };
    let list = ctx
        .devices()
        .map_err(|e| usb_error("listing USB devices", e))?;
    let mut found = Vec::new();
    for dev in list.iter() {
        let Ok(desc) = dev.device_descriptor() else {
            continue;
        };
        let Some(platform) = platform::by_normal_ids(desc.vendor_id(), desc.product_id()) else {
            continue;
        };
        let serial = dev.open().ok().and_then(|h| {
            h.read_serial_number_string_ascii(&desc)
                .ok()
                .filter(|s| !s.is_empty())
        });
        found.push((
            UsbNormalDevice {
                bus: dev.bus_number(),
                ports: dev.port_numbers().unwrap_or_default(),
                address: dev.address(),
                vid: desc.vendor_id(),
                pid: desc.product_id(),
                device_version: bcd(desc.device_version()),
                serial,
                platform,
            },
            dev,
        ));
    }
    found.sort_by(|a, b| (a.0.bus, &a.0.ports).cmp(&(b.0.bus, &b.0.ports)));
    Ok(found)
}

/// Every board in normal mode on the bus.
pub fn list_normal_devices() -> Result<Vec<UsbNormalDevice>, NormalError> {
    Ok(scan()?.into_iter().map(|(d, _)| d).collect())
}

/// Open the board at `device`'s port again (unclaimed), for its vendor
/// requests. Fails if it is no longer there in normal mode.
pub fn open(device: &UsbNormalDevice) -> Result<UsbTransport, NormalError> {
    let (_, dev) = scan()?
        .into_iter()
        .find(|(d, _)| d.bus == device.bus && d.ports == device.ports)
        .ok_or_else(|| NormalError::NoBoard {
            detail: format!(" at {}", device.selector()),
        })?;
    let handle = dev
        .open()
        .map_err(|e| usb_error(&format!("opening {}", device.selector()), e))?;
    Ok(UsbTransport::unclaimed(handle, NORMAL_CONTROL_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_without_a_board_lists_none_in_normal_mode() {
        // This machine has no board (and may have no USB at all).
        let found = list_normal_devices().expect("listing must not fail without a board");
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn selector_and_id_matching() {
        let d = UsbNormalDevice {
            bus: 1,
            ports: vec![3],
            address: 4,
            vid: 0x2b04,
            pid: 0xc058,
            device_version: 0x0250,
            serial: Some("2A0021000747343232363230".into()),
            platform: &platform::DUO,
        };
        assert_eq!(d.selector(), "usb:1-3");
        assert_eq!(
            d.device_id_from_serial().as_deref(),
            Some("2a0021000747343232363230")
        );
        let by_id: DeviceSelector = "id:2a0021000747343232363230".parse().unwrap();
        assert!(d.matches(&by_id, Some("2a0021000747343232363230")));
        assert!(!d.matches(&by_id, Some("ffffffffffffffffffffffff")));
        assert!(d.matches(&"usb:1-3".parse().unwrap(), None));
        assert!(d.matches(&"usb:2b04:c058".parse().unwrap(), None));
        assert!(!d.matches(&"usb:2b04:d058".parse().unwrap(), None));
    }
}
