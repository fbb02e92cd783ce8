//! particle-cli style key files (REFERENCE §3): `NAME.der` (PKCS#1 DER, the
//! bytes the firmware parses from the slot), `NAME.pem`, `NAME.pub.pem`.
//! Private files are created with mode 0600 from the first byte on, and every
//! file is written to a temporary name and renamed, so a crash never leaves a
//! half-written key under the real name.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;

use super::{
    parse_private_key, parse_public_key, private_key_to_der, private_key_to_pem, public_key_to_pem,
    KeyError,
};

/// Largest file accepted as a key or slot dump. Keys are a few KiB at most; a
/// bigger file is a wrong path (a firmware image, a full flash dump).
pub const MAX_KEY_FILE_SIZE: u64 = 1024 * 1024;

/// Paths written by [`write_key_files`].
#[derive(Debug, Clone, Serialize)]
pub struct KeyFiles {
    pub der: PathBuf,
    pub pem: PathBuf,
    pub public_pem: PathBuf,
}

/// `dir/NAME.der` → `NAME` (also `.pem`, `.pub.pem`): the particle-cli base
/// name of a key file.
pub fn key_base(name: &Path) -> PathBuf {
    let text = name.to_string_lossy();
    for suffix in [".pub.pem", ".der", ".pem"] {
        if let Some(base) = text.strip_suffix(suffix) {
            if !base.is_empty() && !base.ends_with('/') {
                return PathBuf::from(base);
            }
        }
    }
    name.to_path_buf()
}

/// Refuse a base name that names a directory (`/`, `.`, `..`, `dir/`): the
/// files would be `/.der` or `..der`.
pub fn check_key_base(base: &Path) -> Result<(), KeyError> {
    let text = base.to_string_lossy();
    let names_dir = base.file_name().is_none()
        || text.ends_with('/')
        || text.ends_with("/.")
        || text == "."
        || text.is_empty();
    if names_dir {
        Err(KeyError::BadKeyName {
            name: base.to_path_buf(),
        })
    } else {
        Ok(())
    }
}

impl KeyFiles {
    /// `BASE.der`, `BASE.pem`, `BASE.pub.pem` (the suffix is appended, so
    /// `device.v2` gives `device.v2.der`).
    pub fn for_base(base: &Path) -> KeyFiles {
        let with = |suffix: &str| {
            let mut name: OsString = base.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        KeyFiles {
            der: with(".der"),
            pem: with(".pem"),
            public_pem: with(".pub.pem"),
        }
    }
}

/// Write `BASE.der` (PKCS#1 DER, 0600), `BASE.pem` (PKCS#1 PEM, 0600),
/// `BASE.pub.pem` (SPKI PEM). Refuses to overwrite existing files unless
/// `overwrite`; then nothing is written.
pub fn write_key_files(
    base: &Path,
    key: &RsaPrivateKey,
    overwrite: bool,
) -> Result<KeyFiles, KeyError> {
    check_key_base(base)?;
    let files = KeyFiles::for_base(base);
    let plan: [(&Path, Vec<u8>, bool); 3] = [
        (&files.der, private_key_to_der(key)?, true),
        (&files.pem, private_key_to_pem(key)?.into_bytes(), true),
        (
            &files.public_pem,
            public_key_to_pem(&key.to_public_key())?.into_bytes(),
            false,
        ),
    ];
    for (path, _, _) in &plan {
        check_target(path, overwrite)?;
    }
    // Stage every file first; only then put them in place, keeping the old
    // ones until all three are in: a failure at any step leaves the old set
    // (or, without overwrite, nothing) — never a mix.
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    for (path, bytes, private) in &plan {
        match stage(path, bytes, *private) {
            Ok(temp) => staged.push((temp, path)),
            Err(e) => {
                for (temp, _) in &staged {
                    let _ = fs::remove_file(temp);
                }
                return Err(e);
            }
        }
    }
    let mut done: Vec<(&Path, Option<PathBuf>)> = Vec::new();
    let mut failure = None;
    for (temp, path) in &staged {
        let old = if fs::symlink_metadata(path).is_ok() {
            let keep = temp_path(path, "old");
            if let Err(e) = fs::rename(path, &keep) {
                failure = Some(KeyError::Write {
                    path: path.to_path_buf(),
                    error: e,
                });
                break;
            }
            Some(keep)
        } else {
            None
        };
        let placed = if overwrite {
            fs::rename(temp, path)
        } else {
            fs::hard_link(temp, path).and_then(|()| fs::remove_file(temp))
        };
        if let Err(e) = placed {
            if let Some(keep) = &old {
                let _ = fs::rename(keep, path);
            }
            failure = Some(if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::Write {
                    path: path.to_path_buf(),
                    error: e,
                }
            });
            break;
        }
        done.push((path, old));
    }
    for (temp, _) in &staged {
        let _ = fs::remove_file(temp);
    }
    if let Some(e) = failure {
        for (path, old) in done.iter().rev() {
            match old {
                Some(keep) => {
                    let _ = fs::rename(keep, path);
                }
                None => {
                    let _ = fs::remove_file(path);
                }
            }
        }
        return Err(e);
    }
    for (_, old) in done {
        if let Some(keep) = old {
            let _ = fs::remove_file(keep);
        }
    }
    Ok(files)
}

