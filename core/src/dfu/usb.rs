//! The [`ControlTransport`] over libusb (`rusb`, linked dynamically against the
//! system libusb-1.0), and finding boards in DFU mode on the bus.
//!
//! Only the libusb calls dfu-util itself makes are used (REFERENCE §6):
//! string descriptors are read with plain control transfers through
//! [`super::descriptor`], and no kernel-driver detach is attempted (no kernel
//! driver binds to a DFU interface).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rusb::{Context, Device, DeviceHandle, UsbContext};

use super::descriptor;
use super::engine::Dfu;
use super::error::DfuError;
use super::transport::{ControlTransport, Setup, TransportError};
use crate::platform::{self, Platform, PLATFORMS};
use crate::time::Clock;
use crate::types::DeviceSelector;

/// Timeout of one control transfer. The Duo answers GETSTATUS only after a
/// flash operation finishes, so this exceeds its longest operation
/// ([`platform::timing::CONTROL_TIMEOUT`], which the engine also sets).
pub const CONTROL_TIMEOUT: Duration = platform::timing::CONTROL_TIMEOUT;

fn map_err(e: rusb::Error) -> TransportError {
    match e {
        rusb::Error::Pipe => TransportError::Stall,
        rusb::Error::NoDevice => TransportError::NoDevice,
        rusb::Error::Timeout => TransportError::Timeout,
        rusb::Error::Busy => TransportError::Busy,
        rusb::Error::Access => TransportError::Access,
        other => TransportError::Other(other.to_string()),
    }
}

/// An opened DFU device; interface 0 is claimed while this lives.
pub struct UsbTransport {
    handle: DeviceHandle<Context>,
    interface: u8,
    claimed: bool,
    timeout: Duration,
}

impl UsbTransport {
    pub fn handle(&self) -> &DeviceHandle<Context> {
        &self.handle
    }

    /// An open device whose interfaces are not claimed: for requests to the
    /// device itself (standard requests, a board's vendor requests in normal
    /// mode, REFERENCE §7), which need no claim while the kernel's CDC
    /// driver owns the serial interfaces.
    pub(crate) fn unclaimed(handle: DeviceHandle<Context>, timeout: Duration) -> Self {
        UsbTransport {
            handle,
            interface: 0,
            claimed: false,
            timeout,
        }
    }
}

impl Drop for UsbTransport {
    fn drop(&mut self) {
        if self.claimed {
            let _ = self.handle.release_interface(self.interface);
        }
    }
}

impl ControlTransport for UsbTransport {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        let len = usize::from(setup.length).min(buf.len());
        self.handle
            .read_control(
                setup.request_type,
                setup.request,
                setup.value,
                setup.index,
                &mut buf[..len],
                self.timeout,
            )
            .map_err(map_err)
    }

    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        self.handle
            .write_control(
                setup.request_type,
                setup.request,
                setup.value,
                setup.index,
                data,
                self.timeout,
            )
            .map_err(map_err)
    }

    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        self.handle
            .set_alternate_setting(interface, alt)
            .map_err(map_err)
    }

    fn reset(&mut self) -> Result<(), TransportError> {
        self.handle.reset().map_err(map_err)
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

/// A board in DFU mode on the bus.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsbDfuDevice {
    pub bus: u8,
    /// Port chain from the root hub (`usb:BUS-P1.P2`).
    pub ports: Vec<u8>,
    pub address: u8,
    pub vid: u16,
    pub pid: u16,
    /// iSerialNumber, if the device could be opened to read it.
    pub serial: Option<String>,
    /// bcdDevice, and the alt settings with their interface strings (the
    /// DfuSe memory layouts), as `dfu-util -l` shows them; empty if the
    /// device could not be opened to read them.
    pub device_version: u16,
    pub alt_settings: Vec<(u8, String)>,
    #[serde(serialize_with = "platform_name")]
    pub platform: &'static Platform,
    /// The descriptors as read during the scan, so opening the device does
    /// not read them again (`None` if the device could not be opened).
    #[serde(skip)]
    pub dfu_info: Option<descriptor::DeviceInfo>,
}

fn platform_name<S: serde::Serializer>(p: &&'static Platform, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.name)
}

