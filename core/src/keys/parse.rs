//! Reading keys in every format a Duo owner meets: particle-cli's files
//! (PKCS#1 DER, PEM), OpenSSL 3 defaults (PKCS#8 PEM), slot dumps read with
//! dfu-util (DER + padding), and the firmware's slot states (REFERENCE §2).

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{PrivateKeyInfo, SubjectPublicKeyInfoRef};
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::der::{
    algorithm_name, first_sequence, framing, is_pem, looks_like_sec1_ec, pem_blocks, Framing,
};
use super::{key_bits, KeyError, SlotState, PRIVATE_KEY_SLOT_SIZE, RESET_REQUEST};
use crate::platform::PRIVATE_KEY_READ_LEN;

/// Where a parsed key came from, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Pkcs1Der,
    Pkcs8Der,
    SpkiDer,
    Pkcs1PublicDer,
    Pkcs1Pem,
    Pkcs8Pem,
    SpkiPem,
    Pkcs1PublicPem,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Pkcs1Der => "PKCS#1 DER",
            Format::Pkcs8Der => "PKCS#8 DER",
            Format::SpkiDer => "SubjectPublicKeyInfo DER",
            Format::Pkcs1PublicDer => "PKCS#1 RSAPublicKey DER",
            Format::Pkcs1Pem => "PKCS#1 PEM (BEGIN RSA PRIVATE KEY)",
            Format::Pkcs8Pem => "PKCS#8 PEM (BEGIN PRIVATE KEY)",
            Format::SpkiPem => "SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY)",
            Format::Pkcs1PublicPem => "PKCS#1 PEM (BEGIN RSA PUBLIC KEY)",
        }
    }
}

/// Labels that precede the key in some PEM files and carry no key.
const SKIPPED_PEM_LABELS: &[&str] = &["EC PARAMETERS", "DH PARAMETERS"];

/// A private key from DER or PEM, PKCS#1 or PKCS#8, or a raw key slot.
pub fn parse_private_key(bytes: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    parse_private_key_with_format(bytes).map(|(key, _)| key)
}

/// A public key from DER or PEM, SPKI or PKCS#1; a private key yields its
/// public half. A server key block also works (its key comes first).
pub fn parse_public_key(bytes: &[u8]) -> Result<RsaPublicKey, KeyError> {
    parse_public_key_with_format(bytes).map(|(key, _)| key)
}

pub(crate) fn parse_private_key_with_format(
    bytes: &[u8],
) -> Result<(RsaPrivateKey, Format), KeyError> {
    if is_pem(bytes) {
        for block in pem_blocks(bytes)? {
            let format = match block.label.as_str() {
                "RSA PRIVATE KEY" => Format::Pkcs1Pem,
                "PRIVATE KEY" => Format::Pkcs8Pem,
                label if SKIPPED_PEM_LABELS.contains(&label) => continue,
                label => return Err(pem_label_error(label, true)),
            };
            let (key, _) = private_from_der(&block.der)?;
            return Ok((key, format));
        }
        return Err(KeyError::Unrecognised {
            tried: "PEM, but it holds only parameters, no key".into(),
        });
    }
    if bytes.first() == Some(&0xFF) {
        return Err(no_key_error(bytes));
    }
    private_from_der(first_sequence(bytes)?)
}

pub(crate) fn parse_public_key_with_format(
    bytes: &[u8],
) -> Result<(RsaPublicKey, Format), KeyError> {
    if is_pem(bytes) {
        for block in pem_blocks(bytes)? {
            match block.label.as_str() {
                "PUBLIC KEY" => return Ok((spki_from_der(&block.der)?, Format::SpkiPem)),
                "RSA PUBLIC KEY" => {
                    let key = RsaPublicKey::from_pkcs1_der(&block.der).map_err(|e| {
                        KeyError::InvalidKey {
                            format: Format::Pkcs1PublicPem.name(),
                            detail: e.to_string(),
                        }
                    })?;
                    return Ok((key, Format::Pkcs1PublicPem));
                }
                "RSA PRIVATE KEY" | "PRIVATE KEY" => {
                    let (key, format) = private_from_der(&block.der)?;
                    let format = if format == Format::Pkcs1Der {
                        Format::Pkcs1Pem
                    } else {
                        Format::Pkcs8Pem
                    };
                    return Ok((key.to_public_key(), format));
                }
                label if SKIPPED_PEM_LABELS.contains(&label) => continue,
                label => return Err(pem_label_error(label, false)),
            }
        }
        return Err(KeyError::Unrecognised {
            tried: "PEM, but it holds only parameters, no key".into(),
        });
    }
    if bytes.first() == Some(&0xFF) {
        return Err(no_key_error(bytes));
    }
    let der = first_sequence(bytes)?;
    if let Ok(spki) = SubjectPublicKeyInfoRef::try_from(der) {
        if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(KeyError::NotRsaPublic {
                algorithm: algorithm_name(&spki.algorithm.oid),
            });
        }
        return Ok((spki_from_der(der)?, Format::SpkiDer));
    }
    if let Ok(key) = RsaPublicKey::from_pkcs1_der(der) {
        return Ok((key, Format::Pkcs1PublicDer));
    }
    match private_from_der(der) {
        Ok((key, format)) => Ok((key.to_public_key(), format)),
        Err(KeyError::Unrecognised { .. }) => Err(KeyError::Unrecognised {
            tried: "SubjectPublicKeyInfo DER, PKCS#1 RSAPublicKey DER, and private key DER \
                    (PKCS#1, PKCS#8): none matched"
                .into(),
        }),
        Err(e) => Err(e),
    }
}

