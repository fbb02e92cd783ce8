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
    fingerprint, generate, inspect_key, key_bits, parse_private_key, parse_public_key,
    private_key_to_der, private_key_to_pem, public_key_to_pem, KeyError,
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

/// What a new key's files are: `keys new`'s report (and the shape of
/// `keys save`'s).
#[derive(Debug, Clone, Serialize)]
pub struct NewKeyReport {
    pub files: KeyFiles,
    pub bits: usize,
    /// SHA-256 of the public key's SPKI DER, lower-case hex.
    pub fingerprint: String,
}

/// Make a new device key ([`generate`]: RSA-1024, e = 65537) and write it
/// as particle-cli files named after `name` ([`key_base`]: `device.der`
/// means `device`), refusing existing files unless `overwrite`.
pub fn new_key_files(name: &Path, overwrite: bool) -> Result<NewKeyReport, KeyError> {
    let base = key_base(name);
    check_key_base(&base)?;
    let key = generate()?;
    let files = write_key_files(&base, &key, overwrite)?;
    Ok(NewKeyReport {
        files,
        bits: key_bits(&key),
        fingerprint: fingerprint(&key.to_public_key()),
    })
}

/// What a key file or a raw slot dump holds: `keys inspect`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFileReport {
    pub file: PathBuf,
    #[serde(flatten)]
    pub report: super::KeyReport,
}

