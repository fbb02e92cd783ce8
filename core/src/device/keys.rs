//! The device key slot: application-DCT offset 34, 1216 bytes (REFERENCE
//! §2 "Key slot states"). The firmware reads its first 612 bytes at boot
//! and generates a key only when the first byte is 0xFF; any other content
//! is kept. So:
//!
//! - `save` refuses a slot with no key (erased, reset request) and a corrupt
//!   one, saying what to do;
//! - `load` validates the file before touching the device, keeps a verified
//!   backup of the current slot, writes the whole slot (PKCS#1 DER padded
//!   with 0xFF, one DNLOAD block that the bootloader applies as one DCT
//!   copy-on-write, so the slot is never half old and half new), reads it
//!   back, and on any failure puts the previous slot back and says so;
//! - `reset` writes the reset request and, unless told not to, leaves DFU so
//!   the firmware generates a new key.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Device, DeviceError};
use crate::dfu::{DfuError, TransportError};
use crate::error::Remedy;
use crate::keys::{self, KeyError, KeyFiles, RsaPrivateKey, SlotState};
use crate::platform::{known_field, PRIVATE_KEY_READ_LEN};
use crate::progress::{Monitor, Phase};

/// How many numbered backups (`backup_rsa_NAME.N.der`) are tried before
/// giving up rather than overwriting one.
const MAX_BACKUPS: u32 = 1000;

/// What `keys save` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SaveReport {
    pub files: KeyFiles,
    pub bits: usize,
    /// SHA-256 of the public key's SPKI DER.
    pub fingerprint: String,
}

/// A private key file checked and converted for the slot, before any
/// transfer: [`KeyToLoad::from_file`] refuses what the device could not use.
#[derive(Debug, Clone)]
pub struct KeyToLoad {
    pub path: PathBuf,
    key: RsaPrivateKey,
    /// PKCS#1 DER padded with 0xFF to the 1216-byte slot.
    slot: Vec<u8>,
    pub der_len: usize,
    pub bits: usize,
    pub fingerprint: String,
    /// Remarks about a key the firmware may not handle (not RSA-1024, e ≠ 65537).
    pub notes: Vec<String>,
}

impl KeyToLoad {
    /// Read and check a private key file (DER or PEM, PKCS#1 or PKCS#8, or
    /// a slot dump). A bare `NAME` that does not exist means `NAME.der`, as
    /// particle-cli's file naming goes.
    pub fn from_file(path_or_name: &Path) -> Result<KeyToLoad, DeviceError> {
        let path = if !path_or_name.exists() && path_or_name.extension().is_none() {
            path_or_name.with_extension("der")
        } else {
            path_or_name.to_path_buf()
        };
        let key = keys::load_private_key_file(&path)?;
        Self::checked(key, path)
    }

    /// Check a private key given as bytes (DER or PEM, PKCS#1 or PKCS#8, or
    /// a slot dump), no file involved. `name` labels it in reports and
    /// names its backup (`backup_rsa_NAME.der`).
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<KeyToLoad, DeviceError> {
        let key = keys::parse_private_key(bytes).map_err(|e| e.in_file(name))?;
        Self::checked(key, PathBuf::from(name))
    }

    /// Check a key value (e.g. one [`Device::read_key`] returned or
    /// [`keys::generate`] made). `name` as for [`KeyToLoad::from_bytes`].
    pub fn from_key(key: RsaPrivateKey, name: &str) -> Result<KeyToLoad, DeviceError> {
        Self::checked(key, PathBuf::from(name))
    }

    fn checked(key: RsaPrivateKey, path: PathBuf) -> Result<KeyToLoad, DeviceError> {
        keys::check_device_key(&key).map_err(|e| e.in_file(&path))?;
        let slot = keys::slot_bytes(&key).map_err(|e| e.in_file(&path))?;
        let der_len = keys::private_key_to_der(&key)?.len();
        Ok(KeyToLoad {
            bits: keys::key_bits(&key),
            fingerprint: keys::fingerprint(&key.to_public_key()),
            notes: keys::device_key_notes(&key),
            path,
            key,
            slot,
            der_len,
        })
    }

