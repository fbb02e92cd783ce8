//! The workflows of [`super::workflow`] on a virtual Duo in normal mode
//! (`--device sim:DIR`): its USB face through [`SimTransport`], its serial
//! port through the pseudo-terminal `sim boot` published.

use std::path::Path;
use std::time::Duration;

use crate::dfu::descriptor::{GET_DESCRIPTOR, TYPE_STRING};
use crate::dfu::transport::{ControlTransport, Setup};
use crate::sim::duo::{serial, usb, Mode, SimTransport, VirtualDuo};
use crate::time::Clock;

use super::console::SerialLine;
use super::ports::PortLine;
use super::workflow::{self, DfuReport, IdentifyReport, ListenReport, Route, Routes};
use super::NormalError;

fn sim_error(dir: &Path, e: crate::sim::duo::SimError) -> NormalError {
    NormalError::Port {
        port: dir.display().to_string(),
        detail: e.to_string(),
    }
}

fn read_usb_serial(t: &mut SimTransport) -> Option<String> {
    let mut buf = [0u8; 255];
    let setup = Setup {
        request_type: 0x80,
        request: GET_DESCRIPTOR,
        value: u16::from_le_bytes([usb::STRING_SERIAL, TYPE_STRING]),
        index: 0x0409,
        length: 255,
    };
    let n = t.control_in(setup, &mut buf).ok()?;
    let units: Vec<u16> = buf[2..n.max(2)]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

fn open_line(dir: &Path) -> Option<PortLine> {
    let port = serial::port_path(dir)?;
    PortLine::open(&port.to_string_lossy()).ok()
}

/// The virtual board in `dir` as `duoprov list` shows it, if it is in
/// normal mode: device id from its USB serial, else the legacy request
/// (unknown on 0.2.x until `identify` asks the console), firmware version
/// from the legacy request.
pub fn list(dir: &Path) -> Option<crate::device::ListedDevice> {
    let info = VirtualDuo::probe(dir).ok()?;
    if info.mode != Mode::Firmware {
        return None;
    }
    let mut usb = SimTransport::open_normal(dir).ok()?;
    let serial = read_usb_serial(&mut usb);
    let device_id = serial
        .as_deref()
        .and_then(super::identity::device_id_from_usb_serial)
        .or_else(|| super::vendor::legacy_device_id(&mut usb).ok());
    let firmware_version = super::vendor::legacy_firmware_version(&mut usb).ok();
    let descriptor = usb.device().device_descriptor();
    let vid = u16::from_le_bytes([descriptor[8], descriptor[9]]);
    let pid = u16::from_le_bytes([descriptor[10], descriptor[11]]);
    Some(crate::device::ListedDevice {
        is_virtual: true,
        mode: "normal",
        serial_port: serial::port_path(dir).map(|p| p.display().to_string()),
        device_id,
        firmware_version,
        ..crate::device::ListedDevice::from_usb(
            format!("sim:{}", dir.display()),
            vid,
            pid,
            u16::from_le_bytes([descriptor[12], descriptor[13]]),
            info.platform,
            serial,
        )
    })
}

/// How long [`ensure_dfu`] waits for the board to come back.
pub const ENSURE_DFU_TIMEOUT: Duration = Duration::from_secs(10);

/// For device commands given `--enter-dfu`: a board in normal mode is put
/// in DFU mode first (every route allowed); one already in DFU mode is left
/// alone (`None`).
pub fn ensure_dfu(dir: &Path, clock: &dyn Clock) -> Result<Option<DfuReport>, NormalError> {
    let info = VirtualDuo::probe(dir).map_err(|e| sim_error(dir, e))?;
    if info.mode != Mode::Firmware {
        return Ok(None);
    }
    enter_dfu(dir, clock, Routes::default(), ENSURE_DFU_TIMEOUT).map(Some)
}

/// Identify the virtual board in `dir` (see [`workflow::identify`]).
pub fn identify(dir: &Path, clock: &dyn Clock) -> Result<IdentifyReport, NormalError> {
    let mut usb = SimTransport::open_normal(dir).map_err(|e| sim_error(dir, e))?;
    let usb_serial = read_usb_serial(&mut usb);
    let mut line = open_line(dir);
    let identity = workflow::identify(
        Some(&mut usb),
        usb_serial.as_deref(),
        line.as_mut().map(|l| l as &mut dyn SerialLine),
        clock,
    )?;
    Ok(IdentifyReport {
        board: format!("sim:{}", dir.display()),
        usb_serial,
        serial_port: serial::port_path(dir).map(|p| p.display().to_string()),
        identity,
    })
}

/// Reset the virtual board in `dir` into DFU mode by the best route, then
/// wait (at most `timeout`) until it is back on the bus in DFU mode.
pub fn enter_dfu(
    dir: &Path,
    clock: &dyn Clock,
    routes: Routes,
    timeout: Duration,
) -> Result<DfuReport, NormalError> {
    let device_id = hex::encode(
        VirtualDuo::probe(dir)
            .map_err(|e| sim_error(dir, e))?
            .device_id,
    );
    let (route, attempts) = workflow::request_dfu_by_best_route(
        || SimTransport::open_normal(dir).map_err(|e| sim_error(dir, e)),
        || Ok(open_line(dir)),
        clock,
        routes,
    )?;
    let matched_by = workflow::wait_for_dfu(clock, timeout, || {
        let info = VirtualDuo::probe(dir).map_err(|e| sim_error(dir, e))?;
        if info.mode != Mode::Dfu || !info.connected {
            return Ok(None);
        }
        let serial = info.board.bootloader.serial;
        if serial.carries_device_id() {
            let reported = serial.render(&info.device_id).to_ascii_lowercase();
            if reported != device_id {
                return Err(NormalError::Port {
                    port: dir.display().to_string(),
                    detail: format!(
                        "a board came back in DFU mode with device id {reported}, not {device_id}"
                    ),
                });
            }
            Ok(Some("device_id"))
        } else {
            Ok(Some("port"))
        }
    })?;
    let board = format!("sim:{}", dir.display());
    Ok(DfuReport {
        dfu_board: board.clone(),
        board,
        route,
        attempts,
        matched_by,
        device_id: Some(device_id),
    })
}

/// Enter (`on`) or leave listening mode on the virtual board in `dir` (see
/// [`workflow::set_listening`]): the service request holding the board,
/// else its console without holding it (its serial server takes it).
pub fn set_listening(dir: &Path, clock: &dyn Clock, on: bool) -> Result<ListenReport, NormalError> {
    let mut attempts = Vec::new();
    let by_service = {
        let mut usb = SimTransport::open_normal(dir).map_err(|e| sim_error(dir, e))?;
        workflow::listen_by_service(&mut usb, on, &mut attempts)
    };
    let route = if by_service {
        Route::ServiceRequest
    } else {
        let mut line = open_line(dir);
        workflow::listen_by_console(
            line.as_mut().map(|l| l as &mut dyn SerialLine),
            clock,
            on,
            &mut attempts,
        )?;
        Route::Console
    };
    Ok(ListenReport {
        board: format!("sim:{}", dir.display()),
        listening: on,
        route,
        attempts,
    })
}

/// The device id of the virtual board in `dir`: from its DFU serial (r5/r6)
/// in DFU mode, else by [`identify`] in normal mode; an r3/r4 board in DFU
/// mode cannot tell ([`NormalError::IdUnknownInDfu`]).
pub fn attached_device_id(dir: &Path, clock: &dyn Clock) -> Result<(String, Route), NormalError> {
    let info = VirtualDuo::probe(dir).map_err(|e| sim_error(dir, e))?;
    if info.mode == Mode::Firmware {
        return identify(dir, clock).map(|r| (r.identity.device_id, r.identity.device_id_from));
    }
    let serial = info.board.bootloader.serial.render(&info.device_id);
    super::identity::device_id_from_usb_serial(&serial)
        .map(|id| (id, Route::DfuSerial))
        .ok_or_else(|| NormalError::IdUnknownInDfu {
            board: format!("sim:{}", dir.display()),
        })
}

#[cfg(test)]
mod tests;