impl UsbDfuDevice {
    /// The `--device` value that picks exactly this board.
    pub fn selector(&self) -> String {
        DeviceSelector::port_string(self.bus, &self.ports)
    }
}

impl fmt::Display for UsbDfuDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  [{:04x}:{:04x}] {}  serial {}  (device address {})",
            self.selector(),
            self.vid,
            self.pid,
            self.platform.display_name,
            self.serial.as_deref().unwrap_or("?"),
            self.address
        )
    }
}

struct Scan {
    found: Vec<(UsbDfuDevice, Device<Context>)>,
    /// libusb could not start (no USB subsystem, e.g. in a container).
    init_error: Option<rusb::Error>,
}

/// The device and configuration descriptors from libusb's cache (as
/// dfu-util takes them: no control transfers), in the engine's types.
fn cached_descriptors(
    dev: &Device<Context>,
    desc: &rusb::DeviceDescriptor,
) -> Option<(descriptor::DeviceDescriptor, descriptor::DfuConfig)> {
    let device = descriptor::DeviceDescriptor {
        usb_version: bcd(desc.usb_version()),
        vendor_id: desc.vendor_id(),
        product_id: desc.product_id(),
        device_version: bcd(desc.device_version()),
        manufacturer_index: desc.manufacturer_string_index().unwrap_or(0),
        product_index: desc.product_string_index().unwrap_or(0),
        serial_index: desc.serial_number_string_index().unwrap_or(0),
        num_configurations: desc.num_configurations(),
    };
    let cfg = dev.config_descriptor(0).ok()?;
    let mut config = descriptor::DfuConfig {
        configuration_value: cfg.number(),
        alt_settings: Vec::new(),
        functional: None,
    };
    // libusb hands the bytes after each interface descriptor to that
    // altsetting as `extra`: the Duo's one functional descriptor arrives as
    // the extra of its last alt setting.
    config.functional = functional_in(cfg.extra());
    for iface in cfg.interfaces() {
        for d in iface.descriptors() {
            if d.class_code() == descriptor::DFU_CLASS
                && d.sub_class_code() == descriptor::DFU_SUBCLASS
            {
                config.alt_settings.push(descriptor::DfuAltSetting {
                    interface: d.interface_number(),
                    alt: d.setting_number(),
                    protocol: d.protocol_code(),
                    name_index: d.description_string_index().unwrap_or(0),
                    name: None,
                });
            }
            if config.functional.is_none() {
                config.functional = functional_in(d.extra());
            }
        }
    }
    Some((device, config))
}

/// The first DFU functional descriptor in a run of descriptors.
fn functional_in(mut bytes: &[u8]) -> Option<descriptor::FunctionalDescriptor> {
    while bytes.len() >= 2 {
        let len = usize::from(bytes[0]);
        if len < 2 || len > bytes.len() {
            return None;
        }
        if bytes[1] == descriptor::TYPE_DFU_FUNCTIONAL {
            return descriptor::FunctionalDescriptor::parse(&bytes[..len]).ok();
        }
        bytes = &bytes[len..];
    }
    None
}

/// Cached descriptors completed with the strings, read the way dfu-util
/// reads them (plain GET_DESCRIPTOR requests, interface not claimed).
fn read_info(
    dev: &Device<Context>,
    desc: &rusb::DeviceDescriptor,
) -> Option<descriptor::DeviceInfo> {
    let (device, config) = cached_descriptors(dev, desc)?;
    let mut t = UsbTransport {
        handle: dev.open().ok()?,
        interface: 0,
        claimed: false,
        timeout: Duration::from_secs(1),
    };
    descriptor::with_strings(&mut t, device, config).ok()
}

