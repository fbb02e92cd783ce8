//! From a `--device` selector to an open [`Device`], and listing what is
//! there. `sim:DIR` opens a virtual Duo in-process; `usb:…`, `serial:…` and
//! no selector go through libusb (REFERENCE §1 USB ids, from the platform
//! table).

use std::sync::Arc;

use serde::Serialize;

use super::{Connection, Device, DeviceError};
use crate::dfu::{ControlTransport, DeviceInfo, DeviceSelector, Dfu, DfuError};
use crate::time::Clock;

/// One alt setting as the device names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedAlt {
    pub alt: u8,
    /// The interface string: a DfuSe memory layout, exactly as sent.
    pub name: String,
}

/// A board in DFU or normal mode, as `duoprov list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedDevice {
    /// The `--device` value that picks this board.
    pub selector: String,
    /// `2b04:d058`.
    pub usb_id: String,
    pub vid: u16,
    pub pid: u16,
    /// bcdDevice as four hex digits (`0200`), as dfu-util prints `ver=`.
    pub version: String,
    pub platform: &'static str,
    pub name: &'static str,
    pub serial: Option<String>,
    pub alt_settings: Vec<ListedAlt>,
    /// A virtual Duo (`sim:DIR`).
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
    /// `dfu` (the bootloader) or `normal` (firmware running, REFERENCE §7).
    pub mode: &'static str,
    /// Normal mode: the board's serial port.
    pub serial_port: Option<String>,
    /// The device id where the board tells it (DFU mode on r5/r6; normal
    /// mode from the USB serial or a vendor request); `None` = unknown
    /// until `duoprov identify` asks the console.
    pub device_id: Option<String>,
    /// Normal mode: the system firmware version, where a vendor request
    /// tells it.
    pub firmware_version: Option<String>,
}

impl ListedDevice {
    /// A board as its USB device descriptor and serial string tell it: in
    /// DFU mode, not virtual, with no alt settings, its device id where the
    /// serial string carries one (REFERENCE §7). Callers fill in the rest.
    pub fn from_usb(
        selector: String,
        vid: u16,
        pid: u16,
        device_version: u16,
        platform: &'static crate::platform::Platform,
        serial: Option<String>,
    ) -> Self {
        ListedDevice {
            selector,
            usb_id: format!("{vid:04x}:{pid:04x}"),
            vid,
            pid,
            version: format!("{device_version:04x}"),
            platform: platform.name,
            name: platform.display_name,
            device_id: serial
                .as_deref()
                .and_then(crate::normal::identity::device_id_from_usb_serial),
            serial,
            alt_settings: Vec::new(),
            is_virtual: false,
            mode: "dfu",
            serial_port: None,
            firmware_version: None,
        }
    }
}

impl std::fmt::Display for ListedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.mode == "normal" {
            return write!(
                f,
                "{}  [{}] {}{}  normal mode  port {}  device id {}  firmware {}",
                self.selector,
                self.usb_id,
                self.name,
                if self.is_virtual { " (virtual)" } else { "" },
                self.serial_port.as_deref().unwrap_or("none"),
                self.device_id.as_deref().unwrap_or("unknown"),
                self.firmware_version.as_deref().unwrap_or("unknown"),
            );
        }
        write!(
            f,
            "{}  [{}] ver={} {}{}  serial {}",
            self.selector,
            self.usb_id,
            self.version,
            self.name,
            if self.is_virtual { " (virtual)" } else { "" },
            self.serial.as_deref().unwrap_or("?")
        )?;
        for alt in &self.alt_settings {
            write!(f, "\n  alt {}: {}", alt.alt, alt.name)?;
        }
        Ok(())
    }
}

fn listed(
    selector: String,
    info: &DeviceInfo,
    platform: &'static crate::platform::Platform,
    is_virtual: bool,
) -> ListedDevice {
    ListedDevice {
        alt_settings: info
            .config
            .alt_settings
            .iter()
            .filter(|a| a.protocol == crate::dfu::descriptor::DFU_PROTOCOL_DFU_MODE)
            .map(|a| ListedAlt {
                alt: a.alt,
                name: a.name.clone().unwrap_or_default(),
            })
            .collect(),
        is_virtual,
        ..ListedDevice::from_usb(
            selector,
            info.device.vendor_id,
            info.device.product_id,
            info.device.device_version,
            platform,
            info.serial.clone(),
        )
    }
}

