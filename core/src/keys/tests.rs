//! Unit tests for key parsing, slot classification and key files. Test keys
//! in `testdata/` are throwaway keys made with OpenSSL for these tests.

use std::sync::OnceLock;

use proptest::prelude::*;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use super::*;

const RSA4096_PEM: &str = include_str!("testdata/rsa4096.pem");
const RSA1024_E3_PEM: &str = include_str!("testdata/rsa1024_e3.pem");
const EC_PEM: &str = include_str!("testdata/ec_prime256v1.pem");

fn device_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| generate().expect("generate RSA-1024"))
}

fn slot_of(key: &RsaPrivateKey) -> Vec<u8> {
    slot_bytes(key).expect("1024-bit key fits the slot")
}

#[test]
fn generated_device_key_is_rsa_1024_with_e_65537() {
    let key = device_key();
    assert_eq!(key_bits(key), 1024);
    assert_eq!(*key.e(), rsa::BigUint::from(65537u32));
    let der = private_key_to_der(key).unwrap();
    assert_eq!(der[0], 0x30);
    assert!(
        (600..=612).contains(&der.len()),
        "RSA-1024 PKCS#1 DER is about 610 bytes, got {}",
        der.len()
    );
}

#[test]
fn factory_duo_slot_is_erased_and_firmware_regenerates() {
    let slot = vec![0xFF; PRIVATE_KEY_SLOT_SIZE];
    assert_eq!(classify_slot(&slot), SlotState::Erased);
    assert!(firmware_regenerates(&slot));
}

#[test]
fn reset_request_is_recognised_whole_and_as_612_byte_read() {
    assert_eq!(RESET_REQUEST.len(), PRIVATE_KEY_SLOT_SIZE);
    assert_eq!(&RESET_REQUEST[..4], &[0xFF; 4]);
    assert!(RESET_REQUEST[4..].iter().all(|&b| b == 0));
    assert_eq!(classify_slot(RESET_REQUEST), SlotState::ResetRequest);
    assert_eq!(
        classify_slot(&RESET_REQUEST[..612]),
        SlotState::ResetRequest
    );
    assert!(firmware_regenerates(RESET_REQUEST));
    let json = serde_json::to_value(classify_slot(RESET_REQUEST)).unwrap();
    assert_eq!(json, serde_json::json!({"state": "reset-request"}));
}

#[test]
fn slot_with_key_and_padding_is_valid_whole_and_as_612_byte_read() {
    let slot = slot_of(device_key());
    assert_eq!(slot.len(), PRIVATE_KEY_SLOT_SIZE);
    assert_eq!(classify_slot(&slot), SlotState::Valid { bits: 1024 });
    assert_eq!(classify_slot(&slot[..612]), SlotState::Valid { bits: 1024 });
    assert!(!firmware_regenerates(&slot));
    let parsed = parse_private_key(&slot).unwrap();
    assert_eq!(&parsed, device_key());
    let json = serde_json::to_value(classify_slot(&slot)).unwrap();
    assert_eq!(json, serde_json::json!({"state": "valid", "bits": 1024}));
}

#[test]
fn regenerated_key_over_reset_request_leaves_zero_tail_and_stays_valid() {
    // The firmware writes 612 bytes over the reset request: zeros remain after.
    let der = private_key_to_der(device_key()).unwrap();
    let mut slot = RESET_REQUEST.to_vec();
    slot[..der.len()].copy_from_slice(&der);
    assert_eq!(classify_slot(&slot), SlotState::Valid { bits: 1024 });
    let report = inspect_key(&slot);
    assert!(report.state.is_valid());
    assert!(
        report.notes.iter().any(|n| n.contains("not 0xFF padding")),
        "{:?}",
        report.notes
    );
}

fn corrupt_reason(slot: &[u8]) -> String {
    match classify_slot(slot) {
        SlotState::Corrupt { reason } => reason,
        other => panic!("expected corrupt, got {other:?}"),
    }
}

#[test]
fn garbage_slot_is_corrupt_and_firmware_keeps_it() {
    let mut slot = vec![0x42; PRIVATE_KEY_SLOT_SIZE];
    slot[1] = 0x17;
    let reason = corrupt_reason(&slot);
    assert!(reason.contains("first byte is 0x42"), "{reason}");
    assert!(!firmware_regenerates(&slot));
    let report = inspect_key(&slot);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("fails the cloud handshake")),
        "{:?}",
        report.notes
    );
}

