//! duo-provisioning: take a RedBear Duo (and Particle Photon / P1) through its
//! key-and-cloud lifecycle: back up, restore and reset the device key in the
//! DCT over USB DFU, and provision its public key with the Particle Cloud.
//!
//! Module map: see `docs/ARCHITECTURE.md`.

pub mod dct;
pub mod device;
pub mod dfu;
pub mod error;
pub mod keys;
pub mod normal;
pub mod platform;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod server_key;
pub mod time;
pub mod types;

pub use error::{ErrorCode, ErrorFacts, ErrorInfo, ErrorReport, Remedy};
pub use progress::{CancelToken, Cancelled, Monitor, Observer, Phase, ProgressEvent, Unit};
pub use types::{DeviceId, DeviceSelector, InvalidDeviceId};

#[cfg(feature = "cloud")]
pub mod cloud;

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(feature = "cloud")]
pub mod workflow;

/// The factory DCT image RedBear ships for the Duo (`fac-dct-r1.bin`, 32
/// KiB): [`platform::DUO_FACTORY_DCT_IMAGE`]; per board,
/// [`platform::Platform::factory_dct_image`].
pub const FACTORY_DCT_IMAGE: &[u8] = platform::DUO_FACTORY_DCT_IMAGE;
