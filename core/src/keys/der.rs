//! Low-level framing shared by the key parsers: the outer DER SEQUENCE header
//! (which tells where a key ends inside a padded slot), algorithm OIDs, and
//! PEM blocks.

use rsa::pkcs8::der::pem;
use rsa::pkcs8::ObjectIdentifier;

use super::KeyError;

/// How the outer DER SEQUENCE of a buffer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The header takes `header` bytes; header + content take `total`.
    Sequence { header: usize, total: usize },
    /// The first byte is not 0x30 (SEQUENCE).
    NotSequence { first: u8 },
    /// Buffer too short to hold the length field.
    ShortHeader,
    /// Indefinite (0x80) or oversized (more than 4 length bytes) length.
    BadLength { byte: u8 },
}

/// Read the SEQUENCE header at the start of `bytes` (DER definite length).
pub(crate) fn framing(bytes: &[u8]) -> Framing {
    let Some(&first) = bytes.first() else {
        return Framing::ShortHeader;
    };
    if first != 0x30 {
        return Framing::NotSequence { first };
    }
    let Some(&len0) = bytes.get(1) else {
        return Framing::ShortHeader;
    };
    if len0 < 0x80 {
        return Framing::Sequence {
            header: 2,
            total: 2 + len0 as usize,
        };
    }
    let n = (len0 & 0x7F) as usize;
    if n == 0 || n > 4 {
        return Framing::BadLength { byte: len0 };
    }
    let Some(len_bytes) = bytes.get(2..2 + n) else {
        return Framing::ShortHeader;
    };
    let content = len_bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    Framing::Sequence {
        header: 2 + n,
        total: (2 + n).saturating_add(content),
    }
}

/// The DER of the first SEQUENCE in `bytes`, ignoring whatever follows it.
pub(crate) fn first_sequence(bytes: &[u8]) -> Result<&[u8], KeyError> {
    match framing(bytes) {
        Framing::Sequence { total, .. } if total <= bytes.len() => Ok(&bytes[..total]),
        Framing::Sequence { total, .. } => Err(KeyError::Truncated {
            needed: total,
            have: bytes.len(),
        }),
        Framing::NotSequence { first } => Err(KeyError::Unrecognised {
            tried: format!(
                "PEM (no -----BEGIN line) and DER (first byte is 0x{first:02X}, not 0x30, \
                 the SEQUENCE every DER key starts with)"
            ),
        }),
        Framing::ShortHeader if bytes.is_empty() => Err(KeyError::NoKey {
            what: "no bytes at all (an empty file)",
        }),
        Framing::ShortHeader => Err(KeyError::Unrecognised {
            tried: format!(
                "DER, but {} byte(s) cannot hold a SEQUENCE header",
                bytes.len()
            ),
        }),
        Framing::BadLength { byte } => Err(KeyError::Unrecognised {
            tried: format!("DER, but the SEQUENCE length byte 0x{byte:02X} is not a DER length"),
        }),
    }
}

/// Human name of a public-key algorithm OID, for "X key given" errors.
pub(crate) fn algorithm_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA".into(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".into(),
        "1.2.840.10045.2.1" => "EC".into(),
        "1.3.101.110" => "X25519".into(),
        "1.3.101.111" => "X448".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.2.840.113549.1.3.1" => "DH".into(),
        other => format!("non-RSA (algorithm OID {other})"),
    }
}

/// Whether a DER SEQUENCE looks like a SEC1 `ECPrivateKey`
/// (`SEQUENCE { INTEGER 1, OCTET STRING … }`), which `openssl ecparam -genkey`
/// writes as "EC PRIVATE KEY".
pub(crate) fn looks_like_sec1_ec(der: &[u8]) -> bool {
    match framing(der) {
        Framing::Sequence { header, .. } => {
            der.get(header..header + 4) == Some(&[0x02, 0x01, 0x01, 0x04][..])
        }
        _ => false,
    }
}

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
#[derive(Debug)]
pub(crate) struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// Whether the bytes are PEM text (contain a BEGIN line).
pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    find(bytes, b"-----BEGIN ").is_some()
}

/// Split PEM text into its blocks, tolerating CRLF line ends, indentation and
/// odd line wrapping. An `openssl ecparam -genkey` file has two blocks (EC
/// PARAMETERS, EC PRIVATE KEY); callers pick the block they understand.
pub(crate) fn pem_blocks(bytes: &[u8]) -> Result<Vec<PemBlock>, KeyError> {
    let text = String::from_utf8_lossy(bytes);
    let mut blocks = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return Err(unrecognised_pem("a BEGIN line without its closing dashes"));
        };
        let label = after[..label_end].trim().to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            return Err(unrecognised_pem(&format!(
                "a BEGIN {label} block without its `{end_marker}` line"
            )));
        };
        let body = &body_start[..body_end];
        rest = &body_start[body_end + end_marker.len()..];

        // RFC 1421 headers (traditional OpenSSL encryption) come before a blank line.
        if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
            if body.contains("ENCRYPTED") {
                return Err(KeyError::Encrypted);
            }
            return Err(KeyError::UnsupportedPem {
                label,
                hint: "PEM headers (Proc-Type/DEK-Info) are not supported".into(),
            });
        }
        let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let mut canonical = format!("-----BEGIN {label}-----\n");
        for chunk in base64.as_bytes().chunks(64) {
            canonical.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            canonical.push('\n');
        }
        canonical.push_str(&end_marker);
        canonical.push('\n');
        let der = pem::decode_vec(canonical.as_bytes())
            .map(|(_, der)| der)
            .map_err(|e| {
                unrecognised_pem(&format!("the {label} block is not valid base64 ({e})"))
            })?;
        blocks.push(PemBlock { label, der });
    }
    if blocks.is_empty() {
        return Err(unrecognised_pem("no complete -----BEGIN/-----END block"));
    }
    Ok(blocks)
}

fn unrecognised_pem(what: &str) -> KeyError {
    KeyError::Unrecognised {
        tried: format!("PEM, but found {what}"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
