//! Where the device operations keep their backups: always in a directory
//! the caller names (a binding its own, the CLI the working directory), as
//! `DIR/backup_rsa_NAME.der` (the key slot, numbered if it exists) and, for
//! a raw write that can move the board's flash map, `DIR/backup_dct_NAME.bin`
//! (the whole DCT region). Nothing is written anywhere else.

use std::path::{Path, PathBuf};

use super::{Device, DeviceError, ResetReport, WriteReport};
use crate::keys::{self, KeyError};
use crate::progress::Monitor;

/// The name a key reset's backup gets by default: `backup_rsa_reset.der`.
pub const RESET_BACKUP_NAME: &str = "reset";

/// The name a raw DFU write's backups get by default:
/// `backup_rsa_dfu-write.der`, `backup_dct_dfu-write.bin`.
pub const DFU_WRITE_BACKUP_NAME: &str = "dfu-write";

/// A directory and a backup name (`NAME` of `backup_rsa_NAME.der`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlace {
    pub dir: PathBuf,
    pub name: String,
}

impl BackupPlace {
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        BackupPlace {
            dir: dir.into(),
            name: name.into(),
        }
    }

    /// A key reset's backup in `dir`, named [`RESET_BACKUP_NAME`].
    pub fn reset_in(dir: impl Into<PathBuf>) -> Self {
        Self::new(dir, RESET_BACKUP_NAME)
    }

    /// A raw write's backups in `dir`, named [`DFU_WRITE_BACKUP_NAME`].
    pub fn dfu_write_in(dir: impl Into<PathBuf>) -> Self {
        Self::new(dir, DFU_WRITE_BACKUP_NAME)
    }

    /// A place given as one path, `DIR/NAME` (a bare `NAME`: the working
    /// directory, as a relative path is). A path that names a directory
    /// (`/`, `dir/`, `..`) is kept whole, to be refused by name.
    pub fn from_path(path: &Path) -> Self {
        match (keys::check_key_base(path), path.file_name()) {
            (Ok(()), Some(name)) => BackupPlace {
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                name: name.to_string_lossy().into_owned(),
            },
            _ => BackupPlace {
                dir: PathBuf::new(),
                name: path.to_string_lossy().into_owned(),
            },
        }
    }

    /// `DIR/NAME`, after checking that the name is one plain file name.
    fn base(&self) -> Result<PathBuf, KeyError> {
        let name = Path::new(&self.name);
        let plain = name.components().count() == 1
            && name.file_name().is_some()
            && !self.name.contains(std::path::MAIN_SEPARATOR);
        if !plain {
            return Err(KeyError::BadKeyName {
                name: self.dir.join(name),
            });
        }
        let base = self.dir.join(name);
        keys::check_key_base(&base)?;
        Ok(base)
    }

    /// Where the key slot's backup goes first (`DIR/backup_rsa_NAME.der`;
    /// the first free numbered name if that exists).
    pub fn key_backup_path(&self) -> PathBuf {
        super::backup_path(&self.dir.join(&self.name), 0)
    }
}

impl Device {
    /// [`Device::reset_key_with`], keeping the backup of the key it
    /// replaces in `place` (`place.dir/backup_rsa_NAME.der`).
    pub fn reset_key_in(
        &mut self,
        leave: bool,
        place: &BackupPlace,
        monitor: &Monitor,
    ) -> Result<ResetReport, DeviceError> {
        let base = place.base()?;
        self.reset_key_with(leave, &base, monitor)
    }

    /// [`Device::dfu_write_with`], keeping the backups a write over the key
    /// slot or the system firmware needs in `key_backup` (none: written as
    /// dfu-util writes, with no backup).
    pub fn dfu_write_in(
        &mut self,
        alt: u8,
        addr: u32,
        data: &[u8],
        leave: bool,
        key_backup: Option<&BackupPlace>,
        monitor: &Monitor,
    ) -> Result<WriteReport, DeviceError> {
        let base = key_backup.map(BackupPlace::base).transpose()?;
        self.dfu_write_with(alt, addr, data, leave, base.as_deref(), monitor)
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::dfu::DeviceSelector;
    use crate::error::{ErrorCode, ErrorInfo};
    use crate::sim::duo::{CreateOptions, ManualClock, VirtualDuo};

    /// A factory Duo booted once (so its slot holds a key), back in DFU mode.
    fn board_with_key(root: &Path) -> Device {
        let dir = root.join("vd");
        let clock = ManualClock::new();
        let mut duo =
            VirtualDuo::create_with_clock(&dir, CreateOptions::default(), clock.clone()).unwrap();
        duo.boot().unwrap();
        duo.enter_dfu().unwrap();
        drop(duo);
        Device::open(Some(&DeviceSelector::Sim(dir)), clock).unwrap()
    }

    #[test]
    fn a_reset_keeps_its_backup_in_the_directory_given() {
        let tmp = tempfile::tempdir().unwrap();
        let backups = tmp.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let mut dev = board_with_key(tmp.path());
        let place = BackupPlace::reset_in(&backups);
        let report = dev
            .reset_key_in(false, &place, &Monitor::default())
            .unwrap();
        assert_eq!(
            report.backup.as_deref(),
            Some(place.key_backup_path().as_path())
        );
        assert_eq!(report.backup.unwrap(), backups.join("backup_rsa_reset.der"));
    }

    #[test]
    fn a_raw_write_over_the_key_keeps_its_backup_in_the_directory_given() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dev = board_with_key(tmp.path());
        let slot = dev.read_full_key_slot().unwrap();
        let place = BackupPlace::dfu_write_in(tmp.path());
        let report = dev
            .dfu_write_in(1, 34, &slot, false, Some(&place), &Monitor::default())
            .unwrap();
        assert_eq!(
            report.key_backup.unwrap(),
            tmp.path().join("backup_rsa_dfu-write.der")
        );
    }

    #[test]
    fn a_backup_name_is_one_plain_file_name() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dev = board_with_key(tmp.path());
        for name in ["", "a/b", "..", "."] {
            let place = BackupPlace::new(tmp.path(), name);
            let e = dev
                .reset_key_in(false, &place, &Monitor::default())
                .unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{name:?}: {e}");
        }
        // Nothing was written: the key is still there.
        assert!(dev.read_key().is_ok());
    }

    #[test]
    fn a_place_given_as_one_path_splits_into_directory_and_name() {
        assert_eq!(
            BackupPlace::from_path(Path::new("reset")),
            BackupPlace::new("", "reset")
        );
        assert_eq!(
            BackupPlace::from_path(Path::new("/tmp/x/old")),
            BackupPlace::new("/tmp/x", "old")
        );
        for dir in ["/", "x/", ".."] {
            let e = BackupPlace::from_path(Path::new(dir)).base().unwrap_err();
            assert!(e.to_string().contains(dir), "{dir}: {e}");
        }
    }
}
