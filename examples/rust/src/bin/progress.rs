//! Issue 8's acceptance example, through the library alone: a virtual Duo
//! and a local cloud; boot, DFU mode, the device key read into memory;
//! another key loaded from bytes with a progress observer printing every
//! event; a third load cancelled from the observer halfway through its
//! write, after which the slot holds one whole key; provisioning the key
//! the slot holds; the reports printed as JSON. No file is written except
//! the virtual Duo's state and the backups, both in a temporary directory.
//! Exits non-zero if any expectation fails.
//!
//! Run: `cargo run -p duo-provisioning-examples --bin progress`

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::parse_api_url;
use duo_provisioning::cloud::{AccessToken, CloudConfig, DeviceId};
use duo_provisioning::device::{Device, DeviceError, KeyToLoad, SlotHolds};
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::error::{ErrorCode, ErrorInfo};
use duo_provisioning::keys::{self, RsaPrivateKey};
use duo_provisioning::progress::{CancelToken, Monitor, Phase, ProgressEvent};
use duo_provisioning::sim::cloud::{LocalCloud, LocalCloudOptions};
use duo_provisioning::sim::duo::{CreateOptions, VirtualDuo};
use duo_provisioning::time;
use serde_json::json;

const DEVICE_ID: &str = "2fff27fffc473530fff23637";

fn main() -> ExitCode {
    let work = std::env::temp_dir().join(format!("duoprov-progress-{}", std::process::id()));
    let result = run(&work);
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Err(what)` unless `ok`.
fn expect(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("expected {what}").into())
    }
}

fn fingerprint(key: &RsaPrivateKey) -> String {
    keys::fingerprint(&key.to_public_key())
}

fn run(work: &Path) -> Result<(), Box<dyn Error>> {
    let id = DeviceId::parse(DEVICE_ID)?;
    let duo_dir = work.join("duo");
    let backups = work.join("backups");
    std::fs::create_dir_all(&backups)?;

    // A factory Duo; its first boot makes the key; then DFU mode.
    let mut duo = VirtualDuo::create(
        &duo_dir,
        CreateOptions {
            device_id: Some(id.to_bytes()),
            time_factor: 0.01,
            ..Default::default()
        },
    )?;
    duo.boot()?;
    duo.enter_dfu()?;
    drop(duo);

    let token = AccessToken::new("example-token")?;
    let cloud = LocalCloud::start(LocalCloudOptions {
        tokens: vec![token.clone()],
        devices: vec![id.clone()],
        ..Default::default()
    })?;

    let selector = DeviceSelector::Sim(duo_dir.clone());
    let mut device = Device::open(Some(&selector), time::system())?;

    // The device key, in memory.
    let first = device.read_key()?;
    println!("device key read: sha256 {}", fingerprint(&first));

    // Load a second key from bytes, watching its progress.
    let second = keys::generate()?;
    let der = keys::private_key_to_der(&second)?;
    let to_load = KeyToLoad::from_bytes(&der, "second")?;
    let events = Arc::new(std::sync::Mutex::new(Vec::<ProgressEvent>::new()));
    let seen = events.clone();
    let watch = Monitor::new().with_observer(Arc::new(move |e: &ProgressEvent| {
        println!("  {:>7} {:>5}/{} {:?}", e.phase, e.done, e.total, e.unit);
        seen.lock().expect("events").push(*e);
    }));
    let loaded = device.load_key_into_with(&to_load, &backups, &watch)?;
    let mut phases: Vec<Phase> = events
        .lock()
        .expect("events")
        .iter()
        .map(|e| e.phase)
        .collect();
    phases.dedup();
    expect(
        phases == [Phase::Backup, Phase::Write, Phase::Verify],
        "the load reported backup, write, verify in order",
    )?;
    expect(
        loaded.verified && device.read_key()? == second,
        "the slot holds the second key, verified",
    )?;
    expect(
        keys::load_private_key_file(&loaded.backup)? == first,
        "the backup holds the first key",
    )?;

    // A third load, cancelled from the observer once the write is half done.
    let third = keys::generate()?;
    let to_load = KeyToLoad::from_key(third.clone(), "third")?;
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let halfway =
        Monitor::new()
            .with_cancel(cancel)
            .with_observer(Arc::new(move |e: &ProgressEvent| {
                println!("  {:>7} {:>5}/{} {:?}", e.phase, e.done, e.total, e.unit);
                if e.phase == Phase::Write && e.done * 2 >= e.total && e.done > 0 {
                    println!("  cancelling");
                    trigger.cancel();
                }
            }));
    let err = match device.load_key_into_with(&to_load, &backups, &halfway) {
        Ok(_) => return Err("the cancelled load finished as if not cancelled".into()),
        Err(e) => e,
    };
    println!("cancelled load: {err}");
    expect(err.code() == ErrorCode::Cancelled, "the error is CANCELLED")?;
    let DeviceError::Cancelled { slot, backup, .. } = &err else {
        return Err(format!("not a settled cancellation: {err}").into());
    };
    let held = device.read_key()?;
    let expected = match slot {
        SlotHolds::Old => &second,
        SlotHolds::New => &third,
    };
    expect(
        &held == expected,
        &format!(
            "the slot holds one whole key, the {} one, as the error says",
            slot.as_str()
        ),
    )?;
    let backup = backup.as_ref().ok_or("no backup named")?;
    expect(
        keys::load_private_key_file(backup)? == second,
        "the cancelled load's backup holds the second key",
    )?;
    drop(device);

    // Provision the key the slot holds.
    let api = parse_api_url(cloud.base_url(), "the local cloud", false)?;
    let client = BlockingClient::new(CloudConfig::new(api, token))?;
    let pem = keys::public_key_to_pem(&held.to_public_key())?;
    let provisioned = client.provision_with(&id, &pem, 88, &Monitor::default())?;
    let in_cloud = cloud.public_key(&id).ok_or("the cloud holds no key")?;
    expect(
        keys::keys_match(&held, &keys::parse_public_key(in_cloud.as_bytes())?),
        "the cloud holds the public key of the key in the slot",
    )?;
    cloud.stop();

    let reports = json!({
        "load": loaded,
        "cancelled": {
            "code": err.code(),
            "message": err.to_string(),
            "facts": err.facts(),
        },
        "provision": provisioned,
    });
    println!("{}", serde_json::to_string_pretty(&reports)?);
    Ok(())
}
