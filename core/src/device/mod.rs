//! A board in DFU mode, and what the provisioning guide does to it: back up,
//! restore and reset the device key, write the server key, read and edit
//! the DCT, raw DFU reads and writes. The CLI and the bindings are thin
//! over this module: every domain decision (which bytes at which offset,
//! what a slot state means, how to recover from a failed write) is here.
//!
//! - `open`: the `--device` selector → a [`Device`] (USB through
//!   [`crate::dfu::usb`], `sim:DIR` through [`crate::sim::duo::SimTransport`]),
//!   and [`list_devices`];
//! - `keys`: the key slot at application-DCT offset 34 (REFERENCE §2): save,
//!   load with a verified backup and restore on failure, reset;
//! - this file: the DCT and server-key operations and the raw pass-throughs.
//!
//! Every wait goes through the [`Clock`] given at open, so tests run the
//! virtual Duo on a manual clock and benchmarks on the real one.

mod backup;
mod keys;
mod open;
mod reports;

#[cfg(all(test, feature = "sim"))]
mod share_tests;
#[cfg(all(test, feature = "sim"))]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::dct::{AppDct, DctError, FieldValue};
use crate::dfu::{
    ControlTransport, DeviceSelector, Dfu, DfuError, DfuStats, ErasePolicy, LeaveOutcome,
};
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use crate::keys::{KeyError, SlotState};
use crate::platform::{self, DctLayout, FlashMap, Platform};
use crate::progress::{Monitor, Phase};
use crate::server_key::{self, ServerKeyError, ServerKeySummary};
use crate::time::Clock;

pub use backup::{BackupPlace, DFU_WRITE_BACKUP_NAME, RESET_BACKUP_NAME};
pub use keys::{
    backup_path, dct_dump_path, BackupKind, KeyToLoad, LoadReport, ResetReport, RestoreOutcome,
    SaveReport, SlotHolds,
};
pub use open::{list_devices, no_device_detail, ListedAlt, ListedDevice};
pub use reports::{DfuReadFile, ServerKeyWrite};

/// What a device operation can fail with. Each message names what failed,
/// the value involved and the next step.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Dfu(#[from] DfuError),
    #[cfg(feature = "sim")]
    #[error(transparent)]
    Sim(#[from] crate::sim::duo::SimError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Dct(#[from] DctError),
    #[error(transparent)]
    ServerKey(#[from] ServerKeyError),
    #[error(
        "{description} is not a board this tool knows (USB {vid:04x}:{pid:04x}); supported in DFU \
         mode: RedBear Duo 2b04:d058, Particle Photon 2b04:d006, Particle P1 2b04:d008"
    )]
    UnknownBoard {
        description: String,
        vid: u16,
        pid: u16,
    },
    #[error("{selector}: this build has no {feature} support (cargo feature `{feature}`)")]
    Unsupported {
        selector: String,
        feature: &'static str,
    },
    /// Saving the key of a slot that holds no key, or a corrupt one.
    #[error("{what}; {next_step}")]
    NoKeyToSave {
        state: SlotState,
        what: String,
        /// Why, and the remedy, in words.
        next_step: String,
        remedy: Box<Remedy>,
    },
    /// The board's alt-0 string is none of its platform's flash maps, so
    /// where it keeps its bootloader and DCT is unknown.
    #[error(
        "{platform}: the alt-0 memory layout {alt0:?} is not one this tool knows ({known}), so \
         where the board keeps its bootloader and DCT is unknown; nothing was written. Use alt 1 \
         for the DCT"
    )]
    UnknownFlashMap {
        platform: &'static str,
        alt0: String,
        known: String,
    },
    /// What was read back is not what was written.
    #[error(
        "{what} at DCT offset {offset} did not read back as written: first difference at byte \
         {index} (wrote 0x{wrote:02x}, read 0x{read:02x}); the device did not keep the write"
    )]
    VerifyMismatch {
        what: &'static str,
        offset: u32,
        index: usize,
        wrote: u8,
        read: u8,
    },
    /// The backup of the current key could not be made; the device was not written.
    #[error("cannot keep a backup of the device's current key at {}: {detail}; nothing was written to the device", path.display())]
    Backup { path: PathBuf, detail: String },
    /// Setting the device key slot as a DCT field: it would overwrite the
    /// key with no backup, no check of the key and no restore on failure.
    #[error(
        "setting DCT field `{field}` would overwrite the device's private key (DCT offset 34) \
         without a backup; {}",
        Remedy::UseKeyOperations
    )]
    KeySlotField { field: &'static str },
    /// A raw write of no bytes: almost always a wrong file, never a write.
    #[error("there is nothing to write: the data given is empty (0 bytes); check the file or buffer it came from")]
    EmptyWrite,
    /// Something failed once a write over the device key had begun: the key
    /// as it was before is in the named backup.
    #[error("{failure}\nthe device key as it was before this operation is saved in {}", backup.display())]
    AfterKeyReplaced {
        failure: Box<DeviceError>,
        backup: PathBuf,
    },
    /// A key load or reset was cancelled: it stopped where the slot holds
    /// one whole content (see [`SlotHolds`]), and says which and where the
    /// backup is.
    #[error("{}; {remedy}", keys::cancelled_text(*slot, new, backup.as_deref(), *restored))]
    Cancelled {
        slot: SlotHolds,
        /// What was being written ("the new key", "the reset request").
        new: &'static str,
        /// The verified backup of the previous slot, if one was made.
        backup: Option<PathBuf>,
        /// The previous slot had to be written back (and was verified).
        restored: bool,
        /// Going back to the old key (slot `new`), or running again (`old`).
        remedy: Box<Remedy>,
    },
    /// A key load failed after its write started; says what the restore did.
    #[error("loading {} failed: {failure}\n{restore}", file.display())]
    LoadFailed {
        file: PathBuf,
        failure: Box<DeviceError>,
        restore: RestoreOutcome,
    },
}

