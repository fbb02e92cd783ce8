//! What the local cloud knows: access tokens, the devices it has "initially
//! provisioned" (seeded), the key it holds for each, every accepted request,
//! and counters. Optionally persisted to a state directory:
//!
//! - `devices.json`: the seeded device ids (rewritten when seeds change);
//! - `records.jsonl`: one accepted provisioning a line (appended), replayed
//!   on start to recover the keys held;
//! - `lock`: held exclusively while a server uses the directory.
//!
//! Tokens are never written to disk; give them at every start.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fault::FaultState;
use super::LocalCloudError;
use crate::cloud::DeviceId;

/// An accepted provisioning request, as the local cloud recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub device_id: DeviceId,
    /// PEM SubjectPublicKeyInfo, normalised.
    pub public_key: String,
    pub product_id: Option<u16>,
    pub order: Option<String>,
    pub filename: Option<String>,
    pub algorithm: String,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
}

/// A seeded device and the key the cloud holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub device_id: DeviceId,
    /// The last provisioned key, if any.
    pub public_key: Option<String>,
    /// Accepted provisioning requests for it.
    pub provisioned: u64,
}

/// Request counters (reset with `POST /admin/reset-counters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Every request to `/v1/…`, faults included.
    pub requests: u64,
    /// Requests to the provisioning endpoint that reached its handler.
    pub provisioning_requests: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Requests answered (or dropped) by a fault.
    pub faulted: u64,
}

#[derive(Debug, Default)]
struct DeviceEntry {
    public_key: Option<String>,
    provisioned: u64,
}

/// The whole state, behind one mutex in the server. `Debug` is by hand: it
/// counts the tokens instead of printing them.
#[derive(Default)]
pub(crate) struct Store {
    tokens: HashSet<String>,
    devices: BTreeMap<DeviceId, DeviceEntry>,
    records: Vec<Record>,
    pub(crate) stats: Stats,
    pub(crate) fault: FaultState,
    persist: Option<Persist>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("devices", &self.devices)
            .field("records", &self.records.len())
            .field("stats", &self.stats)
            .field("fault", &self.fault)
            .field("persist", &self.persist)
            .finish()
    }
}

/// The state directory, locked for this server.
#[derive(Debug)]
struct Persist {
    dir: PathBuf,
    records: File,
    _lock: File,
}

#[derive(Serialize, Deserialize)]
struct DevicesFile {
    devices: Vec<DeviceId>,
}

impl Store {
    /// An empty store, or the one saved in `dir` (created if missing).
    pub(crate) fn open(dir: Option<&Path>) -> Result<Self, LocalCloudError> {
        let mut store = Store::default();
        let Some(dir) = dir else { return Ok(store) };
        let io = |what: &str, path: &Path, e: std::io::Error| LocalCloudError::State {
            path: path.to_path_buf(),
            reason: format!("{what}: {e}"),
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create it", dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("cannot open the lock file", &lock_path, e))?;
        fs2::FileExt::try_lock_exclusive(&lock).map_err(|_| LocalCloudError::State {
            path: dir.to_path_buf(),
            reason:
                "another local cloud is using this state directory; stop it or pick another state directory"
                    .into(),
        })?;

        let devices_path = dir.join("devices.json");
        match std::fs::read_to_string(&devices_path) {
            Ok(text) => {
                let file: DevicesFile =
                    serde_json::from_str(&text).map_err(|e| LocalCloudError::State {
                        path: devices_path.clone(),
                        reason: format!("not a devices file ({e}); remove it to start empty"),
                    })?;
                for id in file.devices {
                    store.devices.entry(id).or_default();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot read it", &devices_path, e)),
        }

        let records_path = dir.join("records.jsonl");
        if let Ok(file) = File::open(&records_path) {
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|e| io("cannot read it", &records_path, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: Record =
                    serde_json::from_str(&line).map_err(|e| LocalCloudError::State {
                        path: records_path.clone(),
                        reason: format!("line {}: not a record ({e})", i + 1),
                    })?;
                store.apply(record);
            }
        }
        let records = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&records_path)
            .map_err(|e| io("cannot open it for appending", &records_path, e))?;
        store.persist = Some(Persist {
            dir: dir.to_path_buf(),
            records,
            _lock: lock,
        });
        Ok(store)
    }

    pub(crate) fn add_token(&mut self, token: &str) {
        self.tokens.insert(token.to_string());
    }

    pub(crate) fn knows_token(&self, token: &str) -> bool {
        self.tokens.contains(token)
    }

    /// Seed devices (their "initial provisioning"); returns how many were new.
    pub(crate) fn add_devices(
        &mut self,
        ids: impl IntoIterator<Item = DeviceId>,
    ) -> Result<usize, LocalCloudError> {
        let before = self.devices.len();
        for id in ids {
            self.devices.entry(id).or_default();
        }
        let added = self.devices.len() - before;
        if added > 0 {
            self.save_devices()?;
        }
        Ok(added)
    }

    pub(crate) fn is_seeded(&self, id: &DeviceId) -> bool {
        self.devices.contains_key(id)
    }

    /// Keep an accepted provisioning (and append it to the state directory).
    pub(crate) fn accept(&mut self, record: Record) -> Result<(), LocalCloudError> {
        if let Some(p) = &mut self.persist {
            let mut line = serde_json::to_string(&record).expect("record serialises");
            line.push('\n');
            p.records
                .write_all(line.as_bytes())
                .map_err(|e| LocalCloudError::State {
                    path: p.dir.join("records.jsonl"),
                    reason: format!("cannot append: {e}"),
                })?;
        }
        self.apply(record);
        Ok(())
    }

    fn apply(&mut self, record: Record) {
        let entry = self.devices.entry(record.device_id.clone()).or_default();
        entry.public_key = Some(record.public_key.clone());
        entry.provisioned += 1;
        self.records.push(record);
    }

    pub(crate) fn device(&self, id: &DeviceId) -> Option<DeviceInfo> {
        self.devices.get(id).map(|e| DeviceInfo {
            device_id: id.clone(),
            public_key: e.public_key.clone(),
            provisioned: e.provisioned,
        })
    }

    pub(crate) fn devices(&self) -> Vec<DeviceInfo> {
        self.devices
            .iter()
            .map(|(id, e)| DeviceInfo {
                device_id: id.clone(),
                public_key: e.public_key.clone(),
                provisioned: e.provisioned,
            })
            .collect()
    }

    pub(crate) fn records(&self, id: Option<&DeviceId>) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| id.map_or(true, |id| &r.device_id == id))
            .cloned()
            .collect()
    }

    pub(crate) fn reset_counters(&mut self) {
        self.stats = Stats::default();
        self.fault.reset_counter();
    }

    fn save_devices(&self) -> Result<(), LocalCloudError> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let file = DevicesFile {
            devices: self.devices.keys().cloned().collect(),
        };
        let path = p.dir.join("devices.json");
        let tmp = p.dir.join("devices.json.tmp");
        let text = serde_json::to_string_pretty(&file).expect("devices serialise");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| LocalCloudError::State {
                path,
                reason: format!("cannot write: {e}"),
            })
    }
}
