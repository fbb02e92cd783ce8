//! Building a server key block for DCT 2082 from what a user gives (a key
//! file or nothing, a host or nothing, a port or nothing) with the
//! firmware's defaults, and checking that it parses back before anyone
//! writes it to a device or a file.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    default_server_key, format_server_key, parse_address, parse_server_key, ServerKeyError,
    ServerKeySummary, DEFAULT_HOST,
};
use crate::keys;

/// A block ready to write, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub bytes: Vec<u8>,
    pub summary: ServerKeySummary,
}

/// A block written to a file: what `keys server --output` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerBlockFile {
    pub output: PathBuf,
    pub bytes: usize,
    pub server_key: ServerKeySummary,
}

/// The block for `key_file` (RSA-2048 public key, DER or PEM; default: the
/// public Particle cloud's key), `host` (default [`DEFAULT_HOST`], the
/// firmware's own fallback: the address is always stored, so a block never
/// keeps whatever address the device held before) and `port` (default none
/// stored: bytes 450-451 stay 0xFF, i.e. 5683). The block is parsed back
/// before it is returned.
pub fn build_server_block(
    key_file: Option<&Path>,
    host: Option<&str>,
    port: Option<u16>,
) -> Result<ServerBlock, ServerKeyError> {
    let key = match key_file {
        Some(path) => keys::load_server_key_file(path).map_err(ServerKeyError::KeyFile)?,
        None => default_server_key(),
    };
    let address = parse_address(host.unwrap_or(DEFAULT_HOST))?;
    let bytes = format_server_key(&key, Some(&address), port)?;
    let summary = parse_server_key(&bytes)
        .map_err(|e| ServerKeyError::BuiltBlockUnparsable(Box::new(e)))?
        .summary();
    Ok(ServerBlock { bytes, summary })
}

impl ServerBlock {
    /// Write the block to `path` ([`keys::write_atomic`]: an existing file
    /// only with `overwrite`, never a symbolic link; the block holds only
    /// public data, so the file is not made private).
    pub fn write_to(
        &self,
        path: &Path,
        overwrite: bool,
    ) -> Result<ServerBlockFile, keys::KeyError> {
        keys::write_atomic(path, &self.bytes, false, overwrite)?;
        Ok(ServerBlockFile {
            output: path.to_path_buf(),
            bytes: self.bytes.len(),
            server_key: self.summary.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ErrorInfo};
    use crate::server_key::{ServerAddress, DEFAULT_PORT, DEFAULT_SERVER_KEY_BLOCK};

    #[test]
    fn the_default_block_is_the_public_clouds_key_at_device_spark_io() {
        let block = build_server_block(None, None, None).unwrap();
        assert_eq!(
            block.summary.stored_address,
            Some(ServerAddress::Domain(DEFAULT_HOST.into()))
        );
        assert_eq!(block.summary.stored_port, None);
        assert_eq!(block.summary.port, DEFAULT_PORT);
        let default = parse_server_key(DEFAULT_SERVER_KEY_BLOCK)
            .unwrap()
            .summary();
        assert_eq!(block.summary.fingerprint, default.fingerprint);
    }

    #[test]
    fn host_and_port_are_stored_and_read_back() {
        let block = build_server_block(None, Some("127.0.0.1"), Some(5684)).unwrap();
        assert_eq!(block.summary.stored_port, Some(5684));
        assert_eq!(block.summary.address.to_string(), "127.0.0.1");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("server.der");
        let file = block.write_to(&out, false).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), block.bytes);
        assert_eq!(file.bytes, block.bytes.len());
    }

    #[test]
    fn a_missing_key_file_or_a_bad_host_is_refused_before_anything_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let e = build_server_block(Some(&dir.path().join("none.der")), None, None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Io);
        let e = build_server_block(None, Some("host:5683"), None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidServerKey);
        let e = build_server_block(None, None, Some(0)).unwrap_err();
        assert!(matches!(e, ServerKeyError::PortZero), "{e}");
    }
}
