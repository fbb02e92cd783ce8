//! `duoprov keys inspect`: one report for any file a user may hold — a
//! private or public key in any format, or a raw dump of the key slot.

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde::Serialize;

use super::der::{framing, is_pem, Framing};
use super::parse::{parse_private_key_with_format, parse_public_key_with_format, Format};
use super::{
    fingerprint, key_bits, private_key_to_der, KeyError, SlotState, DEVICE_KEY_BITS,
    DEVICE_KEY_EXPONENT, PRIVATE_KEY_SLOT_SIZE,
};
use crate::platform::PRIVATE_KEY_READ_LEN;

/// Which half of a key pair a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    Private,
    Public,
}

/// What a key file or slot dump holds. Serialises as
/// `{"kind":"private","state":"valid","bits":1024,…}` or
/// `{"state":"corrupt","reason":"…",…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<KeyKind>,
    #[serde(flatten)]
    pub state: SlotState,
    /// How the key was encoded, e.g. "PKCS#1 DER".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// Lower-case hex SHA-256 of the SPKI DER (see [`super::fingerprint`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Public exponent, in decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_exponent: Option<String>,
    /// Things worth knowing that do not make the key invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl KeyReport {
    fn of_state(state: SlotState) -> KeyReport {
        KeyReport {
            kind: None,
            state,
            format: None,
            fingerprint: None,
            public_exponent: None,
            notes: Vec::new(),
        }
    }

    fn of_public(key: &RsaPublicKey, kind: KeyKind, format: &'static str) -> KeyReport {
        let mut notes = Vec::new();
        if *key.e() != BigUint::from(DEVICE_KEY_EXPONENT) {
            notes.push(format!(
                "unusual public exponent {}: device keys use {DEVICE_KEY_EXPONENT}",
                key.e()
            ));
        }
        KeyReport {
            kind: Some(kind),
            state: SlotState::Valid {
                bits: key_bits(key),
            },
            format: Some(format),
            fingerprint: Some(fingerprint(key)),
            public_exponent: Some(key.e().to_string()),
            notes,
        }
    }
}

/// Why a private key would not work as a Duo device key, though it parses.
pub fn device_key_notes(key: &RsaPrivateKey) -> Vec<String> {
    let mut notes = Vec::new();
    let bits = key_bits(key);
    if bits != DEVICE_KEY_BITS {
        notes.push(format!(
            "{bits}-bit key: device keys are RSA-{DEVICE_KEY_BITS}"
        ));
    }
    if let Ok(der) = private_key_to_der(key) {
        if der.len() > PRIVATE_KEY_SLOT_SIZE {
            notes.push(format!(
                "its PKCS#1 DER is {} bytes: it does not fit the {PRIVATE_KEY_SLOT_SIZE}-byte \
                 key slot",
                der.len()
            ));
        } else if der.len() > PRIVATE_KEY_READ_LEN {
            notes.push(format!(
                "its PKCS#1 DER is {} bytes, but the firmware reads only the first \
                 {PRIVATE_KEY_READ_LEN} bytes of the slot: it would not load on a device",
                der.len()
            ));
        }
    }
    notes
}

/// Report on any bytes a user calls a key: PEM or DER keys (private or
/// public), or a slot dump (erased, reset request, key + padding, garbage).
/// Only a parseable RSA key is `valid`; everything else gets a reason.
pub fn inspect_key(bytes: &[u8]) -> KeyReport {
    if !is_pem(bytes) {
        let state = super::classify_slot(bytes);
        if matches!(state, SlotState::Erased | SlotState::ResetRequest) {
            return KeyReport::of_state(state);
        }
    }
    let private_err = match parse_private_key_with_format(bytes) {
        Ok((key, format)) => {
            let mut report =
                KeyReport::of_public(&key.to_public_key(), KeyKind::Private, format.name());
            // A private key here is a device key: one the firmware would
            // misread is not valid, whatever else it is (rule: no success
            // for a key the device cannot use).
            if let Err(e) = super::check_device_key(&key) {
                report.state = SlotState::Corrupt {
                    reason: e.to_string(),
                };
            }
            report.notes.extend(device_key_notes(&key));
            if format == Format::Pkcs8Der {
                report.notes.push(
                    "PKCS#8: the key slot needs PKCS#1 DER; loading a key converts it, or convert with `openssl rsa -traditional -outform DER`"
                        .into(),
                );
            }
            report.notes.extend(trailing_note(bytes));
            return report;
        }
        Err(e) => e,
    };
    let public_err = match parse_public_key_with_format(bytes) {
        Ok((key, format)) => {
            let mut report = KeyReport::of_public(&key, KeyKind::Public, format.name());
            // A public key is a device's (RSA-1024) or a server's (RSA-2048).
            if super::check_device_key(&key).is_err() && super::check_server_key(&key).is_err() {
                report.state = SlotState::Corrupt {
                    reason: format!(
                        "RSA-{} public key with exponent {}: neither a device key (RSA-1024, \
                         exponent 65537) nor a server key (RSA-2048, exponent 65537)",
                        key_bits(&key),
                        key.e()
                    ),
                };
            }
            report.notes.extend(trailing_note(bytes));
            return report;
        }
        Err(e) => e,
    };
    let reason = match (&private_err, &public_err) {
        // Specific verdicts about what the data is beat "not a key".
        (e @ (KeyError::NotRsa { .. } | KeyError::Encrypted | KeyError::InvalidKey { .. }), _) => {
            e.to_string()
        }
        (_, e @ (KeyError::NotRsaPublic { .. } | KeyError::InvalidKey { .. })) => e.to_string(),
        (KeyError::UnsupportedPem { .. }, _) => private_err.to_string(),
        _ if is_pem(bytes) => private_err.to_string(),
        _ => match super::classify_slot(bytes) {
            SlotState::Corrupt { reason } => reason,
            _ => private_err.to_string(),
        },
    };
    let mut report = KeyReport::of_state(SlotState::Corrupt { reason });
    if !is_pem(bytes) && !bytes.is_empty() && bytes.len() <= PRIVATE_KEY_SLOT_SIZE {
        report.notes.push(if super::firmware_regenerates(bytes) {
            "as a device key slot: the first byte is 0xFF, so the firmware treats it as empty \
             and generates a new key at boot"
                .into()
        } else {
            "as a device key slot: the firmware keeps it (its first byte is not 0xFF) and the \
             device fails the cloud handshake; write the reset request or a key backup over it"
                .into()
        });
    }
    report
}

/// A note when bytes after the DER are not 0xFF padding (left over from an
/// earlier, longer key, or the zeros of a reset request). The firmware
/// ignores them, as do we.
fn trailing_note(bytes: &[u8]) -> Option<String> {
    if is_pem(bytes) {
        return None;
    }
    let Framing::Sequence { total, .. } = framing(bytes) else {
        return None;
    };
    let tail = bytes.get(total..)?;
    let stray = tail.iter().filter(|&&b| b != 0xFF).count();
    (stray > 0).then(|| {
        format!(
            "{} byte(s) follow the {total}-byte DER and {stray} of them are not 0xFF padding; \
             they are ignored (as the firmware does)",
            tail.len()
        )
    })
}
