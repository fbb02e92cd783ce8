//! `duoprov list`, `duoprov dfu read|write`, `duoprov udev`, and the pieces
//! every device command shares: the `--device` selector, opening the board,
//! progress bars.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use duo_provisioning::device::{self, BackupPlace, Device};
use duo_provisioning::dfu::DeviceSelector;

use crate::output::Ctx;
use crate::progress::Watch;

/// Where `duoprov udev` tells the user to put the rule.
const UDEV_RULE_PATH: &str = "/etc/udev/rules.d/50-duoprov.rules";

#[derive(Subcommand, Debug)]
pub enum DfuCommand {
    /// Read memory of an alt setting to a file (dfu-util -a A -s X:N -U FILE).
    Read {
        /// Alt setting: 0 internal flash, 1 DCT (addresses are DCT offsets), 2 serial flash.
        #[arg(long)]
        alt: u8,
        /// Start address, decimal or 0x-hex.
        #[arg(long, value_parser = parse_number)]
        addr: u32,
        /// Number of bytes (1 or more), decimal or 0x-hex.
        #[arg(long, value_parser = parse_length)]
        len: u32,
        /// File to write (mode 0600: every alt can hold key material). An
        /// existing file is refused unless --force; a symbolic link always.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace an existing FILE.
        #[arg(long)]
        force: bool,
    },
    /// Write a file to memory of an alt setting, erasing the sectors it
    /// touches first (dfu-util -a A -s X[:leave] -D FILE).
    Write {
        /// DFU alt setting: 0 internal flash, 1 the application DCT, 2 the
        /// serial flash (Duo and P1).
        #[arg(long)]
        alt: u8,
        /// Start address, decimal or 0x-hex.
        #[arg(long, value_parser = parse_number)]
        addr: u32,
        /// The bytes to write: the whole file, from --addr on.
        file: PathBuf,
        /// Leave DFU mode afterwards: the board resets into its firmware.
        #[arg(long)]
        leave: bool,
        /// Do not keep the device key first when the write covers it (by
        /// default a valid key is saved to backup_rsa_dfu-write.der).
        #[arg(long)]
        no_key_backup: bool,
    },
}

/// `2082`, `0x822`, `0x0800_4000`.
fn parse_number(s: &str) -> Result<u32, String> {
    let clean: String = s.trim().chars().filter(|c| *c != '_').collect();
    let parsed = match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => clean.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not a 32-bit number (decimal, or hex written 0x…)"))
}

/// A length: a [`parse_number`] of at least 1 (a read of nothing is a
/// mistake, not an empty file).
fn parse_length(s: &str) -> Result<u32, String> {
    match parse_number(s)? {
        0 => Err("the length is 0: give the number of bytes to read (1 or more)".into()),
        n => Ok(n),
    }
}

/// The `--device` / `DUOPROV_DEVICE` value, parsed.
pub fn selector(ctx: &Ctx) -> anyhow::Result<Option<DeviceSelector>> {
    Ok(ctx.device.as_deref().map(str::parse).transpose()?)
}

/// Open the board the selector designates, in DFU mode (with
/// `--enter-dfu`, a board in normal mode is put there first).
pub fn open(ctx: &Ctx) -> anyhow::Result<Device> {
    let mut selector = selector(ctx)?;
    if ctx.enter_dfu {
        let clock = duo_provisioning::time::system();
        if let Some(report) = duo_provisioning::normal::board::ensure_dfu(
            selector.as_ref(),
            ctx.port.as_deref(),
            clock.as_ref(),
        )? {
            ctx.info(format!(
                "put the board in DFU mode by {:?} (recognised by its {}) at {}",
                report.route,
                report.matched_by.replace('_', " "),
                report.dfu_board
            ));
            selector = Some(report.dfu_board.parse()?);
        }
    }
    let device = Device::open(selector.as_ref(), duo_provisioning::time::system())?;
    ctx.info(format!("using {}", device.description()));
    Ok(device)
}

