//! The seed guide as a program: a factory Duo's first boot, a key backup,
//! and provisioning its public key — against a virtual Duo and a local
//! cloud, so it runs anywhere. Swap `DeviceSelector::Sim` for `None` (the
//! one board in DFU mode on USB) and the local cloud's URL for
//! `https://api.particle.io` to do the same with a real board.
//!
//! Run: `cargo run -p duo-provisioning-examples --bin guide`

use std::error::Error;

use duo_provisioning::cloud::blocking::BlockingClient;
use duo_provisioning::cloud::config::parse_api_url;
use duo_provisioning::cloud::{AccessToken, CloudConfig, DeviceId};
use duo_provisioning::device::Device;
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::keys;
use duo_provisioning::sim::cloud::{LocalCloud, LocalCloudOptions};
use duo_provisioning::sim::duo::{CreateOptions, VirtualDuo};
use duo_provisioning::time;

const DEVICE_ID: &str = "2fff27fffc473530fff23637";

fn main() -> Result<(), Box<dyn Error>> {
    let work = std::env::temp_dir().join(format!("duoprov-example-{}", std::process::id()));
    let result = run(&work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run(work: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let id = DeviceId::parse(DEVICE_ID)?;
    let duo_dir = work.join("duo");
    std::fs::create_dir_all(work)?;

    // A factory Duo in DFU mode; its first boot generates the device key.
    let mut duo = VirtualDuo::create(
        &duo_dir,
        CreateOptions {
            device_id: Some(id.to_bytes()),
            time_factor: 0.01,
            ..Default::default()
        },
    )?;
    let boot = duo.boot()?;
    println!(
        "first boot: generated a key: {} (sha256 {})",
        boot.generated_key,
        boot.fingerprint.as_deref().unwrap_or("none")
    );
    duo.enter_dfu()?;
    drop(duo); // release the board, as unplugging a cable would

    // Back up the key over DFU, like `duoprov keys save`.
    let selector = DeviceSelector::Sim(duo_dir.clone());
    let mut device = Device::open(Some(&selector), time::system())?;
    let saved = device.save_key(&work.join("backup"), false)?;
    println!(
        "backed up an RSA-{} key to {} (sha256 {})",
        saved.bits,
        saved.files.der.display(),
        saved.fingerprint
    );
    drop(device);

    // Provision its public key with a cloud that knows the device.
    let token = AccessToken::new("example-token")?;
    let cloud = LocalCloud::start(LocalCloudOptions {
        tokens: vec![token.clone()],
        devices: vec![id.clone()],
        ..Default::default()
    })?;
    let api = parse_api_url(cloud.base_url(), "the local cloud", false)?;
    let client = BlockingClient::new(CloudConfig::new(api, token))?;
    let key = keys::load_private_key_file(&saved.files.der)?;
    let pem = keys::public_key_to_pem(&key.to_public_key())?;
    let provisioned = client.provision(&id, &pem, 88)?;
    println!(
        "provisioned {} in {} attempt(s)",
        provisioned.device_id, provisioned.attempts
    );

    // The cloud now holds exactly the device's public key.
    let held = cloud.public_key(&id).ok_or("the cloud holds no key")?;
    if !keys::keys_match(&key, &keys::parse_public_key(held.as_bytes())?) {
        return Err("the cloud holds a different key".into());
    }
    println!("the cloud holds the device's public key: the next connection will be accepted");
    Ok(())
}