#[test]
fn truncated_key_slot_is_corrupt_with_sizes() {
    let der = private_key_to_der(device_key()).unwrap();
    let reason = corrupt_reason(&der[..300]);
    assert!(reason.contains("truncated"), "{reason}");
    assert!(reason.contains(&der.len().to_string()), "{reason}");
    assert!(reason.contains("300"), "{reason}");
}

#[test]
fn der_length_beyond_the_slot_is_corrupt() {
    let mut slot = vec![0xFF; PRIVATE_KEY_SLOT_SIZE];
    slot[..4].copy_from_slice(&[0x30, 0x82, 0x10, 0x00]);
    let reason = corrupt_reason(&slot);
    assert!(
        reason.contains("4100") && reason.contains("1216"),
        "{reason}"
    );
}

#[test]
fn first_byte_ff_with_other_content_is_corrupt_but_regenerated() {
    let mut slot = vec![0xFF; PRIVATE_KEY_SLOT_SIZE];
    slot[700] = 0x00;
    let reason = corrupt_reason(&slot);
    assert!(reason.contains("first byte is 0xFF"), "{reason}");
    assert!(firmware_regenerates(&slot));
}

#[test]
fn pkcs8_or_public_key_in_the_slot_is_corrupt_for_the_firmware() {
    let pkcs8 = device_key().to_pkcs8_der().unwrap();
    assert!(corrupt_reason(pkcs8.as_bytes()).contains("PKCS#8"));
    let spki = public_key_to_der(&device_key().to_public_key()).unwrap();
    assert!(corrupt_reason(&spki).contains("public key"));
    assert!(corrupt_reason(&[]).contains("no bytes"));
    assert!(corrupt_reason(&[0x30, 0x80, 0, 0]).contains("0x80"));
    assert!(corrupt_reason(&vec![0; 1300]).contains("1300"));
}