impl DeviceError {
    /// True for a cancellation through the caller's token that stopped a
    /// DFU transfer (before any settling of the key slot).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, DeviceError::Dfu(DfuError::Cancelled))
    }
}

impl ErrorInfo for DeviceError {
    fn code(&self) -> ErrorCode {
        match self {
            DeviceError::Dfu(e) => e.code(),
            #[cfg(feature = "sim")]
            DeviceError::Sim(e) => e.code(),
            DeviceError::Key(e) => e.code(),
            DeviceError::Dct(e) => e.code(),
            DeviceError::ServerKey(e) => e.code(),
            DeviceError::UnknownBoard { .. } | DeviceError::UnknownFlashMap { .. } => {
                ErrorCode::UnknownBoard
            }
            DeviceError::Unsupported { .. } => ErrorCode::Unsupported,
            DeviceError::NoKeyToSave { state, .. } => match state {
                SlotState::Erased | SlotState::ResetRequest => ErrorCode::SlotEmpty,
                SlotState::Corrupt { .. } | SlotState::Valid { .. } => ErrorCode::SlotCorrupt,
            },
            DeviceError::VerifyMismatch { .. } => ErrorCode::VerifyFailed,
            DeviceError::Backup { .. } => ErrorCode::BackupFailed,
            DeviceError::KeySlotField { .. } | DeviceError::EmptyWrite => {
                ErrorCode::InvalidArgument
            }
            DeviceError::AfterKeyReplaced { failure, .. }
            | DeviceError::LoadFailed { failure, .. } => failure.code(),
            DeviceError::Cancelled { .. } => ErrorCode::Cancelled,
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            DeviceError::Dfu(e) => e.facts(),
            #[cfg(feature = "sim")]
            DeviceError::Sim(e) => e.facts(),
            DeviceError::Key(e) => e.facts(),
            DeviceError::Dct(e) => e.facts(),
            DeviceError::ServerKey(e) => e.facts(),
            DeviceError::Backup { path, .. } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            },
            DeviceError::AfterKeyReplaced { failure, backup } => ErrorFacts {
                backup: Some(backup.clone()),
                ..ErrorFacts::default()
            }
            .or(failure.facts()),
            DeviceError::LoadFailed {
                file,
                failure,
                restore,
            } => ErrorFacts {
                backup: Some(restore.backup().to_path_buf()),
                restore: Some(restore.name()),
                path: Some(file.clone()),
                ..ErrorFacts::default()
            }
            .or(failure.facts()),
            DeviceError::Cancelled { slot, backup, .. } => ErrorFacts {
                backup: backup.clone(),
                slot: Some(slot.as_str()),
                ..ErrorFacts::default()
            },
            _ => ErrorFacts::default(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            DeviceError::Dfu(e) => e.remedies(),
            #[cfg(feature = "sim")]
            DeviceError::Sim(e) => e.remedies(),
            DeviceError::Key(e) => e.remedies(),
            DeviceError::Dct(e) => e.remedies(),
            DeviceError::ServerKey(e) => e.remedies(),
            DeviceError::NoKeyToSave { remedy, .. } => vec![(**remedy).clone()],
            DeviceError::KeySlotField { .. } => vec![Remedy::UseKeyOperations],
            DeviceError::AfterKeyReplaced { failure, .. } => failure.remedies(),
            DeviceError::LoadFailed {
                failure, restore, ..
            } => {
                let mut all: Vec<Remedy> = restore.remedy().into_iter().collect();
                all.extend(failure.remedies());
                all
            }
            DeviceError::Cancelled { remedy, .. } => vec![(**remedy).clone()],
            _ => vec![],
        }
    }
}