/// Decode exactly one DER private key (no padding).
fn private_from_der(der: &[u8]) -> Result<(RsaPrivateKey, Format), KeyError> {
    let pkcs1_err = match RsaPrivateKey::from_pkcs1_der(der) {
        Ok(key) => return Ok((key, Format::Pkcs1Der)),
        Err(e) => e,
    };
    match PrivateKeyInfo::try_from(der) {
        Ok(info) if info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID => {
            return RsaPrivateKey::try_from(info)
                .map(|key| (key, Format::Pkcs8Der))
                .map_err(|e| KeyError::InvalidKey {
                    format: Format::Pkcs8Der.name(),
                    detail: e.to_string(),
                });
        }
        Ok(info) => {
            return Err(KeyError::NotRsa {
                algorithm: algorithm_name(&info.algorithm.oid),
            })
        }
        Err(_) => {}
    }
    if looks_like_sec1_ec(der) {
        return Err(KeyError::NotRsa {
            algorithm: "EC".into(),
        });
    }
    if SubjectPublicKeyInfoRef::try_from(der).is_ok() {
        return Err(KeyError::PublicNotPrivate {
            format: Format::SpkiDer.name(),
        });
    }
    if RsaPublicKey::from_pkcs1_der(der).is_ok() {
        return Err(KeyError::PublicNotPrivate {
            format: Format::Pkcs1PublicDer.name(),
        });
    }
    // A well-formed PKCS#1 structure whose numbers do not make a key.
    if rsa::pkcs1::RsaPrivateKey::try_from(der).is_ok() {
        return Err(KeyError::InvalidKey {
            format: Format::Pkcs1Der.name(),
            detail: pkcs1_err.to_string(),
        });
    }
    Err(KeyError::Unrecognised {
        tried: format!(
            "PKCS#1 RSAPrivateKey DER ({pkcs1_err}) and PKCS#8 PrivateKeyInfo DER \
             on a {}-byte SEQUENCE",
            der.len()
        ),
    })
}

fn spki_from_der(der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(|e| KeyError::InvalidKey {
        format: Format::SpkiDer.name(),
        detail: e.to_string(),
    })?;
    if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return Err(KeyError::NotRsaPublic {
            algorithm: algorithm_name(&spki.algorithm.oid),
        });
    }
    RsaPublicKey::try_from(spki).map_err(|e| KeyError::InvalidKey {
        format: Format::SpkiDer.name(),
        detail: e.to_string(),
    })
}

fn pem_label_error(label: &str, want_private: bool) -> KeyError {
    let algorithm = |a: &str| a.to_string();
    match label {
        "EC PRIVATE KEY" if want_private => KeyError::NotRsa {
            algorithm: algorithm("EC"),
        },
        "DSA PRIVATE KEY" if want_private => KeyError::NotRsa {
            algorithm: algorithm("DSA"),
        },
        "EC PRIVATE KEY" => KeyError::NotRsaPublic {
            algorithm: algorithm("EC"),
        },
        "DSA PRIVATE KEY" => KeyError::NotRsaPublic {
            algorithm: algorithm("DSA"),
        },
        "ENCRYPTED PRIVATE KEY" => KeyError::Encrypted,
        "PUBLIC KEY" if want_private => KeyError::PublicNotPrivate {
            format: Format::SpkiPem.name(),
        },
        "RSA PUBLIC KEY" if want_private => KeyError::PublicNotPrivate {
            format: Format::Pkcs1PublicPem.name(),
        },
        "OPENSSH PRIVATE KEY" => KeyError::UnsupportedPem {
            label: label.into(),
            hint: "OpenSSH's own format; convert a copy with `ssh-keygen -p -m PEM -f COPY`".into(),
        },
        "CERTIFICATE" => KeyError::UnsupportedPem {
            label: label.into(),
            hint: "a certificate, not a key; extract its key with \
                   `openssl x509 -in FILE -pubkey -noout`"
                .into(),
        },
        _ => KeyError::UnsupportedPem {
            label: label.into(),
            hint: "expected RSA PRIVATE KEY, PRIVATE KEY, PUBLIC KEY or RSA PUBLIC KEY".into(),
        },
    }
}

