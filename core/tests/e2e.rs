//! Issue 11 end to end: `duoprov demo` (the seed guide's promise with the
//! real handshake at each boot), the negative paths of the cloud connection
//! with the local cloud's admin record of each, and `keys doctor` against a
//! cloud answering 500.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{assert_ok, duoprov_cmd, stderr, stdout, stdout_json};
use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::keys;
use duo_provisioning::protocol::coap::{self, HelloPayload};
use duo_provisioning::protocol::device::{self, DeviceCredentials, Step};
use duo_provisioning::server_key::{self, ServerAddress};
use duo_provisioning::sim::cloud::{
    ConnectionResult, Fault, LocalCloud, LocalCloudOptions, RunningCloud,
};
use duo_provisioning::sim::duo::{ConnectOutcome, CreateOptions, VirtualDuo};

const ID: &str = "2fff27fffc473530fff23637";
const TOKEN: &str = "e2e-test-token-91ac";

fn id() -> DeviceId {
    DeviceId::parse(ID).unwrap()
}

fn start_cloud() -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: vec![id()],
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

/// A factory virtual Duo in `dir/duo` whose DCT points at `block`, booted
/// once (so it has a key), back in DFU mode.
fn duo(dir: &Path, block: &[u8]) -> VirtualDuo {
    let duo = VirtualDuo::create(
        &dir.join("duo"),
        CreateOptions {
            device_id: Some(hex::decode(ID).unwrap().try_into().unwrap()),
            time_factor: 0.01,
            ..CreateOptions::default()
        },
    )
    .unwrap();
    drop(duo);
    let out = duoprov_cmd(dir)
        .env("DUOPROV_DEVICE", "sim:duo")
        .args(["dfu", "write", "--alt", "1", "--addr", "2082"])
        .arg(write_block(dir, block))
        .output()
        .unwrap();
    assert_ok(&out, "dfu write the server block");
    VirtualDuo::open(&dir.join("duo")).unwrap()
}

fn write_block(dir: &Path, block: &[u8]) -> std::path::PathBuf {
    let path = dir.join("block.der");
    std::fs::write(&path, block).unwrap();
    path
}

fn boot(duo: &mut VirtualDuo) -> ConnectOutcome {
    let report = duo.boot().unwrap();
    let outcome = report.connection.unwrap();
    duo.enter_dfu().unwrap();
    outcome
}

fn device_key(duo: &VirtualDuo) -> keys::RsaPrivateKey {
    keys::parse_private_key(&duo.app_dct_bytes()[34..34 + 1216]).unwrap()
}

/// The cloud records a connection's end on its own thread.
fn record(
    cloud: &RunningCloud,
    pred: impl Fn(&duo_provisioning::sim::cloud::ConnectionInfo) -> bool,
) -> duo_provisioning::sim::cloud::ConnectionInfo {
    for _ in 0..500 {
        if let Some(info) = cloud.connection(&id()).filter(|i| pred(i)) {
            return info;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no such record: {:?}", cloud.connection(&id()));
}

#[test]
fn the_demo_runs_every_step_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov_cmd(dir.path())
        .args(["demo", "--json", "--keep", "work"])
        .output()
        .unwrap();
    assert_ok(&out, "duoprov demo");
    let report = stdout_json(&out);
    assert_eq!(report["ok"], true, "{report}");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 14, "{report}");
    for s in steps {
        assert_eq!(s["ok"], true, "{s}");
    }
    let titles: Vec<&str> = steps.iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"keys doctor"), "{titles:?}");
    // The seed guide's rejections happened where they should.
    assert!(steps[2]["actual"]
        .as_str()
        .unwrap()
        .contains("rejected at identity"));
    assert!(steps[7]["actual"]
        .as_str()
        .unwrap()
        .contains("rejected at session key"));
    assert!(steps[11]["actual"]
        .as_str()
        .unwrap()
        .contains("rejected at session key"));
    assert!(steps[13]["actual"]
        .as_str()
        .unwrap()
        .contains("connected to 127.0.0.1:"));
    assert!(dir.path().join("work/duo-key.der").exists());

    // Human output: each step marked, and the summary table.
    let human = duoprov_cmd(dir.path()).args(["demo"]).output().unwrap();
    assert_ok(&human, "duoprov demo (text)");
    let text = stdout(&human);
    assert_eq!(text.matches('✓').count(), 28, "{text}");
    assert!(!text.contains('✗'), "{text}");
    assert!(text.contains("14 of 14 steps as expected"), "{text}");
}

