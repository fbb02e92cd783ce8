//! The server public key block at DCT offset 2082 (REFERENCE §2): the cloud's
//! RSA public key (DER), 0xFF padding to byte 384, the server address as a TLV
//! at 384, and an optional big-endian port at 450.
//!
//! Layout written by [`format_server_key`]:
//!
//! | bytes | content |
//! |---|---|
//! | 0.. | SubjectPublicKeyInfo DER (294 bytes for RSA-2048; at most 384) |
//! | ..384 | 0xFF |
//! | 384 | type: 0 = IPv4, 1 = domain name |
//! | 385 | length: 4, or the domain's length |
//! | 386.. | four address bytes, or the ASCII domain |
//! | without a port | one 0x00 if needed to make the length even (RedBear's file) |
//! | with a port | 0xFF up to 450, then the port big-endian at 450..452 |
//!
//! Host limit: the firmware parses the TLV from the 128-byte address area
//! at 384 into a structure whose port sits right after a 64-byte domain, and
//! particle-cli reads the port at 450 = 384 + 2 + 64. A domain longer than
//! 64 characters would run into the port bytes, so domains are limited to
//! [`MAX_DOMAIN_LEN`] = 64 characters with or without a port.
//!
//! Writing only the block (as `dfu-util -s 2082 -D` does) leaves the rest of
//! the 768-byte DCT field as it was — including a port stored earlier. Use
//! [`server_key_field`] to write the whole field with 0xFF after the block.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use rsa::RsaPublicKey;
use serde::Serialize;

use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use crate::keys::der::{framing, Framing};
use crate::keys::{self, KeyError};

mod build;
pub use build::{build_server_block, ServerBlock, ServerBlockFile};

/// RedBear's block for the public Particle cloud (`server_public_key.der`).
pub const DEFAULT_SERVER_KEY_BLOCK: &[u8] = include_bytes!("../../assets/server_public_key.der");
/// Host the firmware falls back to when the TLV is missing or invalid.
pub const DEFAULT_HOST: &str = "device.spark.io";
/// Port the firmware uses when byte 450 holds 0xFFFF (TCP devices).
pub const DEFAULT_PORT: u16 = 5683;
/// Size of the server public key field in the application DCT (offset 2082).
pub const SERVER_KEY_FIELD_SIZE: usize = crate::platform::SERVER_PUBLIC_KEY_SIZE;
/// Offset of the address TLV in the block; the key DER must end before it.
pub const ADDRESS_OFFSET: usize = 384;
/// Offset of the big-endian port in the block.
pub const PORT_OFFSET: usize = 450;
/// Longest domain name that can be stored (see the module docs).
pub const MAX_DOMAIN_LEN: usize = PORT_OFFSET - ADDRESS_OFFSET - 2;
/// Longest domain the firmware's TLV parser accepts (128-byte area − 2).
const FIRMWARE_MAX_DOMAIN_LEN: usize = 126;

