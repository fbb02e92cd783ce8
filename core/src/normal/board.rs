//! The normal-mode workflows of [`super::workflow`] on the board a
//! `--device` selector names (REFERENCE §7): a virtual Duo (`sim:DIR`,
//! through [`super::virtual_board`]) or a board on USB (`usb:…`,
//! `serial:…`, `id:…`, or the one board in normal mode), found by
//! [`super::usb`], its serial port given by the caller or found in
//! `/sys/class/tty` by VID/PID/serial ([`super::ports`]). A board in DFU
//! mode afterwards is found again by its device id where its bootloader
//! reports it (r5/r6), else by its USB port.

use std::time::Duration;

use super::console::SerialLine;
use super::ports::{self, PortLine};
use super::usb::{self, UsbNormalDevice};
use super::workflow::{self, DfuReport, IdentifyReport, ListenReport, Route, Routes};
use super::NormalError;
use crate::device::ListedDevice;
use crate::dfu::usb::UsbDfuDevice;
use crate::time::Clock;
use crate::types::DeviceSelector;

/// A board in normal mode on USB and the device id it told over USB (its
/// serial string, else the legacy request), if any.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub device: UsbNormalDevice,
    pub device_id: Option<String>,
}

fn candidates() -> Result<Vec<Candidate>, NormalError> {
    Ok(usb::list_normal_devices()?
        .into_iter()
        .map(|device| {
            let device_id = device.device_id_from_serial().or_else(|| {
                let mut t = usb::open(&device).ok()?;
                super::vendor::legacy_device_id(&mut t).ok()
            });
            Candidate { device, device_id }
        })
        .collect())
}

/// The one board the selector designates among `found` (without a
/// selector: the only one). Two boards telling the same device id are
/// [`NormalError::SameDeviceId`], whatever the selector.
pub fn choose(
    found: Vec<Candidate>,
    selector: Option<&DeviceSelector>,
) -> Result<Candidate, NormalError> {
    let mut matching: Vec<Candidate> = found
        .into_iter()
        .filter(|c| selector.map_or(true, |s| c.device.matches(s, c.device_id.as_deref())))
        .collect();
    match matching.len() {
        0 => Err(NormalError::NoBoard {
            detail: selector
                .map(|s| format!(" matching {s}"))
                .unwrap_or_default(),
        }),
        1 => Ok(matching.remove(0)),
        _ => {
            let first_id = matching[0].device_id.clone();
            if first_id.is_some() && matching.iter().all(|c| c.device_id == first_id) {
                return Err(NormalError::SameDeviceId {
                    device_id: first_id.unwrap_or_default(),
                    boards: matching.iter().map(|c| c.device.to_string()).collect(),
                });
            }
            Err(NormalError::SeveralBoards {
                list: matching
                    .iter()
                    .map(|c| format!("  {}", c.device))
                    .collect::<Vec<_>>()
                    .join("\n"),
                example: matching[0].device.selector(),
            })
        }
    }
}

fn find_one(selector: Option<&DeviceSelector>) -> Result<Candidate, NormalError> {
    choose(candidates()?, selector)
}

/// The board's serial port: `port` if given, else the port
/// `/sys/class/tty` ties to its VID/PID/serial (none where it has no entry,
/// as for a virtual board on the libusb stand-in).
pub fn serial_port(
    device: &UsbNormalDevice,
    port: Option<&str>,
) -> Result<Option<String>, NormalError> {
    if let Some(port) = port {
        return Ok(Some(port.to_string()));
    }
    let all = ports::list_usb_serial_ports()?;
    Ok(
        ports::find_port(&all, device.vid, device.pid, device.serial.as_deref())?
            .map(|p| p.path.clone()),
    )
}

/// Open the port: an error for a port the caller named, nothing for one
/// that was only found (the USB side may tell everything).
fn open_line(path: Option<&str>, named: bool) -> Result<Option<PortLine>, NormalError> {
    match path {
        Some(p) if named => PortLine::open(p).map(Some),
        Some(p) => Ok(PortLine::open(p).ok()),
        None => Ok(None),
    }
}

