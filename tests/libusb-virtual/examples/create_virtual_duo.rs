//! Make a virtual Duo for trying the stand-in by hand:
//! `cargo run -p libusb-virtual --example create_virtual_duo -- DIR [TIME_FACTOR]`,
//! then `DUO_VIRTUAL_DIRS=DIR LD_PRELOAD=target/libusb-virtual/libusb-1.0.so.0 dfu-util -l`.

use std::path::PathBuf;

use duo_provisioning::sim::duo::{CreateOptions, VirtualDuo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: create_virtual_duo DIR [TIME_FACTOR]")?,
    );
    let time_factor = match args.next() {
        Some(f) => f.to_str().ok_or("TIME_FACTOR: not a number")?.parse()?,
        None => 1.0,
    };
    let duo = VirtualDuo::create(
        &dir,
        CreateOptions {
            time_factor,
            ..CreateOptions::default()
        },
    )?;
    println!("virtual Duo {} in {}", duo.device_id_hex(), dir.display());
    Ok(())
}