/// Error for data whose first byte is 0xFF: an empty slot, not a key.
fn no_key_error(bytes: &[u8]) -> KeyError {
    match classify_slot(bytes) {
        SlotState::Erased => KeyError::NoKey {
            what: "an erased key slot (all 0xFF)",
        },
        SlotState::ResetRequest => KeyError::NoKey {
            what: "the key slot reset request (FF FF FF FF then zeros)",
        },
        _ => KeyError::Unrecognised {
            tried: "PEM (no -----BEGIN line) and DER (first byte is 0xFF, not 0x30 SEQUENCE)"
                .into(),
        },
    }
}

/// The firmware's rule at boot (Device OS `HAL_FLASH_Read_CorePrivateKey`):
/// the slot counts as empty, and a new key is generated, only if its first
/// byte is 0xFF. Anything else, even garbage, is kept.
pub fn firmware_regenerates(slot: &[u8]) -> bool {
    slot.first() == Some(&0xFF)
}

/// Classify the bytes of a device private key slot (DCT offset 34): the full
/// 1216 bytes, or the first 612 that particle-cli and the firmware read.
pub fn classify_slot(slot: &[u8]) -> SlotState {
    let corrupt = |reason: String| SlotState::Corrupt { reason };
    if slot.is_empty() {
        return corrupt("no bytes: an empty dump is not a key slot".into());
    }
    if slot.len() > PRIVATE_KEY_SLOT_SIZE {
        return corrupt(format!(
            "{} bytes is more than the {PRIVATE_KEY_SLOT_SIZE}-byte key slot",
            slot.len()
        ));
    }
    if slot.iter().all(|&b| b == 0xFF) {
        return SlotState::Erased;
    }
    if slot.len() >= PRIVATE_KEY_READ_LEN && slot == &RESET_REQUEST[..slot.len()] {
        return SlotState::ResetRequest;
    }
    if firmware_regenerates(slot) {
        return corrupt(
            "first byte is 0xFF (the firmware will generate a new key at boot), \
             but the rest is neither erased nor the reset request"
                .into(),
        );
    }
    let total = match framing(slot) {
        Framing::Sequence { total, .. } => total,
        Framing::NotSequence { first } => {
            return corrupt(format!(
                "first byte is 0x{first:02X}, not 0x30 (the DER SEQUENCE a PKCS#1 key starts with)"
            ))
        }
        Framing::ShortHeader => {
            return corrupt(format!(
                "{} byte(s) cannot hold a DER SEQUENCE header",
                slot.len()
            ))
        }
        Framing::BadLength { byte } => {
            return corrupt(format!(
                "DER length byte 0x{byte:02X} after the SEQUENCE tag is not a valid DER length"
            ))
        }
    };
    if total > PRIVATE_KEY_SLOT_SIZE {
        return corrupt(format!(
            "DER SEQUENCE declares {total} bytes, beyond the {PRIVATE_KEY_SLOT_SIZE}-byte slot"
        ));
    }
    if total > slot.len() {
        return corrupt(format!(
            "truncated DER: the SEQUENCE declares {total} bytes but only {} are present",
            slot.len()
        ));
    }
    let der = &slot[..total];
    match private_from_der(der) {
        Ok((key, Format::Pkcs1Der)) => match super::check_device_key(&key) {
            Ok(()) => SlotState::Valid {
                bits: key_bits(&key),
            },
            Err(e) => corrupt(e.to_string()),
        },
        Ok((_, _)) => corrupt(
            "a PKCS#8 private key; the firmware parses only PKCS#1 DER (RSAPrivateKey)".into(),
        ),
        Err(KeyError::NotRsa { algorithm }) => corrupt(format!(
            "{algorithm} private key; the device key must be RSA (1024-bit)"
        )),
        Err(KeyError::PublicNotPrivate { format }) => {
            corrupt(format!("a public key ({format}), not a private key"))
        }
        Err(KeyError::InvalidKey { detail, .. }) => corrupt(format!(
            "{total}-byte PKCS#1 structure does not make a valid RSA key: {detail}"
        )),
        Err(_) => corrupt(format!(
            "{total}-byte DER SEQUENCE is not an RSA private key (PKCS#1)"
        )),
    }
}