    /// The 1216 bytes written at offset 34.
    pub fn slot_bytes(&self) -> &[u8] {
        &self.slot
    }

    pub fn key(&self) -> &RsaPrivateKey {
        &self.key
    }
}

pub use crate::error::BackupKind;

/// What `keys load` did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub file: PathBuf,
    pub bits: usize,
    pub fingerprint: String,
    /// Bytes written at offset 34 (the whole slot).
    pub bytes_written: usize,
    /// Read back and compared equal.
    pub verified: bool,
    /// What the slot held before.
    pub previous: SlotState,
    pub backup: PathBuf,
    pub backup_kind: BackupKind,
    pub notes: Vec<String>,
}

/// What became of the device after a failed `keys load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RestoreOutcome {
    /// The slot still held the previous content (verified): the failed write
    /// never took effect.
    Unchanged { backup: PathBuf },
    /// The previous slot was written back and read back equal.
    Restored { backup: PathBuf },
    /// Putting the previous slot back failed too.
    Failed {
        error: String,
        backup: PathBuf,
        /// How to put the backup back by hand.
        next_step: Box<Remedy>,
    },
}

impl RestoreOutcome {
    /// The backup of the previous slot (there is one whatever happened).
    pub fn backup(&self) -> &Path {
        match self {
            RestoreOutcome::Unchanged { backup }
            | RestoreOutcome::Restored { backup }
            | RestoreOutcome::Failed { backup, .. } => backup,
        }
    }

    /// `unchanged`, `restored` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            RestoreOutcome::Unchanged { .. } => "unchanged",
            RestoreOutcome::Restored { .. } => "restored",
            RestoreOutcome::Failed { .. } => "failed",
        }
    }

    /// What is left to do: only when the restore failed.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            RestoreOutcome::Failed { next_step, .. } => Some((**next_step).clone()),
            _ => None,
        }
    }
}

impl std::fmt::Display for RestoreOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreOutcome::Unchanged { backup } => write!(
                f,
                "the device still holds its previous key (read back and verified); a backup is in {}",
                backup.display()
            ),
            RestoreOutcome::Restored { backup } => write!(
                f,
                "the previous key was written back and verified; a backup is in {}",
                backup.display()
            ),
            RestoreOutcome::Failed {
                error,
                backup,
                next_step,
            } => write!(
                f,
                "restoring the previous key failed too: {error}\nthe previous key is saved in {}: {next_step}",
                backup.display()
            ),
        }
    }
}

/// Which whole content a cancelled key load or reset left in the slot:
/// never a mix of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotHolds {
    /// What it held before the operation (untouched, or written back).
    Old,
    /// The key (or reset request) being written, whole and read back equal.
    New,
}

impl SlotHolds {
    /// `old` or `new` (the `slot` fact of a `CANCELLED` error).
    pub fn as_str(self) -> &'static str {
        match self {
            SlotHolds::Old => "old",
            SlotHolds::New => "new",
        }
    }
}

/// The message of a cancelled key load or reset.
pub(crate) fn cancelled_text(
    slot: SlotHolds,
    new: &str,
    backup: Option<&Path>,
    restored: bool,
) -> String {
    let saved = |what: &str| match backup {
        Some(path) => format!("; {what} is saved in {}", path.display()),
        None => String::new(),
    };
    match (slot, restored) {
        (SlotHolds::Old, true) => format!(
            "cancelled: the key slot holds its previous content again (written back and verified){}",
            saved("a backup of it")
        ),
        (SlotHolds::Old, false) => format!(
            "cancelled: the key slot holds its previous content, unchanged{}",
            saved("a backup of it")
        ),
        (SlotHolds::New, _) => format!(
            "cancelled after {new} was written whole: the key slot holds {new} (read back and verified){}",
            saved("its previous content")
        ),
    }
}

