//! A board in normal mode: its system firmware runs and it enumerates as
//! 2b04:c058 (Photon c006, P1 c008) with a CDC serial port (REFERENCE §7).
//! In this mode a board can tell who it is and can be moved into DFU or
//! listening mode without its buttons:
//!
//! - [`identity`]: the device id in a USB serial-number string;
//! - [`vendor`]: the USB vendor control requests (legacy 0x50 and Particle's
//!   service requests) over the same [`ControlTransport`](crate::dfu::transport::ControlTransport)
//!   seam as DFU;
//! - [`console`]: the listening-mode serial console (`i`, `v`, `s`, `m`,
//!   `c`, `x`) and the magic baud rates, over the [`console::SerialLine`] seam;
//! - `ports` (feature `serial`): serial ports found in `/sys/class/tty` and
//!   matched to USB devices by VID/PID/serial, opened as a [`console::SerialLine`];
//! - `usb` (feature `usb`): boards in normal mode on USB (rusb);
//! - `board` (features `usb` + `serial`): the workflows on the board a
//!   selector names — USB, or a virtual Duo (`sim:DIR`, `virtual_board`).

#[cfg(all(feature = "usb", feature = "serial"))]
pub mod board;
pub mod console;
mod error;
pub mod identity;
#[cfg(feature = "serial")]
pub mod ports;
#[cfg(feature = "usb")]
pub mod usb;
pub mod vendor;
#[cfg(feature = "sim")]
pub mod virtual_board;
pub mod workflow;

pub use error::NormalError;
