//! Explaining a DCT: what `duoprov dct show` prints and the bindings return.
//! Combines the field decodings of [`crate::dct`] with the key-slot
//! classification of [`crate::keys`] and the server block of
//! [`crate::server_key`], so every front end shows the same facts.

use serde::Serialize;

use crate::dct::{AppDct, DctError, DctFile, FieldValue, LayoutSource, WicedHeader};
use crate::keys::{self, SlotState};
use crate::server_key::{self, ServerAddress};

/// Everything `dct show` reports.
#[derive(Debug, Clone, Serialize)]
pub struct DctReport {
    pub platform: &'static str,
    /// `image` (32 KiB DCT region) or `app` (alt-1 view).
    pub kind: &'static str,
    pub size: usize,
    /// The firmware layout the fields were decoded with (`0.2.x`,
    /// `0.3.0/0.3.1`, `0.3.2+`, REFERENCE §2).
    pub layout: &'static str,
    /// Who decided the layout: `given`, `bootloader`, `system-flags` or
    /// `default` ([`crate::dct::choice`] says what each can tell).
    pub layout_source: LayoutSource,
    /// The current partition, for an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_partition: Option<usize>,
    /// WICED headers of both partitions, for an image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<WicedHeader>,
    pub bootloader_version: u16,
    pub device_id: Option<String>,
    /// The device private key slot at 34, classified.
    pub device_private_key: SlotState,
    /// The device public key slot at 1250.
    pub device_public_key: PublicKeySlot,
    /// The server key block at 2082.
    pub server: ServerReport,
    /// Every field of the application DCT, in table order.
    pub fields: Vec<NamedValue>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedValue {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    #[serde(flatten)]
    pub value: FieldValue,
}

/// The public key slot: erased, a key (with whether it belongs to the private
/// key in the slot), or unreadable.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PublicKeySlot {
    Erased,
    Valid {
        bits: usize,
        fingerprint: String,
        /// `Some(true)` when the private key slot holds its private half.
        matches_private_key: Option<bool>,
    },
    Corrupt {
        reason: String,
    },
}

/// The server key block, decoded with the firmware's fallbacks.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ServerReport {
    Valid {
        key_bits: usize,
        fingerprint: String,
        /// The address as text: a domain name or a dotted IPv4 address.
        host: String,
        address: ServerAddress,
        port: u16,
        /// False when the firmware falls back to `device.spark.io`.
        address_stored: bool,
        port_stored: bool,
    },
    Erased,
    Corrupt {
        reason: String,
    },
}

impl ServerReport {
    pub fn from_block(block: &[u8]) -> Self {
        if block.iter().all(|&b| b == 0xFF) {
            return ServerReport::Erased;
        }
        match server_key::parse_server_key(block) {
            Ok(b) => ServerReport::Valid {
                key_bits: rsa::traits::PublicKeyParts::size(&b.key) * 8,
                fingerprint: keys::fingerprint(&b.key),
                host: b.address.to_string(),
                address: b.address,
                port: b.port,
                address_stored: b.stored_address.is_some(),
                port_stored: b.stored_port.is_some(),
            },
            Err(e) => ServerReport::Corrupt {
                reason: e.to_string(),
            },
        }
    }
}

impl PublicKeySlot {
    pub fn classify(public_slot: &[u8], private_slot: &[u8]) -> Self {
        if public_slot.iter().all(|&b| b == 0xFF) {
            return PublicKeySlot::Erased;
        }
        match keys::parse_public_key(public_slot) {
            Ok(public) => {
                let matches_private_key = keys::parse_private_key(private_slot)
                    .ok()
                    .map(|private| keys::keys_match(&private, &public));
                PublicKeySlot::Valid {
                    bits: rsa::traits::PublicKeyParts::size(&public) * 8,
                    fingerprint: keys::fingerprint(&public),
                    matches_private_key,
                }
            }
            Err(e) => PublicKeySlot::Corrupt {
                reason: e.to_string(),
            },
        }
    }
}

impl DctReport {
    /// Explain an application DCT (alt-1 view).
    pub fn from_app(app: &AppDct) -> Self {
        let fields = app
            .fields()
            .into_iter()
            .map(|(f, value)| NamedValue {
                name: f.name,
                offset: f.offset,
                size: f.size,
                value,
            })
            .collect();
        DctReport {
            platform: app.platform().name,
            kind: "app",
            size: app.as_bytes().len(),
            layout: app.layout().firmware(),
            layout_source: app.layout_source(),
            current_partition: None,
            partitions: Vec::new(),
            bootloader_version: app.bootloader_version(),
            device_id: app.device_id(),
            device_private_key: keys::classify_slot(app.private_key_slot()),
            device_public_key: PublicKeySlot::classify(
                app.public_key_slot(),
                app.private_key_slot(),
            ),
            server: ServerReport::from_block(app.server_key_block()),
            fields,
            warnings: app.warnings(),
        }
    }

    /// Explain a DCT file of either kind.
    pub fn from_file(file: &DctFile) -> Result<Self, DctError> {
        let app = file.app_dct()?;
        let mut report = Self::from_app(&app);
        report.size = file.as_bytes().len();
        if let DctFile::Image(image) = file {
            report.kind = "image";
            report.current_partition = Some(image.current_partition()?);
            report.partitions = (0..2).filter_map(|i| image.header(i).ok()).collect();
        }
        Ok(report)
    }
}
