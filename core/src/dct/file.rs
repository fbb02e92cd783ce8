//! DCT files on disk: loading one (a 32 KiB region image or an alt-1 dump,
//! or the vendor's factory image from the platform table) and editing a
//! field in place. An edit keeps the previous content as `PATH.bak` and
//! writes both files atomically with mode 0600, since a DCT holds the
//! device private key at offset 34 (REFERENCE §2); neither is ever written
//! through a symbolic link.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{DctError, DctFile, FieldValue};
use crate::error::{ErrorCode, ErrorFacts, ErrorInfo, Remedy};
use crate::keys::{self, KeyError};
use crate::platform::{DctLayout, Platform};

/// Where a DCT comes from (a board's own is read with
/// [`crate::device::Device::read_app_dct`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DctSource {
    /// A DCT file: a region image (two partitions) or an alt-1 dump.
    File(PathBuf),
    /// The platform's factory image ([`Platform::factory_dct_image`]).
    Factory,
}

impl DctSource {
    /// Read and recognise the DCT as `platform`'s, in the layout its
    /// system flags point to ([`super::choice`]).
    pub fn load(&self, platform: &'static Platform) -> Result<DctFile, DctFileError> {
        self.load_as(platform, None)
    }

    /// [`DctSource::load`] in the layout of the firmware the caller names.
    pub fn load_as(
        &self,
        platform: &'static Platform,
        layout: Option<DctLayout>,
    ) -> Result<DctFile, DctFileError> {
        match self {
            DctSource::File(path) => load_dct_file_as(platform, layout, path),
            DctSource::Factory => {
                let bytes = platform
                    .factory_dct_image()
                    .ok_or(DctFileError::NoFactoryImage {
                        platform: platform.display_name,
                    })?;
                DctFile::detect_as(platform, bytes, layout).map_err(|source| DctFileError::Detect {
                    what: "the factory image".into(),
                    source,
                })
            }
        }
    }
}

/// Read `path` and recognise it as a DCT of `platform`.
pub fn load_dct_file(platform: &'static Platform, path: &Path) -> Result<DctFile, DctFileError> {
    load_dct_file_as(platform, None, path)
}

/// [`load_dct_file`] in `layout` (`None`: as its system flags tell).
pub fn load_dct_file_as(
    platform: &'static Platform,
    layout: Option<DctLayout>,
    path: &Path,
) -> Result<DctFile, DctFileError> {
    let bytes = std::fs::read(path).map_err(|source| DctFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    DctFile::detect_as(platform, &bytes, layout).map_err(|source| DctFileError::Detect {
        what: path.display().to_string(),
        source,
    })
}

/// Where [`edit_dct_file`] keeps the previous content: `PATH.bak`, the
/// first time.
pub fn backup_path(path: &Path) -> PathBuf {
    numbered_backup_path(path, 0)
}

/// `PATH.bak` (n = 0), else `PATH.N.bak`: a new backup never replaces an
/// older one.
pub fn numbered_backup_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    if n > 0 {
        name.push(format!(".{n}"));
    }
    name.push(".bak");
    PathBuf::from(name)
}

/// How many `PATH.N.bak` an edit tries before it gives up.
const MAX_BACKUPS: u32 = 1000;

/// What an edit of a DCT file did: `dct set --file`'s report (fields in
/// the order the CLI has always printed them).
#[derive(Debug, Clone, Serialize)]
pub struct DctFileEdit {
    /// The previous content (`PATH.bak`).
    pub backup: PathBuf,
    pub field: String,
    pub file: PathBuf,
    pub ok: bool,
    /// The field's value read back from the edited DCT.
    pub value: FieldValue,
}

/// Set `field` to `value` (typed text, or `hex:…`) in the DCT file at
/// `path`: the change is made in memory first (a refused value touches no
/// file), then the previous content goes to [`backup_path`] (or the next
/// free [`numbered_backup_path`]) and the new one
/// replaces `path`, both atomically, 0600, never through a link.
pub fn edit_dct_file(
    platform: &'static Platform,
    path: &Path,
    field: &str,
    value: &str,
) -> Result<DctFileEdit, DctFileError> {
    edit_dct_file_as(platform, None, path, field, value)
}

/// [`edit_dct_file`] with the file read in `layout` (`None`: as its system
/// flags tell, [`super::choice`]).
pub fn edit_dct_file_as(
    platform: &'static Platform,
    layout: Option<DctLayout>,
    path: &Path,
    field: &str,
    value: &str,
) -> Result<DctFileEdit, DctFileError> {
    let beside = path.parent().unwrap_or(Path::new(""));
    edit_dct_file_in(platform, layout, path, field, value, beside)
}

/// [`edit_dct_file_as`] keeping the previous content in `backup_dir`
/// (`backup_dir/NAME.bak`, numbered as [`numbered_backup_path`] says,
/// where NAME is the edited file's name) instead of beside the file.
pub fn edit_dct_file_in(
    platform: &'static Platform,
    layout: Option<DctLayout>,
    path: &Path,
    field: &str,
    value: &str,
    backup_dir: &Path,
) -> Result<DctFileEdit, DctFileError> {
    let backup_base = backup_dir.join(path.file_name().unwrap_or(path.as_os_str()));
    let mut file = load_dct_file_as(platform, layout, path)?;
    file.set(field, value)?;
    // Edit a regular file in place, never through (or over) a link.
    keys::check_target(path, true).map_err(DctFileError::Target)?;
    let previous = std::fs::read(path).map_err(|source| DctFileError::Reread {
        path: path.to_path_buf(),
        source,
    })?;
    let backup = keys::write_new_numbered(
        |n| numbered_backup_path(&backup_base, n),
        &previous,
        true,
        MAX_BACKUPS,
    )
    .map_err(|source| DctFileError::Backup {
        path: backup_path(&backup_base),
        source,
    })?;
    keys::write_atomic(path, file.as_bytes(), true, true).map_err(DctFileError::Write)?;
    Ok(DctFileEdit {
        backup,
        field: field.to_string(),
        file: path.to_path_buf(),
        ok: true,
        value: file.get(field)?,
    })
}