/// An output path may be written: it does not exist, or (with `overwrite`)
/// it is a regular file. Never a symbolic link (a write would go through it
/// or replace it) and never a directory.
pub fn check_target(path: &Path, overwrite: bool) -> Result<(), KeyError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(KeyError::Write {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
            what: "a symbolic link",
        });
    }
    if !kind.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
            what: if kind.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            },
        });
    }
    if !overwrite {
        return Err(KeyError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// `dir/.NAME.WHAT-PID-N`: a unique name beside `path`.
fn temp_path(path: &Path, what: &str) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".{what}-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    dir.join(name)
}

/// Write `bytes` to a new temporary file beside `path` (0600 from the first
/// byte when `private`) and sync it.
fn stage(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf, KeyError> {
    let temp = temp_path(path, "tmp");
    let result = (|| {
        let mut file = create_new(&temp, private)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(KeyError::Write {
                path: path.to_path_buf(),
                error,
            })
        }
    }
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Write `bytes` to `path` through a temporary file in the same directory and
/// a rename. `private` creates the file with mode 0600 (on Unix) before any
/// byte is written. Without `overwrite`, an existing `path` is an error and is
/// left untouched (the final step is a hard link, which fails if it exists).
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    private: bool,
    overwrite: bool,
) -> Result<(), KeyError> {
    // Without overwrite: nothing there, not even a link. With overwrite the
    // final rename replaces whatever `path` is — a stray link included —
    // and never writes through it; callers writing where the user pointed
    // check [`check_target`] first.
    if !overwrite {
        check_target(path, false)?;
    }
    let write_err = |error| KeyError::Write {
        path: path.to_path_buf(),
        error,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| write_err(std::io::Error::other("the path has no file name")))?;
    let mut temp_name = OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp_name);

    let result = (|| {
        let mut file = create_new(&temp, private)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if overwrite {
            fs::rename(&temp, path)
        } else {
            match fs::hard_link(&temp, path) {
                Ok(()) => fs::remove_file(&temp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
                // File systems without hard links: check, then rename.
                Err(_) if fs::symlink_metadata(path).is_ok() => Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists",
                )),
                Err(_) => fs::rename(&temp, path),
            }
        }
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        if e.kind() == std::io::ErrorKind::AlreadyExists && !overwrite {
            return Err(KeyError::Exists {
                path: path.to_path_buf(),
            });
        }
        return Err(write_err(e));
    }
    Ok(())
}

#[cfg(unix)]
fn create_new(path: &Path, private: bool) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)?;
    if private {
        // The umask can only remove bits; make the mode exactly 0600.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _private: bool) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Read a key file or slot dump; errors name the path.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let read_err = |error| KeyError::Read {
        path: path.to_path_buf(),
        error,
    };
    let meta = fs::metadata(path).map_err(read_err)?;
    if meta.is_file() && meta.len() > MAX_KEY_FILE_SIZE {
        return Err(KeyError::FileTooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit: MAX_KEY_FILE_SIZE,
        });
    }
    fs::read(path).map_err(read_err)
}

/// [`read_key_file`] + [`parse_private_key`]; errors name the path.
pub fn load_private_key_file(path: &Path) -> Result<RsaPrivateKey, KeyError> {
    let bytes = read_key_file(path)?;
    parse_private_key(&bytes).map_err(|e| e.in_file(path))
}

/// [`read_key_file`] + [`parse_public_key`] (a private key file gives its
/// public half); errors name the path.
pub fn load_public_key_file(path: &Path) -> Result<RsaPublicKey, KeyError> {
    let bytes = read_key_file(path)?;
    parse_public_key(&bytes).map_err(|e| e.in_file(path))
}
