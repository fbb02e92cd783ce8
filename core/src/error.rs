//! What every library error has in common: a stable [`ErrorCode`], the facts
//! a program needs as fields ([`ErrorFacts`]), and, where there is one, the
//! next step as a front-end-neutral [`Remedy`].
//!
//! Messages (`Display`) are for people and name no front end: no command
//! line flag, no `duoprov` command, no binding's function. The next step is
//! worded neutrally in the message ("give an access token") and given as a
//! [`Remedy`] value, which each front end renders in its own terms (the CLI
//! as its commands and flags, a binding as its function names). Codes are
//! the contract: their string form never changes (see `docs/ERRORS.md`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The stable, machine-readable kind of a failure. The string form
/// ([`ErrorCode::as_str`], and serde) is SCREAMING_SNAKE and never changes;
/// new codes may be added.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // --- cloud ---
    /// 401: the access token is unknown, expired or revoked.
    InvalidToken,
    /// 403 "Permission Denied" (REFERENCE §4).
    PermissionDenied,
    /// The cloud does not know the device.
    DeviceNotFound,
    /// 429 after every allowed attempt.
    RateLimited,
    /// A 5xx reply.
    ServerError,
    /// A reply that is not what the API sends.
    BadResponse,
    /// The cloud refused the request with its own reason (another 4xx).
    CloudRejected,
    /// Could not connect, or the connection broke.
    Network,
    /// The server's TLS certificate is not trusted (nothing was sent).
    TlsUntrusted,
    /// No answer in time (cloud or device).
    Timeout,
    /// No access token anywhere.
    NoToken,
    /// The API URL does not parse, or is plain http:// to a remote host.
    InvalidUrl,
    // --- any operation ---
    /// The caller's cancellation token was triggered.
    Cancelled,
    /// Not 24 hexadecimal digits.
    InvalidDeviceId,
    /// A key (file, bytes or slot dump) that cannot be used.
    InvalidKey,
    /// A key whose DER does not fit its slot or block.
    KeyTooLarge,
    /// A DCT image, dump or field value that cannot be used.
    InvalidDct,
    /// A server key block or host/port that cannot be stored.
    InvalidServerKey,
    /// Any other value the caller gave that cannot be used.
    InvalidArgument,
    /// A file that would be overwritten without permission.
    AlreadyExists,
    /// Reading or writing a local file failed.
    Io,
    /// This build lacks the feature the request needs.
    Unsupported,
    // --- device ---
    /// No board in DFU mode (matching the selector).
    NoDevice,
    /// Several boards match; one must be chosen.
    MultipleDevices,
    /// The board is running firmware, not the DFU bootloader.
    NotInDfuMode,
    /// Another program has the board, or the OS refused access to it.
    DeviceBusy,
    /// The OS refused access to the board (permissions).
    AccessDenied,
    /// The board disconnected during the operation.
    DeviceGone,
    /// The board stalled a DFU request.
    DfuStall,
    /// The board reported a DFU error status (see the `status` fact).
    DfuStatus,
    /// The board answered outside the DFU protocol (state, length, descriptor).
    DfuProtocol,
    /// The range is read-only (or not readable) in the board's memory map.
    DfuReadOnly,
    /// The key slot holds no key (erased, or the reset request).
    SlotEmpty,
    /// The key slot holds bytes that are not a valid key.
    SlotCorrupt,
    /// What was read back differs from what was written.
    VerifyFailed,
    /// The backup of the current key could not be made (nothing was written).
    BackupFailed,
    /// The board is not a Duo, Photon or P1.
    UnknownBoard,
    /// A state directory (virtual Duo, local cloud) that is damaged.
    CorruptState,
    /// A failure inside the library (key generation, encoding, runtime).
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of `docs/ERRORS.md`.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidToken,
        ErrorCode::PermissionDenied,
        ErrorCode::DeviceNotFound,
        ErrorCode::RateLimited,
        ErrorCode::ServerError,
        ErrorCode::BadResponse,
        ErrorCode::CloudRejected,
        ErrorCode::Network,
        ErrorCode::TlsUntrusted,
        ErrorCode::Timeout,
        ErrorCode::NoToken,
        ErrorCode::InvalidUrl,
        ErrorCode::Cancelled,
        ErrorCode::InvalidDeviceId,
        ErrorCode::InvalidKey,
        ErrorCode::KeyTooLarge,
        ErrorCode::InvalidDct,
        ErrorCode::InvalidServerKey,
        ErrorCode::InvalidArgument,
        ErrorCode::AlreadyExists,
        ErrorCode::Io,
        ErrorCode::Unsupported,
        ErrorCode::NoDevice,
        ErrorCode::MultipleDevices,
        ErrorCode::NotInDfuMode,
        ErrorCode::DeviceBusy,
        ErrorCode::AccessDenied,
        ErrorCode::DeviceGone,
        ErrorCode::DfuStall,
        ErrorCode::DfuStatus,
        ErrorCode::DfuProtocol,
        ErrorCode::DfuReadOnly,
        ErrorCode::SlotEmpty,
        ErrorCode::SlotCorrupt,
        ErrorCode::VerifyFailed,
        ErrorCode::BackupFailed,
        ErrorCode::UnknownBoard,
        ErrorCode::CorruptState,
        ErrorCode::Internal,
    ];

    /// The stable string form, e.g. `"INVALID_TOKEN"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::DeviceNotFound => "DEVICE_NOT_FOUND",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ServerError => "SERVER_ERROR",
            ErrorCode::BadResponse => "BAD_RESPONSE",
            ErrorCode::CloudRejected => "CLOUD_REJECTED",
            ErrorCode::Network => "NETWORK",
            ErrorCode::TlsUntrusted => "TLS_UNTRUSTED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::NoToken => "NO_TOKEN",
            ErrorCode::InvalidUrl => "INVALID_URL",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::InvalidDeviceId => "INVALID_DEVICE_ID",
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::KeyTooLarge => "KEY_TOO_LARGE",
            ErrorCode::InvalidDct => "INVALID_DCT",
            ErrorCode::InvalidServerKey => "INVALID_SERVER_KEY",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::Io => "IO",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::NoDevice => "NO_DEVICE",
            ErrorCode::MultipleDevices => "MULTIPLE_DEVICES",
            ErrorCode::NotInDfuMode => "NOT_IN_DFU_MODE",
            ErrorCode::DeviceBusy => "DEVICE_BUSY",
            ErrorCode::AccessDenied => "ACCESS_DENIED",
            ErrorCode::DeviceGone => "DEVICE_GONE",
            ErrorCode::DfuStall => "DFU_STALL",
            ErrorCode::DfuStatus => "DFU_STATUS",
            ErrorCode::DfuProtocol => "DFU_PROTOCOL",
            ErrorCode::DfuReadOnly => "DFU_READ_ONLY",
            ErrorCode::SlotEmpty => "SLOT_EMPTY",
            ErrorCode::SlotCorrupt => "SLOT_CORRUPT",
            ErrorCode::VerifyFailed => "VERIFY_FAILED",
            ErrorCode::BackupFailed => "BACKUP_FAILED",
            ErrorCode::UnknownBoard => "UNKNOWN_BOARD",
            ErrorCode::CorruptState => "CORRUPT_STATE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the key backup file holds (so a restore knows how to write it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// The previous key's PKCS#1 DER, exactly as it stood in the slot: load
    /// it back as a key.
    Key,
    /// The slot held no valid key: all 1216 bytes as read, to be written back
    /// raw at DCT offset 34 (alt 1).
    RawSlot,
}

