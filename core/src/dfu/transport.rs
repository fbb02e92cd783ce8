//! The seam between DFU protocol code and the wire. The host engine
//! ([`crate::dfu`]) only ever talks to a [`ControlTransport`]; `rusb` is one
//! implementation (`dfu::usb`), the virtual Duo another (`sim::duo`).

use std::fmt;

/// A USB SETUP packet's fields (bmRequestType is implied by the call:
/// `control_in` / `control_out`, with type and recipient given here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// bmRequestType, including the direction bit (0x80 = device-to-host).
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

/// What can go wrong on the wire, independent of the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The device answered the request with a STALL (protocol error).
    #[error("the device stalled the request")]
    Stall,
    /// The device is gone (unplugged, reset, or left DFU mode).
    #[error("the device disconnected")]
    NoDevice,
    /// No answer within the transport's timeout.
    #[error("the device did not answer in time")]
    Timeout,
    /// Another program has the device or interface.
    #[error("the device is busy (another program has claimed it)")]
    Busy,
    /// The OS refused access.
    #[error("permission denied opening the device")]
    Access,
    /// Anything else, with the transport's own words.
    #[error("USB error: {0}")]
    Other(String),
}

/// Control transfers on interface 0 of a DFU device, plus the two
/// non-control operations DFU needs.
pub trait ControlTransport {
    /// Device-to-host control transfer; returns the bytes received (may be
    /// fewer than `buf.len()`).
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError>;
    /// Host-to-device control transfer; returns the bytes sent.
    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError>;
    /// SET_INTERFACE to `alt` on `interface`.
    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError>;
    /// USB port reset.
    fn reset(&mut self) -> Result<(), TransportError>;
    /// How long one control transfer may take before it fails with
    /// [`TransportError::Timeout`]. The engine sizes it from the board's
    /// longest operation, which the bootloader runs inside one GETSTATUS
    /// (REFERENCE §1). Transports without timeouts ignore it.
    fn set_timeout(&mut self, _timeout: std::time::Duration) {}
}

impl<T: ControlTransport + ?Sized> ControlTransport for Box<T> {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        (**self).control_in(setup, buf)
    }
    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        (**self).control_out(setup, data)
    }
    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        (**self).set_alt_setting(interface, alt)
    }
    fn reset(&mut self) -> Result<(), TransportError> {
        (**self).reset()
    }
    fn set_timeout(&mut self, timeout: std::time::Duration) {
        (**self).set_timeout(timeout)
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bmRequestType=0x{:02x} bRequest={} wValue={} wIndex={} wLength={}",
            self.request_type, self.request, self.value, self.index, self.length
        )
    }
}