/// How the device is reached, for hints that name the right action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Usb,
    /// A virtual Duo and its state directory.
    Sim(PathBuf),
    /// A transport handed in by the caller ([`Device::from_transport`]);
    /// it cannot be reopened.
    Custom,
}

/// An open board in DFU mode.
pub struct Device {
    dfu: Dfu<Box<dyn ControlTransport + Send>>,
    platform: &'static Platform,
    description: String,
    selector: Option<DeviceSelector>,
    connection: Connection,
    clock: Arc<dyn Clock>,
}

// Bindings hand a device to worker threads: it must stay `Send`.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Device>();
};

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("description", &self.description)
            .field("platform", &self.platform.name)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// What `dfu write` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteReport {
    pub alt: u8,
    pub addr: u32,
    pub bytes: usize,
    /// Start addresses of the sectors erased first.
    pub erased_sectors: Vec<u32>,
    pub blocks: u32,
    /// The device was told to leave DFU mode afterwards (and did).
    pub left_dfu: bool,
    /// The verified backup of the device key the write could have changed.
    pub key_backup: Option<PathBuf>,
    /// The verified dump of the whole DCT region kept before a write into
    /// the system parts (REFERENCE §1 hazards).
    pub dct_dump: Option<PathBuf>,
    /// The hazard of this board's flash-map generation that a write into
    /// the system parts runs into, in words.
    pub hazard: Option<String>,
}

/// One DCT field changed on the device by `dct set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub offset: usize,
    pub size: usize,
    pub old: FieldValue,
    pub new: FieldValue,
    /// Read back from the device after the write and compared.
    pub verified: bool,
}