/// The next step after a failure (or a success that needs one), independent
/// of any front end. `Display` words it neutrally; the CLI renders it as its
/// commands and flags, each binding as its own function names.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Remedy {
    /// Put the board in DFU mode (for a virtual Duo: the one in this directory).
    EnterDfuMode { virtual_device: Option<PathBuf> },
    /// Leave DFU mode and let the firmware boot, then back to DFU mode and
    /// save the key again (the firmware makes the key at boot).
    BootThenSaveKey { virtual_device: Option<PathBuf> },
    /// Read the new key once the booting board is back in DFU mode.
    SaveKeyAfterBoot { virtual_device: Option<PathBuf> },
    /// Boot the firmware (it makes a new key when the slot asks for one).
    Boot { virtual_device: Option<PathBuf> },
    /// Check the board is plugged in and in DFU mode.
    CheckConnection,
    /// Replug the board and retry (it may have reset).
    Replug,
    /// Replug, put back in DFU mode and retry (stayed busy).
    ReplugIntoDfuMode,
    /// Reset the board into DFU mode and retry (it was manifesting).
    ResetIntoDfuMode,
    /// Several boards match: choose one.
    ChooseDevice { example: String },
    /// Grant this user access to the USB device (udev rule) or run as root.
    GrantUsbAccess,
    /// Another program has the device: close it and retry.
    CloseOtherProgram,
    /// The virtual Duo is in use: wait for the other program, then retry.
    WaitForOtherProgram,
    /// Restore the key kept in this backup.
    RestoreBackup {
        backup: PathBuf,
        backup_kind: BackupKind,
        virtual_device: Option<PathBuf>,
    },
    /// The slot holds a key the firmware keeps but cannot use: have the
    /// firmware make a new one, or restore a backup.
    ResetOrRestoreKey,
    /// Write a key through the key operations (backup, verify, restore), or
    /// reset the key; never as a raw DCT field.
    UseKeyOperations,
    /// Generate a new RSA-1024 device key.
    GenerateKey,
    /// Allow overwriting this file.
    AllowOverwrite { path: PathBuf },
    /// Give an access token, or log in with particle-cli.
    GiveAccessToken,
    /// Give a valid access token, or log in again with particle-cli.
    GiveValidAccessToken,
    /// Fix or remove particle-cli's config file, or give a token.
    FixParticleConfig,
    /// Check the network and the API URL.
    CheckNetwork,
    /// The API URL does not point at the Particle API.
    CheckApiUrl,
    /// Give the API's base URL (without `/v1`).
    GiveApiBaseUrl,
    /// Check the network, or allow a longer timeout.
    RaiseTimeout,
    /// Wait (this long, if the cloud said) and try again, or send fewer
    /// requests at once.
    RetryLater { after: Option<Duration> },
    /// A transient failure: try again later.
    TryAgainLater,
    /// Use https://, a loopback host, or explicitly allow plain http.
    UseHttps,
    /// Give the token separately, not inside the URL.
    TokenNotInUrl,
    /// Create a virtual Duo in this directory.
    CreateVirtualDevice { dir: PathBuf },
    /// Recreate the damaged virtual Duo.
    RecreateVirtualDevice,
    /// Listen on another address (port 0 picks a free one).
    ChooseListenAddress,
    /// Another local cloud uses this state directory.
    StopOtherCloud,
    /// The port is given separately from the host.
    GivePortSeparately,
    /// Build a server key block from the bare key.
    BuildServerBlock,
    /// Read the application DCT (alt 1) from the board.
    ReadAppDct { min_len: usize },
    /// Read the DCT region from internal flash.
    ReadDctRegion { addr: u32, len: usize },
    /// Decrypt the private key first.
    DecryptKey,
    /// Give the private key file, not the public one.
    GivePrivateKey,
    /// This build lacks a cargo feature.
    EnableFeature { feature: &'static str },
    /// Move some backups away.
    MoveBackupsAway,
    /// A cancelled operation left the board in a whole state: run it again
    /// to complete it.
    RepeatOperation,
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dfu = dfu_mode_action;
        let boot = boot_action;
        match self {
            Remedy::EnterDfuMode { virtual_device: None } => f.write_str(ENTER_DFU_TEXT),
            Remedy::EnterDfuMode {
                virtual_device: Some(dir),
            } => write!(f, "put the virtual Duo in {} in DFU mode", dir.display()),
            Remedy::BootThenSaveKey { virtual_device } => write!(
                f,
                "leave DFU mode ({}) and let the firmware boot, then put the board back in DFU \
                 mode ({}) and save the key again",
                boot(virtual_device),
                dfu(virtual_device)
            ),
            Remedy::SaveKeyAfterBoot { virtual_device } => write!(
                f,
                "the board is booting and generates a new key (LED blinking white); to read it, \
                 put the board back in DFU mode ({}) and save the key",
                dfu(virtual_device)
            ),
            Remedy::Boot { virtual_device } => write!(
                f,
                "the firmware generates a new key at its next boot ({})",
                boot(virtual_device)
            ),
            Remedy::CheckConnection => f.write_str(
                "check that the board is still plugged in and in DFU mode (LED blinking yellow)",
            ),
            Remedy::Replug => f.write_str("the board may have reset; replug it and retry"),
            Remedy::ReplugIntoDfuMode => {
                f.write_str("unplug it, put it back in DFU mode and retry")
            }
            Remedy::ResetIntoDfuMode => f.write_str("reset it into DFU mode and retry"),
            Remedy::ChooseDevice { example } => {
                write!(f, "choose one by its selector (e.g. {example})")
            }
            Remedy::GrantUsbAccess => f.write_str(
                "install a udev rule giving this user access to the board (then replug it), \
                 or run as root",
            ),
            Remedy::CloseOtherProgram => f.write_str("close the other program and retry"),
            Remedy::WaitForOtherProgram => f.write_str("Wait for it to finish, then retry"),
            Remedy::RestoreBackup {
                backup,
                backup_kind,
                virtual_device,
            } => write!(
                f,
                "put the board back in DFU mode ({}) and restore {}",
                dfu(virtual_device),
                match backup_kind {
                    BackupKind::Key => format!("the key in {}", backup.display()),
                    BackupKind::RawSlot => format!(
                        "the raw slot in {} at DCT offset 34 (alt 1)",
                        backup.display()
                    ),
                }
            ),
            Remedy::ResetOrRestoreKey => f.write_str(
                "Have it generate a new key (reset the key), or restore a backup of the key",
            ),
            Remedy::UseKeyOperations => f.write_str(
                "load a key with the key operation (it keeps a backup, verifies, and restores on \
                 failure) or reset the key to have the firmware make a new one",
            ),
            Remedy::GenerateKey => f.write_str("generate a new RSA-1024 key"),
            Remedy::AllowOverwrite { path } => {
                write!(f, "allow overwriting {} explicitly", path.display())
            }
            Remedy::GiveAccessToken => f.write_str(
                "give an access token, set PARTICLE_ACCESS_TOKEN, or log in with `particle login`",
            ),
            Remedy::GiveValidAccessToken => f.write_str(
                "give a valid one or set PARTICLE_ACCESS_TOKEN, or log in again with `particle login`",
            ),
            Remedy::FixParticleConfig => {
                f.write_str("fix or remove the file, or give an access token")
            }
            Remedy::CheckNetwork => f.write_str("check the network and the API URL"),
            Remedy::CheckApiUrl => f.write_str("check the API URL points at the Particle API"),
            Remedy::GiveApiBaseUrl => f.write_str(
                "give the API's base URL (e.g. https://api.particle.io, without /v1) as the API \
                 URL or in PARTICLE_API_URL",
            ),
            Remedy::RaiseTimeout => f.write_str("check the network or allow a longer timeout"),
            Remedy::RetryLater { .. } => {
                f.write_str("wait and try again, or send fewer requests at once")
            }
            Remedy::TryAgainLater => f.write_str("nothing was provisioned, try again later"),
            Remedy::UseHttps => f.write_str(
                "use https://, a loopback host, or explicitly allow plain http if you really mean it",
            ),
            Remedy::TokenNotInUrl => f.write_str("give the access token separately"),
            Remedy::CreateVirtualDevice { dir } => {
                write!(f, "Create a virtual Duo in {}", dir.display())
            }
            Remedy::RecreateVirtualDevice => f.write_str("Recreate the virtual device"),
            Remedy::ChooseListenAddress => {
                f.write_str("pick another address (port 0 picks a free one)")
            }
            Remedy::StopOtherCloud => {
                f.write_str("stop it or pick another state directory")
            }
            Remedy::GivePortSeparately => f.write_str("the port is given separately"),
            Remedy::BuildServerBlock => {
                f.write_str("to build a block from a bare key, use the server key block builder")
            }
            Remedy::ReadAppDct { min_len } => {
                write!(f, "read it with `dfu-util -a 1 -s 0:{min_len} -U FILE`")
            }
            Remedy::ReadDctRegion { addr, len } => write!(
                f,
                "read the region from internal flash at 0x{addr:08x} (`dfu-util -a 0 -s 0x{addr:08x}:{len} -U FILE`)"
            ),
            Remedy::DecryptKey => f.write_str(
                "write an unencrypted copy first, e.g. `openssl rsa -in KEY -out plain.pem`",
            ),
            Remedy::GivePrivateKey => f.write_str("pass NAME.der or NAME.pem, not NAME.pub.pem"),
            Remedy::EnableFeature { feature } => {
                write!(f, "use a build with the cargo feature `{feature}`")
            }
            Remedy::MoveBackupsAway => f.write_str("move some away"),
            Remedy::RepeatOperation => f.write_str(
                "nothing is left half done: repeat the operation to complete it",
            ),
        }
    }
}