/// Read `file` ([`read_key_file`]: at most [`MAX_KEY_FILE_SIZE`]) and
/// inspect it ([`inspect_key`]).
pub fn inspect_key_file(file: &Path) -> Result<KeyFileReport, KeyError> {
    let bytes = read_key_file(file)?;
    Ok(KeyFileReport {
        file: file.to_path_buf(),
        report: inspect_key(&bytes),
    })
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
///
/// Each file goes through a temporary name, is flushed to disk (fsync) and
/// then takes its real name, as [`write_atomic`] does; the three flushes run
/// at once, so they wait for one file-system journal commit instead of three
/// in a row (on a busy disk, each took up to ~10 ms).
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
    if !overwrite {
        for (path, _, _) in &plan {
            if fs::symlink_metadata(path).is_ok() {
                return Err(KeyError::Exists {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    // Every target is checked before anything is written: a set never
    // goes half in because its third file is a directory or a link.
    for (path, _, _) in &plan {
        check_target(path, overwrite)?;
    }
    // Dropping a staged file that was not committed removes its temporary.
    let mut staged = Vec::with_capacity(plan.len());
    for (path, bytes, private) in &plan {
        staged.push(Staged::create(path, bytes, *private)?);
    }
    sync_all_at_once(&staged)?;
    // With overwrite, the set being replaced is kept under temporary names
    // (hard links) until the new one is whole: a failure half-way puts the
    // old files back, so the set on disk is the old one or the new one.
    let kept: Vec<Option<PathBuf>> = if overwrite {
        plan.iter()
            .map(|(path, _, _)| keep_old(path))
            .collect::<Result<_, _>>()?
    } else {
        vec![None; plan.len()]
    };
    let mut written: Vec<(&Path, &Option<PathBuf>)> = Vec::new();
    for ((file, (path, _, _)), old) in staged.into_iter().zip(&plan).zip(&kept) {
        if let Err(e) = commit_checked(file, overwrite, written.len()) {
            for (done, old) in &written {
                let _ = match old {
                    Some(old) => fs::rename(old, done),
                    None => fs::remove_file(done),
                };
            }
            for old in kept.iter().flatten() {
                let _ = fs::remove_file(old);
            }
            return Err(e);
        }
        written.push((path, old));
    }
    for old in kept.iter().flatten() {
        let _ = fs::remove_file(old);
    }
    Ok(files)
}

/// A hard link to the file at `path` under a temporary name beside it (to
/// put back if the replacement fails); `None` when there is no file.
fn keep_old(path: &Path) -> Result<Option<PathBuf>, KeyError> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".old-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let old = path.with_file_name(name);
    fs::hard_link(path, &old).map_err(|error| KeyError::Write {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(Some(old))
}

#[cfg(test)]
thread_local! {
    /// Tests: the commit of the Nth file of a set (0-based) fails.
    pub(crate) static FAIL_COMMIT_AT: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

fn commit_checked(file: Staged, overwrite: bool, index: usize) -> Result<(), KeyError> {
    #[cfg(test)]
    if FAIL_COMMIT_AT.with(|f| f.get()) == Some(index) {
        return Err(file.error(std::io::Error::other("injected failure")));
    }
    let _ = index;
    file.commit(overwrite)
}

/// fsync every staged file, concurrently (one thread each but the last).
fn sync_all_at_once(staged: &[Staged]) -> Result<(), KeyError> {
    let Some((last, others)) = staged.split_last() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = others
            .iter()
            .map(|file| {
                let handle = std::thread::Builder::new()
                    .name("fsync".into())
                    .spawn_scoped(scope, || file.sync());
                (file, handle)
            })
            .collect();
        let mut result = last.sync();
        for (file, handle) in handles {
            // No thread to be had: flush this one here.
            let synced = match handle {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => file.sync(),
            };
            result = result.and(synced);
        }
        result
    })
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Write an output file: `bytes` to `path` through a temporary file in the
/// same directory, flushed to disk (fsync), then given its real name. Every
/// file the library or a front end writes goes through here (or
/// [`write_key_files`], [`OutputWriter`]), so the rules hold for all:
///
/// - `private` creates the file with mode 0600 before any byte is written
///   (anything that can hold key material: keys, slot and DCT dumps, flash
///   images); otherwise 0644 minus the umask;
/// - an existing `path` is refused unless `overwrite`, and then only a
///   regular file is replaced; a symbolic link is never written through nor
///   replaced, with or without `overwrite` ([`check_target`]);
/// - without `overwrite`, the final step is a hard link, which fails if the
///   name was taken meanwhile, so a racing file is never replaced either.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    private: bool,
    overwrite: bool,
) -> Result<(), KeyError> {
    check_target(path, overwrite)?;
    let staged = Staged::create(path, bytes, private)?;
    staged.sync()?;
    staged.commit(overwrite)
}

/// Write `bytes` as a new file at the first free name of `path(0)`,
/// `path(1)`, … `path(limit - 1)` (a backup never replaces an older one),
/// with the rules of [`write_atomic`]; the name it took.
pub fn write_new_numbered(
    path: impl Fn(u32) -> PathBuf,
    bytes: &[u8],
    private: bool,
    limit: u32,
) -> Result<PathBuf, KeyError> {
    let mut last = None;
    for n in 0..limit {
        let candidate = path(n);
        match write_atomic(&candidate, bytes, private, false) {
            Ok(()) => return Ok(candidate),
            // Taken, by a file or anything else (a link is left alone).
            Err(KeyError::Exists { path } | KeyError::NotAFile { path, .. }) => last = Some(path),
            Err(e) => return Err(e),
        }
    }
    Err(KeyError::Exists {
        path: last.unwrap_or_else(|| path(0)),
    })
}

/// Replace a state file a program rewrites often (the virtual Duo's state,
/// the local cloud's devices): a temporary file with a fresh name, created
/// new (so never through a link planted at a fixed name), then a rename.
/// No fsync, unlike [`write_atomic`]: a crash loses at most the last
/// change, never leaves a half-written file.
pub fn replace_state_file(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    Staged::create(path, bytes, false)?.commit(true)
}

/// An output file written bit by bit (a batch report) with the rules of
/// [`write_atomic`]: the target is checked when it is created, the lines go
/// to a temporary file beside it, and [`OutputWriter::commit`] gives it its
/// name. Dropped without a commit, nothing is left.
pub struct OutputWriter {
    staged: Staged,
    overwrite: bool,
}

impl OutputWriter {
    pub fn create(path: &Path, private: bool, overwrite: bool) -> Result<OutputWriter, KeyError> {
        check_target(path, overwrite)?;
        Ok(OutputWriter {
            staged: Staged::create(path, &[], private)?,
            overwrite,
        })
    }

    /// Flush to disk and take the real name (checked again: a file that
    /// appeared meanwhile is not replaced without `overwrite`).
    pub fn commit(self) -> Result<(), KeyError> {
        check_target(&self.staged.path, self.overwrite)?;
        self.staged.sync()?;
        self.staged.commit(self.overwrite)
    }
}

impl Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.staged.file.as_mut() {
            Some(file) => file.write(buf),
            None => Err(std::io::Error::other("the output file is closed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.staged.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
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

/// A file written under a temporary name next to its real one, not yet
/// renamed; dropped uncommitted, the temporary is removed.
struct Staged {
    path: PathBuf,
    temp: PathBuf,
    file: Option<fs::File>,
}

impl Staged {
    fn create(path: &Path, bytes: &[u8], private: bool) -> Result<Staged, KeyError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().ok_or_else(|| KeyError::Write {
            path: path.to_path_buf(),
            error: std::io::Error::other("the path has no file name"),
        })?;
        let mut temp_name = OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temp = dir.join(temp_name);
        let mut file = create_new(&temp, private).map_err(|error| KeyError::Write {
            path: path.to_path_buf(),
            error,
        })?;
        let mut staged = Staged {
            path: path.to_path_buf(),
            temp,
            file: None,
        };
        file.write_all(bytes).map_err(|e| staged.error(e))?;
        staged.file = Some(file);
        Ok(staged)
    }

    fn error(&self, error: std::io::Error) -> KeyError {
        KeyError::Write {
            path: self.path.to_path_buf(),
            error,
        }
    }

    /// Flush the content to disk.
    fn sync(&self) -> Result<(), KeyError> {
        match &self.file {
            Some(file) => file.sync_all().map_err(|e| self.error(e)),
            None => Ok(()),
        }
    }

    /// Give the temporary file its real name.
    fn commit(mut self, overwrite: bool) -> Result<(), KeyError> {
        drop(self.file.take());
        let (path, temp) = (&self.path, &self.temp);
        let result = if overwrite {
            fs::rename(temp, path)
        } else {
            match fs::hard_link(temp, path) {
                Ok(()) => fs::remove_file(temp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
                // File systems without hard links: check, then rename.
                Err(_) if fs::symlink_metadata(path).is_ok() => Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists",
                )),
                Err(_) => fs::rename(temp, path),
            }
        };
        match result {
            Ok(()) => {
                // Renamed or linked and unlinked: nothing left to clean up.
                self.temp = PathBuf::new();
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !overwrite => {
                Err(KeyError::Exists {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
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
