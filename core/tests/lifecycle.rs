//! The seed guide, end to end, through the `duoprov` binary: a factory Duo
//! (virtual) and a cloud (local). What the guide promises is checked at each
//! step: the cloud ends up holding exactly the public half of the key in the
//! device's slot, after a first boot and again after a key reset.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{assert_ok, duoprov_cmd, stderr, stdout_json};
use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::keys;
use duo_provisioning::sim::cloud::{LocalCloud, LocalCloudOptions, RunningCloud};
use duo_provisioning::sim::duo::VirtualDuo;

const ID: &str = "2fff27fffc473530fff23637";
const TOKEN: &str = "lifecycle-test-token-5f1e";

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    duoprov_cmd(dir)
        .args(args)
        .env("DUOPROV_DEVICE", "sim:duo")
        .env("PARTICLE_ACCESS_TOKEN", TOKEN)
        .env_remove("PARTICLE_API_URL")
        .env("HOME", dir)
        .output()
        .expect("run duoprov")
}

fn ok(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = run(dir, &with_json);
    assert_ok(&out, &args.join(" "));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(TOKEN) && !stderr(&out).contains(TOKEN),
        "the access token leaked into the output of {args:?}"
    );
    stdout_json(&out)
}

/// The public key the device holds in its slot, read by the simulator itself.
fn device_public_key(dir: &Path) -> keys::RsaPublicKey {
    let duo = VirtualDuo::open(&dir.join("duo")).expect("open the virtual Duo");
    let slot = &duo.app_dct_bytes()[34..34 + 1216];
    keys::parse_private_key(slot)
        .expect("the device holds a valid key")
        .to_public_key()
}

fn cloud_key(cloud: &RunningCloud) -> keys::RsaPublicKey {
    let pem = cloud
        .public_key(&DeviceId::parse(ID).unwrap())
        .expect("the cloud holds a key for the device");
    keys::parse_public_key(pem.as_bytes()).unwrap()
}

fn start_cloud() -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: vec![DeviceId::parse(ID).unwrap()],
        ..Default::default()
    })
    .expect("start the local cloud")
}

#[test]
fn factory_duo_is_backed_up_provisioned_reset_and_provisioned_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cloud = start_cloud();
    let api = cloud.base_url().to_string();

    ok(
        d,
        &[
            "sim",
            "create",
            "duo",
            "--device-id",
            ID,
            "--time-factor",
            "0.001",
        ],
    );

    // A factory Duo has no key: nothing to back up, and nothing written.
    let out = run(d, &["keys", "save", "factory"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("erased"), "{}", stderr(&out));
    assert!(!d.join("factory.der").exists());

    // First boot generates the key; back it up.
    ok(d, &["sim", "boot", "duo"]);
    ok(d, &["sim", "dfu", "duo"]);
    ok(d, &["keys", "save", "first"]);
    let first = keys::load_private_key_file(&d.join("first.der")).unwrap();
    assert!(keys::keys_match(&first, &device_public_key(d)));

    // Provision it: the cloud holds exactly the device's public key.
    let r = ok(d, &["provision", ID, "first.pub.pem", "--api-url", &api]);
    assert_eq!(r["ok"], true);
    assert_eq!(r["attempts"], 1);
    assert!(keys::keys_match(&first, &cloud_key(&cloud)));

    // Reset: the next boot makes a different key; provisioning follows it.
    ok(d, &["keys", "reset"]);
    ok(d, &["sim", "dfu", "duo"]);
    ok(d, &["keys", "save", "second"]);
    let second = keys::load_private_key_file(&d.join("second.der")).unwrap();
    assert!(
        !keys::keys_match(&second, &first.to_public_key()),
        "reset kept the old key"
    );
    assert!(
        !keys::keys_match(&second, &cloud_key(&cloud)),
        "cloud still has the old key"
    );
    ok(d, &["provision", ID, "second.der", "--api-url", &api]);
    assert!(keys::keys_match(&second, &cloud_key(&cloud)));
    assert!(keys::keys_match(&second, &device_public_key(d)));

    // Restoring the first backup puts the device back on the first key, and
    // provisioning that backup brings the cloud along.
    ok(d, &["keys", "load", "first.der"]);
    assert!(keys::keys_match(&first, &device_public_key(d)));
    ok(d, &["provision", ID, "first.der", "--api-url", &api]);
    assert!(keys::keys_match(&first, &cloud_key(&cloud)));
    assert_eq!(cloud.records_for(&DeviceId::parse(ID).unwrap()).len(), 3);
}

#[test]
fn provisioning_from_a_device_that_never_had_initial_provisioning_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cloud = start_cloud();
    let out = run(
        d,
        &[
            "provision",
            "0123456789abcdef01234567",
            "--api-url",
            cloud.base_url(),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("initial provisioning"), "{err}");
    assert!(!common::stdout(&out).contains("Success"));
    assert!(cloud.records().is_empty());
}
