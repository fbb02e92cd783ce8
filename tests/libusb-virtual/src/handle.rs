//! A `libusb_device_handle`: what an open device does, in safe Rust.
//!
//! Sharing between processes: claiming interface 0 opens the
//! [`VirtualDuo`] and keeps it (its `flock`) until the interface is released
//! or the handle closed, exactly like a claimed USB interface — a second
//! program claiming it gets `LIBUSB_ERROR_BUSY`, and once the tool exits
//! `duoprov sim boot DIR` can take the device. A control transfer on a handle
//! that has not claimed the interface (dfu-util reading strings while
//! listing) opens the device for that one transfer; if another program holds
//! it, standard GET_DESCRIPTOR requests are still answered from the
//! descriptors (a real device answers those whoever claimed the interface)
//! but are not counted in the device's stats, and anything else is BUSY.
//!
//! Not modelled: the kernel's own requests (SET_CONFIGURATION at
//! enumeration, SET_INTERFACE 0 when an interface in a non-zero alt is
//! released, re-applying the configuration after a port reset), so the
//! device's control-transfer count is exactly what the host program sent.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use duo_provisioning::dfu::transport::{Setup, TransportError};
use duo_provisioning::sim::duo::{SimError, VirtualDuo};

use crate::abi::*;
use crate::devices::Device;

/// An open device.
#[derive(Debug)]
pub struct Handle {
    pub device: Arc<Device>,
    claimed: Mutex<Option<VirtualDuo>>,
}

// C programs may share handles and devices between threads (libusb allows
// it): both types must be Send + Sync, the claimed device behind a Mutex.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Handle>();
    send_sync::<Device>();
};

/// What a failed libusb call returns.
pub type Code = std::ffi::c_int;

/// The wire error as libusb reports it.
pub fn transport_code(e: &TransportError) -> Code {
    match e {
        TransportError::Stall => LIBUSB_ERROR_PIPE,
        TransportError::NoDevice => LIBUSB_ERROR_NO_DEVICE,
        TransportError::Timeout => LIBUSB_ERROR_TIMEOUT,
        TransportError::Busy => LIBUSB_ERROR_BUSY,
        TransportError::Access => LIBUSB_ERROR_ACCESS,
        TransportError::Other(message) => {
            crate::debug(format_args!("transfer failed: {message}"));
            LIBUSB_ERROR_IO
        }
    }
}

/// Failing to take the device, as libusb reports the matching OS error.
pub fn sim_code(e: &SimError) -> Code {
    crate::debug(format_args!("opening the virtual device: {e}"));
    match e {
        SimError::Busy { .. } => LIBUSB_ERROR_BUSY,
        SimError::NotAVirtualDevice { .. }
        | SimError::NotInDfuMode { .. }
        | SimError::Disconnected { .. } => LIBUSB_ERROR_NO_DEVICE,
        _ => LIBUSB_ERROR_IO,
    }
}

impl Handle {
    /// `libusb_open`: fails with NO_DEVICE if the board has left the DFU bus
    /// since it was listed.
    pub fn open(device: Arc<Device>) -> Result<Handle, Code> {
        if !device.present() {
            return Err(LIBUSB_ERROR_NO_DEVICE);
        }
        Ok(Handle {
            device,
            claimed: Mutex::new(None),
        })
    }

    fn state(&self) -> MutexGuard<'_, Option<VirtualDuo>> {
        // A panic while holding the lock left the Option intact.
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `op` on the claimed device, or on the device opened for this call.
    fn with_device<T>(
        &self,
        op: impl FnOnce(&mut VirtualDuo) -> Result<T, TransportError>,
    ) -> Result<T, Code> {
        let mut state = self.state();
        if let Some(duo) = state.as_mut() {
            return op(duo).map_err(|e| transport_code(&e));
        }
        drop(state);
        // Not waiting for a holder: a busy device still answers descriptor
        // requests (see `control`).
        let mut duo = VirtualDuo::try_open(&self.device.dir).map_err(|e| sim_code(&e))?;
        // This handle is to the board in the mode it was listed in (the
        // bootloader, or the firmware in normal mode); a board that changed
        // mode since is another USB device now.
        if duo.mode() != self.device.mode {
            return Err(transport_code(&TransportError::NoDevice));
        }
        op(&mut duo).map_err(|e| transport_code(&e))
    }

    /// `libusb_claim_interface`. Claiming twice through one handle succeeds.
    pub fn claim(&self, interface: i32) -> Result<(), Code> {
        if interface != 0 {
            return Err(LIBUSB_ERROR_NOT_FOUND);
        }
        let mut state = self.state();
        if state.is_none() {
            let duo = VirtualDuo::open(&self.device.dir).map_err(|e| sim_code(&e))?;
            if duo.mode() != self.device.mode || !duo.connected() {
                return Err(LIBUSB_ERROR_NO_DEVICE);
            }
            *state = Some(duo);
        }
        Ok(())
    }