/// Every board in normal mode on USB, as `list` shows it (filtered by the
/// selector).
pub fn list_usb(selector: Option<&DeviceSelector>) -> Result<Vec<ListedDevice>, NormalError> {
    let serial_ports = ports::list_usb_serial_ports().unwrap_or_default();
    Ok(candidates()?
        .into_iter()
        .filter(|c| selector.map_or(true, |s| c.device.matches(s, c.device_id.as_deref())))
        .map(|c| {
            let d = &c.device;
            let firmware_version = usb::open(d)
                .ok()
                .and_then(|mut t| super::vendor::legacy_firmware_version(&mut t).ok());
            let port = ports::find_port(&serial_ports, d.vid, d.pid, d.serial.as_deref())
                .ok()
                .flatten()
                .map(|p| p.path.clone());
            ListedDevice {
                mode: "normal",
                serial_port: port,
                device_id: c.device_id,
                firmware_version,
                ..ListedDevice::from_usb(
                    d.selector(),
                    d.vid,
                    d.pid,
                    d.device_version,
                    d.platform,
                    d.serial.clone(),
                )
            }
        })
        .collect())
}

/// Identify the board the selector names (see [`workflow::identify`]);
/// `port` names its serial port where `/sys/class/tty` cannot.
pub fn identify(
    selector: Option<&DeviceSelector>,
    port: Option<&str>,
    clock: &dyn Clock,
) -> Result<IdentifyReport, NormalError> {
    #[cfg(feature = "sim")]
    if let Some(DeviceSelector::Sim(dir)) = selector {
        return super::virtual_board::identify(dir, clock);
    }
    let found = find_one(selector)?;
    let device = &found.device;
    let mut t = usb::open(device)?;
    let port_path = serial_port(device, port)?;
    let mut line = open_line(port_path.as_deref(), port.is_some())?;
    let identity = workflow::identify(
        Some(&mut t),
        device.serial.as_deref(),
        line.as_mut().map(|l| l as &mut dyn SerialLine),
        clock,
    )?;
    Ok(IdentifyReport {
        board: device.selector(),
        usb_serial: device.serial.clone(),
        serial_port: port_path,
        identity,
    })
}

/// Reset the board the selector names into DFU mode by the best allowed
/// route, then wait (at most `timeout`) until it is on the bus in DFU mode.
pub fn enter_dfu(
    selector: Option<&DeviceSelector>,
    port: Option<&str>,
    clock: &dyn Clock,
    routes: Routes,
    timeout: Duration,
) -> Result<DfuReport, NormalError> {
    #[cfg(feature = "sim")]
    if let Some(DeviceSelector::Sim(dir)) = selector {
        return super::virtual_board::enter_dfu(dir, clock, routes, timeout);
    }
    let found = find_one(selector)?;
    let device = &found.device;
    let (route, attempts) = workflow::request_dfu_by_best_route(
        || usb::open(device),
        || open_line(serial_port(device, port)?.as_deref(), port.is_some()),
        clock,
        routes,
    )?;
    let (matched_by, dfu, device_id) = workflow::wait_for_dfu(clock, timeout, || {
        let boards = crate::dfu::usb::list_dfu_devices().map_err(|e| NormalError::Usb {
            doing: "looking for the board in DFU mode".into(),
            detail: e.to_string(),
        })?;
        back_in_dfu(device, found.device_id.as_deref(), &boards)
    })?;
    Ok(DfuReport {
        board: device.selector(),
        route,
        attempts,
        matched_by,
        device_id,
        dfu_board: dfu.selector(),
    })
}

