//! Host side of USB DFU 1.1 with ST's DfuSe extension (REFERENCE §1), written
//! against the [`transport::ControlTransport`] seam so the same code runs over
//! libusb and against the virtual Duo.
//!
//! - [`descriptor`]: device / configuration / string / DFU functional
//!   descriptors, read with standard GET_DESCRIPTOR requests;
//! - [`layout`]: DfuSe memory-layout strings → segments and sectors;
//! - [`protocol`]: request codes, states, status codes, the named [`Step`];
//! - [`Dfu`]: the engine (polling, get-to-idle, DfuSe commands) with
//!   `read` / `write` / `leave`;
//! - [`selector`]: the `--device` value;
//! - `usb` (feature `usb`): the rusb transport and device discovery.

pub mod descriptor;
mod engine;
mod error;
pub mod layout;
mod ops;
pub mod protocol;

pub mod transport;
#[cfg(feature = "usb")]
pub mod usb;

#[cfg(test)]
mod pointer_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use crate::types::DeviceSelector;
pub use descriptor::{DeviceInfo, FunctionalDescriptor};
pub use engine::{Dfu, DfuStats, DEFAULT_BUSY_LIMIT, MAX_BLOCKS_PER_RUN, MAX_POLL_SLEEP};
pub use error::{DfuError, ENTER_DFU_HINT};
pub use layout::{MemoryLayout, Perms, Sector, Segment};
pub use ops::{ErasePolicy, LeaveOutcome, WriteSummary};
pub use protocol::{DfuState, DfuStatus, Location, StatusReply, Step};
pub use transport::{ControlTransport, Setup, TransportError};
