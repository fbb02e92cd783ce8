//! Device keys: RSA-1024 private keys in the DCT slot at offset 34, their
//! public halves, and particle-cli style key files (REFERENCE §2 "Key slot
//! states", §3 "Keys").
//!
//! - [`parse_private_key`]: DER or PEM, PKCS#1 or PKCS#8, or a raw key slot
//!   (DER followed by padding).
//! - [`parse_public_key`]: DER or PEM, SPKI or PKCS#1; a private key is also
//!   accepted and yields its public half, so a user can pass either file.
//! - [`classify_slot`]: erased / reset-request / valid / corrupt, and
//!   [`firmware_regenerates`], the firmware's own (coarser) rule.
//! - [`inspect_key`]: what `duoprov keys inspect` reports about any file.
//! - [`generate`], [`private_key_to_der`], [`public_key_to_pem`],
//!   [`public_key_to_der`], [`slot_bytes`], [`fingerprint`], [`keys_match`],
//!   [`write_key_files`] and the file helpers.
//!
//! Decisions where the firmware leaves room:
//! - Bytes after the DER SEQUENCE are ignored whatever they hold. The firmware
//!   parses the DER by its own length, and a real slot often carries leftovers:
//!   after a reset request and regeneration, bytes 612..1216 stay zero; a
//!   shorter key written over a longer one leaves the old key's tail.
//!   [`inspect_key`] mentions non-0xFF leftovers as a note.
//! - Public exponents other than 65537 are accepted (the firmware has no such
//!   rule) and reported as a note by [`inspect_key`]; [`generate`] always
//!   uses 65537.
//! - RSA keys of any size load; only [`slot_bytes`] refuses keys whose PKCS#1
//!   DER exceeds the 1216-byte slot. Keys larger than RSA-1024 are flagged by
//!   [`device_key_notes`], because the firmware reads only 612 bytes.

pub(crate) mod der;
mod files;
mod generate;
mod inspect;
mod parse;
#[cfg(test)]
mod tests;

use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use std::path::{Path, PathBuf};

use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::BigUint;
pub use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

pub use files::{
    check_key_base, check_target, inspect_key_file, key_base, load_private_key_file,
    load_public_key_file, new_key_files, read_key_file, replace_state_file, write_atomic,
    write_key_files, write_new_numbered, KeyFileReport, KeyFiles, NewKeyReport, OutputWriter,
    MAX_KEY_FILE_SIZE,
};
pub use generate::{generate, RANDOM_BASE_ROUNDS};
pub use inspect::{device_key_notes, inspect_key, KeyKind, KeyReport};
pub use parse::{classify_slot, firmware_regenerates, parse_private_key, parse_public_key};

/// Size of the device private key slot (DCT offset 34; the platform table's).
pub const PRIVATE_KEY_SLOT_SIZE: usize = crate::platform::DEVICE_PRIVATE_KEY_SIZE;
/// Size of the device public key slot (DCT offset 1250; the platform table's).
pub const PUBLIC_KEY_SLOT_SIZE: usize = crate::platform::DEVICE_PUBLIC_KEY_SIZE;
/// Device keys are RSA-1024 with e = 65537.
pub const DEVICE_KEY_BITS: usize = 1024;
/// The public exponent of every device key the firmware or particle-cli makes.
pub const DEVICE_KEY_EXPONENT: u32 = 65537;
/// Size of the server key the firmware expects (REFERENCE §5).
pub const SERVER_KEY_BITS: usize = 2048;

/// The reset request (`reset_device_private_key.bin`): `FF FF FF FF` then
/// 1212 zero bytes. Firmware sees a first byte of 0xFF and regenerates.
pub const RESET_REQUEST: &[u8] = include_bytes!("../../assets/reset_device_private_key.bin");

/// RedBear's generic RSA-1024 public key (PEM), sent by `provision` when no
/// key is given.
pub const GENERIC_PUBLIC_KEY_PEM: &str = include_str!("../../assets/generic_public_key.pem");