/// The boards the selector designates: the virtual Duo of `sim:DIR` (in
/// either mode), else every supported board on USB in DFU mode and in
/// normal mode (filtered by a `usb:`, `serial:` or `id:` selector). Finding none is an error
/// ([`DfuError::NoDevice`], saying how to enter DFU mode).
pub fn list_devices(
    selector: Option<&DeviceSelector>,
    clock: Arc<dyn Clock>,
) -> Result<Vec<ListedDevice>, DeviceError> {
    if let Some(DeviceSelector::Sim(dir)) = selector {
        #[cfg(feature = "sim")]
        if let Some(normal) = crate::normal::virtual_board::list(dir) {
            return Ok(vec![normal]);
        }
        let device = Device::open(selector, clock)?;
        let sel = selector.map(ToString::to_string).unwrap_or_default();
        return Ok(vec![listed(sel, device.dfu.info(), device.platform, true)]);
    }
    list_usb(selector)
}

#[cfg(feature = "usb")]
fn list_usb(selector: Option<&DeviceSelector>) -> Result<Vec<ListedDevice>, DeviceError> {
    #[allow(unused_mut)] // without `serial`: DFU mode only
    let mut found: Vec<ListedDevice> = crate::dfu::usb::list_dfu_devices()?
        .into_iter()
        .filter(|d| {
            selector.map_or(true, |s| {
                s.matches_usb(d.vid, d.pid, d.bus, &d.ports, d.serial.as_deref())
            })
        })
        .map(|d| ListedDevice {
            alt_settings: d
                .alt_settings
                .iter()
                .map(|(alt, name)| ListedAlt {
                    alt: *alt,
                    name: name.clone(),
                })
                .collect(),
            ..ListedDevice::from_usb(
                d.selector(),
                d.vid,
                d.pid,
                d.device_version,
                d.platform,
                d.serial.clone(),
            )
        })
        .collect();
    // Boards in normal mode beside them (REFERENCE §7). Not finding any is
    // no error: the DFU scan has already said whether USB works.
    #[cfg(feature = "serial")]
    if let Ok(normal) = crate::normal::board::list_usb(selector) {
        found.extend(normal);
    }
    // No board is an answer, not an error: an empty list.
    Ok(found)
}

#[cfg(not(feature = "usb"))]
fn list_usb(selector: Option<&DeviceSelector>) -> Result<Vec<ListedDevice>, DeviceError> {
    Err(DeviceError::Unsupported {
        selector: selector.map_or("USB".to_string(), ToString::to_string),
        feature: "usb",
    })
}

/// ` on USB (looked for 2b04:d058 …)` / ` matching usb:1-4`.
/// Where [`list_devices`] looked, for saying that it found nothing.
pub fn no_device_detail(selector: Option<&DeviceSelector>) -> String {
    match selector {
        Some(sel) => format!(" matching {sel}"),
        None => {
            let ids: Vec<String> = crate::platform::PLATFORMS
                .iter()
                .map(|p| format!("{:04x}:{:04x}", p.usb_vid, p.dfu_pid))
                .collect();
            format!(" on USB (looked for {})", ids.join(", "))
        }
    }
}

impl Device {
    /// Open the board the selector designates (without one: the one board
    /// in DFU mode on USB). Waits go through `clock`; a virtual Duo judges
    /// its busy periods by the same clock.
    pub fn open(
        selector: Option<&DeviceSelector>,
        clock: Arc<dyn Clock>,
    ) -> Result<Device, DeviceError> {
        match selector {
            Some(DeviceSelector::Sim(dir)) => open_sim(dir, selector.cloned(), clock),
            _ => open_usb(selector, clock),
        }
    }

    /// A device over any transport (tests, other front ends).
    pub fn from_transport(
        transport: Box<dyn ControlTransport + Send>,
        clock: Arc<dyn Clock>,
        description: &str,
    ) -> Result<Device, DeviceError> {
        Device::assemble(
            transport,
            clock,
            description,
            None,
            Connection::Custom,
            None,
        )
    }

    fn assemble(
        transport: Box<dyn ControlTransport + Send>,
        clock: Arc<dyn Clock>,
        description: &str,
        selector: Option<DeviceSelector>,
        connection: Connection,
        known: Option<crate::dfu::DeviceInfo>,
    ) -> Result<Device, DeviceError> {
        // Descriptors already read while finding the board are not read again.
        let dfu = match known {
            Some(info) => Dfu::with_info(transport, clock.clone(), info)?,
            None => Dfu::open(transport, clock.clone())?,
        };
        let Some(platform) = dfu.platform() else {
            let d = &dfu.info().device;
            return Err(DeviceError::UnknownBoard {
                description: description.to_string(),
                vid: d.vendor_id,
                pid: d.product_id,
            });
        };
        Ok(Device {
            dfu,
            platform,
            description: description.replace("{board}", platform.display_name),
            selector,
            connection,
            clock,
        })
    }

