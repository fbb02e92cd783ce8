//! The server public key block at DCT offset 2082 (REFERENCE §2): the cloud's
//! RSA public key (DER), 0xFF padding to byte 384, the server address as a TLV
//! at 384, and an optional big-endian port at 450.

use std::net::Ipv4Addr;

use rsa::RsaPublicKey;

/// RedBear's block for the public Particle cloud (`server_public_key.der`).
pub const DEFAULT_SERVER_KEY_BLOCK: &[u8] = include_bytes!("../assets/server_public_key.der");
/// Host the firmware falls back to when the TLV is missing or invalid.
pub const DEFAULT_HOST: &str = "device.spark.io";
/// Port the firmware uses when byte 450 holds 0xFFFF (TCP devices).
pub const DEFAULT_PORT: u16 = 5683;

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("placeholder")]
    Todo,
}

/// Where the device connects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum ServerAddress {
    Ipv4(Ipv4Addr),
    Domain(String),
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

/// Build a block. Without a port, exactly RedBear's layout.
pub fn format_server_key(
    _key: &RsaPublicKey,
    _address: Option<&ServerAddress>,
    _port: Option<u16>,
) -> Result<Vec<u8>, ServerKeyError> {
    todo!()
}

/// Parse a block (at least 384 bytes; up to the 768-byte field).
pub fn parse_server_key(_block: &[u8]) -> Result<ServerKeyBlock, ServerKeyError> {
    todo!()
}

/// Parse `--host`: an IPv4 literal or an ASCII domain name.
pub fn parse_address(_host: &str) -> Result<ServerAddress, ServerKeyError> {
    todo!()
}
