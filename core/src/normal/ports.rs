//! Serial ports of boards in normal mode: found in `/sys/class/tty` by the
//! `serialport` crate (no libudev), matched to USB devices by VID, PID and
//! serial number, and opened as a [`SerialLine`] (REFERENCE §7).

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use serde::Serialize;
use serialport::{SerialPort, SerialPortType, TTYPort};

use super::console::{LineError, SerialLine, BAUD_FORBIDDEN, BAUD_NEUTRAL};
use super::NormalError;
use crate::platform;

/// A serial port backed by a USB device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbSerialPort {
    pub path: String,
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

/// Every USB serial port of the machine (`/sys/class/tty`); none where the
/// directory does not exist.
pub fn list_usb_serial_ports() -> Result<Vec<UsbSerialPort>, NormalError> {
    // serialport panics when /sys/class/tty is missing (containers).
    if !std::path::Path::new("/sys/class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let ports = serialport::available_ports().map_err(|e| NormalError::Port {
        port: "/sys/class/tty".into(),
        detail: e.to_string(),
    })?;
    Ok(ports
        .into_iter()
        .filter_map(|p| match p.port_type {
            SerialPortType::UsbPort(usb) => Some(UsbSerialPort {
                path: p.port_name,
                vid: usb.vid,
                pid: usb.pid,
                serial: usb.serial_number,
                manufacturer: usb.manufacturer,
                product: usb.product,
            }),
            _ => None,
        })
        .collect())
}

/// The ports of boards in normal mode (a known platform's normal-mode ids).
pub fn normal_mode_ports(ports: &[UsbSerialPort]) -> Vec<&UsbSerialPort> {
    ports
        .iter()
        .filter(|p| platform::by_normal_ids(p.vid, p.pid).is_some())
        .collect()
}

/// The one port of the USB device with these ids and serial. Two ports
/// that match (two boards with the same constant serial `00000000050C`)
/// are [`NormalError::AmbiguousPort`]: the serial cannot tell them apart.
pub fn find_port<'a>(
    ports: &'a [UsbSerialPort],
    vid: u16,
    pid: u16,
    serial: Option<&str>,
) -> Result<Option<&'a UsbSerialPort>, NormalError> {
    let matching: Vec<&UsbSerialPort> = ports
        .iter()
        .filter(|p| p.vid == vid && p.pid == pid && p.serial.as_deref() == serial)
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(NormalError::AmbiguousPort {
            serial: serial.unwrap_or("").to_string(),
            ports: many.iter().map(|p| p.path.clone()).collect(),
        }),
    }
}

/// A serial port opened with the `serialport` crate. Dropping it sets 9600
/// baud again if another rate was left set.
pub struct PortLine {
    name: String,
    port: TTYPort,
    baud: u32,
}

impl std::fmt::Debug for PortLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortLine")
            .field("name", &self.name)
            .field("baud", &self.baud)
            .finish()
    }
}

impl PortLine {
    /// Open `path` at 9600 baud (the neutral rate: opening acts on nothing).
    pub fn open(path: &str) -> Result<Self, NormalError> {
        let port = serialport::new(path, BAUD_NEUTRAL)
            .timeout(Duration::from_millis(50))
            .open_native()
            .map_err(|e| NormalError::Port {
                port: path.to_string(),
                detail: format!("cannot open it: {e}"),
            })?;
        // Bytes left from an earlier opening are not a reply to us.
        let _ = port.clear(serialport::ClearBuffer::Input);
        Ok(PortLine {
            name: path.to_string(),
            port,
            baud: BAUD_NEUTRAL,
        })
    }
}

fn io_line_error(e: std::io::Error) -> LineError {
    match e.kind() {
        ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::UnexpectedEof => {
            LineError::Vanished(e.to_string())
        }
        // EIO: a pty whose master closed, a USB port that went away.
        _ if e.raw_os_error() == Some(5) => LineError::Vanished(e.to_string()),
        _ => LineError::Other(e.to_string()),
    }
}

fn serial_line_error(e: serialport::Error) -> LineError {
    match e.kind() {
        serialport::ErrorKind::NoDevice => LineError::Vanished(e.to_string()),
        serialport::ErrorKind::Io(kind) => io_line_error(std::io::Error::new(kind, e.description)),
        _ => LineError::Other(e.to_string()),
    }
}

impl SerialLine for PortLine {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_baud_rate(&mut self, baud: u32) -> Result<(), LineError> {
        // Checked here too, whoever calls: 1200 resets a Duo (REFERENCE §7).
        if baud == BAUD_FORBIDDEN {
            return Err(LineError::Other(format!(
                "{baud} baud is never set on a Duo's port (it triggers an Arduino-upload reset)"
            )));
        }
        self.port.set_baud_rate(baud).map_err(serial_line_error)?;
        self.baud = baud;
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LineError> {
        self.port.write_all(bytes).map_err(io_line_error)?;
        self.port.flush().map_err(io_line_error)
    }

    fn read(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, LineError> {
        self.port.set_timeout(wait).map_err(serial_line_error)?;
        match self.port.read(buf) {
            // A tty read of 0 bytes after poll said readable: hang-up.
            Ok(0) => Err(LineError::Vanished("end of file".into())),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == ErrorKind::TimedOut => Ok(0),
            Err(e) => Err(io_line_error(e)),
        }
    }
}

impl Drop for PortLine {
    fn drop(&mut self) {
        if self.baud != BAUD_NEUTRAL {
            let _ = self.port.set_baud_rate(BAUD_NEUTRAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(path: &str, pid: u16, serial: &str) -> UsbSerialPort {
        UsbSerialPort {
            path: path.into(),
            vid: 0x2b04,
            pid,
            serial: Some(serial.into()),
            manufacturer: Some("RedBear".into()),
            product: Some("Duo".into()),
        }
    }

    #[test]
    fn ports_are_matched_by_ids_and_serial() {
        let ports = [
            port("/dev/ttyACM0", 0xc058, "2A0021000747343232363230"),
            port("/dev/ttyACM1", 0xc058, "00000000050C"),
            UsbSerialPort {
                vid: 0x0403,
                pid: 0x6001,
                ..port("/dev/ttyUSB0", 0, "A50285BI")
            },
        ];
        let found = find_port(&ports, 0x2b04, 0xc058, Some("00000000050C")).unwrap();
        assert_eq!(found.unwrap().path, "/dev/ttyACM1");
        assert_eq!(
            find_port(&ports, 0x2b04, 0xc006, Some("00000000050C")).unwrap(),
            None
        );
        let normal: Vec<&str> = normal_mode_ports(&ports)
            .iter()
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(normal, ["/dev/ttyACM0", "/dev/ttyACM1"]);
    }

    #[test]
    fn two_boards_with_one_constant_serial_are_ambiguous() {
        let ports = [
            port("/dev/ttyACM0", 0xc058, "00000000050C"),
            port("/dev/ttyACM1", 0xc058, "00000000050C"),
        ];
        let err = find_port(&ports, 0x2b04, 0xc058, Some("00000000050C")).unwrap_err();
        assert!(err.to_string().contains("/dev/ttyACM0"), "{err}");
        assert!(err.to_string().contains("/dev/ttyACM1"), "{err}");
    }

    #[test]
    fn listing_the_machine_works_without_libudev() {
        // Whatever this machine has: the call must not fail or panic.
        let ports = list_usb_serial_ports().unwrap();
        assert!(ports.iter().all(|p| !p.path.is_empty()));
    }
}
