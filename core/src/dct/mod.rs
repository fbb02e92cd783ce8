//! The Device Configuration Table (REFERENCE §2).
//!
//! - [`AppDct`]: the application DCT as seen through DFU alt 1 (4290 bytes up
//!   to a full 16 KiB alt-1 dump), with typed access to every field of
//!   [`crate::platform::APP_DCT_FIELDS`].
//! - [`DctImage`]: the raw 32 KiB DCT region of internal flash (two WICED
//!   partitions), written the way the device writes it: copy the current
//!   partition to the standby one with the change applied, then flip the
//!   "current" flag.
//! - [`DctFile`]: tells the two apart by size and content.

use crate::platform::Platform;

#[derive(Debug, thiserror::Error)]
pub enum DctError {
    #[error("placeholder")]
    Todo,
}

/// Application DCT bytes (alt-1 view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDct {
    platform: &'static Platform,
    bytes: Vec<u8>,
}

impl AppDct {
    pub fn from_bytes(_platform: &'static Platform, _bytes: &[u8]) -> Result<Self, DctError> {
        todo!()
    }
    pub fn platform(&self) -> &'static Platform {
        self.platform
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Raw bytes of a named field.
    pub fn field_bytes(&self, _name: &str) -> Result<&[u8], DctError> {
        todo!()
    }
    /// Overwrite a named field with raw bytes (must be exactly the field's size
    /// or shorter; shorter is padded with 0xFF).
    pub fn set_field_bytes(&mut self, _name: &str, _value: &[u8]) -> Result<(), DctError> {
        todo!()
    }
    /// Overwrite `data.len()` bytes at `offset` (alt-1 address semantics of
    /// `dct_write_app_data`).
    pub fn write_at(&mut self, _offset: usize, _data: &[u8]) -> Result<(), DctError> {
        todo!()
    }
    pub fn private_key_slot(&self) -> &[u8] {
        todo!()
    }
    pub fn public_key_slot(&self) -> &[u8] {
        todo!()
    }
    pub fn server_key_block(&self) -> &[u8] {
        todo!()
    }
    pub fn bootloader_version(&self) -> u16 {
        todo!()
    }
    /// 24 lower-case hex digits, or `None` when unset (all 0xFF / all 0).
    pub fn device_id(&self) -> Option<String> {
        todo!()
    }
}

/// The 32 KiB DCT region image (written at 0x08008000 on a Duo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DctImage {
    platform: &'static Platform,
    bytes: Vec<u8>,
}

impl DctImage {
    pub fn from_bytes(_platform: &'static Platform, _bytes: &[u8]) -> Result<Self, DctError> {
        todo!()
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Index (0 or 1) of the current partition.
    pub fn current_partition(&self) -> Result<usize, DctError> {
        todo!()
    }
    /// The application DCT of the current partition.
    pub fn app_dct(&self) -> Result<AppDct, DctError> {
        todo!()
    }
    /// Apply `data` at application-DCT `offset` the way the device does:
    /// copy-on-write into the standby partition, then make it current.
    pub fn write_app(&mut self, _offset: usize, _data: &[u8]) -> Result<(), DctError> {
        todo!()
    }
}

/// A DCT file of either kind, told apart by size and content.
#[derive(Debug, Clone)]
pub enum DctFile {
    App(AppDct),
    Image(DctImage),
}

impl DctFile {
    pub fn detect(_platform: &'static Platform, _bytes: &[u8]) -> Result<Self, DctError> {
        todo!()
    }
}