/// Everything that can go wrong reading, checking or writing a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes, too large for a key file or key slot dump (limit {limit} bytes)"
    )]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} already exists; {}", Remedy::AllowOverwrite { path: path.clone() })]
    Exists { path: PathBuf },
    /// An output path that is a symbolic link, a directory or a device.
    #[error("{path} is {what}; refusing to write there: give the path of a regular file")]
    NotAFile { path: PathBuf, what: &'static str },
    /// A key file named in an error: wraps any other variant. (Messages are
    /// self-contained; variants carry no `source()` chain to print twice.)
    #[error("{path}: {error}")]
    InFile { path: PathBuf, error: Box<KeyError> },
    #[error("{algorithm} key given; the device key must be RSA (1024-bit)")]
    NotRsa { algorithm: String },
    #[error(
        "{algorithm} key given; keys for Duo, Photon and P1 must be RSA \
         (the device key RSA-1024, the server key RSA-2048)"
    )]
    NotRsaPublic { algorithm: String },
    #[error(
        "the private key is encrypted (password-protected); {}",
        Remedy::DecryptKey
    )]
    Encrypted,
    #[error(
        "this is a public key ({format}), but a private key is needed: {}",
        Remedy::GivePrivateKey
    )]
    PublicNotPrivate { format: &'static str },
    #[error("{what}: it holds no key")]
    NoKey { what: &'static str },
    #[error("{label} in PEM: {hint}")]
    UnsupportedPem { label: String, hint: String },
    #[error("not a key: tried {tried}")]
    Unrecognised { tried: String },
    #[error(
        "truncated DER: the SEQUENCE header declares {needed} bytes but only {have} are present"
    )]
    Truncated { needed: usize, have: usize },
    #[error("{format} does not hold a usable RSA key: {detail}")]
    InvalidKey {
        format: &'static str,
        detail: String,
    },
    #[error(
        "the key's PKCS#1 DER is {der_len} bytes but the device private key slot holds at most \
         {limit} bytes; device keys are RSA-1024 (about 610 bytes): {}",
        Remedy::GenerateKey
    )]
    DoesNotFit { der_len: usize, limit: usize },
    /// A key the firmware would misread as a device key (REFERENCE §3, §5:
    /// it parses RSA-1024, e = 65537 at fixed offsets and refuses nothing).
    #[error(
        "RSA-{bits} key with public exponent {exponent}: a device key must be RSA-1024 with \
         exponent 65537 — the firmware parses the key slot at fixed offsets and would misread \
         this one; {}",
        Remedy::GenerateKey
    )]
    NotDeviceKey { bits: usize, exponent: String },
    /// A key the firmware would misread as the server key (REFERENCE §5:
    /// RSA-2048, the modulus taken at byte 33, e = 65537 assumed).
    #[error(
        "RSA-{bits} key with public exponent {exponent}: the server key must be an RSA-2048 \
         public key with exponent 65537 — the firmware reads the modulus at a fixed offset and \
         assumes that exponent"
    )]
    NotServerKey { bits: usize, exponent: String },
    /// A private key given where the server's public key belongs.
    #[error(
        "this is a private key, but the server key is the cloud's public key: give the \
         server's public key file (e.g. `openssl rsa -in server.pem -pubout -out \
         server.pub.pem`), never a device's private key"
    )]
    PrivateServerKey,
    /// A key base name with no file name (`/`, `.`, `..`, `dir/`).
    #[error(
        "{name:?} is not a key name: it names a directory, not files; give a base name such \
         as `device` or `keys/device` (NAME.der, NAME.pem and NAME.pub.pem are written)"
    )]
    BadKeyName { name: PathBuf },
    #[error("RSA key generation failed: {0}")]
    Generate(rsa::Error),
    #[error("cannot encode the key as {format}: {detail}")]
    Encode {
        format: &'static str,
        detail: String,
    },
}