/// What `keys reset` did.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    /// What the slot held before.
    pub previous: SlotState,
    /// The verified backup of it (`None` when it held no key: erased or
    /// already the reset request).
    pub backup: Option<PathBuf>,
    pub backup_kind: Option<BackupKind>,
    pub bytes_written: usize,
    pub verified: bool,
    pub left_dfu: bool,
    /// What happens next, in words (the neutral text of `remedy`).
    pub next_step: String,
    /// What happens next, for a front end to word in its own terms.
    pub remedy: Remedy,
}

/// The backup name for loading `key_file`: `backup_rsa_NAME.der` next to
/// it (particle-cli's name), or, when that exists, `backup_rsa_NAME.N.der`
/// with the first free N from 1: a backup is never overwritten.
pub fn backup_path(key_file: &Path, n: u32) -> PathBuf {
    let dir = key_file.parent().unwrap_or(Path::new(""));
    let base = keys::key_base(Path::new(key_file.file_name().unwrap_or_default()));
    let name = base.to_string_lossy();
    if n == 0 {
        dir.join(format!("backup_rsa_{name}.der"))
    } else {
        dir.join(format!("backup_rsa_{name}.{n}.der"))
    }
}

/// Write the backup (mode 0600, never over an existing file), then read
/// it back and compare.
/// Name the backup in an error that comes after the key was replaced.
pub(crate) fn after_key_replaced(e: DeviceError, backup: Option<&Path>) -> DeviceError {
    match backup {
        Some(path) => DeviceError::AfterKeyReplaced {
            failure: Box::new(e),
            backup: path.to_path_buf(),
        },
        None => e,
    }
}

/// Keep a verified backup of a slot's content next to `key_file`
/// (`backup_rsa_NAME.der`): the key's DER when the slot holds a valid key,
/// else the raw slot bytes, so that a restore is exact either way.
fn back_up_slot(
    key_file: &Path,
    slot: &[u8],
    state: &SlotState,
) -> Result<(PathBuf, BackupKind), DeviceError> {
    let (bytes, kind) = match der_sequence_len(slot) {
        Some(len) if state.is_valid() => (&slot[..len], BackupKind::Key),
        _ => (slot, BackupKind::RawSlot),
    };
    Ok((write_backup(key_file, bytes)?, kind))
}

/// Where a dump of the whole DCT region is kept before a raw write that can
/// move the board's flash-map generation: `backup_dct_NAME.bin` (then
/// `backup_dct_NAME.1.bin` …) next to the key backup.
pub fn dct_dump_path(key_file: &Path, n: u32) -> PathBuf {
    let dir = key_file.parent().unwrap_or(Path::new(""));
    let base = keys::key_base(Path::new(key_file.file_name().unwrap_or_default()));
    let name = base.to_string_lossy();
    if n == 0 {
        dir.join(format!("backup_dct_{name}.bin"))
    } else {
        dir.join(format!("backup_dct_{name}.{n}.bin"))
    }
}

fn write_backup(key_file: &Path, bytes: &[u8]) -> Result<PathBuf, DeviceError> {
    write_numbered(|n| backup_path(key_file, n), bytes)
}

/// Write `bytes` (mode 0600, never over an existing file) at the first free
/// name of `path(0)`, `path(1)` …, then read it back and compare.
pub(crate) fn write_numbered(
    path: impl Fn(u32) -> PathBuf,
    bytes: &[u8],
) -> Result<PathBuf, DeviceError> {
    for n in 0..MAX_BACKUPS {
        let path = path(n);
        match keys::write_atomic(&path, bytes, true, false) {
            Ok(()) => {
                return match fs::read(&path) {
                    Ok(back) if back == bytes => Ok(path),
                    Ok(_) => Err(DeviceError::Backup {
                        path,
                        detail: "the file reads back different from what was written".into(),
                    }),
                    Err(e) => Err(DeviceError::Backup {
                        path,
                        detail: format!("cannot read it back: {e}"),
                    }),
                };
            }
            Err(KeyError::Exists { .. }) => continue,
            Err(e) => {
                return Err(DeviceError::Backup {
                    path,
                    detail: e.to_string(),
                })
            }
        }
    }
    Err(DeviceError::Backup {
        path: path(0),
        detail: format!("it and {MAX_BACKUPS} numbered backups exist already; move some away"),
    })
}