pub fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let selector = selector(ctx)?;
    let devices = device::list_devices(selector.as_ref(), duo_provisioning::time::system())?;
    if devices.is_empty() {
        ctx.info(format!(
            "no device in DFU mode found{}: {}",
            device::no_device_detail(selector.as_ref()),
            duo_provisioning::platform::DUO.enter_dfu_hint()
        ));
    }
    ctx.emit(&devices, || {
        devices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn run_dfu(cmd: DfuCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        DfuCommand::Read {
            alt,
            addr,
            len,
            output,
            force,
        } => read(ctx, alt, addr, len as usize, &output, force),
        DfuCommand::Write {
            alt,
            addr,
            file,
            leave,
            no_key_backup,
        } => write(ctx, alt, addr, &file, leave, !no_key_backup),
    }
}

fn read(
    ctx: &Ctx,
    alt: u8,
    addr: u32,
    len: usize,
    output: &Path,
    force: bool,
) -> anyhow::Result<()> {
    // Refuse before touching the device (the read checks again).
    duo_provisioning::keys::check_target(output, force)?;
    let mut dev = open(ctx)?;
    let watch = Watch::new(ctx);
    let report = dev.dfu_read_into(alt, addr, len, output, force, watch.monitor());
    drop(watch);
    let report = report?;
    ctx.emit(&report, || {
        format!(
            "read {} bytes from 0x{addr:08x} on alt {alt} into {}",
            report.len,
            output.display()
        )
    });
    Ok(())
}

fn write(
    ctx: &Ctx,
    alt: u8,
    addr: u32,
    file: &Path,
    leave: bool,
    key_backup: bool,
) -> anyhow::Result<()> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut dev = open(ctx)?;
    let watch = Watch::new(ctx);
    // Backups (backup_rsa_dfu-write.der, backup_dct_dfu-write.bin) go in
    // the working directory.
    let place = BackupPlace::dfu_write_in("");
    let report = dev.dfu_write_in(
        alt,
        addr,
        &data,
        leave,
        key_backup.then_some(&place),
        watch.monitor(),
    );
    drop(watch);
    let report = report?;
    ctx.emit(&report, || {
        let mut text = String::new();
        if let Some(backup) = &report.key_backup {
            text.push_str(&format!(
                "the write covers the device key: saved it first to {}\n",
                backup.display()
            ));
        }
        if let Some(dump) = &report.dct_dump {
            text.push_str(&format!(
                "the write reaches the system firmware: saved the whole DCT first to {}\n",
                dump.display()
            ));
        }
        if let Some(hazard) = &report.hazard {
            text.push_str(&format!("warning: {hazard}\n"));
        }
        text += &format!(
            "wrote {} bytes of {} at 0x{addr:08x} on alt {alt} ({} block{}",
            report.bytes,
            file.display(),
            report.blocks,
            if report.blocks == 1 { "" } else { "s" }
        );
        if !report.erased_sectors.is_empty() {
            text.push_str(&format!(
                ", {} sector{} erased first",
                report.erased_sectors.len(),
                if report.erased_sectors.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        text.push(')');
        if report.left_dfu {
            text.push_str("\nthe board left DFU mode and is running its firmware");
        }
        text
    });
    Ok(())
}

pub fn udev(ctx: &Ctx) {
    let rules = duo_provisioning::dfu::usb::udev_rule();
    ctx.emit(
        &serde_json::json!({ "path": UDEV_RULE_PATH, "rules": rules }),
        || {
            format!(
                "{rules}\n# To install: duoprov udev | sudo tee {UDEV_RULE_PATH} && \
                 sudo udevadm control --reload-rules && sudo udevadm trigger"
            )
        },
    );
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn addresses_are_decimal_or_hex() {
        assert_eq!(parse_number("2082"), Ok(2082));
        assert_eq!(parse_number("0x822"), Ok(2082));
        assert_eq!(parse_number("0x0800_4000"), Ok(0x0800_4000));
        assert!(parse_number("0x1_0000_0000").is_err());
        assert!(parse_number("-1").is_err());
        assert!(parse_number("12k").is_err());
    }
}
