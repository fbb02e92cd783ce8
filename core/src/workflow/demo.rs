//! `duoprov demo`, the README's main job: the seed guide's key lifecycle on
//! a temporary virtual Duo (RedBear's factory DCT) and a local cloud, with
//! the real handshake at every boot. Each step says what it did, what was
//! expected and what happened; the report is `ok` only if every
//! expectation held.

use std::path::PathBuf;
use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::Serialize;

use super::doctor::{keys_doctor, DoctorRequest};
use crate::cloud::blocking::BlockingClient;
use crate::cloud::{AccessToken, CloudConfig, DeviceId, ProvisionKey};
use crate::device::{Device, KeyToLoad};
use crate::dfu::DeviceSelector;
use crate::keys;
use crate::protocol::connect::ConnectOutcome;
use crate::protocol::device::Step;
use crate::sim::cloud::{KeySource, LocalCloud, LocalCloudOptions, RunningCloud};
use crate::sim::duo::{BootReport, CreateOptions, VirtualDuo};
use crate::time::Clock;

/// The device id of the seed guide's example.
pub const DEMO_DEVICE_ID: &str = "2fff27fffc473530fff23637";

/// Where and how fast.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// An empty directory for the virtual Duo, key files and backups.
    pub work_dir: PathBuf,
    /// The virtual Duo's time factor (1.0 = a real Duo).
    pub time_factor: f64,
    pub clock: Arc<dyn Clock>,
}

/// One step of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoStep {
    pub number: usize,
    pub title: String,
    /// What the step did.
    pub did: String,
    pub expected: String,
    pub actual: String,
    /// The expectation held.
    pub ok: bool,
    pub millis: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub ok: bool,
    pub device_id: String,
    pub cloud_url: String,
    pub device_endpoint: String,
    pub work_dir: PathBuf,
    pub steps: Vec<DemoStep>,
}

/// The demo could not even set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo setup: {0}")]
    Setup(String),
}

struct Run<'a> {
    dir: PathBuf,
    duo_dir: PathBuf,
    clock: Arc<dyn Clock>,
    cloud: RunningCloud,
    client: BlockingClient,
    id: DeviceId,
    steps: Vec<DemoStep>,
    on_step: &'a mut dyn FnMut(&DemoStep),
}

/// What a step's body found: `(did, actual, ok)`.
type Found = (String, String, bool);

impl Run<'_> {
    fn step(
        &mut self,
        title: &str,
        expected: &str,
        body: impl FnOnce(&mut Self) -> Result<Found, String>,
    ) {
        let start = self.clock.now();
        let (did, actual, ok) = match body(self) {
            Ok(found) => found,
            Err(e) => ("failed".into(), e, false),
        };
        let step = DemoStep {
            number: self.steps.len() + 1,
            title: title.into(),
            did,
            expected: expected.into(),
            actual,
            ok,
            millis: self
                .clock
                .now()
                .saturating_duration_since(start)
                .as_millis() as u64,
        };
        (self.on_step)(&step);
        self.steps.push(step);
    }

    fn device(&self) -> Result<Device, String> {
        let mut duo = VirtualDuo::open_with_clock(&self.duo_dir, self.clock.clone())
            .map_err(|e| e.to_string())?;
        duo.enter_dfu().map_err(|e| e.to_string())?;
        drop(duo);
        Device::open(
            Some(&DeviceSelector::Sim(self.duo_dir.clone())),
            self.clock.clone(),
        )
        .map_err(|e| e.to_string())
    }

    fn boot(&self) -> Result<BootReport, String> {
        let mut duo = VirtualDuo::open_with_clock(&self.duo_dir, self.clock.clone())
            .map_err(|e| e.to_string())?;
        duo.boot().map_err(|e| e.to_string())
    }

    fn held(&self) -> Option<(String, Option<KeySource>)> {
        let info = self.cloud.connection(&self.id)?;
        Some((info.key_fingerprint?, info.key_source))
    }

    fn provision(&self, key: ProvisionKey) -> Result<Found, String> {
        let did = format!(
            "POST /v1/provisioning/{} with {} (sha256 {})",
            self.id,
            match key.source {
                crate::cloud::KeySource::Generic => "the generic public key".to_string(),
                _ => "the backup's public key".to_string(),
            },
            key.fingerprint_prefix()
        );
        let done = self.client.provision_counted(&self.id, &key, 88);
        Ok(match done.result {
            Ok(p) => (
                did,
                format!("accepted; the cloud holds sha256 {}", short(&p.fingerprint)),
                true,
            ),
            Err(e) => (did, e.to_string(), false),
        })
    }

    /// Boot and compare the connection with `expect` (None = connected).
    fn connect(&self, expect: Option<Step>, holds: Option<&str>) -> Result<Found, String> {
        let report = self.boot()?;
        let outcome = report
            .connection
            .ok_or("the boot made no connection attempt")?;
        let held = self.held();
        let mut ok = match (&outcome, expect) {
            (ConnectOutcome::Connected { .. }, None) => true,
            (ConnectOutcome::Rejected { step, .. }, Some(want)) => *step == want,
            _ => false,
        };
        if let Some(fp) = holds {
            ok &= held.as_ref().is_some_and(|(h, _)| h == fp);
        }
        let holds_text = match &held {
            Some((fp, source)) => format!(
                "; the cloud holds sha256 {} (from {})",
                short(fp),
                match source {
                    Some(KeySource::FirstConnection) => "the first connection",
                    _ => "provisioning",
                }
            ),
            None => "; the cloud holds no key".into(),
        };
        Ok((
            "booted the firmware: it connected with the handshake".into(),
            format!("{outcome}{holds_text}"),
            ok,
        ))
    }
}

