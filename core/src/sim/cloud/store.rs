//! What the local cloud knows: access tokens and the account of each, the
//! devices it has "initially provisioned" (seeded) with their owner account
//! and product, the key it holds for each, every accepted request, and
//! counters. Optionally persisted to a state directory:
//!
//! - `devices.json`: the seeded devices, `{"devices":[{"device_id",
//!   "account","product_id"}…]}` (rewritten when seeds change; plain id
//!   strings from older versions read as the default account, product 88);
//! - `records.jsonl`: one accepted provisioning a line (appended), replayed
//!   on start to recover the keys held;
//! - `lock`: held exclusively while a server uses the directory.
//!
//! Tokens are never written to disk; give them at every start.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::accounts::{SeededDevice, DEFAULT_ACCOUNT, DEFAULT_PRODUCT_ID};
use super::fault::FaultState;
use super::LocalCloudError;
use crate::cloud::DeviceId;

/// An accepted provisioning request, as the local cloud recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub device_id: DeviceId,
    /// The account whose token made the request.
    #[serde(default = "default_account")]
    pub account: String,
    /// PEM SubjectPublicKeyInfo, normalised.
    pub public_key: String,
    pub product_id: Option<u16>,
    pub order: Option<String>,
    pub filename: Option<String>,
    pub algorithm: String,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
}

fn default_account() -> String {
    DEFAULT_ACCOUNT.to_string()
}

/// A seeded device, its owner, and the key the cloud holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub device_id: DeviceId,
    /// The account with rights to it.
    pub account: String,
    pub product_id: u16,
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

/// An account as the admin surface shows it (never its tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    pub name: String,
    /// Tokens that act for it (how many, not which).
    pub tokens: usize,
    pub expired_tokens: usize,
    /// The devices it owns.
    pub devices: Vec<DeviceId>,
}

/// What a token is to the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenState {
    Valid(String),
    Expired(String),
}

#[derive(Debug)]
struct DeviceEntry {
    account: String,
    product_id: u16,
    public_key: Option<String>,
    provisioned: u64,
}

impl DeviceEntry {
    fn new(account: String, product_id: u16) -> Self {
        DeviceEntry {
            account,
            product_id,
            public_key: None,
            provisioned: 0,
        }
    }
}

/// The whole state, behind one mutex in the server. `Debug` is by hand: it
/// counts the tokens instead of printing them.
#[derive(Default)]
pub(crate) struct Store {
    /// Token → its state and account.
    tokens: HashMap<String, TokenState>,
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
    devices: Vec<SavedDevice>,
}

/// One line of `devices.json`: a seed, or a bare id (older files).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SavedDevice {
    Seed(SeededDevice),
    Id(DeviceId),
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
                for saved in file.devices {
                    let seed = match saved {
                        SavedDevice::Seed(seed) => seed,
                        SavedDevice::Id(id) => SeededDevice::new(id),
                    };
                    store.seed(seed);
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

    /// A token acting for `account`.
    pub(crate) fn add_token(&mut self, account: &str, token: &str) {
        self.tokens
            .insert(token.to_string(), TokenState::Valid(account.to_string()));
    }

    /// A token of `account` past its lifetime.
    pub(crate) fn add_expired_token(&mut self, account: &str, token: &str) {
        self.tokens
            .insert(token.to_string(), TokenState::Expired(account.to_string()));
    }

    pub(crate) fn token(&self, token: &str) -> Option<&TokenState> {
        self.tokens.get(token)
    }

    /// Seed devices (their "initial provisioning"), or give seeded ones a
    /// new owner or product; returns how many were new.
    pub(crate) fn add_devices(
        &mut self,
        seeds: impl IntoIterator<Item = SeededDevice>,
    ) -> Result<usize, LocalCloudError> {
        let before = self.devices.len();
        let mut changed = false;
        for seed in seeds {
            changed |= self.seed(seed);
        }
        let added = self.devices.len() - before;
        if changed {
            self.save_devices()?;
        }
        Ok(added)
    }

    /// Seed one device; whether anything changed.
    fn seed(&mut self, seed: SeededDevice) -> bool {
        let entry = self
            .devices
            .entry(seed.device_id)
            .or_insert_with(|| DeviceEntry::new(String::new(), DEFAULT_PRODUCT_ID));
        let changed = entry.account != seed.account || entry.product_id != seed.product_id;
        entry.account = seed.account;
        entry.product_id = seed.product_id;
        changed
    }

    /// The owner account and product of a seeded device.
    pub(crate) fn owner(&self, id: &DeviceId) -> Option<(&str, u16)> {
        self.devices
            .get(id)
            .map(|e| (e.account.as_str(), e.product_id))
    }

    /// Every account the cloud knows of (from tokens or devices), by name.
    pub(crate) fn accounts(&self) -> Vec<AccountInfo> {
        let mut accounts: BTreeMap<&str, AccountInfo> = BTreeMap::new();
        let entry = |name: &str| -> AccountInfo {
            AccountInfo {
                name: name.to_string(),
                tokens: 0,
                expired_tokens: 0,
                devices: Vec::new(),
            }
        };
        for state in self.tokens.values() {
            let (name, expired) = match state {
                TokenState::Valid(a) => (a.as_str(), false),
                TokenState::Expired(a) => (a.as_str(), true),
            };
            let info = accounts.entry(name).or_insert_with(|| entry(name));
            if expired {
                info.expired_tokens += 1;
            } else {
                info.tokens += 1;
            }
        }
        for (id, e) in &self.devices {
            accounts
                .entry(e.account.as_str())
                .or_insert_with(|| entry(&e.account))
                .devices
                .push(id.clone());
        }
        accounts.into_values().collect()
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
        let entry = self
            .devices
            .entry(record.device_id.clone())
            .or_insert_with(|| {
                DeviceEntry::new(
                    record.account.clone(),
                    record.product_id.unwrap_or(DEFAULT_PRODUCT_ID),
                )
            });
        entry.public_key = Some(record.public_key.clone());
        entry.provisioned += 1;
        self.records.push(record);
    }

    pub(crate) fn device(&self, id: &DeviceId) -> Option<DeviceInfo> {
        self.devices.get(id).map(|e| info(id, e))
    }

    pub(crate) fn devices(&self) -> Vec<DeviceInfo> {
        self.devices.iter().map(|(id, e)| info(id, e)).collect()
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
            devices: self
                .devices
                .iter()
                .map(|(id, e)| {
                    SavedDevice::Seed(SeededDevice {
                        device_id: id.clone(),
                        account: e.account.clone(),
                        product_id: e.product_id,
                    })
                })
                .collect(),
        };
        let path = p.dir.join("devices.json");
        let text = serde_json::to_string_pretty(&file).expect("devices serialise");
        crate::keys::replace_state_file(&path, text.as_bytes()).map_err(|e| {
            LocalCloudError::State {
                path,
                reason: format!("cannot write: {e}"),
            }
        })
    }
}

fn info(id: &DeviceId, e: &DeviceEntry) -> DeviceInfo {
    DeviceInfo {
        device_id: id.clone(),
        account: e.account.clone(),
        product_id: e.product_id,
        public_key: e.public_key.clone(),
        provisioned: e.provisioned,
    }
}
