//! The library's [`Remedy`] values worded as this CLI's commands and flags,
//! and library errors rendered with them: the library's messages name no
//! front end, the CLI's name `duoprov` commands.

use std::path::{Path, PathBuf};

use duo_provisioning::error::{self, BackupKind, ErrorCode, ErrorInfo, Remedy, HOLD_SETUP_TEXT};

/// `duoprov sim dfu DIR`, or the button sequence of a real board.
fn dfu_action(virtual_device: &Option<PathBuf>) -> String {
    match virtual_device {
        Some(dir) => format!("`duoprov sim dfu {}`", dir.display()),
        None => HOLD_SETUP_TEXT.to_string(),
    }
}

/// `duoprov sim boot DIR`, or the reset button.
fn boot_action(virtual_device: &Option<PathBuf>) -> String {
    match virtual_device {
        Some(dir) => format!("`duoprov sim boot {}`", dir.display()),
        None => "tap RESET".to_string(),
    }
}

fn restore_command(backup: &Path, kind: BackupKind) -> String {
    match kind {
        BackupKind::Key => format!("duoprov keys load {}", backup.display()),
        BackupKind::RawSlot => format!("duoprov dfu write --alt 1 --addr 34 {}", backup.display()),
    }
}

/// A remedy in this CLI's words.
pub fn cli_text(remedy: &Remedy) -> String {
    match remedy {
        Remedy::EnterDfuMode {
            virtual_device: virtual_device @ Some(_),
        } => dfu_action(virtual_device),
        Remedy::BootThenSaveKey { virtual_device } => format!(
            "leave DFU mode ({}) and let the firmware boot, then put the board back in DFU mode \
             ({}) and run `duoprov keys save` again",
            boot_action(virtual_device),
            dfu_action(virtual_device)
        ),
        Remedy::SaveKeyAfterBoot { virtual_device } => format!(
            "the board is booting and generates a new key (LED blinking white); to read it, put \
             the board back in DFU mode ({}) and run `duoprov keys save NAME`",
            dfu_action(virtual_device)
        ),
        Remedy::Boot { virtual_device } => format!(
            "the firmware generates a new key at its next boot ({})",
            boot_action(virtual_device)
        ),
        Remedy::ChooseDevice { example } => {
            format!("choose one with --device (e.g. --device {example})")
        }
        Remedy::GrantUsbAccess => "install the udev rule printed by `duoprov udev` (then replug \
                                   the board), or run as root"
            .into(),
        Remedy::RestoreBackup {
            backup,
            backup_kind,
            virtual_device,
        } => format!(
            "put the board back in DFU mode ({}) and run `{}`",
            dfu_action(virtual_device),
            restore_command(backup, *backup_kind)
        ),
        Remedy::ResetOrRestoreKey => "Have it generate a new key with `duoprov keys reset`, or \
                                      restore a backup with `duoprov keys load BACKUP`"
            .into(),
        Remedy::UseKeyOperations => "use `duoprov keys load FILE` to write a key (it keeps \
                                     backup_rsa_NAME.der, verifies, and restores on failure) or \
                                     `duoprov keys reset` to have the firmware make a new one"
            .into(),
        Remedy::GenerateKey => "make one with `duoprov keys new`".into(),
        Remedy::AllowOverwrite { .. } => "use --force to overwrite it".into(),
        Remedy::GiveAccessToken => {
            "pass --token, set PARTICLE_ACCESS_TOKEN, or log in with `particle login`".into()
        }
        Remedy::GiveValidAccessToken => "pass a valid one with --token or PARTICLE_ACCESS_TOKEN, \
                                         or log in again with `particle login`"
            .into(),
        Remedy::FixParticleConfig => "fix or remove the file, or pass --token".into(),
        Remedy::CheckNetwork => "check the network and --api-url".into(),
        Remedy::CheckApiUrl => "check --api-url points at the Particle API".into(),
        Remedy::GiveApiBaseUrl => "give the API's base URL (e.g. https://api.particle.io, \
                                   without /v1) with --api-url or PARTICLE_API_URL"
            .into(),
        Remedy::RaiseTimeout => "check the network or raise --timeout".into(),
        Remedy::RetryLater { .. } => "wait and try again, or lower --concurrency".into(),
        Remedy::UseHttps => {
            "use https://, a loopback host, or --insecure-http if you really mean it".into()
        }
        Remedy::TokenNotInUrl => "use --token".into(),
        Remedy::CreateVirtualDevice { dir } => {
            format!("Create one with `duoprov sim create {}`", dir.display())
        }
        Remedy::RecreateVirtualDevice => {
            "Recreate the virtual device with `duoprov sim create`".into()
        }
        Remedy::ChooseListenAddress => "pick another --addr (port 0 picks a free one)".into(),
        Remedy::StopOtherCloud => "stop it or pick another --state".into(),
        Remedy::GivePortSeparately => "the port goes in --port".into(),
        Remedy::BuildServerBlock => {
            "to build a block from a bare key use `duoprov keys server`".into()
        }
        Remedy::RepeatOperation => {
            "nothing is left half done: run the command again to complete it".into()
        }
        // The library's own words need no CLI translation.
        other => other.to_string(),
    }
}

/// The library error inside an `anyhow` chain, if any.
pub fn library_error(e: &anyhow::Error) -> Option<&dyn ErrorInfo> {
    e.chain().find_map(error::find)
}

/// The full message of `e` ([`crate::output::error_text`]) with every remedy of the library
/// errors in it worded as CLI commands and flags.
pub fn render(e: &anyhow::Error) -> String {
    let mut remedies: Vec<Remedy> = Vec::new();
    for info in e.chain().filter_map(error::find) {
        remedies.extend(info.remedies());
    }
    reword(&crate::output::error_text(e), &remedies)
}

/// A library error's message with its remedies worded as the CLI's.
pub fn render_info(e: &dyn ErrorInfo) -> String {
    reword(&e.to_string(), &e.remedies())
}

/// `message` with the neutral text of each remedy replaced by the CLI's.
pub fn reword(message: &str, remedies: &[Remedy]) -> String {
    let mut message = message.to_string();
    let mut done: Vec<&Remedy> = Vec::new();
    for r in remedies {
        if done.contains(&r) {
            continue;
        }
        done.push(r);
        let neutral = r.to_string();
        let cli = cli_text(r);
        if neutral != cli {
            message = message.replace(&neutral, &cli);
        }
    }
    message
}

/// The stable code of `e`: its library error's, else `IO` for a failed
/// file operation, else `INVALID_ARGUMENT` (the CLI's own refusals).
pub fn code(e: &anyhow::Error) -> ErrorCode {
    match library_error(e) {
        Some(info) => info.code(),
        None if e.chain().any(|c| c.is::<std::io::Error>()) => ErrorCode::Io,
        None => ErrorCode::InvalidArgument,
    }
}