#[test]
fn never_provisioned_wrong_key_other_server_key_and_bad_counter() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_cloud();
    let block = cloud.server_key_block().unwrap();
    let mut duo = duo(dir.path(), &block);

    // Never provisioned: disconnected before the reply, the key recorded.
    let first = boot(&mut duo);
    assert_eq!(first.rejected_step(), Some(Step::Identity), "{first}");
    let info = record(&cloud, |i| i.result.is_some());
    assert_eq!(info.result, Some(ConnectionResult::Rejected));
    assert!(info
        .reason
        .as_deref()
        .unwrap()
        .contains("never provisioned"));
    let key = device_key(&duo);
    assert_eq!(
        info.untrusted_key.as_deref(),
        Some(
            keys::public_key_to_pem(&key.to_public_key())
                .unwrap()
                .as_str()
        )
    );
    assert_eq!(info.key_fingerprint, None);

    // Wrong key: the cloud holds another key for the device.
    let other = keys::generate().unwrap();
    cloud.hold_key(&id(), &other.to_public_key()).unwrap();
    let wrong = boot(&mut duo);
    assert_eq!(wrong.rejected_step(), Some(Step::SessionKey), "{wrong}");
    assert!(wrong
        .to_string()
        .contains("the cloud holds a different public key for this device"));
    let info = record(&cloud, |i| i.attempts == 2 && i.result.is_some());
    assert_eq!(info.result, Some(ConnectionResult::Rejected));
    assert!(
        info.reason.as_deref().unwrap().contains("does not match"),
        "{info:?}"
    );
    assert_eq!(
        info.key_fingerprint.as_deref(),
        Some(keys::fingerprint(&other.to_public_key()).as_str())
    );

    // Its own key: accepted.
    cloud.hold_key(&id(), &key.to_public_key()).unwrap();
    let accepted = boot(&mut duo);
    assert!(accepted.is_connected(), "{accepted}");
    let info = record(&cloud, |i| i.attempts == 3 && i.result.is_some());
    assert_eq!(info.result, Some(ConnectionResult::Accepted));

    // Bad counter: the device's next message skips ids.
    let server = server_key::parse_server_key(&block).unwrap();
    let stream = std::net::TcpStream::connect(cloud.device_addr()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let creds = DeviceCredentials {
        device_id: hex::decode(ID).unwrap().try_into().unwrap(),
        device_key: key.clone(),
        server_key: server.key.clone(),
        hello: HelloPayload {
            product_id: 88,
            firmware_version: 0,
            flags: 0,
            platform_id: 88,
        },
    };
    let mut session = device::connect(stream, &creds, &mut rand_core::OsRng).unwrap();
    let skipped = session.next_id().wrapping_add(3);
    session.send_raw(&coap::ping(skipped)).unwrap();
    let err = session.receive(Step::KeepAlive, "an ACK").unwrap_err();
    assert!(err.reason.contains("closed the connection"), "{err}");
    let info = record(&cloud, |i| {
        i.attempts == 4 && i.result == Some(ConnectionResult::Rejected)
    });
    assert!(
        info.reason.as_deref().unwrap().contains("bad counter"),
        "{info:?}"
    );

    // Another server key in the DCT (RedBear's public-cloud key, loopback
    // address): the cloud cannot decrypt the handshake, so it cannot tell
    // who it is and records it apart.
    drop(duo);
    let ip = match cloud.device_addr().ip() {
        std::net::IpAddr::V4(ip) => ip,
        _ => unreachable!(),
    };
    let foreign = server_key::format_server_key(
        &server_key::default_server_key(),
        Some(&ServerAddress::Ipv4(ip)),
        Some(cloud.device_addr().port()),
    )
    .unwrap();
    let out = duoprov_cmd(dir.path())
        .env("DUOPROV_DEVICE", "sim:duo")
        .args(["dfu", "write", "--alt", "1", "--addr", "2082"])
        .arg(write_block(dir.path(), &foreign))
        .output()
        .unwrap();
    assert_ok(&out, "dfu write the foreign server block");
    let mut duo = VirtualDuo::open(&dir.path().join("duo")).unwrap();
    let foreign = boot(&mut duo);
    assert_eq!(foreign.rejected_step(), Some(Step::Identity), "{foreign}");
    for _ in 0..500 {
        if !cloud.unidentified().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let seen = cloud.unidentified();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].reason.contains("another server key"), "{seen:?}");
    assert_eq!(cloud.connection(&id()).unwrap().attempts, 4);
}

#[test]
fn keys_doctor_with_the_cloud_answering_500_says_what_each_side_holds() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_cloud();
    let mut duo = duo(dir.path(), &cloud.server_key_block().unwrap());
    boot(&mut duo);
    let old_slot = duo.app_dct_bytes()[34..34 + 1216].to_vec();
    let old_der = keys::private_key_to_der(&device_key(&duo)).unwrap();
    drop(duo);
    cloud.set_fault(Fault::json_status(500));
    let out = duoprov_cmd(dir.path())
        .env("DUOPROV_DEVICE", "sim:duo")
        .env("HOME", dir.path())
        .args([
            "keys",
            "doctor",
            ID,
            "--token",
            TOKEN,
            "--api-url",
            cloud.base_url(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("the device now holds the new key"), "{err}");
    assert!(err.contains("the cloud does not"), "{err}");
    let finish = format!("duoprov provision {ID} ./doctor_{ID}.pub.pem");
    assert!(err.contains(&finish), "{err}");
    assert!(!err.contains(TOKEN));
    // The device holds the new key; the backup is the old one.
    let duo = VirtualDuo::open(&dir.path().join("duo")).unwrap();
    let now = device_key(&duo);
    let new = keys::load_private_key_file(&dir.path().join(format!("doctor_{ID}.der"))).unwrap();
    assert_eq!(now, new);
    assert_ne!(duo.app_dct_bytes()[34..34 + 1216], old_slot[..]);
    let backup = std::fs::read(dir.path().join(format!("backup_rsa_doctor_{ID}.der"))).unwrap();
    assert_eq!(backup, old_der);
    assert_eq!(cloud.public_key(&id()), None, "the cloud holds nothing new");

    // The printed command finishes the job.
    cloud.clear_fault();
    let out = duoprov_cmd(dir.path())
        .env("HOME", dir.path())
        .args([
            "provision",
            ID,
            &format!("./doctor_{ID}.pub.pem"),
            "--token",
            TOKEN,
        ])
        .args(["--api-url", cloud.base_url()])
        .output()
        .unwrap();
    assert_ok(&out, "the finishing provision");
    drop(duo);
    let mut duo = VirtualDuo::open(&dir.path().join("duo")).unwrap();
    assert!(boot(&mut duo).is_connected());
}
