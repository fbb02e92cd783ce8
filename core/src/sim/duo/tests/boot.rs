//! Modes and the firmware's key rule at boot (REFERENCE §2).

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::*;
use crate::keys::RESET_REQUEST;
use crate::sim::duo::{Mode, SimError};

/// The DER SEQUENCE at the start of `bytes`, by its own length header.
fn der_prefix(bytes: &[u8]) -> &[u8] {
    assert_eq!(
        bytes[0],
        0x30,
        "starts with a DER SEQUENCE: {:02x?}",
        &bytes[..4]
    );
    let len = match bytes[1] {
        n if n < 0x80 => 2 + usize::from(n),
        0x81 => 3 + usize::from(bytes[2]),
        0x82 => 4 + usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        other => panic!("DER length form {other:#x}"),
    };
    &bytes[..len]
}

/// Check the key slot and public key block after a key generation; returns
/// the key and the DER length.
fn generated_key(app: &[u8], rest_of_612: u8) -> (RsaPrivateKey, usize) {
    let slot = &app[34..34 + 1216];
    let der = der_prefix(slot);
    let key = RsaPrivateKey::from_pkcs1_der(der).expect("a PKCS#1 key");
    assert_eq!(rsa::traits::PublicKeyParts::size(&key), 128, "RSA-1024");
    assert!(slot[der.len()..612].iter().all(|&x| x == rest_of_612));
    let public = &app[1250..1250 + 384];
    let spki_len = der_prefix(public).len();
    let stored = RsaPublicKey::from_public_key_der(&public[..spki_len]).expect("SPKI DER at 1250");
    assert_eq!(
        stored,
        key.to_public_key(),
        "public key at 1250 matches the new key"
    );
    assert!(
        public[spki_len..].iter().all(|&x| x == 0),
        "firmware zero-fills the block"
    );
    (key, der.len())
}

#[test]
fn factory_duo_generates_a_key_on_first_boot() {
    let b = bench(0.01);
    let mut duo = b.t.into_device();
    let report = duo.boot().unwrap();
    assert!(report.generated_key);
    assert_eq!(report.slot_first_byte, 0xFF);
    assert_eq!(duo.mode(), Mode::Firmware);
    let app = duo.app_dct_bytes();
    let (key, _) = generated_key(&app, 0xFF);
    assert_eq!(
        report.fingerprint,
        Some(crate::keys::fingerprint(&key.to_public_key()))
    );
    assert!(
        app[34 + 612..34 + 1216].iter().all(|&x| x == 0xFF),
        "beyond 612 untouched"
    );
}

#[test]
fn leaving_dfu_reports_dnload_idle_then_the_device_boots_firmware() {
    let mut b = bench(0.01);
    b.alt(1);
    assert_eq!(b.set_address(34).status, DfuStatus::Ok);
    b.dnload(2, &[]).unwrap();
    // Particle's quirk: dfuDNLOAD_IDLE, not dfuMANIFEST (REFERENCE §1).
    assert_eq!(
        b.class_in(GETSTATUS, 0, 6).unwrap(),
        [
            DfuStatus::Ok.code(),
            0,
            0,
            0,
            DfuState::DfuDnloadIdle.code(),
            0
        ]
    );
    // REFERENCE §1: then dfuMANIFEST_WAIT_RESET, and the reset about 500 ms
    // later (5 ms at time factor 0.01).
    assert_eq!(b.status().state, DfuState::DfuManifestWaitReset);
    b.clock.advance(Duration::from_micros(4900));
    assert_eq!(b.status().state, DfuState::DfuManifestWaitReset);
    assert_eq!(b.t.mode(), Mode::Dfu);
    b.clock.advance(Duration::from_micros(100));
    assert_eq!(b.class_in(GETSTATUS, 0, 6), Err(TransportError::NoDevice));
    assert_eq!(b.t.reset(), Err(TransportError::NoDevice));
    assert_eq!(b.t.mode(), Mode::Firmware);
    generated_key(&b.t.app_dct_bytes(), 0xFF);
}

/// REFERENCE §1: a host that closes the board right after the leave
/// GETSTATUS (dfu-util's `:leave`) still finds it in firmware when it opens
/// it again: the reset runs ~500 ms (scaled) after the reply, on the device
/// clock, whoever holds the board.
#[test]
fn a_board_closed_after_leaving_resets_500_ms_later_on_the_device_clock() {
    let mut b = bench(0.01);
    b.dnload(2, &[]).unwrap();
    assert_eq!(b.status().state, DfuState::DfuDnloadIdle);
    let before = b.clock.elapsed();
    let Bench { dir, t, clock } = b;
    drop(t);
    assert_eq!(
        clock.elapsed() - before,
        Duration::from_millis(5),
        "the reset waited"
    );
    let duo = crate::sim::duo::VirtualDuo::open_with_clock(&dir.path().join("vd"), clock).unwrap();
    assert_eq!(duo.mode(), Mode::Firmware);
    assert!(duo.last_boot().0.unwrap().generated_key);
}