/// Length of the DER SEQUENCE opening `bytes` (header included), if whole.
fn der_sequence_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&0x30) {
        return None;
    }
    let b1 = *bytes.get(1)?;
    let (len, header) = match b1 {
        0..=0x7F => (usize::from(b1), 2),
        0x81 => (usize::from(*bytes.get(2)?), 3),
        0x82 => (
            usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
            4,
        ),
        _ => return None,
    };
    Some(header + len).filter(|&n| n <= bytes.len())
}

/// A cancellation noticed before anything was written.
fn cancelled_unchanged(new: &'static str, backup: Option<PathBuf>) -> DeviceError {
    DeviceError::Cancelled {
        slot: SlotHolds::Old,
        new,
        backup,
        restored: false,
        remedy: Box::new(Remedy::RepeatOperation),
    }
}

/// The failure a settled-but-unrestorable cancellation wraps.
fn failure_cancelled() -> DeviceError {
    DeviceError::Dfu(DfuError::Cancelled)
}

fn gone(e: &DeviceError) -> bool {
    matches!(
        e,
        DeviceError::Dfu(DfuError::Transport {
            source: TransportError::NoDevice,
            ..
        })
    )
}

impl Device {
    /// The first 612 bytes of the key slot: what the firmware reads at boot
    /// and particle-cli reads back (`dfu-util -a 1 -s 34:612 -U`).
    pub fn read_key_slot(&mut self) -> Result<Vec<u8>, DeviceError> {
        self.read_dct(
            known_field("device_private_key").offset,
            PRIVATE_KEY_READ_LEN,
        )
    }

    /// All 1216 bytes of the key slot.
    pub fn read_full_key_slot(&mut self) -> Result<Vec<u8>, DeviceError> {
        self.read_full_key_slot_with(&Monitor::default())
    }

    fn read_full_key_slot_with(&mut self, monitor: &Monitor) -> Result<Vec<u8>, DeviceError> {
        let field = known_field("device_private_key");
        self.read_dct_as(field.offset, field.size, Phase::Read, monitor)
    }

    /// Save the device's key as `BASE.der` (PKCS#1 DER, 0600), `BASE.pem`
    /// (0600) and `BASE.pub.pem`. Never overwrites without `force`; refuses a
    /// slot without a valid key, saying what it holds and what to do.
    pub fn save_key(&mut self, base: &Path, force: bool) -> Result<SaveReport, DeviceError> {
        self.save_key_with(base, force, &Monitor::default())
    }