/// How to put a Gen 2 board into DFU mode, as a parenthetical; for a
/// virtual Duo, its directory.
fn dfu_mode_action(virtual_device: &Option<PathBuf>) -> String {
    match virtual_device {
        Some(dir) => format!("switch the virtual Duo in {} to DFU mode", dir.display()),
        None => HOLD_SETUP_TEXT.to_string(),
    }
}

/// How to reset a board into its firmware, as a parenthetical.
fn boot_action(virtual_device: &Option<PathBuf>) -> String {
    match virtual_device {
        Some(dir) => format!("boot the virtual Duo in {}", dir.display()),
        None => "tap RESET".to_string(),
    }
}

/// The button sequence that enters DFU mode on a Gen 2 board.
pub const HOLD_SETUP_TEXT: &str = crate::platform::GEN2_DFU_BUTTONS;

/// How to put a Gen 2 board into DFU mode (the yellow-blinking bootloader).
pub const ENTER_DFU_TEXT: &str =
    "put the Duo in DFU mode: hold SETUP, tap RESET, release SETUP when the LED blinks yellow";

/// The facts of a failure a program may act on; `None` where they do not
/// apply. Serialises without the absent ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ErrorFacts {
    /// The DFU step that failed (e.g. "writing block 1 of 1 at alt 1 offset 34").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The DFU status the board reported (e.g. "errWRITE").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The DFU state the board was in (e.g. "dfuERROR").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The backup of the device key made before the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// The device the failure is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// How long the cloud asked to wait, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    /// The HTTP status of the cloud's reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The local file the failure is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// After a failed key load: what the restore did
    /// (`unchanged`, `restored`, `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<&'static str>,
    /// After a cancelled key load or reset: which content the key slot
    /// holds, whole (`old`: as before; `new`: the key or reset request
    /// being written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<&'static str>,
}