const TLV_IPV4: u8 = 0;
const TLV_DOMAIN: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    /// Messages are self-contained; no `source()` chain to print twice.
    #[error("server public key: {0}")]
    Key(KeyError),
    #[error(
        "the server public key's DER is {der_len} bytes; the block holds at most {limit} bytes \
         before the address at byte {limit} (an RSA-2048 key is 294 bytes)"
    )]
    KeyTooLarge { der_len: usize, limit: usize },
    #[error("the server host is empty; give a domain name or an IPv4 address")]
    HostEmpty,
    #[error(
        "server host {host:?} is not ASCII; give the punycode form (xn--…) of an international \
         domain name"
    )]
    HostNotAscii { host: String },
    #[error(
        "server host {host:?} contains {ch:?}; give only a domain name or an IPv4 address \
         ({})",
        Remedy::GivePortSeparately
    )]
    HostInvalidChar { host: String, ch: char },
    #[error(
        "server host {host:?} is {len} characters; at most {limit} fit, because the address \
         TLV at byte 384 must end before the port at byte 450"
    )]
    HostTooLong {
        host: String,
        len: usize,
        limit: usize,
    },
    #[error("server host {host:?} looks like an IPv4 address but is not one (four numbers 0-255)")]
    BadIpv4 { host: String },
    #[error(
        "server host {host:?} is an IPv6 address; the block stores only an IPv4 address \
         (type 0) or a domain name (type 1)"
    )]
    Ipv6 { host: String },
    #[error("port 0 cannot be stored: the firmware reads 0 as \"use the default {DEFAULT_PORT}\"")]
    PortZero,
    #[error(
        "port 65535 cannot be stored: the firmware reads 0xFFFF as \"use the default {DEFAULT_PORT}\""
    )]
    PortReserved,
    #[error(
        "{len} bytes is too short for a server key block (at least {ADDRESS_OFFSET}: key DER \
         and 0xFF padding); {}",
        Remedy::BuildServerBlock
    )]
    BlockTooShort { len: usize },
    #[error(
        "{len} bytes is longer than the {SERVER_KEY_FIELD_SIZE}-byte server key field and the \
         extra bytes are not 0xFF padding"
    )]
    BlockTooLong { len: usize },
    #[error("the server key block is erased (all 0xFF up to byte 384): no server key is stored")]
    Erased,
    #[error("the server key DER declares {der_len} bytes, past the address TLV at byte 384")]
    KeyBeyondBlock { der_len: usize },
    #[error("the address TLV at byte 384 needs {needed} bytes but the block ends at byte {len}")]
    TlvTruncated { needed: usize, len: usize },
    /// A server key file that cannot be read or used (its own message).
    #[error(transparent)]
    KeyFile(KeyError),
    /// A block [`build_server_block`] made does not parse back: a bug.
    #[error("the block just built does not parse back (a bug; please report it): {0}")]
    BuiltBlockUnparsable(Box<ServerKeyError>),
}

impl ErrorInfo for ServerKeyError {
    fn code(&self) -> ErrorCode {
        match self {
            ServerKeyError::Key(e) => match e.code() {
                c @ (ErrorCode::Io | ErrorCode::AlreadyExists | ErrorCode::Internal) => c,
                _ => ErrorCode::InvalidServerKey,
            },
            ServerKeyError::KeyFile(e) => e.code(),
            ServerKeyError::KeyTooLarge { .. } => ErrorCode::KeyTooLarge,
            ServerKeyError::BuiltBlockUnparsable(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidServerKey,
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            ServerKeyError::Key(e) | ServerKeyError::KeyFile(e) => e.facts(),
            _ => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            ServerKeyError::Key(e) | ServerKeyError::KeyFile(e) => e.remedies(),
            ServerKeyError::HostInvalidChar { .. } => vec![Remedy::GivePortSeparately],
            ServerKeyError::BlockTooShort { .. } => vec![Remedy::BuildServerBlock],
            _ => vec![],
        }
    }
}

impl From<KeyError> for ServerKeyError {
    fn from(error: KeyError) -> Self {
        ServerKeyError::Key(error)
    }
}

/// Where the device connects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum ServerAddress {
    Ipv4(Ipv4Addr),
    Domain(String),
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddress::Ipv4(ip) => ip.fmt(f),
            ServerAddress::Domain(name) => f.write_str(name),
        }
    }
}

/// A parsed server key block.
#[derive(Debug, Clone)]
pub struct ServerKeyBlock {
    pub key: RsaPublicKey,
    /// The SubjectPublicKeyInfo DER as stored.
    pub key_der: Vec<u8>,
    /// The address as stored; `None` if the TLV is absent/invalid.
    pub stored_address: Option<ServerAddress>,
    /// The port as stored; `None` for 0xFFFF / absent.
    pub stored_port: Option<u16>,
    /// What the firmware will use (fallbacks applied).
    pub address: ServerAddress,
    pub port: u16,
}

/// What `dct show` and `keys server` print about a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerKeySummary {
    pub key_bits: usize,
    /// Lower-case hex SHA-256 of the key's SPKI DER.
    pub fingerprint: String,
    /// Where the firmware connects (fallbacks applied).
    pub address: ServerAddress,
    pub port: u16,
    /// `None`: no valid TLV, so the firmware uses `device.spark.io`.
    pub stored_address: Option<ServerAddress>,
    /// `None`: 0xFFFF or absent, so the firmware uses 5683.
    pub stored_port: Option<u16>,
}

impl ServerKeyBlock {
    pub fn summary(&self) -> ServerKeySummary {
        ServerKeySummary {
            key_bits: keys::key_bits(&self.key),
            fingerprint: keys::fingerprint(&self.key),
            address: self.address.clone(),
            port: self.port,
            stored_address: self.stored_address.clone(),
            stored_port: self.stored_port,
        }
    }
}