#[test]
fn private_key_parses_from_every_supported_encoding() {
    let key = device_key();
    let pkcs1_der = private_key_to_der(key).unwrap();
    let pkcs1_pem = private_key_to_pem(key).unwrap();
    let pkcs8_der = key.to_pkcs8_der().unwrap();
    let pkcs8_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let crlf = pkcs1_pem.replace('\n', "\r\n");
    for (name, bytes) in [
        ("pkcs1 der", pkcs1_der.clone()),
        ("pkcs1 pem", pkcs1_pem.clone().into_bytes()),
        ("pkcs8 der", pkcs8_der.as_bytes().to_vec()),
        ("pkcs8 pem", pkcs8_pem.as_bytes().to_vec()),
        ("pkcs1 pem crlf", crlf.into_bytes()),
        ("slot", slot_of(key)),
    ] {
        let parsed = parse_private_key(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&parsed, key, "{name}");
        let public = parse_public_key(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(keys_match(key, &public), "{name}");
    }
    assert!(pkcs1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
}

#[test]
fn public_key_parses_from_spki_and_pkcs1_der_and_pem() {
    let public = device_key().to_public_key();
    let spki_der = public_key_to_der(&public).unwrap();
    let spki_pem = public_key_to_pem(&public).unwrap();
    let pkcs1_der = public.to_pkcs1_der().unwrap();
    let pkcs1_pem = public.to_pkcs1_pem(LineEnding::LF).unwrap();
    let mut padded_slot = spki_der.clone();
    padded_slot.resize(PUBLIC_KEY_SLOT_SIZE, 0xFF);
    for bytes in [
        spki_der,
        spki_pem.clone().into_bytes(),
        pkcs1_der.as_bytes().to_vec(),
        pkcs1_pem.into_bytes(),
        padded_slot,
    ] {
        assert_eq!(parse_public_key(&bytes).unwrap(), public);
    }
    assert!(spki_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
}

#[test]
fn generic_public_key_is_rsa_1024() {
    let key = parse_public_key(GENERIC_PUBLIC_KEY_PEM.as_bytes()).unwrap();
    assert_eq!(key_bits(&key), 1024);
    assert_eq!(fingerprint(&key).len(), 64);
}

#[test]
fn public_key_file_is_refused_where_a_private_key_is_needed() {
    let pem = public_key_to_pem(&device_key().to_public_key()).unwrap();
    let err = parse_private_key(pem.as_bytes()).unwrap_err();
    assert!(matches!(err, KeyError::PublicNotPrivate { .. }), "{err}");
    let der = public_key_to_der(&device_key().to_public_key()).unwrap();
    let err = parse_private_key(&der).unwrap_err();
    assert!(matches!(err, KeyError::PublicNotPrivate { .. }), "{err}");
}

#[test]
fn ec_key_is_refused_with_rsa_required() {
    let expected = "EC key given; the device key must be RSA (1024-bit)";
    let err = parse_private_key(EC_PEM.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), expected);
    // The same key as PKCS#8 and as bare SEC1 DER.
    let blocks = der::pem_blocks(EC_PEM.as_bytes()).unwrap();
    let sec1 = &blocks[1].der;
    assert_eq!(parse_private_key(sec1).unwrap_err().to_string(), expected);
    let pkcs8_pem = "-----BEGIN PRIVATE KEY-----\n\
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjfw/9uj5ANfcL8hj\n\
        QOkUvIAVqYCR+v+QDPbq1/V5VnihRANCAATRDtz3Wrl+cUrJM8IIKC3EhAPfLwQw\n\
        gPM/5gF1m+LspDAEc1uffr/mTRT9AvdiewS9wX1iKJWn/HNF2UmbkSiL\n\
        -----END PRIVATE KEY-----\n";
    assert_eq!(
        parse_private_key(pkcs8_pem.as_bytes())
            .unwrap_err()
            .to_string(),
        expected
    );
    let spki_pem = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0Q7c91q5fnFKyTPCCCgtxIQD3y8E\n\
        MIDzP+YBdZvi7KQwBHNbn36/5k0U/QL3YnsEvcF9YiiVp/xzRdlJm5Eoiw==\n\
        -----END PUBLIC KEY-----\n";
    let err = parse_public_key(spki_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, KeyError::NotRsaPublic { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("EC key given; keys for Duo, Photon and P1 must be RSA"),
        "{err}"
    );
    let report = inspect_key(EC_PEM.as_bytes());
    assert_eq!(
        report.state,
        SlotState::Corrupt {
            reason: expected.into()
        }
    );
}

#[test]
fn rsa_4096_parses_but_is_no_device_key_and_does_not_fit_the_slot() {
    let key = parse_private_key(RSA4096_PEM.as_bytes()).unwrap();
    assert_eq!(key_bits(&key), 4096);
    let der_len = private_key_to_der(&key).unwrap().len();
    let err = slot_bytes(&key).unwrap_err();
    assert!(matches!(err, KeyError::DoesNotFit { .. }));
    let message = err.to_string();
    assert!(message.contains(&der_len.to_string()), "{message}");
    assert!(message.contains("1216"), "{message}");
    assert!(matches!(
        check_device_key(&key).unwrap_err(),
        KeyError::NotDeviceKey { bits: 4096, .. }
    ));
    let report = inspect_key(RSA4096_PEM.as_bytes());
    assert!(
        matches!(&report.state, SlotState::Corrupt { reason } if reason.contains("RSA-4096")),
        "{report:?}"
    );
    assert!(report.notes.iter().any(|n| n.contains("does not fit")));
}

#[test]
fn an_unusual_exponent_is_refused_as_a_device_key_and_noted() {
    let report = inspect_key(RSA1024_E3_PEM.as_bytes());
    assert!(
        matches!(&report.state, SlotState::Corrupt { reason } if reason.contains("exponent 3")),
        "{report:?}"
    );
    assert_eq!(report.public_exponent.as_deref(), Some("3"));
    assert!(report.notes.iter().any(|n| n.contains("exponent 3")));
}

#[test]
fn encrypted_and_foreign_pem_get_specific_errors() {
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        parse_private_key(encrypted.as_bytes()).unwrap_err(),
        KeyError::Encrypted
    ));
    let traditional = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        parse_private_key(traditional.as_bytes()).unwrap_err(),
        KeyError::Encrypted
    ));
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let err = parse_public_key(cert.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("openssl x509"), "{err}");
    let unterminated = "-----BEGIN PUBLIC KEY-----\nMIIB\n";
    let err = parse_public_key(unterminated.as_bytes()).unwrap_err();
    assert!(matches!(err, KeyError::Unrecognised { .. }), "{err}");
}

