//! The public key to provision: the generic key by default, a key file, or
//! PEM text (REFERENCE §3). Whatever the input, only the public half is ever
//! sent, as PEM SubjectPublicKeyInfo — the form the cloud wants.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::CloudError;
use crate::keys;

/// Where a provisioned key came from (shown in results and reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// RedBear's generic public key: the device's next handshake then tells
    /// the cloud its real key (REFERENCE §3, §5).
    Generic,
    /// A PEM or DER, public or private key file (private → its public half).
    File { path: PathBuf },
    /// PEM text given directly.
    PemText,
}

impl KeySource {
    /// For messages: "generic public key", "key file /x.der", "PEM text".
    pub fn describe(&self) -> String {
        match self {
            KeySource::Generic => "generic public key".into(),
            KeySource::File { path } => format!("key file {}", path.display()),
            KeySource::PemText => "PEM text".into(),
        }
    }
}

/// A parsed public key, ready to send.
#[derive(Debug, Clone)]
pub struct ProvisionKey {
    /// PEM SubjectPublicKeyInfo.
    pub pem: String,
    /// Lower-case hex SHA-256 of the SPKI DER ([`keys::fingerprint`]).
    pub fingerprint: String,
    pub source: KeySource,
}

impl ProvisionKey {
    /// The embedded generic key ([`keys::GENERIC_PUBLIC_KEY_PEM`]).
    pub fn generic() -> Result<Self, CloudError> {
        Self::from_bytes(keys::GENERIC_PUBLIC_KEY_PEM.as_bytes(), KeySource::Generic)
    }

    /// A key file: PEM or DER, SPKI or PKCS#1 public key, or a private key
    /// (PKCS#1/PKCS#8, or a raw key slot) whose public half is used.
    pub fn from_file(path: &Path) -> Result<Self, CloudError> {
        let public = keys::load_public_key_file(path).map_err(|e| CloudError::InvalidKey {
            origin: "key file".into(),
            reason: e.to_string(),
        })?;
        Self::from_public(
            &public,
            KeySource::File {
                path: path.to_path_buf(),
            },
        )
    }

    /// PEM text (public or private key).
    pub fn from_pem_text(text: &str) -> Result<Self, CloudError> {
        Self::from_bytes(text.as_bytes(), KeySource::PemText)
    }

    /// The CLI's KEYFILE argument: absent → generic key, text starting with
    /// `-----BEGIN` → PEM text, anything else → a file path.
    pub fn from_arg(arg: Option<&str>) -> Result<Self, CloudError> {
        match arg {
            None => Self::generic(),
            Some(text) if text.trim_start().starts_with("-----BEGIN") => Self::from_pem_text(text),
            Some(path) => Self::from_file(Path::new(path)),
        }
    }

    /// Parse `bytes` as any key [`keys::parse_public_key`] accepts.
    pub fn from_bytes(bytes: &[u8], source: KeySource) -> Result<Self, CloudError> {
        let public = keys::parse_public_key(bytes).map_err(|e| CloudError::InvalidKey {
            origin: source.describe(),
            reason: e.to_string(),
        })?;
        Self::from_public(&public, source)
    }

    /// The key must be one a device can hold (RSA-1024, e = 65537): a
    /// cloud holding any other would wait for a handshake no device makes.
    fn from_public(public: &keys::RsaPublicKey, source: KeySource) -> Result<Self, CloudError> {
        keys::check_device_key(public).map_err(|e| CloudError::InvalidKey {
            origin: source.describe(),
            reason: e.to_string(),
        })?;
        let pem = keys::public_key_to_pem(public).map_err(|e| CloudError::InvalidKey {
            origin: source.describe(),
            reason: e.to_string(),
        })?;
        Ok(ProvisionKey {
            pem,
            fingerprint: keys::fingerprint(public),
            source,
        })
    }

    /// The first 16 hex digits of the fingerprint, for human output.
    pub fn fingerprint_prefix(&self) -> &str {
        &self.fingerprint[..self.fingerprint.len().min(16)]
    }

    /// Which key a run sends, in one line: "using generic public key",
    /// "using the public key of FILE (fingerprint …)", "using the public
    /// key given as PEM text (fingerprint …)".
    pub fn describe_use(&self) -> String {
        match &self.source {
            KeySource::Generic => "using generic public key".to_string(),
            KeySource::File { path } => format!(
                "using the public key of {} (fingerprint {})",
                path.display(),
                self.fingerprint_prefix()
            ),
            KeySource::PemText => format!(
                "using the public key given as PEM text (fingerprint {})",
                self.fingerprint_prefix()
            ),
        }
    }
}
