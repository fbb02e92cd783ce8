//! Reports of device operations that front ends print and bindings return
//! as they are (the `--json` shapes).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Device, DeviceError};
use crate::keys;
use crate::platform;
use crate::progress::Monitor;
use crate::server_key::ServerKeySummary;

/// Memory read to a file: `dfu read`'s report (fields in the order the CLI
/// has always printed them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DfuReadFile {
    pub addr: u32,
    pub alt: u8,
    pub len: usize,
    pub output: PathBuf,
}

/// A server key block written to a board (DCT 2082, the whole field) and
/// read back: `keys server`'s report. Fields in the order the CLI has
/// always printed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerKeyWrite {
    /// Bytes written: the whole server key field.
    pub bytes: usize,
    /// The board, as [`Device::description`] names it.
    pub device: String,
    /// DCT offset of the field (REFERENCE §2).
    pub offset: usize,
    pub server_key: ServerKeySummary,
    pub verified: bool,
}

impl Device {
    /// Read `len` bytes at `addr` of `alt` into the file `output`: refused
    /// before any transfer if `output` exists (unless `overwrite`) or is a
    /// link; written atomically with mode 0600, since every alt can hold
    /// key material (the DCT holds the device key at offset 34).
    pub fn dfu_read_into(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        output: &Path,
        overwrite: bool,
        monitor: &Monitor,
    ) -> Result<DfuReadFile, DeviceError> {
        keys::check_target(output, overwrite)?;
        let data = self.dfu_read_with(alt, addr, len, monitor)?;
        keys::write_atomic(output, &data, true, overwrite)?;
        Ok(DfuReadFile {
            addr,
            alt,
            len: data.len(),
            output: output.to_path_buf(),
        })
    }

    /// [`Device::write_server_key`], reported with where it went.
    pub fn write_server_key_block(&mut self, block: &[u8]) -> Result<ServerKeyWrite, DeviceError> {
        let server_key = self.write_server_key(block)?;
        let field = platform::known_field("server_public_key");
        Ok(ServerKeyWrite {
            bytes: field.size,
            device: self.description().to_string(),
            offset: field.offset,
            server_key,
            verified: true,
        })
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::dfu::DeviceSelector;
    use crate::server_key::build_server_block;
    use crate::sim::duo::{CreateOptions, ManualClock, VirtualDuo};

    #[test]
    fn a_server_block_written_to_a_board_reads_back_as_built() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vd");
        let clock = ManualClock::new();
        VirtualDuo::create_with_clock(&dir, CreateOptions::default(), clock.clone()).unwrap();
        let mut dev = Device::open(Some(&DeviceSelector::Sim(dir)), clock).unwrap();
        let block = build_server_block(None, Some("127.0.0.1"), Some(5684)).unwrap();
        let report = dev.write_server_key_block(&block.bytes).unwrap();
        assert_eq!((report.offset, report.bytes), (2082, 768));
        assert_eq!(report.server_key, block.summary);
        assert_eq!(dev.read_server_address().unwrap(), block.summary);
    }

    #[test]
    fn a_dfu_read_lands_in_a_private_file_and_an_existing_one_is_refused_first() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vd");
        let clock = ManualClock::new();
        VirtualDuo::create_with_clock(&dir, CreateOptions::default(), clock.clone()).unwrap();
        let mut dev = Device::open(Some(&DeviceSelector::Sim(dir)), clock).unwrap();
        let out = tmp.path().join("slot.bin");
        let report = dev
            .dfu_read_into(1, 34, 612, &out, false, &Monitor::default())
            .unwrap();
        assert_eq!(report.len, 612);
        assert_eq!(std::fs::read(&out).unwrap(), vec![0xFF; 612]);
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = dev
            .dfu_read_into(1, 34, 612, &out, false, &Monitor::default())
            .unwrap_err();
        assert!(e.to_string().contains("slot.bin"), "{e}");
    }
}