#[test]
fn empty_slots_are_not_keys() {
    let err = parse_private_key(&[0xFF; PRIVATE_KEY_SLOT_SIZE]).unwrap_err();
    assert!(err.to_string().contains("erased"), "{err}");
    let err = parse_private_key(RESET_REQUEST).unwrap_err();
    assert!(err.to_string().contains("reset request"), "{err}");
    let err = parse_private_key(b"hello").unwrap_err().to_string();
    assert!(err.contains("tried") && err.contains("0x68"), "{err}");
}

#[test]
fn fingerprint_is_sha256_of_spki_der_and_keys_match_checks_pairs() {
    let public = device_key().to_public_key();
    let der = public_key_to_der(&public).unwrap();
    assert_eq!(fingerprint(&public), hex::encode(Sha256::digest(&der)));
    assert!(keys_match(device_key(), &public));
    let other = parse_private_key(RSA1024_E3_PEM.as_bytes()).unwrap();
    assert!(!keys_match(&other, &public));
}

#[test]
fn inspect_reports_public_key_files_as_public() {
    let pem = public_key_to_pem(&device_key().to_public_key()).unwrap();
    let report = inspect_key(pem.as_bytes());
    assert_eq!(report.kind, Some(KeyKind::Public));
    assert_eq!(report.state, SlotState::Valid { bits: 1024 });
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["kind"], "public");
    assert_eq!(json["state"], "valid");
    assert_eq!(json["bits"], 1024);
    assert_eq!(
        json["fingerprint"],
        fingerprint(&device_key().to_public_key())
    );
}

#[cfg(unix)]
#[test]
fn key_files_are_written_with_private_modes_and_not_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("device");
    let files = write_key_files(&base, device_key(), false).unwrap();
    assert_eq!(files.der, dir.path().join("device.der"));
    assert_eq!(files.public_pem, dir.path().join("device.pub.pem"));
    for (path, mode) in [(&files.der, 0o600), (&files.pem, 0o600)] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            mode,
            "{}",
            path.display()
        );
    }
    assert_eq!(
        std::fs::read(&files.der).unwrap(),
        private_key_to_der(device_key()).unwrap()
    );
    assert_eq!(
        load_public_key_file(&files.public_pem).unwrap(),
        device_key().to_public_key()
    );
    assert_eq!(&load_private_key_file(&files.pem).unwrap(), device_key());

    let other = parse_private_key(RSA1024_E3_PEM.as_bytes()).unwrap();
    let err = write_key_files(&base, &other, false).unwrap_err();
    assert!(err.to_string().contains("allow overwriting"), "{err}");
    assert_eq!(
        crate::error::ErrorInfo::code(&err),
        crate::error::ErrorCode::AlreadyExists
    );
    assert_eq!(&load_private_key_file(&files.der).unwrap(), device_key());
    write_key_files(&base, &other, true).unwrap();
    assert_eq!(load_private_key_file(&files.der).unwrap(), other);
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn partial_key_set_is_refused_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("k");
    std::fs::write(dir.path().join("k.pub.pem"), "old").unwrap();
    let err = write_key_files(&base, device_key(), false).unwrap_err();
    assert!(err.to_string().contains("k.pub.pem"), "{err}");
    assert!(!dir.path().join("k.der").exists());
    assert!(!dir.path().join("k.pem").exists());
}

#[test]
fn a_file_that_cannot_take_its_name_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("k");
    // A non-empty directory where k.pub.pem goes: its rename fails.
    std::fs::create_dir(dir.path().join("k.pub.pem")).unwrap();
    std::fs::write(dir.path().join("k.pub.pem").join("x"), "x").unwrap();
    let err = write_key_files(&base, device_key(), true).unwrap_err();
    assert!(err.to_string().contains("k.pub.pem"), "{err}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // No temporary and no partial set: the directory is refused before any
    // file is written (issue 13, rule 13).
    assert_eq!(names, ["k.pub.pem"]);
}

#[test]
fn missing_and_oversized_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.der");
    let err = load_private_key_file(&missing).unwrap_err().to_string();
    assert!(err.contains("nope.der"), "{err}");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![0u8; MAX_KEY_FILE_SIZE as usize + 1]).unwrap();
    let err = read_key_file(&big).unwrap_err().to_string();
    assert!(err.contains("big.bin") && err.contains("limit"), "{err}");
    let garbage = dir.path().join("garbage.der");
    std::fs::write(&garbage, b"\x01\x02\x03").unwrap();
    let err = load_public_key_file(&garbage).unwrap_err().to_string();
    assert!(err.starts_with(&garbage.display().to_string()), "{err}");
}