impl fmt::Display for ServerKeySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = |stored: bool| if stored { "" } else { " (default)" };
        write!(
            f,
            "RSA-{} server key, sha256 {}; connects to {}{}, port {}{}",
            self.key_bits,
            self.fingerprint,
            self.address,
            default(self.stored_address.is_some()),
            self.port,
            default(self.stored_port.is_some()),
        )
    }
}

/// Build a block. Without a port, exactly RedBear's layout; without an
/// address, no TLV (the firmware then uses `device.spark.io`).
pub fn format_server_key(
    key: &RsaPublicKey,
    address: Option<&ServerAddress>,
    port: Option<u16>,
) -> Result<Vec<u8>, ServerKeyError> {
    // The firmware takes an RSA-2048 modulus at byte 33 and assumes 65537.
    keys::check_server_key(key)?;
    let der = keys::public_key_to_der(key)?;
    if der.len() > ADDRESS_OFFSET {
        return Err(ServerKeyError::KeyTooLarge {
            der_len: der.len(),
            limit: ADDRESS_OFFSET,
        });
    }
    match port {
        Some(0) => return Err(ServerKeyError::PortZero),
        Some(0xFFFF) => return Err(ServerKeyError::PortReserved),
        _ => {}
    }
    let mut block = der;
    block.resize(ADDRESS_OFFSET, 0xFF);
    match address {
        Some(ServerAddress::Ipv4(ip)) => {
            block.extend([TLV_IPV4, 4]);
            block.extend(ip.octets());
        }
        Some(ServerAddress::Domain(name)) => {
            check_domain(name)?;
            block.extend([TLV_DOMAIN, name.len() as u8]);
            block.extend(name.as_bytes());
        }
        None => {}
    }
    match port {
        Some(port) => {
            block.resize(PORT_OFFSET, 0xFF);
            block.extend(port.to_be_bytes());
        }
        None if block.len() % 2 == 1 => block.push(0x00),
        None => {}
    }
    Ok(block)
}

/// The whole 768-byte DCT field for a block: the block, then 0xFF. Writing
/// this instead of the bare block clears any TLV or port left from before.
pub fn server_key_field(block: &[u8]) -> Result<Vec<u8>, ServerKeyError> {
    if block.len() > SERVER_KEY_FIELD_SIZE {
        return Err(ServerKeyError::BlockTooLong { len: block.len() });
    }
    let mut field = block.to_vec();
    field.resize(SERVER_KEY_FIELD_SIZE, 0xFF);
    Ok(field)
}