impl ErrorFacts {
    /// `self`, with every fact `other` has and `self` lacks.
    pub fn or(mut self, other: ErrorFacts) -> ErrorFacts {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f; } )* };
        }
        fill!(
            step,
            status,
            state,
            backup,
            device_id,
            retry_after,
            http_status,
            path,
            restore,
            slot
        );
        self
    }
}

/// What every error type of this library answers.
pub trait ErrorInfo: std::error::Error + Send + Sync + 'static {
    /// The stable code. A wrapper (a failure after a backup, a failed load)
    /// answers its cause's code and keeps its own facts in [`Self::facts`].
    fn code(&self) -> ErrorCode;

    /// The facts a program may act on.
    fn facts(&self) -> ErrorFacts {
        ErrorFacts::default()
    }

    /// The next step, if there is one (the outermost, for a wrapper).
    fn remedy(&self) -> Option<Remedy> {
        self.remedies().into_iter().next()
    }

    /// Every next step the message words, outermost first (a wrapper's own
    /// and its cause's). A front end that renders remedies in its own terms
    /// replaces each one's neutral text (`Remedy`'s `Display`) in the message.
    fn remedies(&self) -> Vec<Remedy> {
        Vec::new()
    }

    /// Code, message, remedy and facts in one serialisable value: what the
    /// CLI prints with `--json` and a binding turns into its exception.
    fn report(&self) -> ErrorReport {
        ErrorReport {
            code: self.code(),
            message: self.to_string(),
            remedy: self.remedy(),
            facts: self.facts(),
        }
    }
}