fn scan() -> Result<Scan, DfuError> {
    let ctx = match Context::new() {
        Ok(ctx) => ctx,
        Err(rusb::Error::Access) => {
            return Err(DfuError::PermissionDenied {
                device: "the USB subsystem".into(),
            })
        }
        Err(e) => {
            return Ok(Scan {
                found: Vec::new(),
                init_error: Some(e),
            })
        }
    };
    let list = ctx.devices().map_err(|e| DfuError::Usb {
        doing: "listing USB devices".into(),
        message: e.to_string(),
    })?;
    let mut found = Vec::new();
    for dev in list.iter() {
        let Ok(desc) = dev.device_descriptor() else {
            continue;
        };
        let Some(platform) = platform::by_dfu_ids(desc.vendor_id(), desc.product_id()) else {
            continue;
        };
        let dfu_info = read_info(&dev, &desc);
        let (serial, alt_settings) = match &dfu_info {
            Some(info) => (
                info.serial.clone(),
                info.config
                    .alt_settings
                    .iter()
                    .filter(|a| a.protocol == descriptor::DFU_PROTOCOL_DFU_MODE)
                    .map(|a| (a.alt, a.name.clone().unwrap_or_default()))
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        let version = desc.device_version();
        let info = UsbDfuDevice {
            bus: dev.bus_number(),
            ports: dev.port_numbers().unwrap_or_default(),
            address: dev.address(),
            vid: desc.vendor_id(),
            pid: desc.product_id(),
            serial,
            device_version: bcd(version),
            alt_settings,
            platform,
            dfu_info,
        };
        found.push((info, dev));
    }
    found.sort_by(|a, b| (a.0.bus, &a.0.ports).cmp(&(b.0.bus, &b.0.ports)));
    Ok(Scan {
        found,
        init_error: None,
    })
}

/// rusb decodes bcdDevice into decimal parts; put the BCD back (0x0200).
fn bcd(v: rusb::Version) -> u16 {
    let major = u16::from(v.major());
    (major / 10) << 12 | (major % 10) << 8 | u16::from(v.minor()) << 4 | u16::from(v.sub_minor())
}

/// Every board of the platform table that is in DFU mode. A machine without a
/// USB subsystem has none.
pub fn list_dfu_devices() -> Result<Vec<UsbDfuDevice>, DfuError> {
    Ok(scan()?.found.into_iter().map(|(info, _)| info).collect())
}

fn open_error(e: rusb::Error, info: &UsbDfuDevice, doing: &str) -> DfuError {
    let device = format!("{} ({})", info.selector(), info.platform.display_name);
    match e {
        rusb::Error::Access => DfuError::PermissionDenied { device },
        rusb::Error::Busy => DfuError::Busy { device },
        rusb::Error::NoDevice => DfuError::NoDevice {
            detail: format!(" ({device} disconnected while {doing})"),
        },
        other => DfuError::Usb {
            doing: format!("{doing} {device}"),
            message: other.to_string(),
        },
    }
}

/// Find the one board the selector (or, without one, the bus) designates,
/// open it and claim interface 0.
pub fn open(selector: Option<&DeviceSelector>) -> Result<(UsbTransport, UsbDfuDevice), DfuError> {
    if let Some(sel @ DeviceSelector::Sim(_)) = selector {
        return Err(DfuError::Selector {
            input: sel.to_string(),
            reason: "a virtual device is not on USB; open it through the simulator".into(),
        });
    }
    let scan = scan()?;
    let all: Vec<&UsbDfuDevice> = scan.found.iter().map(|(i, _)| i).collect();
    let mut matching: Vec<&(UsbDfuDevice, Device<Context>)> = scan
        .found
        .iter()
        .filter(|(i, _)| {
            selector.map_or(true, |s| {
                s.matches_usb(i.vid, i.pid, i.bus, &i.ports, i.serial.as_deref())
            })
        })
        .collect();
    if matching.is_empty() {
        let mut detail = String::new();
        if let Some(sel) = selector {
            detail.push_str(&format!(" matching {sel}"));
            if !all.is_empty() {
                let others: Vec<String> = all.iter().map(|d| d.to_string()).collect();
                detail.push_str(&format!(" (found: {})", others.join("; ")));
            }
        }
        if let Some(e) = scan.init_error {
            detail.push_str(&format!(" (libusb could not start: {e})"));
        }
        return Err(DfuError::NoDevice { detail });
    }
    if matching.len() > 1 {
        let list: Vec<String> = matching.iter().map(|(i, _)| format!("  {i}")).collect();
        return Err(DfuError::SeveralDevices {
            list: list.join("\n"),
            example: matching[0].0.selector(),
        });
    }
    let (info, dev) = matching.remove(0);
    let handle = dev.open().map_err(|e| open_error(e, info, "opening"))?;
    handle
        .claim_interface(0)
        .map_err(|e| open_error(e, info, "claiming interface 0 of"))?;
    Ok((
        UsbTransport {
            handle,
            interface: 0,
            claimed: true,
            timeout: CONTROL_TIMEOUT,
        },
        info.clone(),
    ))
}

/// [`open`]: a ready DFU engine, on the descriptors the scan already read
/// (only if the scan could not read them are they read again).
pub fn open_dfu(
    selector: Option<&DeviceSelector>,
    clock: Arc<dyn Clock>,
) -> Result<(Dfu<UsbTransport>, UsbDfuDevice), DfuError> {
    let (transport, info) = open(selector)?;
    let dfu = match info.dfu_info.clone() {
        Some(known) => Dfu::with_info(transport, clock, known)?,
        None => Dfu::open(transport, clock)?,
    };
    Ok((dfu, info))
}

/// udev rules giving the logged-in user (and, failing uaccess, everyone)
/// access to every supported board in DFU mode.
pub fn udev_rule() -> String {
    let mut out = String::from(
        "# duoprov: access to Particle/RedBear boards in DFU mode without root.\n\
         # Save as /etc/udev/rules.d/50-duoprov.rules, then run\n\
         #   sudo udevadm control --reload-rules && sudo udevadm trigger\n\
         # and replug the board.\n",
    );
    for p in PLATFORMS {
        out.push_str(&format!(
            "# {} in DFU mode\nSUBSYSTEMS==\"usb\", ATTRS{{idVendor}}==\"{:04x}\", ATTRS{{idProduct}}==\"{:04x}\", MODE=\"0666\", TAG+=\"uaccess\"\n",
            p.display_name, p.usb_vid, p.dfu_pid
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_without_a_board_lists_nothing_and_open_says_no_dfu_device() {
        // This machine has no board (and may have no USB at all).
        let devices = list_dfu_devices().expect("listing must not fail without a board");
        assert!(devices.is_empty(), "{devices:?}");
        let err = open(None).err().expect("no device to open");
        let msg = err.to_string();
        assert!(matches!(err, DfuError::NoDevice { .. }), "{err:?}");
        assert!(msg.starts_with("no device in DFU mode found"), "{msg}");
        assert!(msg.contains("hold SETUP, tap RESET"), "{msg}");
        let sel: DeviceSelector = "usb:2b04:d058".parse().unwrap();
        let msg = open(Some(&sel)).err().unwrap().to_string();
        assert!(msg.contains("matching usb:2b04:d058"), "{msg}");
    }

    #[test]
    fn sim_selector_is_not_opened_over_usb() {
        let sel: DeviceSelector = "sim:vd".parse().unwrap();
        let err = open(Some(&sel)).err().unwrap();
        assert!(matches!(err, DfuError::Selector { .. }), "{err:?}");
    }

    #[test]
    fn bcd_device_is_rebuilt_from_rusbs_decimal_parts() {
        assert_eq!(bcd(rusb::Version::from_bcd(0x0200)), 0x0200);
        assert_eq!(bcd(rusb::Version::from_bcd(0x1234)), 0x1234);
    }

    #[test]
    fn udev_rule_names_every_dfu_pid() {
        let rules = udev_rule();
        for pid in ["d058", "d006", "d008"] {
            let line = format!(
                "SUBSYSTEMS==\"usb\", ATTRS{{idVendor}}==\"2b04\", ATTRS{{idProduct}}==\"{pid}\", MODE=\"0666\", TAG+=\"uaccess\""
            );
            assert!(rules.contains(&line), "{rules}");
        }
    }

    #[test]
    fn libusb_errors_map_to_transport_errors() {
        assert_eq!(map_err(rusb::Error::Pipe), TransportError::Stall);
        assert_eq!(map_err(rusb::Error::NoDevice), TransportError::NoDevice);
        assert_eq!(map_err(rusb::Error::Timeout), TransportError::Timeout);
        assert_eq!(map_err(rusb::Error::Busy), TransportError::Busy);
        assert_eq!(map_err(rusb::Error::Access), TransportError::Access);
        assert!(matches!(map_err(rusb::Error::Io), TransportError::Other(_)));
    }
}