/// Parse a block (at least 384 bytes; up to the 768-byte field, or longer if
/// the excess is 0xFF padding). Address and port fall back as the firmware's
/// do (`parse_server_address`, REFERENCE §2): type 0 takes four bytes as
/// IPv4 whatever its length byte says; type 1 takes a host name of the given
/// length, so a length of 0 is an *empty* host name, not the default; any
/// other type, or a domain longer than 126 → `device.spark.io`; port 0xFFFF
/// (or 0, or absent) → 5683.
pub fn parse_server_key(block: &[u8]) -> Result<ServerKeyBlock, ServerKeyError> {
    let len = block.len();
    if len < ADDRESS_OFFSET {
        return Err(ServerKeyError::BlockTooShort { len });
    }
    let block = if len > SERVER_KEY_FIELD_SIZE {
        if block[SERVER_KEY_FIELD_SIZE..].iter().any(|&b| b != 0xFF) {
            return Err(ServerKeyError::BlockTooLong { len });
        }
        &block[..SERVER_KEY_FIELD_SIZE]
    } else {
        block
    };
    if block[..ADDRESS_OFFSET].iter().all(|&b| b == 0xFF) {
        return Err(ServerKeyError::Erased);
    }
    let key_der = match framing(block) {
        Framing::Sequence { total, .. } if total > ADDRESS_OFFSET => {
            return Err(ServerKeyError::KeyBeyondBlock { der_len: total })
        }
        Framing::Sequence { total, .. } => &block[..total],
        // Let the key parser name what the bytes are.
        _ => &block[..ADDRESS_OFFSET],
    };
    let key = keys::parse_public_key(key_der)?;

    let stored_address = parse_tlv(block)?;
    let stored_port = block
        .get(PORT_OFFSET..PORT_OFFSET + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .filter(|&p| p != 0xFFFF);
    Ok(ServerKeyBlock {
        key,
        key_der: key_der.to_vec(),
        address: stored_address
            .clone()
            .unwrap_or_else(|| ServerAddress::Domain(DEFAULT_HOST.into())),
        stored_address,
        port: match stored_port {
            None | Some(0) => DEFAULT_PORT,
            Some(p) => p,
        },
        stored_port,
    })
}

/// The TLV at 384, read as Device OS `parseServerAddressData` does: type 0
/// takes the four bytes after the length; type 1 takes `length` bytes.
fn parse_tlv(block: &[u8]) -> Result<Option<ServerAddress>, ServerKeyError> {
    let (Some(&kind), Some(&tlv_len)) = (block.get(ADDRESS_OFFSET), block.get(ADDRESS_OFFSET + 1))
    else {
        return Ok(None);
    };
    let value_start = ADDRESS_OFFSET + 2;
    let value_len = match (kind, tlv_len as usize) {
        (TLV_IPV4, _) => 4,
        (TLV_DOMAIN, n) if n <= FIRMWARE_MAX_DOMAIN_LEN => n,
        _ => return Ok(None),
    };
    let value =
        block
            .get(value_start..value_start + value_len)
            .ok_or(ServerKeyError::TlvTruncated {
                needed: value_start + value_len,
                len: block.len(),
            })?;
    Ok(Some(if kind == TLV_IPV4 {
        ServerAddress::Ipv4(Ipv4Addr::new(value[0], value[1], value[2], value[3]))
    } else {
        ServerAddress::Domain(String::from_utf8_lossy(value).into_owned())
    }))
}

/// Parse `--host`: an IPv4 literal or an ASCII domain name of at most 64
/// characters (letters, digits, `-`, `.`, `_`).
pub fn parse_address(host: &str) -> Result<ServerAddress, ServerKeyError> {
    if host.contains(':') && host.trim_matches(['[', ']']).parse::<Ipv6Addr>().is_ok() {
        return Err(ServerKeyError::Ipv6 { host: host.into() });
    }
    if !host.is_empty() && host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return host
            .parse::<Ipv4Addr>()
            .map(ServerAddress::Ipv4)
            .map_err(|_| ServerKeyError::BadIpv4 { host: host.into() });
    }
    check_domain(host)?;
    Ok(ServerAddress::Domain(host.into()))
}

fn check_domain(host: &str) -> Result<(), ServerKeyError> {
    if host.is_empty() {
        return Err(ServerKeyError::HostEmpty);
    }
    if !host.is_ascii() {
        return Err(ServerKeyError::HostNotAscii { host: host.into() });
    }
    if let Some(ch) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(ServerKeyError::HostInvalidChar {
            host: host.into(),
            ch,
        });
    }
    if host.len() > MAX_DOMAIN_LEN {
        return Err(ServerKeyError::HostTooLong {
            host: host.into(),
            len: host.len(),
            limit: MAX_DOMAIN_LEN,
        });
    }
    Ok(())
}

