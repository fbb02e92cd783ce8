//! `duoprov dct …`: read, explain and edit a DCT file, the factory image,
//! or (with neither `--file` nor `--factory`) the application DCT of the
//! board in DFU mode.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use duo_provisioning::dct::file::{edit_dct_file_as, DctSource};
use duo_provisioning::dct::DctFile;
use duo_provisioning::platform::{DctLayout, Platform};
use duo_provisioning::report::{DctReport, PublicKeySlot, ServerReport};

use crate::output::Ctx;

#[derive(Subcommand, Debug)]
pub enum DctCommand {
    /// Explain every field of a DCT: key slots classified, server address decoded.
    Show {
        #[command(flatten)]
        source: Source,
    },
    /// Print one field.
    Get {
        /// Field name, e.g. claim_code, device_id, server_public_key.
        field: String,
        #[command(flatten)]
        source: Source,
    },
    /// Change one field in place (the old file is kept as PATH.bak, or
    /// PATH.1.bak … if that exists). Typed text
    /// for typed fields, `hex:…` for any field.
    Set {
        /// The field's name, as `dct show` lists it (e.g. claim_code,
        /// server_public_key, device_private_key is refused).
        field: String,
        /// The new value: typed text for typed fields (a number, a string,
        /// an IPv4 address…) or `hex:…` bytes for any field.
        value: String,
        #[command(flatten)]
        source: Source,
    },
}

/// Where the DCT comes from: a file, the factory image, or the device.
#[derive(Args, Debug)]
pub struct Source {
    /// A DCT file: a 32 KiB DCT region image or an alt-1 dump (4290..16384
    /// bytes). Without --file or --factory, the device (--device) is read.
    #[arg(long, value_name = "PATH", conflicts_with = "factory")]
    file: Option<PathBuf>,
    /// Use the factory DCT image RedBear ships (embedded).
    #[arg(long)]
    factory: bool,
    /// Board family of the file: duo, photon or p1.
    #[arg(long, default_value = "duo", value_parser = crate::output::parse_platform)]
    platform: &'static Platform,
    /// The system firmware of the board the file comes from (0.2.4, 0.3.1,
    /// 0.3.3…): its DCT layout is used. Default: the bootloader version in
    /// the file's system flags (3/4: 0.2.x, 5: 0.3.0/0.3.1), else the
    /// 0.3.0/0.3.1 table; a 0.3.2+ file cannot be told and needs this. A
    /// board in DFU mode needs none: its bootloader tells.
    #[arg(long, value_name = "VERSION", value_parser = parse_layout)]
    firmware: Option<DctLayout>,
}

fn parse_layout(version: &str) -> Result<DctLayout, String> {
    duo_provisioning::dct::layout_for_firmware(version).map_err(|e| e.to_string())
}

impl Source {
    /// The file or the factory image; `None` for the device.
    fn file_source(&self) -> Option<DctSource> {
        match (&self.file, self.factory) {
            (Some(path), _) => Some(DctSource::File(path.clone())),
            (None, true) => Some(DctSource::Factory),
            (None, false) => None,
        }
    }

    fn load(&self, ctx: &Ctx) -> anyhow::Result<DctFile> {
        Ok(match self.file_source() {
            Some(source) => source.load_as(self.platform, self.firmware)?,
            None => {
                self.no_firmware_for_the_device()?;
                DctFile::App(crate::device_cmd::open(ctx)?.read_app_dct()?)
            }
        })
    }

    fn no_firmware_for_the_device(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.firmware.is_none(),
            "--firmware names the layout of a file; a board in DFU mode tells its own by its \
             bootloader: pass --file or --factory, or drop --firmware"
        );
        Ok(())
    }
}

pub fn run(cmd: DctCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        DctCommand::Show { source } => {
            let file = source.load(ctx)?;
            let report = DctReport::from_file(&file)?;
            ctx.emit(&report, || render(&report));
        }
        DctCommand::Get { field, source } => {
            let file = source.load(ctx)?;
            let value = file.get(&field)?;
            ctx.emit(
                &serde_json::json!({ "field": field, "value": value }),
                || value.to_string(),
            );
        }
        DctCommand::Set {
            field,
            value,
            source,
        } => match source.file_source() {
            None => {
                source.no_firmware_for_the_device()?;
                let change = crate::device_cmd::open(ctx)?.set_dct_field(&field, &value)?;
                ctx.emit(&change, || {
                    format!(
                        "{} = {} (was {}): wrote {} bytes at DCT offset {} and read them back: \
                         verified",
                        change.field, change.new, change.old, change.size, change.offset
                    )
                });
            }
            Some(DctSource::Factory) => {
                DctSource::Factory.load_as(source.platform, source.firmware)?;
                anyhow::bail!(
                    "`dct set` edits a file or the device: pass --file PATH, or drop --factory"
                );
            }
            Some(DctSource::File(path)) => {
                let edit =
                    edit_dct_file_as(source.platform, source.firmware, &path, &field, &value)?;
                ctx.emit(&edit, || {
                    format!(
                        "{field} = {}\nwrote {} (previous content in {})",
                        edit.value,
                        edit.file.display(),
                        edit.backup.display()
                    )
                });
            }
        },
    }
    Ok(())
}

/// Human text for `dct show`.
pub fn render(r: &DctReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "platform:            {}", r.platform);
    let kind = if r.kind == "image" {
        "DCT region image (two partitions)"
    } else {
        "application DCT (alt 1)"
    };
    let _ = writeln!(s, "file:                {kind}, {} bytes", r.size);
    let _ = writeln!(
        s,
        "layout:              firmware {} (from {})",
        r.layout,
        r.layout_source.describe()
    );
    if let Some(p) = r.current_partition {
        let _ = writeln!(s, "current partition:   {p}");
    }
    let _ = writeln!(s, "bootloader version:  {}", r.bootloader_version);
    let _ = writeln!(
        s,
        "device id:           {}",
        r.device_id.as_deref().unwrap_or("(not stored)")
    );
    let _ = writeln!(s, "device private key:  {}", r.device_private_key);
    let public = match &r.device_public_key {
        PublicKeySlot::Erased => "erased".to_string(),
        PublicKeySlot::Valid {
            bits,
            fingerprint,
            matches_private_key,
        } => format!(
            "RSA {bits} bits, sha256 {}{}",
            &fingerprint[..16.min(fingerprint.len())],
            match matches_private_key {
                Some(true) => ", matches the private key",
                Some(false) => ", does NOT match the private key",
                None => "",
            }
        ),
        PublicKeySlot::Corrupt { reason } => format!("corrupt: {reason}"),
    };
    let _ = writeln!(s, "device public key:   {public}");
    let server = match &r.server {
        ServerReport::Valid {
            key_bits,
            host,
            port,
            address_stored,
            ..
        } => {
            format!(
                "RSA {key_bits} bits, {host}:{port}{}",
                if *address_stored { "" } else { " (default)" }
            )
        }
        ServerReport::Erased => {
            "erased (firmware 0.3.x uses its built-in public-cloud key; 0.2.x cannot connect)"
                .to_string()
        }
        ServerReport::Corrupt { reason } => format!("corrupt: {reason}"),
    };
    let _ = writeln!(s, "server key:          {server}");
    for w in &r.warnings {
        let _ = writeln!(s, "warning:             {w}");
    }
    let _ = writeln!(s, "\nfields:");
    for f in &r.fields {
        let _ = writeln!(s, "  {:<24} @{:<5} {}", f.name, f.offset, f.value);
    }
    s
}
