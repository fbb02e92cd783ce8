//! Device keys: RSA-1024 private keys in the DCT slot at offset 34, their
//! public halves, and particle-cli style key files (REFERENCE §2 "Key slot
//! states", §3 "Keys").
//!
//! API surface (filled in by the foundation issue):
//! - [`parse_private_key`]: DER or PEM, PKCS#1 or PKCS#8, or a raw key slot
//!   (DER followed by 0xFF padding).
//! - [`parse_public_key`]: DER or PEM, SPKI or PKCS#1; a private key is also
//!   accepted and yields its public half.
//! - [`classify_slot`]: erased / reset-request / valid / corrupt.
//! - [`generate`], [`private_key_to_der`], [`public_key_to_pem`],
//!   [`public_key_to_der`], [`slot_bytes`], [`fingerprint`], [`keys_match`],
//!   [`write_key_files`].

use std::path::{Path, PathBuf};

pub use rsa::{RsaPrivateKey, RsaPublicKey};

/// Size of the device private key slot (DCT offset 34).
pub const PRIVATE_KEY_SLOT_SIZE: usize = 1216;
/// Size of the device public key slot (DCT offset 1250).
pub const PUBLIC_KEY_SLOT_SIZE: usize = 384;
/// Device keys are RSA-1024 with e = 65537.
pub const DEVICE_KEY_BITS: usize = 1024;

/// The reset request (`reset_device_private_key.bin`): `FF FF FF FF` then
/// 1212 zero bytes. Firmware sees a first byte of 0xFF and regenerates.
pub const RESET_REQUEST: &[u8] = include_bytes!("../../assets/reset_device_private_key.bin");

/// RedBear's generic RSA-1024 public key (PEM), sent by `provision` when no
/// key is given.
pub const GENERIC_PUBLIC_KEY_PEM: &str = include_str!("../../assets/generic_public_key.pem");

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("placeholder")]
    Todo,
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

pub fn classify_slot(_slot: &[u8]) -> SlotState {
    todo!()
}

pub fn parse_private_key(_bytes: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    todo!()
}

pub fn parse_public_key(_bytes: &[u8]) -> Result<RsaPublicKey, KeyError> {
    todo!()
}

pub fn generate() -> Result<RsaPrivateKey, KeyError> {
    todo!()
}

/// PKCS#1 DER, what the firmware parses from the slot.
pub fn private_key_to_der(_key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
    todo!()
}

/// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), what the cloud wants.
pub fn public_key_to_pem(_key: &RsaPublicKey) -> Result<String, KeyError> {
    todo!()
}

/// DER SubjectPublicKeyInfo.
pub fn public_key_to_der(_key: &RsaPublicKey) -> Result<Vec<u8>, KeyError> {
    todo!()
}

/// The 1216-byte slot image: PKCS#1 DER padded with 0xFF. Errors if the DER
/// does not fit.
pub fn slot_bytes(_key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
    todo!()
}

/// Lower-case hex SHA-256 of the public key's SPKI DER.
pub fn fingerprint(_key: &RsaPublicKey) -> String {
    todo!()
}

pub fn keys_match(_private: &RsaPrivateKey, _public: &RsaPublicKey) -> bool {
    todo!()
}

/// Paths written by [`write_key_files`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyFiles {
    pub der: PathBuf,
    pub pem: PathBuf,
    pub public_pem: PathBuf,
}

/// Write `BASE.der` (PKCS#1 DER, 0600), `BASE.pem` (0600), `BASE.pub.pem`.
/// Refuses to overwrite existing files unless `overwrite`.
pub fn write_key_files(
    _base: &Path,
    _key: &RsaPrivateKey,
    _overwrite: bool,
) -> Result<KeyFiles, KeyError> {
    todo!()
}