/// How the board was recognised in DFU mode (`device_id` or `port`), the
/// board there, and its device id where known.
pub type BackInDfu = (&'static str, UsbDfuDevice, Option<String>);

/// The board `device` (which told `device_id`, if any) among the boards in
/// DFU mode: by device id where the bootloader's serial carries one (r5/r6),
/// else by its USB port. A board with another id at its port is an error.
pub fn back_in_dfu(
    device: &UsbNormalDevice,
    device_id: Option<&str>,
    boards: &[UsbDfuDevice],
) -> Result<Option<BackInDfu>, NormalError> {
    for b in boards {
        let same_port = b.bus == device.bus && b.ports == device.ports;
        let told = b
            .serial
            .as_deref()
            .and_then(super::identity::device_id_from_usb_serial);
        match (told, device_id) {
            (Some(t), Some(id)) if t == id => return Ok(Some(("device_id", b.clone(), Some(t)))),
            (Some(t), Some(id)) if same_port => {
                return Err(NormalError::Port {
                    port: b.selector(),
                    detail: format!(
                        "a board came back in DFU mode there with device id {t}, not {id}"
                    ),
                })
            }
            (Some(t), None) if same_port => return Ok(Some(("port", b.clone(), Some(t)))),
            (None, _) if same_port => {
                return Ok(Some(("port", b.clone(), device_id.map(str::to_string))))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// How long [`ensure_dfu`] waits for the board to come back.
pub const ENSURE_DFU_TIMEOUT: Duration = Duration::from_secs(10);

/// For device commands allowed to enter DFU mode: a board the selector
/// names that is in normal mode is put in DFU mode (every route allowed)
/// and the report names it there (`dfu_board`); if a board in DFU mode
/// already matches, or none in normal mode does, nothing is done (`None`).
pub fn ensure_dfu(
    selector: Option<&DeviceSelector>,
    port: Option<&str>,
    clock: &dyn Clock,
) -> Result<Option<DfuReport>, NormalError> {
    #[cfg(feature = "sim")]
    if let Some(DeviceSelector::Sim(dir)) = selector {
        return super::virtual_board::ensure_dfu(dir, clock);
    }
    let in_dfu = crate::dfu::usb::list_dfu_devices()
        .unwrap_or_default()
        .iter()
        .any(|d| {
            selector.map_or(true, |s| {
                s.matches_usb(d.vid, d.pid, d.bus, &d.ports, d.serial.as_deref())
            })
        });
    if in_dfu {
        return Ok(None);
    }
    let any_normal = candidates()?
        .iter()
        .any(|c| selector.map_or(true, |s| c.device.matches(s, c.device_id.as_deref())));
    if !any_normal {
        return Ok(None);
    }
    enter_dfu(selector, port, clock, Routes::default(), ENSURE_DFU_TIMEOUT).map(Some)
}

/// Enter (`on`) or leave listening mode on the board the selector names
/// (see [`workflow::set_listening`]).
pub fn set_listening(
    selector: Option<&DeviceSelector>,
    port: Option<&str>,
    clock: &dyn Clock,
    on: bool,
) -> Result<ListenReport, NormalError> {
    #[cfg(feature = "sim")]
    if let Some(DeviceSelector::Sim(dir)) = selector {
        return super::virtual_board::set_listening(dir, clock, on);
    }
    let found = find_one(selector)?;
    let device = &found.device;
    let mut t = usb::open(device)?;
    let port_path = serial_port(device, port)?;
    let mut line = open_line(port_path.as_deref(), port.is_some())?;
    let (route, attempts) = workflow::set_listening(
        Some(&mut t),
        line.as_mut().map(|l| l as &mut dyn SerialLine),
        clock,
        on,
    )?;
    Ok(ListenReport {
        board: device.selector(),
        listening: on,
        route,
        attempts,
    })
}

/// The device id of the one board attached (either mode), for work that
/// needs it without being told (REFERENCE §7): a board in DFU mode whose
/// bootloader reports it (r5/r6), else a board in normal mode by the best
/// route ([`identify`]). A board in DFU mode whose bootloader cannot tell
/// (r3/r4) is [`NormalError::IdUnknownInDfu`].
pub fn attached_device_id(
    selector: Option<&DeviceSelector>,
    port: Option<&str>,
    clock: &dyn Clock,
) -> Result<(String, Route), NormalError> {
    if let Some(id) = selector.and_then(DeviceSelector::device_id) {
        return Ok((id.to_string(), Route::Selector));
    }
    #[cfg(feature = "sim")]
    if let Some(DeviceSelector::Sim(dir)) = selector {
        return super::virtual_board::attached_device_id(dir, clock);
    }
    let in_dfu: Vec<UsbDfuDevice> = crate::dfu::usb::list_dfu_devices()
        .map_err(|e| NormalError::Usb {
            doing: "listing boards in DFU mode".into(),
            detail: e.to_string(),
        })?
        .into_iter()
        .filter(|d| {
            selector.map_or(true, |s| {
                s.matches_usb(d.vid, d.pid, d.bus, &d.ports, d.serial.as_deref())
            })
        })
        .collect();
    match in_dfu.as_slice() {
        [] => identify(selector, port, clock)
            .map(|r| (r.identity.device_id, r.identity.device_id_from)),
        [one] => one
            .serial
            .as_deref()
            .and_then(super::identity::device_id_from_usb_serial)
            .map(|id| (id, Route::DfuSerial))
            .ok_or_else(|| NormalError::IdUnknownInDfu {
                board: one.to_string(),
            }),
        many => Err(NormalError::SeveralBoards {
            list: many
                .iter()
                .map(|d| format!("  {d}"))
                .collect::<Vec<_>>()
                .join("\n"),
            example: many[0].selector(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::DUO;

    const ID: &str = "2a0021000747343232363230";

    fn at(port: u8, serial: &str, id: Option<&str>) -> Candidate {
        Candidate {
            device: UsbNormalDevice {
                bus: 1,
                ports: vec![port],
                address: port + 1,
                vid: 0x2b04,
                pid: 0xc058,
                device_version: 0x0250,
                serial: Some(serial.into()),
                platform: &DUO,
            },
            device_id: id.map(str::to_string),
        }
    }

    #[test]
    fn two_boards_telling_the_same_id_are_refused_naming_both() {
        let twins = || vec![at(1, ID, Some(ID)), at(2, ID, Some(ID))];
        let by_id: DeviceSelector = format!("id:{ID}").parse().unwrap();
        for selector in [None, Some(&by_id)] {
            let err = choose(twins(), selector).unwrap_err();
            assert!(matches!(err, NormalError::SameDeviceId { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains("usb:1-1") && msg.contains("usb:1-2"), "{msg}");
            assert_eq!(
                crate::error::ErrorInfo::code(&err),
                crate::error::ErrorCode::MultipleDevices
            );
            assert_eq!(
                crate::error::ErrorInfo::facts(&err).device_id.as_deref(),
                Some(ID)
            );
        }
        // The port still picks one of them.
        let one = choose(twins(), Some(&"usb:1-2".parse().unwrap())).unwrap();
        assert_eq!(one.device.selector(), "usb:1-2");
    }

    #[test]
    fn boards_with_different_ids_are_several_not_the_same() {
        let other = "ffffffffffffffffffffffff";
        let err = choose(vec![at(1, ID, Some(ID)), at(2, other, Some(other))], None).unwrap_err();
        assert!(matches!(err, NormalError::SeveralBoards { .. }), "{err:?}");
        let picked = choose(
            vec![at(1, ID, Some(ID)), at(2, other, Some(other))],
            Some(&format!("id:{other}").parse().unwrap()),
        )
        .unwrap();
        assert_eq!(picked.device.selector(), "usb:1-2");
        let err = choose(vec![at(1, ID, Some(ID))], Some(&"usb:1-9".parse().unwrap())).unwrap_err();
        assert!(matches!(err, NormalError::NoBoard { .. }), "{err:?}");
    }

    fn dfu_at(port: u8, serial: &str) -> UsbDfuDevice {
        UsbDfuDevice {
            bus: 1,
            ports: vec![port],
            address: port + 1,
            vid: 0x2b04,
            pid: 0xd058,
            serial: Some(serial.into()),
            device_version: 0x0200,
            alt_settings: Vec::new(),
            platform: &DUO,
            dfu_info: None,
        }
    }

    #[test]
    fn the_board_is_found_in_dfu_mode_by_id_else_by_port() {
        let normal = at(1, "00000000050C", None).device;
        // r6 elsewhere with our id: by id.
        let found = back_in_dfu(&normal, Some(ID), &[dfu_at(3, ID)])
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.0, found.1.selector()),
            ("device_id", "usb:1-3".into())
        );
        // r4 at our port: by port.
        let found = back_in_dfu(&normal, Some(ID), &[dfu_at(1, "00000000010C")])
            .unwrap()
            .unwrap();
        assert_eq!(found.0, "port");
        // Another board at our port: an error; another r4 elsewhere: not yet.
        assert!(back_in_dfu(&normal, Some(ID), &[dfu_at(1, "ffffffffffffffffffffffff")]).is_err());
        assert!(back_in_dfu(&normal, Some(ID), &[dfu_at(2, "00000000010C")])
            .unwrap()
            .is_none());
    }
}