#[test]
fn reset_request_makes_the_next_boot_generate_a_new_key() {
    let b = bench(0.01);
    let mut duo = b.t.into_device();
    duo.boot().unwrap();
    let first = duo.app_dct_bytes()[34..34 + 612].to_vec();
    duo.enter_dfu().unwrap();
    let mut b = Bench {
        dir: b.dir,
        t: SimTransport::new(duo).unwrap(),
        clock: b.clock,
    };
    b.alt(1);
    assert_eq!(b.write(34, RESET_REQUEST).status, DfuStatus::Ok);
    assert_eq!(b.read(34, 1216), RESET_REQUEST);
    b.leave();
    assert_eq!(b.t.mode(), Mode::Firmware);
    let app = b.t.app_dct_bytes();
    assert_ne!(app[34..34 + 612], first[..], "a different key");
    // The firmware lays the DER over the slot it read: zeros stay after it.
    generated_key(&app, 0x00);
    assert!(app[34 + 612..34 + 1216].iter().all(|&x| x == 0));
    let (report, error) = b.t.device().last_boot();
    assert_eq!((report.unwrap().slot_first_byte, error), (0xFF, None));
}

#[test]
fn a_garbage_slot_is_kept_at_boot() {
    let mut b = bench(0.01);
    b.alt(1);
    let garbage = [0x30, 0x00, 0xDE, 0xAD, 0xBE, 0xEF];
    assert_eq!(b.write(34, &garbage).status, DfuStatus::Ok);
    let before = b.t.app_dct_bytes();
    let mut duo = b.t.into_device();
    let report = duo.boot().unwrap();
    assert_eq!(
        (
            report.generated_key,
            report.slot_first_byte,
            report.fingerprint
        ),
        (false, 0x30, None),
        "kept, and no key to fingerprint"
    );
    assert_eq!(duo.app_dct_bytes(), before);
}

#[test]
fn a_device_running_firmware_does_not_answer_dfu() {
    let b = bench(0.01);
    let path = b.path();
    let mut duo = b.t.into_device();
    duo.boot().unwrap();
    let mut buf = [0u8; 6];
    let getstatus = setup(IN, GETSTATUS, 0, 6);
    assert_eq!(
        duo.control_in(getstatus, &mut buf),
        Err(TransportError::NoDevice)
    );
    assert_eq!(duo.set_alt_setting(0, 1), Err(TransportError::NoDevice));
    drop(duo);
    let err = SimTransport::open(&path).unwrap_err();
    assert!(matches!(err, SimError::NotInDfuMode { .. }));
    let message = err.to_string();
    assert!(message.contains("running firmware"), "{message}");
    assert!(message.contains("hold SETUP, tap RESET"), "{message}");
    assert!(
        message.contains(&format!(
            "put the virtual Duo in {} in DFU mode",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn the_buttons_bring_it_back_to_dfu_idle() {
    let b = bench(0.01);
    let mut duo = b.t.into_device();
    duo.boot().unwrap();
    duo.enter_dfu().unwrap();
    let mut b = Bench {
        dir: b.dir,
        t: SimTransport::new(duo).unwrap(),
        clock: b.clock,
    };
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
    // The key generated at the first boot is kept by the next one.
    let key = b.t.app_dct_bytes()[34..646].to_vec();
    let mut duo = b.t.into_device();
    let report = duo.boot().unwrap();
    assert!(!report.generated_key);
    let kept = crate::keys::parse_private_key(&key).unwrap();
    assert_eq!(
        report.fingerprint,
        Some(crate::keys::fingerprint(&kept.to_public_key()))
    );
    assert_eq!(duo.app_dct_bytes()[34..646], key[..]);
}

/// Issue 8 item 9 / REFERENCE §2: a boot with a valid key re-derives the
/// public key at 1250 (162-byte SubjectPublicKeyInfo + 222 zero bytes) and
/// rewrites it only when it differs; a key generation is followed by a reset.
#[test]
fn every_boot_rewrites_the_public_key_at_1250_only_when_it_differs_from_the_private_key() {
    let b = bench(0.01);
    let mut duo = b.t.into_device();
    let first = duo.boot().unwrap();
    assert!(first.generated_key && first.reset_after_key);
    let again = duo.boot().unwrap();
    assert!(
        !again.generated_key && !again.public_key_rewritten,
        "it matched"
    );
    // A key loaded through DFU without its public half.
    duo.enter_dfu().unwrap();
    let other = crate::keys::generate().unwrap();
    let der = crate::keys::private_key_to_der(&other).unwrap();
    let mut slot = vec![0xFF; 1216];
    slot[..der.len()].copy_from_slice(&der);
    let mut t = SimTransport::new(duo).unwrap();
    t.set_alt_setting(0, 1).unwrap();
    let mut b = Bench {
        dir: b.dir,
        t,
        clock: b.clock,
    };
    b.write(34, &slot);
    b.abort().unwrap();
    let mut duo = b.t.into_device();
    let report = duo.boot().unwrap();
    assert!(!report.generated_key && report.public_key_rewritten);
    let app = duo.app_dct_bytes();
    let (key, _) = generated_key(&app, 0xFF);
    assert_eq!(key, other);
    let spki = crate::keys::public_key_to_der(&other.to_public_key()).unwrap();
    assert_eq!(spki.len(), 162);
    assert!(
        app[1250 + 162..1250 + 384].iter().all(|&x| x == 0),
        "222 zeros"
    );
}

/// A board created with `--firmware none` has nothing to boot: the
/// bootloader stays in DFU mode.
#[test]
fn a_board_without_system_firmware_stays_in_dfu_mode() {
    let b = bench_board("r4", "none", 0.01);
    let mut duo = b.t.into_device();
    let err = duo.boot().unwrap_err();
    assert!(matches!(err, SimError::NoFirmware { .. }), "{err}");
    assert_eq!(duo.mode(), Mode::Dfu);
}
