//! A test-only libusb-1.0 stand-in: the part of the libusb C API that Debian's
//! `dfu-util` 0.11 and `rusb` 0.9 call (REFERENCE §6), answered by virtual
//! Duos instead of USB hardware, so both tools run unchanged against the
//! simulator.
//!
//! Use: build this crate (`make libusb-virtual`), then run the tool with
//! `LD_PRELOAD=target/libusb-virtual/libusb-1.0.so.0` (or with that
//! directory on `LD_LIBRARY_PATH`) and `DUO_VIRTUAL_DIRS=DIR[:DIR…]` naming
//! virtual Duo state directories (`duoprov sim create DIR`). Set
//! `DUO_VIRTUAL_DEBUG=1` to trace every call on stderr.
//!
//! - [`abi`]: libusb.h's structs and codes;
//! - [`devices`]: which boards are on the bus, and where;
//! - [`config`]: configuration descriptors as libusb's C structs;
//! - [`handle`]: an open device (claiming = taking the device's lock);
//! - `exports`: the `extern "C"` functions, the only unsafe code.

pub mod abi;
pub mod config;
pub mod devices;
mod exports;
pub mod handle;

use std::fmt;
use std::sync::OnceLock;

/// Environment variable that turns on the call trace.
pub const DEBUG_VAR: &str = "DUO_VIRTUAL_DEBUG";

/// One line on stderr when `DUO_VIRTUAL_DEBUG` is set.
pub(crate) fn debug(args: fmt::Arguments<'_>) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os(DEBUG_VAR).is_some_and(|v| !v.is_empty() && v != "0")) {
        eprintln!("libusb-virtual: {args}");
    }
}
