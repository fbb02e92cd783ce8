//! Values shared by every part of the library, owned by none of them: the
//! cloud's device id and the selector of a board.

mod selector;

use std::fmt;
use std::str::FromStr;

use crate::error::{ErrorCode, ErrorFacts, ErrorInfo};

pub use selector::DeviceSelector;

/// A device id that is not 24 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device id {value:?}: {reason}; a device id is 24 hexadecimal digits, e.g. 2fff27fffc473530fff23637")]
pub struct InvalidDeviceId {
    /// The value given (shortened when long).
    pub value: String,
    pub reason: String,
}

impl ErrorInfo for InvalidDeviceId {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidDeviceId
    }

    fn facts(&self) -> ErrorFacts {
        ErrorFacts::default()
    }
}

/// A Particle device id: 12 bytes, written as 24 hexadecimal digits
/// (REFERENCE §4; the same 12 bytes sit at DCT offset 3618). Kept lower-case,
/// as the cloud prints them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    /// Number of hexadecimal digits in a device id.
    pub const LEN: usize = 24;

    /// Parse a device id; upper-case digits are accepted and lower-cased.
    pub fn parse(value: &str) -> Result<Self, InvalidDeviceId> {
        let invalid = |reason: String| InvalidDeviceId {
            value: shorten(value),
            reason,
        };
        if let Some((i, c)) = value.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "character {c:?} at position {} is not a hexadecimal digit",
                value[..i].chars().count() + 1
            )));
        }
        if value.len() != Self::LEN {
            return Err(invalid(format!(
                "it has {} digits, not {}",
                value.len(),
                Self::LEN
            )));
        }
        Ok(DeviceId(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12 raw bytes (the MCU's unique id, as the DCT and the cloud
    /// handshake carry it).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(&self.0, &mut bytes).expect("a DeviceId is 24 hex digits");
        bytes
    }
}

/// Device ids come from files and command lines: keep error messages short.
fn shorten(value: &str) -> String {
    const MAX: usize = 48;
    if value.chars().count() > MAX {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        value.to_string()
    }
}

impl FromStr for DeviceId {
    type Err = InvalidDeviceId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceId::parse(s)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

impl serde::Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DeviceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_device_id_is_refused_naming_value_and_rule() {
        let err = DeviceId::parse("2fff27").unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.code(), ErrorCode::InvalidDeviceId);
        assert!(msg.contains("\"2fff27\""), "{msg}");
        assert!(msg.contains("6 digits, not 24"), "{msg}");
        assert!(msg.contains("24 hexadecimal digits"), "{msg}");
    }

    #[test]
    fn a_non_hex_device_id_is_refused_naming_the_character() {
        let msg = DeviceId::parse("2fff27fffc473530fff2363g")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'g' at position 24"), "{msg}");
        let msg = DeviceId::parse("2fff27fffc473530fff23637 ")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("' ' at position 25"), "{msg}");
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("2fff27fffc473530fff236370").is_err());
    }

    #[test]
    fn very_long_values_are_shortened_in_the_error() {
        let long = "a".repeat(1000);
        let msg = DeviceId::parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 300, "{msg}");
    }

    #[test]
    fn device_ids_deserialize_with_validation() {
        let id: DeviceId = serde_json::from_str("\"2FFF27FFFC473530FFF23637\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"2fff27fffc473530fff23637\""
        );
        assert!(serde_json::from_str::<DeviceId>("\"nope\"").is_err());
    }
}
