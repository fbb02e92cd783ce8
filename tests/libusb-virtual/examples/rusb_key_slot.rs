//! The key slot through rusb and the core's USB transport — the path
//! `duoprov` takes — for checking the stand-in without the CLI:
//!
//! ```sh
//! DUO_VIRTUAL_DIRS=DIR LD_PRELOAD=target/libusb-virtual/libusb-1.0.so.0 \
//!   target/debug/examples/rusb_key_slot read OUT.der   # or: write IN.der
//! ```
//!
//! Prints the boards found, then the control transfers the engine counted.

use std::error::Error;
use std::path::PathBuf;

use duo_provisioning::dfu::{self, ErasePolicy};
use duo_provisioning::platform::{self, DUO};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (op, file) = match (args.next(), args.next()) {
        (Some(op), Some(file)) if op == "read" || op == "write" => (op, PathBuf::from(file)),
        _ => return Err("usage: rusb_key_slot read|write FILE".into()),
    };
    for d in dfu::usb::list_dfu_devices()? {
        println!("found {d}");
    }
    let (mut engine, info) = dfu::usb::open_dfu(None, duo_provisioning::time::system())?;
    println!("opened {}", info.selector());
    let slot = platform::field("device_private_key").ok_or("no key slot field")?;
    if op == "read" {
        let key = engine.read(
            DUO.dct_alt,
            slot.offset as u32,
            platform::PRIVATE_KEY_READ_LEN,
        )?;
        std::fs::write(&file, key)?;
    } else {
        let key = std::fs::read(&file)?;
        engine.write(
            DUO.dct_alt,
            slot.offset as u32,
            &key,
            ErasePolicy::TouchedSectors,
        )?;
    }
    println!("{:?}", engine.stats());
    Ok(())
}