impl ErrorInfo for KeyError {
    fn code(&self) -> ErrorCode {
        match self {
            KeyError::Read { .. } | KeyError::Write { .. } => ErrorCode::Io,
            KeyError::Exists { .. } => ErrorCode::AlreadyExists,
            KeyError::NotAFile { .. } | KeyError::BadKeyName { .. } => ErrorCode::InvalidArgument,
            KeyError::InFile { error, .. } => error.code(),
            KeyError::DoesNotFit { .. } => ErrorCode::KeyTooLarge,
            KeyError::NotDeviceKey { .. } => ErrorCode::InvalidKey,
            KeyError::NotServerKey { .. } | KeyError::PrivateServerKey => {
                ErrorCode::InvalidServerKey
            }
            KeyError::NoKey { .. } => ErrorCode::SlotEmpty,
            KeyError::Generate(_) | KeyError::Encode { .. } => ErrorCode::Internal,
            KeyError::FileTooLarge { .. }
            | KeyError::NotRsa { .. }
            | KeyError::NotRsaPublic { .. }
            | KeyError::Encrypted
            | KeyError::PublicNotPrivate { .. }
            | KeyError::UnsupportedPem { .. }
            | KeyError::Unrecognised { .. }
            | KeyError::Truncated { .. }
            | KeyError::InvalidKey { .. } => ErrorCode::InvalidKey,
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            KeyError::Read { path, .. }
            | KeyError::FileTooLarge { path, .. }
            | KeyError::Write { path, .. }
            | KeyError::Exists { path } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            },
            KeyError::InFile { path, error } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            }
            .or(error.facts()),
            _ => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            KeyError::Exists { path } => vec![Remedy::AllowOverwrite { path: path.clone() }],
            KeyError::Encrypted => vec![Remedy::DecryptKey],
            KeyError::PublicNotPrivate { .. } => vec![Remedy::GivePrivateKey],
            KeyError::DoesNotFit { .. } | KeyError::NotDeviceKey { .. } => {
                vec![Remedy::GenerateKey]
            }
            KeyError::InFile { error, .. } => error.remedies(),
            _ => vec![],
        }
    }
}

impl KeyError {
    /// Attach the file a key came from.
    pub fn in_file(self, path: impl Into<PathBuf>) -> KeyError {
        match self {
            // Already names its path.
            e @ (KeyError::Read { .. }
            | KeyError::FileTooLarge { .. }
            | KeyError::Write { .. }
            | KeyError::Exists { .. }
            | KeyError::InFile { .. }) => e,
            e => KeyError::InFile {
                path: path.into(),
                error: Box::new(e),
            },
        }
    }
}

/// What a private key slot holds, by the firmware's rule and ours.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum SlotState {
    /// All 0xFF: a factory device; firmware generates a key at boot.
    Erased,
    /// The reset request: firmware generates a key at boot.
    ResetRequest,
    /// A parseable RSA private key of `bits` bits.
    Valid { bits: usize },
    /// Anything else. Firmware keeps it (first byte != 0xFF) and the device
    /// fails the cloud handshake.
    Corrupt { reason: String },
}

impl SlotState {
    pub fn is_valid(&self) -> bool {
        matches!(self, SlotState::Valid { .. })
    }
}

/// One line saying what the slot holds and what the firmware does with it
/// at boot (REFERENCE §2: first byte 0xFF → a new key is generated).
impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotState::Valid { bits } => write!(f, "valid RSA-{bits} private key"),
            SlotState::Erased => f.write_str(
                "erased key slot (all 0xFF): no key. A factory device; the firmware generates a \
                 key at boot",
            ),
            SlotState::ResetRequest => f.write_str(
                "key slot reset request (FF FF FF FF then zeros): no key. The firmware generates \
                 a new key at boot",
            ),
            SlotState::Corrupt { reason } => write!(f, "corrupt: {reason}"),
        }
    }
}

/// PKCS#1 DER, what the firmware parses from the slot.
pub fn private_key_to_der(key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
    key.to_pkcs1_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|e| KeyError::Encode {
            format: "PKCS#1 DER",
            detail: e.to_string(),
        })
}

/// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), the "traditional" format
/// particle-cli's `NAME.pem` holds (`openssl rsa -traditional` prints the same).
pub fn private_key_to_pem(key: &RsaPrivateKey) -> Result<String, KeyError> {
    key.to_pkcs1_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| KeyError::Encode {
            format: "PKCS#1 PEM",
            detail: e.to_string(),
        })
}

/// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), what the cloud wants.
pub fn public_key_to_pem(key: &RsaPublicKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode {
            format: "SPKI PEM",
            detail: e.to_string(),
        })
}

/// DER SubjectPublicKeyInfo.
pub fn public_key_to_der(key: &RsaPublicKey) -> Result<Vec<u8>, KeyError> {
    key.to_public_key_der()
        .map(|doc| doc.into_vec())
        .map_err(|e| KeyError::Encode {
            format: "SPKI DER",
            detail: e.to_string(),
        })
}

/// The 1216-byte slot image: PKCS#1 DER padded with 0xFF. Errors if the DER
/// does not fit.
pub fn slot_bytes(key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
    let mut slot = private_key_to_der(key)?;
    if slot.len() > PRIVATE_KEY_SLOT_SIZE {
        return Err(KeyError::DoesNotFit {
            der_len: slot.len(),
            limit: PRIVATE_KEY_SLOT_SIZE,
        });
    }
    slot.resize(PRIVATE_KEY_SLOT_SIZE, 0xFF);
    Ok(slot)
}

/// Lower-case hex SHA-256 of the public key's SPKI DER.
pub fn fingerprint(key: &RsaPublicKey) -> String {
    // Encoding an RsaPublicKey that already exists cannot fail (its n and e
    // are positive integers); fall back to hashing n and e just in case.
    let der = public_key_to_der(key).unwrap_or_else(|_| {
        let mut raw = key.n().to_bytes_be();
        raw.extend(key.e().to_bytes_be());
        raw
    });
    hex::encode(Sha256::digest(der))
}

/// Whether `public` is the public half of `private` (same modulus and exponent).
pub fn keys_match(private: &RsaPrivateKey, public: &RsaPublicKey) -> bool {
    private.n() == public.n() && private.e() == public.e()
}

/// Refuse a key that is not RSA-1024 with e = 65537: the only device key the
/// firmware reads right (REFERENCE §3, §5). There is no override: a Duo,
/// Photon or P1 misreads any other.
pub fn check_device_key(key: &impl PublicKeyParts) -> Result<(), KeyError> {
    let bits = key_bits(key);
    if bits == DEVICE_KEY_BITS && *key.e() == BigUint::from(DEVICE_KEY_EXPONENT) {
        Ok(())
    } else {
        Err(KeyError::NotDeviceKey {
            bits,
            exponent: key.e().to_string(),
        })
    }
}

/// Refuse a server key that is not RSA-2048 with e = 65537 (REFERENCE §5).
pub fn check_server_key(key: &impl PublicKeyParts) -> Result<(), KeyError> {
    let bits = key_bits(key);
    if bits == SERVER_KEY_BITS && *key.e() == BigUint::from(DEVICE_KEY_EXPONENT) {
        Ok(())
    } else {
        Err(KeyError::NotServerKey {
            bits,
            exponent: key.e().to_string(),
        })
    }
}

/// Read a server public key file (DER or PEM, SPKI or PKCS#1), refusing a
/// private key (the server's public half belongs in the DCT; a device key
/// must never end up there) and any key [`check_server_key`] refuses.
pub fn load_server_key_file(path: &Path) -> Result<RsaPublicKey, KeyError> {
    let bytes = read_key_file(path)?;
    if parse_private_key(&bytes).is_ok() {
        return Err(KeyError::PrivateServerKey.in_file(path));
    }
    let key = parse_public_key(&bytes).map_err(|e| e.in_file(path))?;
    check_server_key(&key).map_err(|e| e.in_file(path))?;
    Ok(key)
}

/// Size of a key's modulus in bits.
pub fn key_bits(key: &impl PublicKeyParts) -> usize {
    // u64 -> usize: moduli are at most a few thousand bits.
    key.n().bits()
}