/// A DER SEQUENCE header followed by `content`, so that random data reaches
/// the decoders instead of stopping at the first byte.
fn sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_bytes_make_the_key_parsers_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = parse_private_key(&bytes);
        let _ = parse_public_key(&bytes);
        let _ = classify_slot(&bytes);
        let _ = inspect_key(&bytes);
    }

    #[test]
    fn no_der_shaped_bytes_make_the_key_parsers_panic(content in proptest::collection::vec(any::<u8>(), 0..700)) {
        let bytes = sequence(&content);
        let _ = parse_private_key(&bytes);
        let _ = parse_public_key(&bytes);
        prop_assert!(!classify_slot(&bytes).is_valid());
    }

    #[test]
    fn corrupting_a_valid_slot_never_panics(index in 0usize..612, value in any::<u8>()) {
        let mut slot = slot_of(device_key());
        slot[index] = value;
        let _ = classify_slot(&slot);
        let _ = inspect_key(&slot);
        let _ = parse_public_key(&slot);
    }

    #[test]
    fn no_text_makes_the_pem_parser_panic(body in "[A-Za-z0-9+/=\\s-]{0,200}", label in "[A-Z ]{0,20}") {
        let text = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        let _ = parse_private_key(text.as_bytes());
        let _ = parse_public_key(text.as_bytes());
        let _ = inspect_key(text.as_bytes());
    }
}

#[test]
fn keys_new_writes_three_files_and_reports_bits_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let report = new_key_files(&dir.path().join("device.der"), false).unwrap();
    assert_eq!(report.files.der, dir.path().join("device.der"));
    assert_eq!(report.bits, 1024);
    let key = load_private_key_file(&report.files.der).unwrap();
    assert_eq!(report.fingerprint, fingerprint(&key.to_public_key()));
    let inspected = inspect_key_file(&report.files.public_pem).unwrap();
    assert_eq!(
        inspected.report.fingerprint.as_deref(),
        Some(&*report.fingerprint)
    );
    // A second run without overwrite leaves the first key in place.
    let again = new_key_files(&dir.path().join("device"), false).unwrap_err();
    assert!(matches!(again, KeyError::Exists { .. }), "{again}");
    let still = load_private_key_file(&report.files.der).unwrap();
    assert_eq!(fingerprint(&still.to_public_key()), report.fingerprint);
    assert!(new_key_files(&dir.path().join("."), true).is_err());
}

#[test]
fn a_slot_description_says_what_the_firmware_does_at_boot() {
    assert_eq!(
        SlotState::Valid { bits: 1024 }.to_string(),
        "valid RSA-1024 private key"
    );
    assert!(SlotState::Erased
        .to_string()
        .contains("generates a key at boot"));
    assert!(SlotState::ResetRequest
        .to_string()
        .contains("generates a new key at boot"));
    assert_eq!(
        classify_slot(&[0xFFu8; 612]).to_string(),
        SlotState::Erased.to_string()
    );
}

/// Issue 13, rule 13: `keys new NAME --force` failing half-way (the second
/// or third file cannot take its name) leaves the old set whole, and no
/// temporary file.
#[test]
fn a_forced_key_set_that_fails_half_way_leaves_the_old_set_whole() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("k");
    let files = write_key_files(&base, device_key(), false).unwrap();
    let before: Vec<Vec<u8>> = [&files.der, &files.pem, &files.public_pem]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let other = parse_private_key(RSA1024_E3_PEM.as_bytes()).unwrap();
    for fail_at in [1, 2] {
        files::FAIL_COMMIT_AT.with(|f| f.set(Some(fail_at)));
        let err = write_key_files(&base, &other, true).unwrap_err();
        files::FAIL_COMMIT_AT.with(|f| f.set(None));
        assert!(err.to_string().contains("injected"), "{err}");
        let after: Vec<Vec<u8>> = [&files.der, &files.pem, &files.public_pem]
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert_eq!(after, before, "failing at file {fail_at}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
    // And a new set with nothing before: nothing left at all.
    let fresh = dir.path().join("fresh");
    files::FAIL_COMMIT_AT.with(|f| f.set(Some(2)));
    write_key_files(&fresh, &other, true).unwrap_err();
    files::FAIL_COMMIT_AT.with(|f| f.set(None));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