impl Device {
    /// The board family (from its DFU-mode USB ids).
    pub fn platform(&self) -> &'static Platform {
        self.platform
    }

    /// `RedBear Duo (virtual, sim:vd)`, `RedBear Duo at usb:1-4`.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The DFU engine, for what this layer does not wrap.
    pub fn dfu_mut(&mut self) -> &mut Dfu<Box<dyn ControlTransport + Send>> {
        &mut self.dfu
    }

    /// Wire counters since open (or the last [`Device::reset_stats`]).
    pub fn stats(&self) -> DfuStats {
        self.dfu.stats()
    }

    pub fn reset_stats(&mut self) {
        self.dfu.reset_stats();
    }

    /// Host-side refusal of ranges outside the memory map or without
    /// permission (on by default; the CLI never turns it off). Off, the
    /// device's own refusal can be observed.
    pub fn set_layout_checks(&mut self, enabled: bool) {
        self.dfu.set_layout_checks(enabled);
    }

    /// The board's internal-flash generation, from its own alt-0 string
    /// (REFERENCE §1, "Two generations"): where its bootloader ends and its
    /// DCT region starts.
    pub fn flash_map(&self) -> Result<&'static FlashMap, DeviceError> {
        let alt0 = self
            .dfu
            .info()
            .alt(0)
            .and_then(|a| a.name.clone())
            .unwrap_or_default();
        self.platform
            .flash_map_for_alt0(&alt0)
            .ok_or_else(|| DeviceError::UnknownFlashMap {
                platform: self.platform.display_name,
                alt0,
                known: self
                    .platform
                    .flash_maps
                    .iter()
                    .map(|m| format!("{}: {:?}", m.firmware, m.alt0))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
    }

    /// The application-DCT layout of the board's firmware, as far as DFU
    /// mode tells it (REFERENCE §1, §7): the 16 KiB bootloader's map means
    /// firmware ≤ 0.2.4 (the 0.2.x table); the 32 KiB map with the device id
    /// in upper case as serial is bootloader r5 (firmware 0.3.0/0.3.1), in
    /// lower case r6 (0.3.2+). A Photon / P1 uses the 0.3.0/0.3.1 table
    /// (shared offsets). What it cannot tell: a board whose firmware was
    /// changed without its bootloader following (an r6 board given 0.3.1
    /// keeps r6 and is read as 0.3.2+).
    pub fn dct_layout(&self) -> DctLayout {
        let Ok(map) = self.flash_map() else {
            return DctLayout::V0_3_0;
        };
        if map == &platform::board::DUO_MAP_16K {
            return DctLayout::V0_2;
        }
        if map != &platform::board::DUO_MAP_32K {
            return DctLayout::V0_3_0;
        }
        let serial = self.dfu.info().serial.clone().unwrap_or_default();
        let lower_hex = serial.len() == 24
            && serial
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if lower_hex {
            DctLayout::V0_3_2
        } else {
            DctLayout::V0_3_0
        }
    }

    /// The whole DCT region (both partitions) read over alt 0 at the
    /// address of the board's generation (0x08004000 or 0x08008000).
    pub fn read_dct_region(&mut self) -> Result<Vec<u8>, DeviceError> {
        let addr = self.flash_map()?.dct_region_addr;
        let len = 2 * self.platform.dct_partition_size;
        Ok(self.dfu.read(0, addr, len)?)
    }

    /// The virtual Duo's directory, for remedies that name how to boot it
    /// or switch it to DFU mode.
    pub(crate) fn virtual_device(&self) -> Option<PathBuf> {
        match &self.connection {
            Connection::Sim(dir) => Some(dir.clone()),
            Connection::Usb | Connection::Custom => None,
        }
    }

    /// Read `len` bytes at `addr` of `alt` (checked against the alt's memory map).
    pub fn dfu_read(&mut self, alt: u8, addr: u32, len: usize) -> Result<Vec<u8>, DeviceError> {
        self.dfu_read_with(alt, addr, len, &Monitor::default())
    }

    /// [`Device::dfu_read`] with progress ([`Phase::Read`], bytes) and
    /// cancellation between blocks and in every wait.
    pub fn dfu_read_with(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        monitor: &Monitor,
    ) -> Result<Vec<u8>, DeviceError> {
        Ok(self.dfu.read_with(alt, addr, len, monitor)?)
    }

    /// Write `data` at `addr` of `alt`, erasing the touched sectors of
    /// erasable segments first (not on the DCT alt, whose erase is a no-op),
    /// then optionally leave DFU mode. With `key_backup_name`, a write that
    /// can change the device key first keeps a verified backup of it,
    /// `backup_rsa_NAME.der` (one slot read: 500 ms of the device's time);
    /// `None` writes as dfu-util does, with no backup.
    pub fn dfu_write(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        leave: bool,
        key_backup_name: Option<&Path>,
    ) -> Result<WriteReport, DeviceError> {
        self.dfu_write_with(alt, addr, data, leave, key_backup_name, &Monitor::default())
    }

    /// [`Device::dfu_write`] with progress ([`Phase::Backup`] while the key
    /// is kept, then [`Phase::Erase`] and [`Phase::Write`], bytes) and
    /// cancellation before each sector and block and in every wait. A
    /// cancelled raw write stops where it is (a raw write has no old
    /// content to go back to): the error names the key backup, if one was
    /// kept, and nothing is left half-sent within a block.
    pub fn dfu_write_with(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        leave: bool,
        key_backup_name: Option<&Path>,
        monitor: &Monitor,
    ) -> Result<WriteReport, DeviceError> {
        if data.is_empty() {
            return Err(DeviceError::EmptyWrite);
        }
        let hazard = self.system_part_hazard(alt, addr, data.len())?;
        let (key_backup, dct_dump) = match key_backup_name {
            Some(name) => {
                let key = self.keep_key_before_raw_write(alt, addr, data.len(), name)?;
                let dump = match hazard {
                    Some(_) => {
                        let region = self.read_dct_region()?;
                        Some(keys::write_numbered(
                            |n| keys::dct_dump_path(name, n),
                            &region,
                        )?)
                    }
                    None => None,
                };
                (key, dump)
            }
            None => (None, None),
        };
        let after = |e: DeviceError| keys::after_key_replaced(e, key_backup.as_deref());
        let summary = self
            .dfu
            .write_with(alt, addr, data, ErasePolicy::TouchedSectors, monitor)
            .map_err(|e| after(e.into()))?;
        if leave {
            monitor
                .check()
                .map_err(|e| after(DfuError::from(e).into()))?;
            self.leave().map_err(after)?;
        }
        Ok(WriteReport {
            alt,
            addr,
            bytes: data.len(),
            erased_sectors: summary.erased,
            blocks: summary.blocks,
            left_dfu: leave,
            key_backup,
            dct_dump,
            hazard,
        })
    }

    /// The REFERENCE §1 hazard a raw alt-0 write into the system parts
    /// (0x08020000–0x080BFFFF) runs into on this board's generation.
    fn system_part_hazard(
        &self,
        alt: u8,
        addr: u32,
        len: usize,
    ) -> Result<Option<String>, DeviceError> {
        if alt != 0 || self.platform.flash_maps.len() < 2 {
            return Ok(None);
        }
        let map = self.flash_map()?;
        if !map.touches_system_parts(addr, len as u64) {
            return Ok(None);
        }
        Ok(Some(if map == &platform::board::DUO_MAP_16K {
            "this board has the 16 KiB bootloader (firmware ≤ 0.2.4): system firmware ≥ 0.3.0 \
             replaces the bootloader and erases DCT1 (0x08004000–0x08007FFF); if DCT1 was \
             current, the device key, the server key and the Wi-Fi credentials are gone. Then \
             write the DCT dump back at 0x08008000, or load the key backup and the server key \
             through alt 1"
                .to_string()
        } else {
            "this board has the 32 KiB bootloader (firmware ≥ 0.3.0): system firmware ≤ 0.2.4 \
             destroys its bootloader; never write it"
                .to_string()
        }))
    }

    /// Leave DFU mode: the board resets into its firmware (which, on a slot
    /// whose first byte is 0xFF, generates a new key).
    pub fn leave(&mut self) -> Result<LeaveOutcome, DeviceError> {
        Ok(self.dfu.leave(None)?)
    }

    /// `len` bytes of the application DCT at `offset` (alt 1 addresses are
    /// application-DCT offsets, REFERENCE §1).
    pub(crate) fn read_dct(&mut self, offset: usize, len: usize) -> Result<Vec<u8>, DeviceError> {
        self.read_dct_as(offset, len, Phase::Read, &Monitor::default())
    }

    /// [`Device::read_dct`], reporting as `phase` to `monitor`.
    pub(crate) fn read_dct_as(
        &mut self,
        offset: usize,
        len: usize,
        phase: Phase,
        monitor: &Monitor,
    ) -> Result<Vec<u8>, DeviceError> {
        let alt = self.platform.dct_alt;
        Ok(self.dfu.read_as(alt, offset as u32, len, phase, monitor)?)
    }

    /// Write `data` at application-DCT `offset`, then read it back and
    /// compare. One DNLOAD block per 4 KiB, each applied by the bootloader
    /// as one copy-on-write of the DCT (so a block is never half-applied).
    pub(crate) fn write_dct_verified(
        &mut self,
        offset: usize,
        data: &[u8],
        what: &'static str,
    ) -> Result<(), DeviceError> {
        self.write_dct_verified_as(offset, data, what, Phase::Write, &Monitor::default())
    }

    /// [`Device::write_dct_verified`], reporting the write as `phase` and
    /// the read-back as [`Phase::Verify`].
    pub(crate) fn write_dct_verified_as(
        &mut self,
        offset: usize,
        data: &[u8],
        what: &'static str,
        phase: Phase,
        monitor: &Monitor,
    ) -> Result<(), DeviceError> {
        let alt = self.platform.dct_alt;
        self.dfu
            .write_as(alt, offset as u32, data, ErasePolicy::Never, phase, monitor)?;
        let back = self.read_dct_as(offset, data.len(), Phase::Verify, monitor)?;
        verify(what, offset, data, &back)
    }

    /// The whole application DCT (REFERENCE §2 table, 4290 bytes at 0 on alt 1).
    pub fn read_app_dct(&mut self) -> Result<AppDct, DeviceError> {
        let layout = self.dct_layout();
        let bytes = self.read_dct(0, layout.size())?;
        Ok(AppDct::from_bytes_as(self.platform, layout, &bytes)?
            .with_layout_source(crate::dct::LayoutSource::Bootloader))
    }

    /// Set one DCT field from text (the forms of [`AppDct::set`]): only that
    /// field's bytes are written, at its offset, then read back. The device
    /// key slot is refused: `keys load` / `keys reset` keep a backup of it.
    pub fn set_dct_field(&mut self, name: &str, value: &str) -> Result<FieldChange, DeviceError> {
        let field = crate::dct::lookup(name)?;
        if field.name == "device_private_key" {
            return Err(DeviceError::KeySlotField { field: field.name });
        }
        let mut app = self.read_app_dct()?;
        let old = app.get(name)?;
        app.set(name, value)?;
        let bytes = app.field_bytes(name)?.to_vec();
        self.write_dct_verified(field.offset, &bytes, "the DCT field")?;
        Ok(FieldChange {
            field: field.name,
            offset: field.offset,
            size: field.size,
            old,
            new: app.get(name)?,
            verified: true,
        })
    }

    /// Where the device connects and which server key it trusts (the block
    /// at DCT offset 2082, REFERENCE §2).
    pub fn read_server_address(&mut self) -> Result<ServerKeySummary, DeviceError> {
        let field = platform::known_field("server_public_key");
        let block = self.read_dct(field.offset, field.size)?;
        Ok(server_key::parse_server_key(&block)?.summary())
    }

    /// Write a server key block as the whole 768-byte field (so no address
    /// or port of a previous block survives), verified by reading it back.
    pub fn write_server_key(&mut self, block: &[u8]) -> Result<ServerKeySummary, DeviceError> {
        let summary = server_key::parse_server_key(block)?.summary();
        let field = platform::known_field("server_public_key");
        let bytes = server_key::server_key_field(block)?;
        self.write_dct_verified(field.offset, &bytes, "the server key block")?;
        Ok(summary)
    }
}

/// `back` must equal `wrote`.
fn verify(what: &'static str, offset: usize, wrote: &[u8], back: &[u8]) -> Result<(), DeviceError> {
    if back == wrote {
        return Ok(());
    }
    let index = wrote
        .iter()
        .zip(back)
        .position(|(a, b)| a != b)
        .unwrap_or(wrote.len().min(back.len()));
    Err(DeviceError::VerifyMismatch {
        what,
        offset: offset as u32,
        index,
        wrote: wrote.get(index).copied().unwrap_or(0),
        read: back.get(index).copied().unwrap_or(0),
    })
}
