//! Simulators, so everything runs without hardware or internet:
//! - [`duo`]: the virtual Duo (its DFU bootloader, DCT semantics and boot rule);
//! - [`cloud`]: the local cloud (the provisioning API).

pub mod cloud;
pub mod duo;