/// A failure as data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    #[serde(flatten)]
    pub facts: ErrorFacts,
}

/// The library error behind `error` (itself, or the first of its `source()`
/// chain that is one of this crate's error types).
pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn ErrorInfo> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(info) = as_info(e) {
            return Some(info);
        }
        next = e.source();
    }
    None
}

fn as_info<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn ErrorInfo> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $( if let Some(x) = e.downcast_ref::<$t>() { return Some(x); } )*
        };
    }
    try_types!(
        crate::device::DeviceError,
        crate::dfu::DfuError,
        crate::dfu::TransportError,
        crate::keys::KeyError,
        crate::dct::DctError,
        crate::dct::file::DctFileError,
        crate::server_key::ServerKeyError,
        crate::types::InvalidDeviceId,
        crate::platform::board::BoardError,
        crate::normal::NormalError,
    );
    #[cfg(feature = "cloud")]
    try_types!(
        crate::cloud::CloudError,
        crate::cloud::batch::BatchError,
        crate::cloud::report::ReportFileError,
        crate::cloud::report::LoadBatchError
    );
    #[cfg(feature = "sim")]
    try_types!(
        crate::sim::duo::SimError,
        crate::sim::duo::setup::SetupError,
        crate::sim::cloud::LocalCloudError,
        crate::sim::cloud::SeedError,
        crate::sim::cloud::AccountSpecError
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_stable_screaming_snake_strings() {
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            assert_eq!(serde_json::to_value(code).unwrap(), s);
            let back: ErrorCode = serde_json::from_value(s.into()).unwrap();
            assert_eq!(back, *code);
        }
        assert_eq!(ErrorCode::InvalidToken.as_str(), "INVALID_TOKEN");
        assert_eq!(ErrorCode::DfuReadOnly.as_str(), "DFU_READ_ONLY");
        assert_eq!(ErrorCode::Io.as_str(), "IO");
    }

    #[test]
    fn every_code_is_in_the_errors_document() {
        let doc = include_str!("../../docs/ERRORS.md");
        for code in ErrorCode::ALL {
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "{code} missing"
            );
        }
    }
}