    /// Drop the transport and open the same board again (after it vanished
    /// or a USB reset invalidated the handle). Fails if it is not back in
    /// DFU mode.
    pub(crate) fn reopen(&mut self) -> Result<(), DeviceError> {
        if self.connection == Connection::Custom {
            return Err(DfuError::NoDevice {
                detail: format!(" ({} cannot be reopened)", self.description),
            }
            .into());
        }
        // Release the old handle first: it holds the interface (or the
        // virtual device's lock).
        drop(std::mem::replace(
            self.dfu.transport_mut(),
            Box::new(Detached),
        ));
        let fresh = Device::open(self.selector.as_ref(), self.clock.clone())?;
        self.dfu = fresh.dfu;
        Ok(())
    }
}

#[cfg(feature = "sim")]
fn open_sim(
    dir: &std::path::Path,
    selector: Option<DeviceSelector>,
    clock: Arc<dyn Clock>,
) -> Result<Device, DeviceError> {
    let transport = crate::sim::duo::SimTransport::open_with_clock(dir, clock.clone())?;
    let description = format!("{{board}} (virtual, sim:{})", dir.display());
    Device::assemble(
        Box::new(transport),
        clock,
        &description,
        selector,
        Connection::Sim(dir.to_path_buf()),
        None,
    )
}

#[cfg(not(feature = "sim"))]
fn open_sim(
    dir: &std::path::Path,
    _selector: Option<DeviceSelector>,
    _clock: Arc<dyn Clock>,
) -> Result<Device, DeviceError> {
    Err(DeviceError::Unsupported {
        selector: format!("sim:{}", dir.display()),
        feature: "sim",
    })
}

#[cfg(feature = "usb")]
fn open_usb(
    selector: Option<&DeviceSelector>,
    clock: Arc<dyn Clock>,
) -> Result<Device, DeviceError> {
    let (transport, info) = crate::dfu::usb::open(selector)?;
    let mut description = format!("{{board}} at {}", info.selector());
    if let Some(serial) = &info.serial {
        description.push_str(&format!(" (serial {serial})"));
    }
    // A board reopened after a USB reset or a disconnect is the one at this
    // physical port, not whichever board matches the user's selector then
    // (with two boards of the same ids, a restore must not reach the other).
    let reopen = if info.ports.is_empty() {
        selector.cloned()
    } else {
        Some(DeviceSelector::UsbPort {
            bus: info.bus,
            ports: info.ports.clone(),
        })
    };
    Device::assemble(
        Box::new(transport),
        clock,
        &description,
        reopen,
        Connection::Usb,
        info.dfu_info.clone(),
    )
}

#[cfg(not(feature = "usb"))]
fn open_usb(
    selector: Option<&DeviceSelector>,
    _clock: Arc<dyn Clock>,
) -> Result<Device, DeviceError> {
    Err(DeviceError::Unsupported {
        selector: selector.map_or("USB".to_string(), ToString::to_string),
        feature: "usb",
    })
}

/// Stands in for a released handle while the device is reopened.
struct Detached;

impl ControlTransport for Detached {
    fn control_in(
        &mut self,
        _: crate::dfu::Setup,
        _: &mut [u8],
    ) -> Result<usize, crate::dfu::TransportError> {
        Err(crate::dfu::TransportError::NoDevice)
    }
    fn control_out(
        &mut self,
        _: crate::dfu::Setup,
        _: &[u8],
    ) -> Result<usize, crate::dfu::TransportError> {
        Err(crate::dfu::TransportError::NoDevice)
    }
    fn set_alt_setting(&mut self, _: u8, _: u8) -> Result<(), crate::dfu::TransportError> {
        Err(crate::dfu::TransportError::NoDevice)
    }
    fn reset(&mut self) -> Result<(), crate::dfu::TransportError> {
        Err(crate::dfu::TransportError::NoDevice)
    }
}

// A binding keeps a `Device` behind `Arc<Mutex<_>>` and runs its calls off
// the event loop (a worker thread, the GIL released): it must be `Send`
// (then `Mutex<Device>` is `Send + Sync`), and so must what it hands in and
// out. Checked at compile time.
const _: fn() = || {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Device>();
    send_sync::<std::sync::Mutex<Device>>();
    send_sync::<super::KeyToLoad>();
    send_sync::<ListedDevice>();
    send_sync::<super::DeviceError>();
};
