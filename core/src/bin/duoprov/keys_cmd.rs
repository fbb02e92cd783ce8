//! `duoprov keys …`

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use duo_provisioning::keys::{self, KeyFiles, KeyReport, SlotState};
use duo_provisioning::server_key::{self, ServerKeySummary, DEFAULT_HOST};
use serde::Serialize;

use crate::output::{Ctx, Reported};

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
    /// valid RSA key; an erased slot, the reset request or anything corrupt
    /// is reported and exits 1.
    Inspect {
        /// Private or public key (DER or PEM, PKCS#1/PKCS#8/SPKI), or a slot
        /// dump such as `dfu-util -a 1 -s 34:612 -U slot.bin`.
        file: PathBuf,
    },
    /// Build the server public key block (DCT offset 2082) that tells a device
    /// which cloud to trust and where to connect.
    ///
    /// Without a port the block has RedBear's layout (server_public_key.der);
    /// with --port the port is stored at byte 450.
    Server {
        /// The server's public key (DER or PEM, SPKI or PKCS#1; an existing
        /// block also works). Default: the public Particle cloud's key.
        keyfile: Option<PathBuf>,
        /// File to write the block to (required until device writes land).
        #[arg(long, short, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Server domain name (at most 64 characters) or IPv4 address.
        /// Default: device.spark.io, the public cloud and the firmware's own
        /// fallback. The address is always written, so a block never keeps
        /// whatever address the device held before.
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// TCP port (1-65534), stored at byte 450. Default: none stored and
        /// the block ends after the address, so a device keeps its bytes
        /// 450-451 (0xFFFF, i.e. port 5683, unless a port was set before).
        #[arg(long)]
        port: Option<u16>,
    },
}

pub fn run(cmd: KeysCommand, ctx: &Ctx) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { name, force } => new_key(ctx, &name, force),
        KeysCommand::Inspect { file } => inspect(ctx, &file),
        KeysCommand::Server {
            keyfile,
            output,
            host,
            port,
        } => server(
            ctx,
            keyfile.as_deref(),
            output.as_deref(),
            host.as_deref(),
            port,
        ),
    }
}

#[derive(Serialize)]
struct NewKeyResult {
    files: KeyFiles,
    bits: usize,
    fingerprint: String,
}

fn new_key(ctx: &Ctx, name: &Path, force: bool) -> anyhow::Result<()> {
    let base = strip_key_suffix(name);
    let key = keys::generate()?;
    let files = keys::write_key_files(&base, &key, force)?;
    let result = NewKeyResult {
        files,
        bits: keys::key_bits(&key),
        fingerprint: keys::fingerprint(&key.to_public_key()),
    };
    ctx.emit(&result, || {
        format!(
            "wrote {} (private key, PKCS#1 DER, mode 0600: what the device stores)\n\
             wrote {} (private key, PEM, mode 0600)\n\
             wrote {} (public key, for the cloud)\n\
             RSA-{} key, sha256 fingerprint {}",
            result.files.der.display(),
            result.files.pem.display(),
            result.files.public_pem.display(),
            result.bits,
            result.fingerprint
        )
    });
    Ok(())
}

/// `keys new device.der` means base `device`, as particle-cli users expect.
fn strip_key_suffix(name: &Path) -> PathBuf {
    let text = name.to_string_lossy();
    for suffix in [".pub.pem", ".der", ".pem"] {
        if let Some(base) = text.strip_suffix(suffix) {
            if !base.is_empty() && !base.ends_with('/') {
                return PathBuf::from(base);
            }
        }
    }
    name.to_path_buf()
}

#[derive(Serialize)]
struct InspectResult<'a> {
    file: &'a Path,
    #[serde(flatten)]
    report: &'a KeyReport,
}

fn inspect(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let bytes = keys::read_key_file(file)?;
    let report = keys::inspect_key(&bytes);
    ctx.emit(
        &InspectResult {
            file,
            report: &report,
        },
        || describe(file, &report),
    );
    if report.state.is_valid() {
        Ok(())
    } else {
        Err(Reported.into())
    }
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
        state => text += &describe_slot(state),
    }
    for note in &report.notes {
        text += &format!("\nnote: {note}");
    }
    text
}

#[derive(Serialize)]
struct ServerResult<'a> {
    output: &'a Path,
    bytes: usize,
    server_key: ServerKeySummary,
}

fn server(
    ctx: &Ctx,
    keyfile: Option<&Path>,
    output: Option<&Path>,
    host: Option<&str>,
    port: Option<u16>,
) -> anyhow::Result<()> {
    let key = match keyfile {
        Some(path) => keys::load_public_key_file(path)?,
        None => server_key::default_server_key(),
    };
    let address = server_key::parse_address(host.unwrap_or(DEFAULT_HOST))?;
    let block = server_key::format_server_key(&key, Some(&address), port)?;
    let summary = server_key::parse_server_key(&block)
        .context("the block just built does not parse back (a bug; please report it)")?
        .summary();
    let Some(output) = output else {
        anyhow::bail!(
            "--output is required: writing the server key to a device over DFU is not \
             supported yet. Write the block to a file with --output FILE, then flash it with \
             `dfu-util -d 2b04:d058 -a 1 -s 2082 -D FILE`"
        );
    };
    keys::write_atomic(output, &block, false, true)?;
    let result = ServerResult {
        output,
        bytes: block.len(),
        server_key: summary,
    };
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

/// One line saying what a key slot holds and what the firmware will do with it.
pub fn describe_slot(state: &SlotState) -> String {
    match state {
        SlotState::Valid { bits } => format!("valid RSA-{bits} private key"),
        SlotState::Erased => "erased key slot (all 0xFF): no key. A factory device; the firmware \
                              generates a key at boot"
            .to_string(),
        SlotState::ResetRequest => "key slot reset request (FF FF FF FF then zeros): no key. The \
                                    firmware generates a new key at boot"
            .to_string(),
        SlotState::Corrupt { reason } => format!("corrupt: {reason}"),
    }
}
