//! The state directory of a virtual Duo, so separate processes see one device:
//!
//! - `virtual-duo.json`: the marker and metadata (platform, mode, device id,
//!   time factor, DFU registers, fault plan, counters). Replaced atomically
//!   (write a temporary file, rename) after every request that changed it, so
//!   a reader in another process never sees half a file.
//! - `internal_flash.bin` (1 MiB on a Duo) and `serial_flash.bin` (2 MiB):
//!   flash images, held in memory while a handle is open and written through
//!   range by range, never rewritten whole.
//! - `lock`: an exclusive `flock` held while a handle is open, like a claimed
//!   USB interface.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs2::FileExt;

use super::SimError;
use crate::time::Clock;

/// The marker file: a directory holding it is a virtual device.
pub const STATE_FILE: &str = "virtual-duo.json";
pub const INTERNAL_FLASH_FILE: &str = "internal_flash.bin";
pub const SERIAL_FLASH_FILE: &str = "serial_flash.bin";
pub const LOCK_FILE: &str = "lock";

pub(crate) fn io_error(path: &Path, source: io::Error) -> SimError {
    SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A flash image: the bytes in memory, every change written through to its file.
#[derive(Debug)]
pub(crate) struct FlashFile {
    path: PathBuf,
    file: File,
    bytes: Vec<u8>,
}

impl FlashFile {
    pub fn create(path: &Path, contents: Vec<u8>) -> Result<Self, SimError> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        // The flash holds the DCT, and with it the device key: 0600.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| io_error(path, e))?;
        file.write_all(&contents).map_err(|e| io_error(path, e))?;
        Ok(FlashFile {
            path: path.to_path_buf(),
            file,
            bytes: contents,
        })
    }

    pub fn open(path: &Path, expected_len: usize) -> Result<Self, SimError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        let mut bytes = Vec::with_capacity(expected_len);
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        if bytes.len() != expected_len {
            return Err(SimError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("expected {expected_len} bytes, found {}", bytes.len()),
            });
        }
        Ok(FlashFile {
            path: path.to_path_buf(),
            file,
            bytes,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// NOR programming: a bit can only go from 1 to 0 (`new = old & data`).
    pub fn program(&mut self, offset: usize, data: &[u8]) -> Result<(), SimError> {
        let merged: Vec<u8> = self.bytes[offset..offset + data.len()]
            .iter()
            .zip(data)
            .map(|(old, new)| old & new)
            .collect();
        self.store(offset, &merged)
    }

    /// NOR erase: every byte of the range back to 0xFF.
    pub fn erase(&mut self, offset: usize, len: usize) -> Result<(), SimError> {
        self.store(offset, &vec![0xFF; len])
    }

    /// Replace bytes as they are (the result of an operation the device
    /// models itself, such as the DCT's copy-on-write); only the span that
    /// actually changed is written to the file.
    pub fn store(&mut self, offset: usize, data: &[u8]) -> Result<(), SimError> {
        let old = &self.bytes[offset..offset + data.len()];
        let Some(first) = old.iter().zip(data).position(|(a, b)| a != b) else {
            return Ok(());
        };
        let last = old
            .iter()
            .zip(data)
            .rposition(|(a, b)| a != b)
            .unwrap_or(first);
        self.bytes[offset + first..=offset + last].copy_from_slice(&data[first..=last]);
        let path = &self.path;
        self.file
            .seek(SeekFrom::Start((offset + first) as u64))
            .and_then(|_| self.file.write_all(&data[first..=last]))
            .map_err(|e| io_error(path, e))
    }
}

/// Read the metadata file of `dir`, telling "not a virtual device" apart
/// from "a virtual device whose state is damaged".
pub(crate) fn read_state<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<T, SimError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SimError::NotAVirtualDevice {
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error(&path, e)),
    };
    serde_json::from_str(&text).map_err(|e| SimError::Corrupt {
        path,
        detail: e.to_string(),
    })
}

/// Replace the metadata file atomically.
pub(crate) fn write_state(dir: &Path, json: &str) -> Result<(), SimError> {
    let path = dir.join(STATE_FILE);
    crate::keys::replace_state_file(&path, json.as_bytes()).map_err(|e| match e {
        crate::keys::KeyError::Write { path, error } => io_error(&path, error),
        other => io_error(&path, std::io::Error::other(other.to_string())),
    })
}

/// How long opening waits for another holder to let go before answering
/// [`SimError::Busy`]. A holder can outlive its release by a moment: a child
/// process forked by another thread keeps a copy of the lock's file until it
/// execs, and flock locks belong to the file, not the process.
pub(crate) const LOCK_PATIENCE: Duration = Duration::from_secs(2);
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Take the device: an exclusive lock on `dir/lock`, released when the
/// returned file is dropped (or the process ends). While another program
/// holds it, waits up to `patience` (through `clock`), then answers
/// [`SimError::Busy`], like a second program claiming the interface.
pub(crate) fn lock(dir: &Path, clock: &dyn Clock, patience: Duration) -> Result<File, SimError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    let start = clock.now();
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(file),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                if clock.now().duration_since(start) >= patience {
                    return Err(SimError::Busy {
                        dir: dir.to_path_buf(),
                    });
                }
                clock.sleep(LOCK_RETRY);
            }
            Err(e) => return Err(io_error(&path, e)),
        }
    }
}

/// Whether `dir` can receive a new virtual device: absent or empty.
/// Take back a creation that failed in `dir` (found empty, or made by it
/// when `made_dir`): its files, and the directory it made.
pub(crate) fn undo_create(dir: &Path, made_dir: bool) {
    if made_dir {
        let _ = fs::remove_dir_all(dir);
    } else if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

pub(crate) fn check_creatable(dir: &Path) -> Result<(), SimError> {
    if dir.join(STATE_FILE).exists() {
        return Err(SimError::AlreadyExists {
            dir: dir.to_path_buf(),
        });
    }
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SimError::DirNotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_error(dir, e))
        }
        Err(e) => Err(io_error(dir, e)),
    }
}