    /// [`Device::save_key`] with progress ([`Phase::Read`], bytes) and
    /// cancellation of the slot read (nothing is written then).
    pub fn save_key_with(
        &mut self,
        base: &Path,
        force: bool,
        monitor: &Monitor,
    ) -> Result<SaveReport, DeviceError> {
        let files = KeyFiles::for_base(base);
        if !force {
            for path in [&files.der, &files.pem, &files.public_pem] {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(KeyError::Exists { path: path.clone() }.into());
                }
            }
        }
        let key = self.read_key_with(monitor)?;
        let files = keys::write_key_files(base, &key, force)?;
        Ok(SaveReport {
            files,
            bits: keys::key_bits(&key),
            fingerprint: keys::fingerprint(&key.to_public_key()),
        })
    }

    /// The device's key as a value, in memory (no file): the slot's
    /// PKCS#1 DER parsed. Refuses a slot with no key, or a corrupt one, as
    /// [`Device::save_key`] does.
    pub fn read_key(&mut self) -> Result<RsaPrivateKey, DeviceError> {
        self.read_key_with(&Monitor::default())
    }

    /// [`Device::read_key`] with progress ([`Phase::Read`], bytes) and
    /// cancellation of the slot read.
    pub fn read_key_with(&mut self, monitor: &Monitor) -> Result<RsaPrivateKey, DeviceError> {
        let slot = self.read_full_key_slot_with(monitor)?;
        let state = keys::classify_slot(&slot);
        if !state.is_valid() {
            return Err(self.no_key_to_save(state, keys::firmware_regenerates(&slot)));
        }
        Ok(keys::parse_private_key(&slot)?)
    }

    fn no_key_to_save(&self, state: SlotState, regenerates: bool) -> DeviceError {
        let boot_then_save = Remedy::BootThenSaveKey {
            virtual_device: self.virtual_device(),
        };
        let boot_first = boot_then_save.to_string();
        let (what, next_step, remedy) = match &state {
            SlotState::Erased => (
                "the device's key slot (DCT offset 34) is erased (all 0xFF): there is no key to \
                 save yet"
                    .to_string(),
                format!("a factory board makes its key at its first boot: {boot_first}"),
                boot_then_save.clone(),
            ),
            SlotState::ResetRequest => (
                "the device's key slot (DCT offset 34) holds the reset request (FF FF FF FF then \
                 zeros): there is no key to save"
                    .to_string(),
                format!("the firmware generates a new key at its next boot: {boot_first}"),
                boot_then_save.clone(),
            ),
            SlotState::Corrupt { reason } if regenerates => (
                format!(
                    "the device's key slot (DCT offset 34) does not hold a valid key: {reason}"
                ),
                format!("the firmware generates a new key at its next boot: {boot_first}"),
                boot_then_save.clone(),
            ),
            // `Valid` is not passed in; it shares the corrupt wording.
            SlotState::Corrupt { .. } | SlotState::Valid { .. } => (
                format!(
                    "the device's key slot (DCT offset 34) does not hold a valid key: {}",
                    match &state {
                        SlotState::Corrupt { reason } => reason.as_str(),
                        _ => "unreadable",
                    }
                ),
                format!(
                    "the firmware keeps such a slot (it makes a new key only when the first byte \
                     is 0xFF), so this device cannot connect to the cloud. {}",
                    Remedy::ResetOrRestoreKey
                ),
                Remedy::ResetOrRestoreKey,
            ),
        };
        DeviceError::NoKeyToSave {
            state,
            what,
            next_step,
            remedy: Box::new(remedy),
        }
    }

    /// Write `key` into the slot, keeping a verified backup of what was there
    /// (see [`backup_path`]). On any failure once the write has started, the
    /// previous slot is put back and verified, and the error says so.
    pub fn load_key(&mut self, key: &KeyToLoad) -> Result<LoadReport, DeviceError> {
        self.load_key_with(key, &Monitor::default())
    }

    /// [`Device::load_key`] with progress and cancellation, as
    /// [`Device::load_key_into_with`].
    pub fn load_key_with(
        &mut self,
        key: &KeyToLoad,
        monitor: &Monitor,
    ) -> Result<LoadReport, DeviceError> {
        let dir = key.path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.load_key_into_with(key, &dir, monitor)
    }

    /// [`Device::load_key`], keeping the backup in `backup_dir`
    /// (`backup_dir/backup_rsa_NAME.der`, numbered if it exists) rather than
    /// beside the key's file: the way for keys given as bytes or values.
    pub fn load_key_into(
        &mut self,
        key: &KeyToLoad,
        backup_dir: &Path,
    ) -> Result<LoadReport, DeviceError> {
        self.load_key_into_with(key, backup_dir, &Monitor::default())
    }

    /// [`Device::load_key_into`], reporting [`Phase::Backup`] (the slot
    /// read), [`Phase::Write`], [`Phase::Verify`] and, after a failure or a
    /// cancellation, [`Phase::Restore`], in bytes; and cancellable.
    ///
    /// A cancellation never leaves a mix (the slot is one DNLOAD block that
    /// the bootloader applies whole): noticed during the backup, nothing is
    /// written; noticed once the write began, the block under way is left
    /// to finish, the slot is read back, and if it holds the new key whole
    /// it is kept (already verified: writing the old key back would be
    /// another DCT rewrite and another chance to fail, to undo a write that
    /// is complete), otherwise the previous slot is written back and
    /// verified. The restore itself is not cancellable. The error is
    /// [`DeviceError::Cancelled`] with the slot's content and the backup.
    pub fn load_key_into_with(
        &mut self,
        key: &KeyToLoad,
        backup_dir: &Path,
        monitor: &Monitor,
    ) -> Result<LoadReport, DeviceError> {
        const NEW: &str = "the new key";
        let field = known_field("device_private_key");
        let original = match self.read_dct_as(field.offset, field.size, Phase::Backup, monitor) {
            Err(e) if e.is_cancelled() => return Err(cancelled_unchanged(NEW, None)),
            other => other?,
        };
        let previous = keys::classify_slot(&original);
        let name = backup_dir.join(key.path.file_name().unwrap_or_default());
        let (backup, backup_kind) = back_up_slot(&name, &original, &previous)?;
        if monitor.check().is_err() {
            return Err(cancelled_unchanged(NEW, Some(backup)));
        }
        let written =
            self.write_dct_verified_as(field.offset, &key.slot, NEW, Phase::Write, monitor);
        if let Err(failure) = written {
            if failure.is_cancelled() {
                let settled = self.settle_cancelled(field.offset, &original, &key.slot, monitor);
                return Err(
                    self.cancelled(settled, NEW, backup, backup_kind, |restore| {
                        DeviceError::LoadFailed {
                            file: key.path.clone(),
                            failure: Box::new(failure_cancelled()),
                            restore,
                        }
                    }),
                );
            }
            let restore = match self.restore_slot(field.offset, &original, monitor) {
                Ok(false) => RestoreOutcome::Unchanged { backup },
                Ok(true) => RestoreOutcome::Restored { backup },
                Err(e) => RestoreOutcome::Failed {
                    error: e.to_string(),
                    next_step: Box::new(self.restore_hint(&backup, backup_kind)),
                    backup,
                },
            };
            return Err(DeviceError::LoadFailed {
                file: key.path.clone(),
                failure: Box::new(failure),
                restore,
            });
        }
        Ok(LoadReport {
            file: key.path.clone(),
            bits: key.bits,
            fingerprint: key.fingerprint.clone(),
            bytes_written: key.slot.len(),
            verified: true,
            previous,
            backup,
            backup_kind,
            notes: key.notes.clone(),
        })
    }

    /// After a cancellation once a write over the slot began: dfuIDLE
    /// again, then make the slot hold one whole content: `new` if it reads
    /// back whole, else `original` (written back and verified if needed).
    /// Not cancellable; reports as [`Phase::Verify`] / [`Phase::Restore`].
    fn settle_cancelled(
        &mut self,
        offset: usize,
        original: &[u8],
        new: &[u8],
        monitor: &Monitor,
    ) -> Result<(SlotHolds, bool), DeviceError> {
        self.settle_slot(offset, original, Some(new), monitor)
    }

    /// The error of a cancellation settled by [`Device::settle_cancelled`];
    /// `failed` words it when putting the old content back failed.
    fn cancelled(
        &self,
        settled: Result<(SlotHolds, bool), DeviceError>,
        new: &'static str,
        backup: PathBuf,
        backup_kind: BackupKind,
        failed: impl FnOnce(RestoreOutcome) -> DeviceError,
    ) -> DeviceError {
        match settled {
            Ok((slot, restored)) => DeviceError::Cancelled {
                slot,
                new,
                remedy: Box::new(match slot {
                    SlotHolds::New => self.restore_hint(&backup, backup_kind),
                    SlotHolds::Old => Remedy::RepeatOperation,
                }),
                backup: Some(backup),
                restored,
            },
            Err(e) => failed(RestoreOutcome::Failed {
                error: e.to_string(),
                next_step: Box::new(self.restore_hint(&backup, backup_kind)),
                backup,
            }),
        }
    }

    fn restore_hint(&self, backup: &Path, kind: BackupKind) -> Remedy {
        Remedy::RestoreBackup {
            backup: backup.to_path_buf(),
            backup_kind: kind,
            virtual_device: self.virtual_device(),
        }
    }

    /// Before a raw write of `len` bytes at `addr` of `alt`: if it can change
    /// the key slot — alt 1 over offsets 34..1250, or internal flash over the
    /// DCT region (whose copy-on-write may switch partitions) — and the slot
    /// holds anything but an erased slot or the reset request, keep a
    /// verified backup of it named after `backup_name` first.
    pub(crate) fn keep_key_before_raw_write(
        &mut self,
        alt: u8,
        addr: u32,
        len: usize,
        backup_name: &Path,
    ) -> Result<Option<PathBuf>, DeviceError> {
        let slot = known_field("device_private_key");
        let p = self.platform;
        let (start, end) = (u64::from(addr), u64::from(addr) + len as u64);
        let overlaps = |lo: u64, hi: u64| start < hi && lo < end;
        let touches_slot = if alt == p.dct_alt {
            overlaps(slot.offset as u64, slot.end() as u64)
        } else if alt == 0 {
            // A write into the system parts can move the flash-map
            // generation (REFERENCE §1 hazards): keep the key too.
            let map = self.flash_map()?;
            map.touches_dct(addr, len as u64, p.dct_partition_size)
                || map.touches_system_parts(addr, len as u64)
        } else {
            false
        };
        if !touches_slot {
            return Ok(None);
        }
        let original = self.read_dct(slot.offset, slot.size)?;
        let state = keys::classify_slot(&original);
        if matches!(state, SlotState::Erased | SlotState::ResetRequest) {
            return Ok(None);
        }
        Ok(Some(back_up_slot(backup_name, &original, &state)?.0))
    }

    /// Bring the device back to dfuIDLE after a failure, then make the slot
    /// hold `original` again. Returns whether it had to be rewritten.
    fn restore_slot(
        &mut self,
        offset: usize,
        original: &[u8],
        monitor: &Monitor,
    ) -> Result<bool, DeviceError> {
        self.settle_slot(offset, original, None, monitor)
            .map(|(_, rewritten)| rewritten)
    }

    /// dfuIDLE again, then one whole content in the slot: `keep` if it
    /// reads back whole, else `original` (written back and verified if it
    /// does not read back either). Not cancellable; reports as
    /// [`Phase::Verify`] / [`Phase::Restore`]. Which content the slot
    /// holds, and whether `original` had to be rewritten.
    fn settle_slot(
        &mut self,
        offset: usize,
        original: &[u8],
        keep: Option<&[u8]>,
        monitor: &Monitor,
    ) -> Result<(SlotHolds, bool), DeviceError> {
        let steady = monitor.uncancellable();
        self.recover()?;
        let back = self.read_dct_as(offset, original.len(), Phase::Verify, &steady)?;
        if keep == Some(back.as_slice()) {
            return Ok((SlotHolds::New, false));
        }
        if back == original {
            return Ok((SlotHolds::Old, false));
        }
        self.write_dct_verified_as(
            offset,
            original,
            "the previous key",
            Phase::Restore,
            &steady,
        )?;
        Ok((SlotHolds::Old, true))
    }

    /// dfuIDLE again, whatever happened: CLRSTATUS / ABORT (get-to-idle);
    /// if the device stays busy or stalls, a USB reset; if it is gone,
    /// reopen it (it must be back in DFU mode).
    pub(crate) fn recover(&mut self) -> Result<(), DeviceError> {
        let first: Result<(), DeviceError> = self.dfu.get_to_idle().map_err(Into::into);
        match first {
            Ok(()) => return Ok(()),
            Err(e) if gone(&e) => self.reopen()?,
            Err(_) => match self.dfu.usb_reset().map_err(DeviceError::from) {
                Ok(()) => {}
                Err(e) if gone(&e) => self.reopen()?,
                Err(e) => return Err(e),
            },
        }
        match self.dfu.get_to_idle().map_err(DeviceError::from) {
            Err(e) if gone(&e) => {
                self.reopen()?;
                Ok(self.dfu.get_to_idle()?)
            }
            other => other,
        }
    }

    /// Write the reset request (REFERENCE §2: `FF FF FF FF` then zeros) over
    /// the whole slot and verify it; then, if `leave`, leave DFU mode so the
    /// firmware generates a new key at boot. Whatever the slot held first —
    /// unless it was erased or already the reset request — is kept as a
    /// verified backup named after `backup_name` (`backup_rsa_NAME.der`).
    pub fn reset_key(
        &mut self,
        leave: bool,
        backup_name: &Path,
    ) -> Result<ResetReport, DeviceError> {
        self.reset_key_with(leave, backup_name, &Monitor::default())
    }

    /// [`Device::reset_key`], reporting [`Phase::Backup`], [`Phase::Write`],
    /// [`Phase::Verify`] (and [`Phase::Restore`] after a cancellation) in
    /// bytes, and cancellable as [`Device::load_key_into_with`] is: the slot
    /// ends holding its previous content or the whole reset request, never
    /// a mix. Once the reset request is written and verified, leaving DFU
    /// mode is not cancelled (one request).
    pub fn reset_key_with(
        &mut self,
        leave: bool,
        backup_name: &Path,
        monitor: &Monitor,
    ) -> Result<ResetReport, DeviceError> {
        const NEW: &str = "the reset request";
        // A name, not a directory (`/` would give `backup_rsa_.der`).
        keys::check_key_base(backup_name)?;
        let field = known_field("device_private_key");
        let original = match self.read_dct_as(field.offset, field.size, Phase::Backup, monitor) {
            Err(e) if e.is_cancelled() => return Err(cancelled_unchanged(NEW, None)),
            other => other?,
        };
        let previous = keys::classify_slot(&original);
        let backup = match previous {
            SlotState::Erased | SlotState::ResetRequest => None,
            _ => Some(back_up_slot(backup_name, &original, &previous)?),
        };
        if monitor.check().is_err() {
            return Err(cancelled_unchanged(NEW, backup.map(|(p, _)| p)));
        }
        // Every failure from here on names the backup (issue 8 item 8).
        let after =
            |e: DeviceError| after_key_replaced(e, backup.as_ref().map(|(p, _)| p.as_path()));
        let written = self.write_dct_verified_as(
            field.offset,
            keys::RESET_REQUEST,
            NEW,
            Phase::Write,
            monitor,
        );
        match written {
            Err(e) if e.is_cancelled() => {
                let settled =
                    self.settle_cancelled(field.offset, &original, keys::RESET_REQUEST, monitor);
                return Err(match (settled, backup) {
                    (settled, Some((path, kind))) => {
                        self.cancelled(settled, NEW, path, kind, |restore| {
                            after_key_replaced(failure_cancelled(), Some(restore.backup()))
                        })
                    }
                    (Ok((slot, restored)), None) => DeviceError::Cancelled {
                        slot,
                        new: NEW,
                        backup: None,
                        restored,
                        remedy: Box::new(Remedy::RepeatOperation),
                    },
                    (Err(e), None) => e,
                });
            }
            other => other.map_err(after)?,
        }
        if leave {
            self.leave().map_err(after)?;
        }
        let virtual_device = self.virtual_device();
        let remedy = if leave {
            Remedy::SaveKeyAfterBoot { virtual_device }
        } else {
            Remedy::Boot { virtual_device }
        };
        let (backup, backup_kind) = backup.unzip();
        Ok(ResetReport {
            previous,
            backup,
            backup_kind,
            bytes_written: keys::RESET_REQUEST.len(),
            verified: true,
            left_dfu: leave,
            next_step: remedy.to_string(),
            remedy,
        })
    }
}