fn short(fp: &str) -> &str {
    &fp[..fp.len().min(16)]
}

/// Run the demo; `on_step` sees each step as it finishes.
pub fn run_demo(
    options: &DemoOptions,
    on_step: &mut dyn FnMut(&DemoStep),
) -> Result<DemoReport, DemoError> {
    let setup = |e: String| DemoError::Setup(e);
    // Refused before anything starts: a huge factor would wait for hours.
    crate::sim::duo::check_time_factor(options.time_factor).map_err(|e| setup(e.to_string()))?;
    let dir = options.work_dir.clone();
    // An empty directory, as documented: files already there would be
    // mistaken for the demo's own (or make its steps fail).
    let mut entries =
        std::fs::read_dir(&dir).map_err(|e| setup(format!("cannot use {}: {e}", dir.display())))?;
    if entries.next().is_some() {
        return Err(setup(format!(
            "{} is not empty: the demo needs an empty or new directory",
            dir.display()
        )));
    }
    let id = DeviceId::parse(DEMO_DEVICE_ID).map_err(|e| setup(e.to_string()))?;
    let mut token = [0u8; 16];
    OsRng.fill_bytes(&mut token);
    let token = AccessToken::new(hex::encode(token)).map_err(|e| setup(e.to_string()))?;
    let cloud = LocalCloud::start(LocalCloudOptions {
        tokens: vec![token.clone()],
        devices: vec![id.clone()],
        ..LocalCloudOptions::default()
    })
    .map_err(|e| setup(e.to_string()))?;
    let url = url::Url::parse(cloud.base_url()).map_err(|e| setup(e.to_string()))?;
    let client =
        BlockingClient::new(CloudConfig::new(url, token)).map_err(|e| setup(e.to_string()))?;
    let mut run = Run {
        duo_dir: dir.join("duo"),
        dir: dir.clone(),
        clock: options.clock.clone(),
        cloud,
        client,
        id,
        steps: Vec::new(),
        on_step,
    };
    let time_factor = options.time_factor;
    scenario(&mut run, time_factor);
    Ok(DemoReport {
        ok: run.steps.iter().all(|s| s.ok),
        device_id: DEMO_DEVICE_ID.into(),
        cloud_url: run.cloud.base_url().into(),
        device_endpoint: run.cloud.device_addr().to_string(),
        work_dir: dir,
        steps: run.steps,
    })
}

