//! `duoprov keys …`

use std::path::{Path, PathBuf};

use clap::Subcommand;
use duo_provisioning::device::{BackupPlace, KeyToLoad, RESET_BACKUP_NAME};
use duo_provisioning::keys::{self, KeyFiles, KeyReport, SlotState};
use duo_provisioning::server_key;

use crate::device_cmd;
use crate::output::{Ctx, Verdict};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new device key (RSA-1024, e = 65537) as particle-cli style files:
    /// NAME.der (PKCS#1 DER, what the device stores), NAME.pem, NAME.pub.pem.
    New {
        /// Base name of the files; a trailing .der or .pem is dropped.
        #[arg(default_value = "device")]
        name: PathBuf,
        /// Overwrite existing NAME.der / NAME.pem / NAME.pub.pem.
        #[arg(long)]
        force: bool,
    },
    /// Tell what a key file or a raw key slot dump holds. Exits 0 only for a
    /// key a device can use: an RSA-1024 device key (private or public,
    /// exponent 65537) or an RSA-2048 server public key. An erased slot, the
    /// reset request, keys of other sizes or exponents (the firmware would
    /// misread them) and anything corrupt are reported and exit 1.
    Inspect {
        /// Private or public key (DER or PEM, PKCS#1/PKCS#8/SPKI), or a slot
        /// dump such as `dfu-util -a 1 -s 34:612 -U slot.bin`.
        file: PathBuf,
    },
    /// Build the server public key block (DCT offset 2082) that tells a device
    /// which cloud to trust and where to connect, and write it to the device
    /// (the whole 768-byte field, read back and verified) or, with --output,
    /// to a file.
    ///
    /// Without a port the block has RedBear's layout (server_public_key.der);
    /// with --port the port is stored at byte 450.
    Server {
        /// The server's public key: RSA-2048, exponent 65537 (DER or PEM, SPKI
        /// or PKCS#1; an existing block also works). Private keys and keys
        /// of other sizes are refused: the firmware would misread them.
        /// Default: the public Particle cloud's key.
        keyfile: Option<PathBuf>,
        /// Write the block to this file instead of the device's DCT (offset
        /// 2082 on alt 1).
        /// An existing OUT is refused unless --force; a symbolic link always.
        #[arg(long, short, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Replace an existing --output file.
        #[arg(long, requires = "output")]
        force: bool,
        /// Server domain name (at most 64 characters) or IPv4 address.
        /// Default: device.spark.io, the public cloud and the firmware's own
        /// fallback. The address is always written, so a block never keeps
        /// whatever address the device held before.
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// TCP port (1-65534), stored at byte 450. Default: none stored:
        /// bytes 450-451 are 0xFF, i.e. port 5683 — also on a device that
        /// had a port before (the whole 768-byte field is written).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Save the device's private key (DFU alt 1, offset 34) as NAME.der
    /// (PKCS#1 DER, mode 0600), NAME.pem and NAME.pub.pem. Refuses a slot
    /// with no key or a corrupt one, saying what to do.
    Save {
        /// Base name of the files; a trailing .der or .pem is dropped.
        #[arg(default_value = "device")]
        name: PathBuf,
        /// Overwrite existing NAME.der / NAME.pem / NAME.pub.pem.
        #[arg(long)]
        force: bool,
    },
    /// Write a private key into the device's key slot: RSA-1024 with
    /// exponent 65537 only (the firmware misreads any other). The current key is
    /// first saved as backup_rsa_NAME.der next to FILE (numbered
    /// backup_rsa_NAME.1.der, … if that exists); the new slot is read back
    /// and compared; on any failure the previous key is put back.
    Load {
        /// The key (DER or PEM, PKCS#1 or PKCS#8); a bare NAME means NAME.der.
        file: PathBuf,
    },
    /// Write the reset request (FF FF FF FF, then zeros) over the key slot,
    /// then leave DFU mode so the firmware generates a new key at boot.
    /// The key it replaces is first kept as a verified backup_rsa_NAME.der.
    Reset {
        /// Stay in DFU mode (the key is generated at the next boot).
        #[arg(long)]
        no_leave: bool,
        /// Name of the backup of the key being replaced: backup_rsa_NAME.der
        /// (numbered if it exists). A slot with no key (erased, or already the
        /// reset request) needs none.
        #[arg(long, value_name = "NAME", default_value = RESET_BACKUP_NAME)]
        backup: PathBuf,
    },
    /// Where the device connects: the server address, port and server key
    /// stored at DCT offset 2082.
    Address,
    /// Give the device a new key the cloud knows: generate a key on this
    /// host (doctor_ID.der/.pem/.pub.pem), back up the device's key (verified),
    /// load the new one (verified), send its public key to the cloud.
    /// Succeeds only after all four; a failure names the step and prints the
    /// command that finishes the job.
    Doctor(crate::lifecycle_cmd::DoctorArgs),
}

pub fn run(cmd: KeysCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { name, force } => new_key(ctx, &name, force),
        KeysCommand::Inspect { file } => inspect(ctx, &file),
        KeysCommand::Server {
            keyfile,
            output,
            force,
            host,
            port,
        } => server(
            ctx,
            keyfile.as_deref(),
            output.as_deref().map(|o| (o, force)),
            host.as_deref(),
            port,
        ),
        KeysCommand::Save { name, force } => save(ctx, &name, force),
        KeysCommand::Load { file } => load(ctx, &file),
        KeysCommand::Reset { no_leave, backup } => reset(ctx, !no_leave, &backup),
        KeysCommand::Address => address(ctx),
        KeysCommand::Doctor(args) => crate::lifecycle_cmd::doctor(ctx, args),
    }
}

