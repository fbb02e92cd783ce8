//! The device endpoint against the protocol's device side, over loopback TCP.

use std::net::TcpStream;
use std::time::Duration;

use super::*;
use crate::keys::{self, RsaPrivateKey};
use crate::protocol::coap::{self, HelloPayload};
use crate::protocol::device::{self, DeviceCredentials, DeviceSession, Rejected, Step};
use crate::protocol::tests::{device_key, server_key, FixedRng};

const ID: &str = "2fff27fffc473530fff23637";

fn id() -> DeviceId {
    DeviceId::parse(ID).unwrap()
}

fn cloud() -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        devices: vec![id()],
        server_key: Some(server_key()),
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn creds(key: RsaPrivateKey, server: keys::RsaPublicKey) -> DeviceCredentials {
    DeviceCredentials {
        device_id: hex::decode(ID).unwrap().try_into().unwrap(),
        device_key: key,
        server_key: server,
        hello: HelloPayload {
            product_id: 88,
            firmware_version: 0,
            flags: 0,
            platform_id: 88,
        },
    }
}

fn connect(
    cloud: &RunningCloud,
    device: &DeviceCredentials,
) -> Result<DeviceSession<TcpStream>, Rejected> {
    let stream = TcpStream::connect(cloud.device_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    device::connect(stream, device, &mut FixedRng(42))
}

/// The cloud records a connection's end on its own thread: wait for it.
fn settled(cloud: &RunningCloud, pred: impl Fn(&ConnectionInfo) -> bool) -> ConnectionInfo {
    for _ in 0..500 {
        if let Some(info) = cloud.connection(&id()).filter(|i| pred(i)) {
            return info;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no such record: {:?}", cloud.connection(&id()));
}

#[test]
fn a_never_provisioned_device_is_disconnected_before_the_reply_and_its_key_recorded() {
    let cloud = cloud();
    let device = creds(device_key(), cloud.server_public_key().unwrap());
    let err = connect(&cloud, &device).unwrap_err();
    assert_eq!(err.step, Step::Identity, "{err}");
    let info = settled(&cloud, |i| i.result.is_some());
    assert_eq!(info.result, Some(ConnectionResult::Rejected));
    assert!(info.reason.unwrap().contains("never provisioned"));
    assert_eq!(info.key_fingerprint, None, "the sent key is not trusted");
    let sent = keys::public_key_to_pem(&device_key().to_public_key()).unwrap();
    assert_eq!(info.untrusted_key, Some(sent));
    assert!(!info.connected);
    assert_eq!(cloud.public_key(&id()), None);
}

#[test]
fn the_generic_key_is_accepted_and_replaced_by_the_key_the_device_sent() {
    let cloud = cloud();
    let generic = keys::parse_public_key(keys::GENERIC_PUBLIC_KEY_PEM.as_bytes()).unwrap();
    cloud.hold_key(&id(), &generic).unwrap();
    let device = creds(device_key(), cloud.server_public_key().unwrap());
    let mut session = connect(&cloud, &device).unwrap();
    session.ping().unwrap();
    let info = settled(&cloud, |i| i.connected);
    assert_eq!(info.result, Some(ConnectionResult::Accepted));
    assert_eq!(info.key_source, Some(KeySource::FirstConnection));
    assert_eq!(
        info.key_fingerprint,
        Some(keys::fingerprint(&device_key().to_public_key()))
    );
    drop(session);
    let info = settled(&cloud, |i| !i.connected);
    assert_eq!(info.result, Some(ConnectionResult::Accepted));
    // From now on only that key works.
    let other = creds(
        keys::parse_private_key(include_bytes!(
            "../../protocol/testdata/other_device_key.pem"
        ))
        .unwrap(),
        cloud.server_public_key().unwrap(),
    );
    let err = connect(&cloud, &other).unwrap_err();
    assert_eq!(err.step, Step::SessionKey, "{err}");
    assert!(connect(&cloud, &device).is_ok());
}

#[test]
fn a_wrong_key_fails_at_the_session_key_and_the_cloud_says_the_keys_differ() {
    let cloud = cloud();
    let other = keys::parse_private_key(include_bytes!(
        "../../protocol/testdata/other_device_key.pem"
    ))
    .unwrap();
    cloud.hold_key(&id(), &other.to_public_key()).unwrap();
    let device = creds(device_key(), cloud.server_public_key().unwrap());
    let err = connect(&cloud, &device).unwrap_err();
    assert_eq!(err.step, Step::SessionKey);
    assert_eq!(
        err.reason,
        "cannot decrypt the session key: the cloud holds a different public key for this device"
    );
    drop(err);
    let info = settled(&cloud, |i| i.result.is_some());
    assert_eq!(info.result, Some(ConnectionResult::Rejected));
    assert!(info.reason.unwrap().contains("does not match"));
    assert_eq!(info.key_source, Some(KeySource::Provisioning));
}

#[test]
fn a_device_with_another_server_key_is_not_identified() {
    let cloud = cloud();
    cloud
        .hold_key(&id(), &device_key().to_public_key())
        .unwrap();
    let stranger = RsaPrivateKey::new(&mut FixedRng(77), 2048).unwrap();
    let device = creds(device_key(), stranger.to_public_key());
    let err = connect(&cloud, &device).unwrap_err();
    assert_eq!(err.step, Step::Identity);
    for _ in 0..500 {
        if !cloud.unidentified().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen = cloud.unidentified();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].reason.contains("another server key"), "{:?}", seen);
    assert_eq!(cloud.connection(&id()).unwrap().attempts, 0);
}

#[test]
fn a_bad_counter_disconnects_the_device() {
    let cloud = cloud();
    cloud
        .hold_key(&id(), &device_key().to_public_key())
        .unwrap();
    let device = creds(device_key(), cloud.server_public_key().unwrap());
    let mut session = connect(&cloud, &device).unwrap();
    session.ping().unwrap();
    let skipped = session.next_id().wrapping_add(5);
    session.send_raw(&coap::ping(skipped)).unwrap();
    let err = session.receive(Step::KeepAlive, "an ACK").unwrap_err();
    assert!(err.reason.contains("closed the connection"), "{err}");
    let info = settled(&cloud, |i| i.result == Some(ConnectionResult::Rejected));
    assert!(info.reason.unwrap().contains("bad counter"));
    assert!(!info.connected);
}

#[test]
fn the_server_key_block_names_the_device_endpoint() {
    let cloud = cloud();
    let block = cloud.server_key_block().unwrap();
    let parsed = crate::server_key::parse_server_key(&block).unwrap();
    assert_eq!(parsed.key, server_key().to_public_key());
    assert_eq!(parsed.port, cloud.device_addr().port());
    assert_eq!(parsed.address.to_string(), "127.0.0.1");
}

#[test]
fn the_server_key_is_generated_once_and_kept_in_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalCloud::start(LocalCloudOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..LocalCloudOptions::default()
    })
    .unwrap();
    let key = first.server_public_key().unwrap();
    assert_eq!(keys::key_bits(&key), 2048);
    first.shutdown();
    let path = dir.path().join(SERVER_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = LocalCloud::start(LocalCloudOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..LocalCloudOptions::default()
    })
    .unwrap();
    assert_eq!(again.server_public_key().unwrap(), key);
}