fn scenario(run: &mut Run<'_>, time_factor: f64) {
    let path = |run: &Run<'_>, name: &str| -> PathBuf { run.dir.join(name) };
    run.step(
        "a factory Duo in DFU mode and a local cloud",
        "key slot erased; the cloud knows the device and holds no key for it",
        |run| {
            let id: [u8; 12] = hex::decode(DEMO_DEVICE_ID)
                .unwrap_or_default()
                .try_into()
                .map_err(|_| "id")?;
            VirtualDuo::create_with_clock(
                &run.duo_dir,
                CreateOptions {
                    device_id: Some(id),
                    time_factor,
                    ..CreateOptions::default()
                },
                run.clock.clone(),
            )
            .map_err(|e| e.to_string())?;
            let slot = run
                .device()?
                .read_full_key_slot()
                .map_err(|e| e.to_string())?;
            let state = keys::classify_slot(&slot);
            let held = run.held();
            Ok((
                format!(
                    "made a virtual Duo from RedBear's factory DCT in {} and a local cloud at {}",
                    run.duo_dir.display(),
                    run.cloud.base_url()
                ),
                format!(
                    "key slot {state:?}; cloud holds {}",
                    if held.is_some() { "a key" } else { "no key" }
                ),
                state == keys::SlotState::Erased && held.is_none(),
            ))
        },
    );
    run.step(
        "point the device at the local cloud (keys server)",
        "the DCT's server block names the cloud's key and its device endpoint",
        |run| {
            let block = run.cloud.server_key_block().map_err(|e| e.to_string())?;
            let summary = run
                .device()?
                .write_server_key(&block)
                .map_err(|e| e.to_string())?;
            let want = run.cloud.device_addr();
            Ok((
                "wrote the cloud's server key block at DCT 2082".into(),
                summary.to_string(),
                summary.address.to_string() == want.ip().to_string() && summary.port == want.port(),
            ))
        },
    );
    let first_key = std::cell::RefCell::new(String::new());
    run.step(
        "first boot",
        "the firmware generates a key; its connection is rejected (never provisioned)",
        |run| {
            let report = run.boot()?;
            let outcome = report.connection.clone().ok_or("no connection attempt")?;
            *first_key.borrow_mut() = report.fingerprint.clone().unwrap_or_default();
            Ok((
                "booted a factory device".into(),
                format!("generated a key: {}; {outcome}", report.generated_key),
                report.generated_key && outcome.rejected_step() == Some(Step::Identity),
            ))
        },
    );
    let first_key = first_key.into_inner();
    run.step(
        "back up the key (keys save)",
        "duo-key.der / .pem / .pub.pem hold the key the firmware made",
        |run| {
            let report = run
                .device()?
                .save_key(&path(run, "duo-key"), false)
                .map_err(|e| e.to_string())?;
            Ok((
                format!("saved the key slot as {}", report.files.der.display()),
                format!("sha256 {}", short(&report.fingerprint)),
                report.fingerprint == first_key,
            ))
        },
    );
    run.step(
        "provision with the generic key (provision ID)",
        "the cloud accepts the generic key",
        |run| run.provision(ProvisionKey::generic().map_err(|e| e.to_string())?),
    );
    run.step(
        "connect",
        "accepted; the cloud now holds the device's own key, learnt from the handshake",
        |run| run.connect(None, Some(&first_key)),
    );
    run.step(
        "reset the key (keys reset)",
        "the reset request is written; the old key is kept as a verified backup",
        |run| {
            let r = run
                .device()?
                .reset_key(false, &path(run, "reset"))
                .map_err(|e| e.to_string())?;
            Ok((
                "wrote the reset request at DCT 34".into(),
                format!(
                    "verified: {}; backup {}",
                    r.verified,
                    r.backup
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                r.verified && r.backup.is_some(),
            ))
        },
    );
    run.step(
        "boot with a new key",
        "the firmware generates a new key; the connection is rejected at the session key",
        |run| {
            let report = run.boot()?;
            let outcome = report.connection.clone().ok_or("no connection attempt")?;
            Ok((
                "booted after the reset request".into(),
                format!("generated a key: {}; {outcome}", report.generated_key),
                report.generated_key
                    && report.fingerprint.as_deref() != Some(first_key.as_str())
                    && outcome.rejected_step() == Some(Step::SessionKey),
            ))
        },
    );
    let doctor_key = std::cell::RefCell::new(String::new());
    run.step(
        "keys doctor",
        "a new key made on the host, the device's key backed up, the new key loaded and provisioned",
        |run| {
            let mut device = run.device()?;
            let request = DoctorRequest::new(run.id.clone(), &run.dir);
            match keys_doctor(&mut device, &run.client, &request) {
                Ok(r) => {
                    *doctor_key.borrow_mut() = r.fingerprint.clone();
                    Ok((
                        format!("loaded {} (backup {})", r.new_key.der.display(), r.backup.display()),
                        format!("done; the cloud holds sha256 {}", short(&r.fingerprint)),
                        r.load.verified,
                    ))
                }
                Err(e) => Ok(("keys doctor".into(), e.to_string(), false)),
            }
        },
    );
    let doctor_key = doctor_key.into_inner();
    run.step("connect", "accepted with the doctor's key", |run| {
        run.connect(None, Some(&doctor_key))
    });
    run.step(
        "restore the backup (keys load duo-key.der)",
        "the first key is back in the slot, verified",
        |run| {
            let key = KeyToLoad::from_file(&path(run, "duo-key.der")).map_err(|e| e.to_string())?;
            let r = run.device()?.load_key(&key).map_err(|e| e.to_string())?;
            Ok((
                format!(
                    "loaded duo-key.der (the replaced key kept in {})",
                    r.backup.display()
                ),
                format!("verified: {}; sha256 {}", r.verified, short(&r.fingerprint)),
                r.verified && r.fingerprint == first_key,
            ))
        },
    );
    run.step(
        "connect",
        "rejected at the session key: the cloud holds the doctor's key",
        |run| run.connect(Some(Step::SessionKey), Some(&doctor_key)),
    );
    run.step(
        "provision the backup's key (provision ID duo-key.pub.pem)",
        "the cloud accepts it",
        |run| {
            run.provision(
                ProvisionKey::from_arg(Some(&path(run, "duo-key.pub.pem").to_string_lossy()))
                    .map_err(|e| e.to_string())?,
            )
        },
    );
    run.step("connect", "accepted with the first key again", |run| {
        run.connect(None, Some(&first_key))
    });
}