    /// `libusb_release_interface`: gives the device back to other programs.
    pub fn release(&self, interface: i32) -> Result<(), Code> {
        let mut state = self.state();
        if interface != 0 || state.is_none() {
            return Err(LIBUSB_ERROR_NOT_FOUND);
        }
        *state = None;
        Ok(())
    }

    /// `libusb_set_interface_alt_setting`: only on a claimed interface.
    pub fn set_alt_setting(&self, interface: i32, alt: i32) -> Result<(), Code> {
        let (Ok(interface), Ok(alt)) = (u8::try_from(interface), u8::try_from(alt)) else {
            return Err(LIBUSB_ERROR_INVALID_PARAM);
        };
        let mut state = self.state();
        let duo = state.as_mut().ok_or(LIBUSB_ERROR_NOT_FOUND)?;
        duo.set_alt_setting(interface, alt)
            .map_err(|e| transport_code(&e))
    }

    /// `libusb_control_transfer` with no timeout.
    pub fn control(&self, setup: Setup, data: &mut [u8]) -> Result<usize, Code> {
        self.control_within(setup, data, None)
    }

    /// `libusb_control_transfer`: `data` is the whole data stage buffer
    /// (wLength bytes); `timeout` is the caller's (an operation the device
    /// runs inside the transfer longer than it gives LIBUSB_ERROR_TIMEOUT,
    /// REFERENCE §1). Returns the bytes transferred.
    pub fn control_within(
        &self,
        setup: Setup,
        data: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, Code> {
        let is_in = setup.request_type & 0x80 != 0;
        let result = self.with_device(|duo| {
            duo.set_transfer_timeout(timeout);
            if is_in {
                duo.control_in(setup, data)
            } else {
                duo.control_out(setup, data)
            }
        });
        match result {
            Err(LIBUSB_ERROR_BUSY) if is_in => match self.descriptor_without_device(&setup) {
                Some(reply) => {
                    let n = reply.len().min(data.len());
                    data[..n].copy_from_slice(&reply[..n]);
                    Ok(n)
                }
                None => Err(LIBUSB_ERROR_BUSY),
            },
            other => other,
        }
    }

    /// A standard GET_DESCRIPTOR answered from the platform's descriptors.
    fn descriptor_without_device(&self, setup: &Setup) -> Option<Vec<u8>> {
        if setup.request_type != 0x80 || setup.request != LIBUSB_REQUEST_GET_DESCRIPTOR {
            return None;
        }
        let device = &self.device;
        let [index, kind] = setup.value.to_le_bytes();
        let mut reply = match kind {
            LIBUSB_DT_DEVICE => device.device_descriptor().to_vec(),
            LIBUSB_DT_CONFIG if index == 0 => device.config_descriptor(),
            LIBUSB_DT_STRING => device.string_descriptor(index)?,
            _ => return None,
        };
        reply.truncate(usize::from(setup.length));
        Some(reply)
    }

    /// `libusb_get_string_descriptor_ascii`, as libusb does it: read the
    /// first language id (string 0), read the string in that language,
    /// replace every non-ASCII unit with '?', NUL-terminate within `out`.
    pub fn string_ascii(&self, index: u8, out: &mut [u8]) -> Result<usize, Code> {
        if index == 0 || out.is_empty() {
            return Err(LIBUSB_ERROR_INVALID_PARAM);
        }
        let mut buf = [0u8; 255];
        let get = |value: u16, lang: u16, buf: &mut [u8]| {
            let setup = Setup {
                request_type: 0x80,
                request: LIBUSB_REQUEST_GET_DESCRIPTOR,
                value,
                index: lang,
                length: buf.len() as u16,
            };
            self.control(setup, buf)
        };
        let string_value = |i: u8| (u16::from(LIBUSB_DT_STRING) << 8) | u16::from(i);
        let n = get(string_value(0), 0, &mut buf)?;
        if n < 4 {
            return Err(LIBUSB_ERROR_IO);
        }
        let lang = u16::from_le_bytes([buf[2], buf[3]]);
        let n = get(string_value(index), lang, &mut buf)?;
        if n < 2 || buf[1] != LIBUSB_DT_STRING || !(2..=n).contains(&usize::from(buf[0])) {
            return Err(LIBUSB_ERROR_IO);
        }
        let units = buf[2..usize::from(buf[0])].chunks_exact(2);
        let mut written = 0;
        for unit in units {
            if written + 1 >= out.len() {
                break;
            }
            out[written] = if unit[1] == 0 && unit[0] < 0x80 {
                unit[0]
            } else {
                b'?'
            };
            written += 1;
        }
        out[written] = 0;
        Ok(written)
    }

    /// `libusb_set_configuration` (-1 = unconfigured), sent to the device.
    pub fn set_configuration(&self, config: i32) -> Result<(), Code> {
        let value = match config {
            -1 => 0,
            0..=255 => config as u16,
            _ => return Err(LIBUSB_ERROR_INVALID_PARAM),
        };
        let setup = Setup {
            request_type: 0x00,
            request: LIBUSB_REQUEST_SET_CONFIGURATION,
            value,
            index: 0,
            length: 0,
        };
        self.control(setup, &mut []).map(|_| ())
    }

    /// `libusb_get_configuration`: GET_CONFIGURATION to the device (what
    /// libusb does where it cannot read the kernel's cached value).
    pub fn get_configuration(&self) -> Result<u8, Code> {
        let setup = Setup {
            request_type: 0x80,
            request: LIBUSB_REQUEST_GET_CONFIGURATION,
            value: 0,
            index: 0,
            length: 1,
        };
        let mut value = [0u8; 1];
        match self.control(setup, &mut value)? {
            1 => Ok(value[0]),
            _ => Err(LIBUSB_ERROR_IO),
        }
    }

    /// `libusb_reset_device`. A board that is no longer there (it left DFU
    /// and runs firmware) gives LIBUSB_ERROR_NOT_FOUND, as Linux libusb
    /// reports ENODEV from the reset ioctl.
    pub fn reset(&self) -> Result<(), Code> {
        match self.with_device(|duo| duo.usb_reset()) {
            Err(LIBUSB_ERROR_NO_DEVICE) => Err(LIBUSB_ERROR_NOT_FOUND),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_provisioning::platform::{Board, DUO};
    use duo_provisioning::sim::duo::{usb, CreateOptions};

    const R4_SERIAL: &str = "00000000010C";

    fn device(dir: &std::path::Path) -> Arc<Device> {
        Arc::new(Device {
            dir: dir.to_path_buf(),
            board: Board::factory(&DUO),
            device_id: VirtualDuo::probe(dir).unwrap().device_id,
            mode: duo_provisioning::sim::duo::Mode::Dfu,
            bus: 1,
            port: 1,
            address: 2,
        })
    }

    #[test]
    fn serial_string_reads_as_ascii_like_libusb() {
        let tmp = tempfile::tempdir().unwrap();
        drop(VirtualDuo::create(tmp.path(), CreateOptions::default()).unwrap());
        let handle = Handle::open(device(tmp.path())).unwrap();
        let mut out = [0xAAu8; 64];
        let n = handle.string_ascii(usb::STRING_SERIAL, &mut out).unwrap();
        assert_eq!(&out[..n], R4_SERIAL.as_bytes());
        assert_eq!(out[n], 0);
        // Truncated to the buffer, still NUL-terminated.
        let mut short = [0xAAu8; 5];
        assert_eq!(handle.string_ascii(usb::STRING_SERIAL, &mut short), Ok(4));
        assert_eq!(&short, b"0000\0");
        let stats = VirtualDuo::open(tmp.path()).unwrap().stats();
        assert_eq!(stats.control_transfers, 4, "language list + string, twice");
    }

    #[test]
    fn a_claimed_board_is_busy_for_a_second_program_but_still_lists() {
        let tmp = tempfile::tempdir().unwrap();
        drop(VirtualDuo::create(tmp.path(), CreateOptions::default()).unwrap());
        let first = Handle::open(device(tmp.path())).unwrap();
        let second = Handle::open(device(tmp.path())).unwrap();
        first.claim(0).unwrap();
        assert_eq!(second.claim(0), Err(LIBUSB_ERROR_BUSY));
        let mut out = [0u8; 64];
        let n = second.string_ascii(usb::STRING_SERIAL, &mut out).unwrap();
        assert_eq!(&out[..n], R4_SERIAL.as_bytes());
        let getstatus = Setup {
            request_type: 0xA1,
            request: 3,
            value: 0,
            index: 0,
            length: 6,
        };
        assert_eq!(
            second.control(getstatus, &mut [0u8; 6]),
            Err(LIBUSB_ERROR_BUSY)
        );
        assert_eq!(first.control(getstatus, &mut [0u8; 6]), Ok(6));
        first.release(0).unwrap();
        second.claim(0).unwrap();
    }

    #[test]
    fn reset_after_the_board_left_dfu_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        drop(VirtualDuo::create(tmp.path(), CreateOptions::default()).unwrap());
        let handle = Handle::open(device(tmp.path())).unwrap();
        handle.claim(0).unwrap();
        assert_eq!(handle.reset(), Ok(()));
        handle.release(0).unwrap();
        VirtualDuo::open(tmp.path()).unwrap().boot().unwrap();
        assert_eq!(handle.reset(), Err(LIBUSB_ERROR_NOT_FOUND));
        assert_eq!(handle.claim(0), Err(LIBUSB_ERROR_NO_DEVICE));
        assert!(Handle::open(device(tmp.path())).is_err());
    }
}