/// The public cloud's server key, from the embedded RedBear block.
pub fn default_server_key() -> RsaPublicKey {
    // The embedded block is a known-good RSA-2048 SPKI; failing here is a
    // build defect, not a user error.
    keys::parse_public_key(DEFAULT_SERVER_KEY_BLOCK).expect("embedded server key parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spark_key() -> RsaPublicKey {
        default_server_key()
    }

    #[test]
    fn redbear_block_is_rebuilt_byte_for_byte_from_its_key() {
        assert_eq!(DEFAULT_SERVER_KEY_BLOCK.len(), 402);
        let key = keys::parse_public_key(&DEFAULT_SERVER_KEY_BLOCK[..294]).unwrap();
        let host = parse_address("device.spark.io").unwrap();
        let block = format_server_key(&key, Some(&host), None).unwrap();
        assert_eq!(block, DEFAULT_SERVER_KEY_BLOCK);
    }

    #[test]
    fn redbear_block_parses_to_public_cloud_defaults() {
        let parsed = parse_server_key(DEFAULT_SERVER_KEY_BLOCK).unwrap();
        assert_eq!(parsed.key_der, &DEFAULT_SERVER_KEY_BLOCK[..294]);
        assert_eq!(keys::key_bits(&parsed.key), 2048);
        assert_eq!(
            parsed.stored_address,
            Some(ServerAddress::Domain("device.spark.io".into()))
        );
        assert_eq!(parsed.stored_port, None);
        assert_eq!(parsed.port, DEFAULT_PORT);
        let summary = parsed.summary();
        assert_eq!(summary.key_bits, 2048);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["address"]["type"], "domain");
        assert_eq!(json["address"]["value"], "device.spark.io");
        assert_eq!(json["port"], 5683);
        assert!(summary
            .to_string()
            .contains("device.spark.io, port 5683 (default)"));
    }

    #[test]
    fn ipv4_with_port_follows_the_particle_cli_layout() {
        let ip = ServerAddress::Ipv4(Ipv4Addr::new(192, 168, 1, 20));
        let block = format_server_key(&spark_key(), Some(&ip), Some(5684)).unwrap();
        assert_eq!(block.len(), 452);
        assert_eq!(&block[384..390], &[0, 4, 192, 168, 1, 20]);
        assert!(block[390..450].iter().all(|&b| b == 0xFF));
        assert_eq!(&block[450..452], &[0x16, 0x34]);
        let parsed = parse_server_key(&block).unwrap();
        assert_eq!(parsed.address, ip);
        assert_eq!((parsed.stored_port, parsed.port), (Some(5684), 5684));
        // Same result when read back as the whole 768-byte DCT field.
        let field = server_key_field(&block).unwrap();
        assert_eq!(field.len(), SERVER_KEY_FIELD_SIZE);
        assert_eq!(parse_server_key(&field).unwrap().address, ip);
    }

    #[test]
    fn missing_or_invalid_tlv_falls_back_to_device_spark_io() {
        let bare = format_server_key(&spark_key(), None, None).unwrap();
        assert_eq!(bare.len(), 384);
        for block in [bare.clone(), server_key_field(&bare).unwrap(), {
            let mut b = server_key_field(&bare).unwrap();
            b[384..386].copy_from_slice(&[7, 4]); // unknown type
            b
        }] {
            let parsed = parse_server_key(&block).unwrap();
            assert_eq!(parsed.stored_address, None);
            assert_eq!(parsed.address, ServerAddress::Domain(DEFAULT_HOST.into()));
            assert_eq!(parsed.port, DEFAULT_PORT);
        }
    }

    /// REFERENCE §2: the firmware's parser reads a domain of length 0 as an
    /// empty host name (it does not fall back), and type 0 as four IPv4
    /// bytes whatever its length byte says.
    #[test]
    fn a_domain_of_length_0_is_an_empty_host_and_ipv4_ignores_its_length() {
        let bare = format_server_key(&spark_key(), None, None).unwrap();
        let mut b = server_key_field(&bare).unwrap();
        b[384..386].copy_from_slice(&[1, 0]);
        let parsed = parse_server_key(&b).unwrap();
        assert_eq!(parsed.address, ServerAddress::Domain(String::new()));
        let mut b = server_key_field(&bare).unwrap();
        b[384..390].copy_from_slice(&[0, 0, 10, 0, 0, 7]);
        let parsed = parse_server_key(&b).unwrap();
        assert_eq!(
            parsed.address,
            ServerAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 7))
        );
    }

    #[test]
    fn stored_port_zero_means_default_like_the_firmware() {
        let mut block = format_server_key(&spark_key(), None, Some(1234)).unwrap();
        block[450..452].copy_from_slice(&[0, 0]);
        let parsed = parse_server_key(&block).unwrap();
        assert_eq!((parsed.stored_port, parsed.port), (Some(0), DEFAULT_PORT));
    }

    #[test]
    fn bad_hosts_and_ports_are_refused_with_the_limit() {
        let err = parse_address(&"a".repeat(65)).unwrap_err().to_string();
        assert!(err.contains("65") && err.contains("64"), "{err}");
        assert!(parse_address(&"a".repeat(64)).is_ok());
        assert!(matches!(
            parse_address("dévice.example").unwrap_err(),
            ServerKeyError::HostNotAscii { .. }
        ));
        assert!(matches!(
            parse_address("").unwrap_err(),
            ServerKeyError::HostEmpty
        ));
        assert!(matches!(
            parse_address("host:5683").unwrap_err(),
            ServerKeyError::HostInvalidChar { ch: ':', .. }
        ));
        assert!(matches!(
            parse_address("256.1.1.1").unwrap_err(),
            ServerKeyError::BadIpv4 { .. }
        ));
        assert!(matches!(
            parse_address("::1").unwrap_err(),
            ServerKeyError::Ipv6 { .. }
        ));
        let key = spark_key();
        let err = format_server_key(&key, None, Some(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("port 0"), "{err}");
        assert!(format_server_key(&key, None, Some(65535)).is_err());
        let long = ServerAddress::Domain("x".repeat(100));
        assert!(matches!(
            format_server_key(&key, Some(&long), None).unwrap_err(),
            ServerKeyError::HostTooLong { .. }
        ));
    }

    #[test]
    fn keys_other_than_rsa_2048_are_refused() {
        let pem = include_str!("../keys/testdata/rsa4096.pem");
        let key = keys::parse_public_key(pem.as_bytes()).unwrap();
        let err = format_server_key(&key, None, None).unwrap_err().to_string();
        assert!(
            err.contains("RSA-4096") && err.contains("RSA-2048"),
            "{err}"
        );
        let device = keys::generate().unwrap().to_public_key();
        let err = format_server_key(&device, None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RSA-1024"), "{err}");
    }

    #[test]
    fn malformed_blocks_get_specific_errors() {
        assert!(matches!(
            parse_server_key(&DEFAULT_SERVER_KEY_BLOCK[..300]).unwrap_err(),
            ServerKeyError::BlockTooShort { len: 300 }
        ));
        assert!(matches!(
            parse_server_key(&[0xFF; 768]).unwrap_err(),
            ServerKeyError::Erased
        ));
        let mut cut = DEFAULT_SERVER_KEY_BLOCK.to_vec();
        cut.truncate(395);
        assert!(matches!(
            parse_server_key(&cut).unwrap_err(),
            ServerKeyError::TlvTruncated {
                needed: 401,
                len: 395
            }
        ));
        let mut long = server_key_field(DEFAULT_SERVER_KEY_BLOCK).unwrap();
        long.extend([0xFF; 256]);
        assert!(parse_server_key(&long).is_ok());
        long.push(0);
        assert!(matches!(
            parse_server_key(&long).unwrap_err(),
            ServerKeyError::BlockTooLong { .. }
        ));
        let mut garbage = DEFAULT_SERVER_KEY_BLOCK.to_vec();
        garbage[0] = 0x00;
        assert!(matches!(
            parse_server_key(&garbage).unwrap_err(),
            ServerKeyError::Key(_)
        ));
    }

    fn any_address() -> impl Strategy<Value = Option<ServerAddress>> {
        prop_oneof![
            Just(None),
            any::<[u8; 4]>().prop_map(|o| Some(ServerAddress::Ipv4(Ipv4Addr::from(o)))),
            "[a-z0-9][a-z0-9._-]{0,63}".prop_map(|d| Some(ServerAddress::Domain(d))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn format_then_parse_round_trips(
            address in any_address(),
            port in proptest::option::of(1u16..0xFFFF),
        ) {
            let key = spark_key();
            let block = format_server_key(&key, address.as_ref(), port).unwrap();
            prop_assert_eq!(block.len() % 2, 0);
            for bytes in [block.clone(), server_key_field(&block).unwrap()] {
                let parsed = parse_server_key(&bytes).unwrap();
                prop_assert_eq!(&parsed.key, &key);
                prop_assert_eq!(&parsed.stored_address, &address);
                prop_assert_eq!(parsed.stored_port, port);
                prop_assert_eq!(parsed.port, port.unwrap_or(DEFAULT_PORT));
            }
        }

        #[test]
        fn no_bytes_make_the_block_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..900)) {
            let _ = parse_server_key(&bytes);
        }

        #[test]
        fn no_tail_makes_the_block_parser_panic(tail in proptest::collection::vec(any::<u8>(), 0..500)) {
            let mut block = DEFAULT_SERVER_KEY_BLOCK[..384].to_vec();
            block.extend(tail);
            let _ = parse_server_key(&block);
        }

        #[test]
        fn no_host_string_makes_parse_address_panic(host in "\\PC{0,80}") {
            let _ = parse_address(&host);
        }
    }
}
