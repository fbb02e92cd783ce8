//! Workflows that span the device, the cloud and the protocol, as library
//! calls returning `Serialize` reports (the CLI only renders them):
//! [`doctor::keys_doctor`], [`verify::verify`] and, with the simulator,
//! [`demo::run_demo`].

#[cfg(feature = "sim")]
pub mod demo;
pub mod doctor;
pub mod verify;