/// A DCT file that cannot be loaded or edited.
#[derive(Debug, thiserror::Error)]
pub enum DctFileError {
    #[error("cannot read DCT file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not a DCT of the platform; `what` names the file.
    #[error("{what}: {source}")]
    Detect { what: String, source: DctError },
    #[error("there is no factory DCT image for the {platform}")]
    NoFactoryImage { platform: &'static str },
    /// The field or its value is refused.
    #[error(transparent)]
    Field(#[from] DctError),
    /// The file to edit is a link, a directory or missing.
    #[error(transparent)]
    Target(KeyError),
    #[error("cannot read {} again: {source}", .path.display())]
    Reread {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot keep a backup at {}: {source}", .path.display())]
    Backup { path: PathBuf, source: KeyError },
    #[error(transparent)]
    Write(KeyError),
}

impl ErrorInfo for DctFileError {
    fn code(&self) -> ErrorCode {
        match self {
            DctFileError::Read { .. } | DctFileError::Reread { .. } => ErrorCode::Io,
            DctFileError::Detect { source, .. } | DctFileError::Field(source) => source.code(),
            DctFileError::NoFactoryImage { .. } => ErrorCode::Unsupported,
            DctFileError::Target(e) | DctFileError::Backup { source: e, .. } => e.code(),
            DctFileError::Write(e) => e.code(),
        }
    }

    fn facts(&self) -> ErrorFacts {
        match self {
            DctFileError::Read { path, .. } | DctFileError::Reread { path, .. } => ErrorFacts {
                path: Some(path.clone()),
                ..ErrorFacts::default()
            },
            DctFileError::Detect { source, .. } | DctFileError::Field(source) => source.facts(),
            DctFileError::NoFactoryImage { .. } => ErrorFacts::default(),
            DctFileError::Target(e) | DctFileError::Backup { source: e, .. } => e.facts(),
            DctFileError::Write(e) => e.facts(),
        }
    }

    fn remedies(&self) -> Vec<Remedy> {
        match self {
            DctFileError::Detect { source, .. } | DctFileError::Field(source) => source.remedies(),
            DctFileError::Target(e) | DctFileError::Backup { source: e, .. } => e.remedies(),
            DctFileError::Write(e) => e.remedies(),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{DUO, PHOTON};

    fn factory_copy(dir: &Path) -> PathBuf {
        let path = dir.join("dct.bin");
        std::fs::write(&path, DUO.factory_dct_image().unwrap()).unwrap();
        path
    }

    #[test]
    fn the_factory_image_comes_from_the_platform_table() {
        let file = DctSource::Factory.load(&DUO).unwrap();
        assert_eq!(file.as_bytes(), DUO.factory_dct_image().unwrap());
        let e = DctSource::Factory.load(&PHOTON).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Unsupported);
    }

    #[test]
    fn editing_a_dct_file_keeps_the_previous_content_as_bak_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = factory_copy(dir.path());
        let edit = edit_dct_file(&DUO, &path, "claim_code", "abc").unwrap();
        assert_eq!(edit.backup, dir.path().join("dct.bin.bak"));
        assert_eq!(
            std::fs::read(&edit.backup).unwrap(),
            DUO.factory_dct_image().unwrap()
        );
        let reloaded = load_dct_file(&DUO, &path).unwrap();
        assert_eq!(
            reloaded.get("claim_code").unwrap().to_string(),
            edit.value.to_string()
        );
        for p in [&path, &edit.backup] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }

    #[test]
    fn an_edit_keeps_its_backup_in_the_directory_given_numbered_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let path = factory_copy(dir.path());
        let first = edit_dct_file_in(&DUO, None, &path, "claim_code", "abc", &backups).unwrap();
        assert_eq!(first.backup, backups.join("dct.bin.bak"));
        let second = edit_dct_file_in(&DUO, None, &path, "claim_code", "def", &backups).unwrap();
        assert_eq!(second.backup, backups.join("dct.bin.1.bak"));
        assert_eq!(
            std::fs::read(&first.backup).unwrap(),
            DUO.factory_dct_image().unwrap()
        );
        assert!(!backup_path(&path).exists(), "nothing beside the file");
    }

    #[test]
    fn a_refused_value_or_a_link_touches_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = factory_copy(dir.path());
        assert!(edit_dct_file(&DUO, &path, "no_such_field", "1").is_err());
        assert!(!backup_path(&path).exists());

        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = edit_dct_file(&DUO, &link, "claim_code", "abc").unwrap_err();
        assert!(matches!(e, DctFileError::Target(_)), "{e}");
        assert!(!backup_path(&link).exists());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            DUO.factory_dct_image().unwrap()
        );
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.bin");
        let e = load_dct_file(&DUO, &missing).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Io);
        assert_eq!(e.facts().path.as_deref(), Some(missing.as_path()));
    }
}