fn new_key(ctx: &Ctx, name: &Path, force: bool) -> anyhow::Result<()> {
    let result = keys::new_key_files(name, force)?;
    ctx.emit(&result, || {
        describe_key_files(&result.files, result.bits, &result.fingerprint)
    });
    Ok(())
}

/// What `keys new` and `keys save` wrote.
fn describe_key_files(files: &KeyFiles, bits: usize, fingerprint: &str) -> String {
    format!(
        "wrote {} (private key, PKCS#1 DER, mode 0600: what the device stores)\n\
         wrote {} (private key, PEM, mode 0600)\n\
         wrote {} (public key, for the cloud)\n\
         RSA-{bits} key, sha256 fingerprint {fingerprint}",
        files.der.display(),
        files.pem.display(),
        files.public_pem.display(),
    )
}

fn inspect(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let result = keys::inspect_key_file(file)?;
    ctx.emit(&result, || describe(file, &result.report));
    if result.report.state.is_valid() {
        return Ok(());
    }
    // Not a key a device can use: the report, as a failure with a code.
    Err(Verdict {
        code: match result.report.state {
            SlotState::Erased | SlotState::ResetRequest => "SLOT_EMPTY",
            _ => "INVALID_KEY",
        },
        error: format!("{}: {}", file.display(), result.report.state),
    }
    .into())
}

fn describe(file: &Path, report: &KeyReport) -> String {
    let mut text = format!("{}: ", file.display());
    match &report.state {
        SlotState::Valid { bits } => {
            let kind = match report.kind {
                Some(keys::KeyKind::Public) => "public",
                _ => "private",
            };
            text += &format!("valid RSA-{bits} {kind} key");
            if let Some(format) = report.format {
                text += &format!(" ({format})");
            }
            if let Some(fp) = &report.fingerprint {
                text += &format!("\nsha256 fingerprint {fp}");
            }
        }
        state => text += &state.to_string(),
    }
    for note in &report.notes {
        text += &format!("\nnote: {note}");
    }
    text
}

fn server(
    ctx: &Ctx,
    keyfile: Option<&Path>,
    output: Option<(&Path, bool)>,
    host: Option<&str>,
    port: Option<u16>,
) -> anyhow::Result<()> {
    // Refused before any work.
    if let Some((output, force)) = output {
        keys::check_target(output, force)?;
    }
    let block = server_key::build_server_block(keyfile, host, port)?;
    let Some((output, force)) = output else {
        return write_server_key(ctx, &block.bytes);
    };
    let result = block.write_to(output, force)?;
    ctx.emit(&result, || {
        format!(
            "wrote {} ({} bytes)\n{}",
            result.output.display(),
            result.bytes,
            result.server_key
        )
    });
    Ok(())
}

fn save(ctx: &Ctx, name: &Path, force: bool) -> anyhow::Result<()> {
    let base = keys::key_base(name);
    let mut dev = device_cmd::open(ctx)?;
    let report = dev.save_key_with(&base, force, crate::progress::Watch::new(ctx).monitor())?;
    ctx.emit(&report, || {
        format!(
            "saved the key of {}:\n{}",
            dev.description(),
            describe_key_files(&report.files, report.bits, &report.fingerprint)
        )
    });
    Ok(())
}

fn load(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    // The file is checked before the device is touched.
    let key = KeyToLoad::from_file(file)?;
    let mut dev = device_cmd::open(ctx)?;
    let report = dev.load_key_with(&key, crate::progress::Watch::new(ctx).monitor())?;
    ctx.emit(&report, || {
        let mut text = format!(
            "previous key slot: {}; saved to {}\n\
             wrote {} into the key slot ({} bytes at DCT offset 34) and read it back: verified\n\
             RSA-{} key, sha256 fingerprint {}",
            report.previous,
            report.backup.display(),
            report.file.display(),
            report.bytes_written,
            report.bits,
            report.fingerprint
        );
        for note in &report.notes {
            text += &format!("\nnote: {note}");
        }
        text
    });
    Ok(())
}

fn reset(ctx: &Ctx, leave: bool, backup_name: &Path) -> anyhow::Result<()> {
    let mut dev = device_cmd::open(ctx)?;
    // The backup goes where --backup says (DIR/NAME; a bare NAME: here).
    let mut report = dev.reset_key_in(
        leave,
        &BackupPlace::from_path(backup_name),
        crate::progress::Watch::new(ctx).monitor(),
    )?;
    report.next_step = crate::remedy::cli_text(&report.remedy);
    ctx.emit(&report, || {
        let kept = match &report.backup {
            Some(path) => format!(
                "previous key slot: {}; saved to {}\n",
                report.previous,
                path.display()
            ),
            None => String::new(),
        };
        format!(
            "{kept}wrote the reset request over the key slot ({} bytes at DCT offset 34) and \
             read it back: verified\n{}",
            report.bytes_written, report.next_step
        )
    });
    Ok(())
}

fn address(ctx: &Ctx) -> anyhow::Result<()> {
    let mut dev = device_cmd::open(ctx)?;
    let summary = dev.read_server_address()?;
    ctx.emit(&summary, || summary.to_string());
    Ok(())
}

fn write_server_key(ctx: &Ctx, block: &[u8]) -> anyhow::Result<()> {
    let mut dev = device_cmd::open(ctx)?;
    let report = dev.write_server_key_block(block)?;
    ctx.emit(&report, || {
        format!(
            "wrote the server key block to {} ({} bytes at DCT offset {}) and read it back: \
             verified\n{}",
            report.device, report.bytes, report.offset, report.server_key
        )
    });
    Ok(())
}
