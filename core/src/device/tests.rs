//! The device layer against the in-process virtual Duo on a manual clock:
//! no wall-clock waits, every busy period the device declares is "slept"
//! instantly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tempfile::TempDir;

use super::{BackupKind, Device, DeviceError, KeyToLoad, RestoreOutcome, SlotHolds};
use crate::dct::DctImage;
use crate::dfu::{DeviceSelector, DfuError, DfuState, Step};
use crate::error::{ErrorCode, ErrorInfo, Remedy};
use crate::keys::{self, RsaPrivateKey, SlotState};
use crate::platform::DUO;
use crate::sim::duo::{CreateOptions, Fault, ManualClock, Mode, VirtualDuo};

const SLOT: std::ops::Range<usize> = 34..34 + 1216;

/// Two RSA-1024 keys, made once: the device's current key and the one to load.
fn test_keys() -> &'static (RsaPrivateKey, RsaPrivateKey) {
    static KEYS: OnceLock<(RsaPrivateKey, RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| (keys::generate().unwrap(), keys::generate().unwrap()))
}

/// The slot as the firmware leaves it after generating a key on a factory
/// device: PKCS#1 DER, then 0xFF.
fn slot_of(key: &RsaPrivateKey) -> Vec<u8> {
    keys::slot_bytes(key).unwrap()
}

struct Bench {
    tmp: TempDir,
    dir: PathBuf,
    clock: Arc<ManualClock>,
}

/// A virtual Duo whose key slot holds `slot` (factory DCT otherwise), at
/// real device timing on a manual clock.
fn bench(slot: Option<&[u8]>) -> Bench {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vd");
    let mut image = DctImage::from_bytes(&DUO, crate::FACTORY_DCT_IMAGE).unwrap();
    if let Some(slot) = slot {
        image.write_app_data(34, slot).unwrap();
    }
    let clock = ManualClock::new();
    VirtualDuo::create_with_clock(
        &dir,
        CreateOptions {
            dct_image: Some(image.into_bytes()),
            time_factor: 1.0,
            ..CreateOptions::default()
        },
        clock.clone(),
    )
    .unwrap();
    Bench { tmp, dir, clock }
}

impl Bench {
    fn selector(&self) -> DeviceSelector {
        DeviceSelector::Sim(self.dir.clone())
    }

    fn open(&self) -> Device {
        Device::open(Some(&self.selector()), self.clock.clone()).unwrap()
    }

    fn sim(&self) -> VirtualDuo {
        VirtualDuo::open_with_clock(&self.dir, self.clock.clone()).unwrap()
    }

    fn slot(&self) -> Vec<u8> {
        self.sim().app_dct_bytes()[SLOT].to_vec()
    }

    fn arm(&self, fault: Fault) {
        self.sim().arm_fault(fault).unwrap();
    }

    /// A key file for `key` in the bench's directory.
    fn key_file(&self, name: &str, key: &RsaPrivateKey) -> PathBuf {
        let base = self.tmp.path().join(name);
        keys::write_key_files(&base, key, false).unwrap().der
    }
}

/// The DFU step an error names, looking through a failed load.
fn dfu_step(e: &DeviceError) -> Option<Step> {
    match e {
        DeviceError::Dfu(d) => d.step().cloned(),
        DeviceError::LoadFailed { failure, .. } => dfu_step(failure),
        _ => None,
    }
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("backup_rsa_")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn loading_a_key_keeps_a_verified_backup_and_reads_back_the_new_key() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let file = b.key_file("new", new);
    let key = KeyToLoad::from_file(&file).unwrap();
    let mut dev = b.open();
    let report = dev.load_key(&key).unwrap();
    assert!(report.verified);
    assert_eq!(report.bytes_written, 1216);
    assert_eq!(report.previous, SlotState::Valid { bits: 1024 });
    assert_eq!(report.backup_kind, BackupKind::Key);
    assert_eq!(report.backup, b.tmp.path().join("backup_rsa_new.der"));
    assert_eq!(
        std::fs::read(&report.backup).unwrap(),
        keys::private_key_to_der(old).unwrap(),
        "the backup is the previous key's DER"
    );
    drop(dev);
    assert_eq!(b.slot(), slot_of(new));

    // A second load never overwrites the first backup.
    let mut dev = b.open();
    let again = dev.load_key(&key).unwrap();
    assert_eq!(again.backup, b.tmp.path().join("backup_rsa_new.1.der"));
    assert_eq!(
        std::fs::read(&again.backup).unwrap(),
        keys::private_key_to_der(new).unwrap()
    );
    assert_eq!(
        std::fs::read(&report.backup).unwrap(),
        keys::private_key_to_der(old).unwrap()
    );
}

#[test]
fn a_bare_name_means_name_der_and_bad_key_files_are_refused_before_the_device() {
    let (_, new) = test_keys();
    let b = bench(None);
    b.key_file("mykey", new);
    let key = KeyToLoad::from_file(&b.tmp.path().join("mykey")).unwrap();
    assert_eq!(key.path, b.tmp.path().join("mykey.der"));
    assert_eq!(key.slot_bytes().len(), 1216);

    let junk = b.tmp.path().join("junk.der");
    std::fs::write(&junk, b"not a key at all").unwrap();
    let ec = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/keys/testdata/ec_prime256v1.pem");
    let big = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/keys/testdata/rsa4096.pem");
    for (file, expect) in [
        (&junk, "not a key"),
        (&ec, "RSA"),
        (&big, "must be RSA-1024"),
    ] {
        let err = KeyToLoad::from_file(file).unwrap_err().to_string();
        assert!(err.contains(expect), "{file:?}: {err}");
    }
    assert_eq!(b.sim().stats().data_blocks_downloaded, 0);
}

#[test]
fn every_fault_during_a_key_load_leaves_the_old_or_the_new_key_never_a_mix() {
    let (old, new) = test_keys();
    let (old_slot, new_slot) = (slot_of(old), slot_of(new));
    // How many requests opening and loading take, fault-free.
    let (open_requests, load_requests) = {
        let b = bench(Some(&old_slot));
        let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
        let mut dev = b.open();
        let open = dev.stats().control_transfers;
        dev.load_key(&key).unwrap();
        (open, dev.stats().control_transfers - open)
    };
    assert!(load_requests > 10, "{load_requests}");
    let mut faults = vec![
        Fault::WriteError { nth: 1 },
        Fault::Vanish { after_bytes: 600 },
        Fault::StuckBusy { nth: 1 },
    ];
    faults.extend((1..=load_requests).map(|k| Fault::Stall {
        nth: open_requests + k,
    }));
    faults.extend((1..=load_requests).map(|nth| Fault::ShortStatus { nth, len: 3 }));

    let mut fired = 0;
    for fault in faults {
        let b = bench(Some(&old_slot));
        let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
        b.arm(fault.clone());
        let mut dev = b.open();
        let result = dev.load_key(&key);
        drop(dev);
        let mut sim = b.sim();
        if sim.armed_faults().contains(&fault) {
            // Counted past the end of the load: it never fired.
            assert!(result.is_ok(), "{fault}: {result:?}");
            continue;
        }
        fired += 1;
        let err = result.expect_err(&format!("{fault} fired but the load succeeded"));
        let step = dfu_step(&err).unwrap_or_else(|| panic!("{fault}: no DFU step in {err}"));
        let message = err.to_string();
        assert!(message.contains(&step.to_string()), "{fault}: {message}");
        if !sim.connected() {
            sim.enter_dfu().unwrap();
        }
        let slot = sim.app_dct_bytes()[SLOT].to_vec();
        assert!(
            slot == old_slot || slot == new_slot,
            "{fault}: the slot is neither key: {message}"
        );
        let held = keys::parse_private_key(&slot).unwrap();
        assert!(
            keys::keys_match(&held, &old.to_public_key())
                || keys::keys_match(&held, &new.to_public_key())
        );
        let found = backups(b.tmp.path());
        if let DeviceError::LoadFailed { restore, .. } = &err {
            assert_eq!(found.len(), 1, "{fault}: a started write has its backup");
            match restore {
                RestoreOutcome::Unchanged { .. } | RestoreOutcome::Restored { .. } => {
                    assert_eq!(slot, old_slot, "{fault}: restored means the old key")
                }
                RestoreOutcome::Failed { next_step, .. } => assert!(
                    matches!(**next_step, Remedy::RestoreBackup { .. }),
                    "{fault}: {next_step:?}"
                ),
            }
        }
        for backup in found {
            assert_eq!(
                std::fs::read(&backup).unwrap(),
                keys::private_key_to_der(old).unwrap(),
                "{fault}: the backup is the original key"
            );
        }
    }
    assert!(
        fired >= 3 + load_requests as usize,
        "only {fired} faults fired"
    );
}

#[test]
fn a_device_that_vanishes_mid_write_reports_where_the_backup_is() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
    b.arm(Fault::Vanish { after_bytes: 600 });
    let err = b.open().load_key(&key).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("writing block 1 of 1 at DCT offset 0x22 (alt 1)"),
        "{message}"
    );
    assert!(
        message.contains("restoring the previous key failed too"),
        "{message}"
    );
    assert!(message.contains("backup_rsa_new.der"), "{message}");
    assert!(
        matches!(
            err.remedy(),
            Some(Remedy::RestoreBackup {
                virtual_device: Some(_),
                ..
            })
        ),
        "{:?}",
        err.remedy()
    );
    assert_eq!(err.facts().restore, Some("failed"));
    assert!(err.facts().backup.unwrap().ends_with("backup_rsa_new.der"));
}

#[test]
fn save_refuses_an_erased_slot_then_saves_the_key_the_firmware_made() {
    let b = bench(None);
    let base = b.tmp.path().join("b");
    let err = b.open().save_key(&base, false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(
        err,
        DeviceError::NoKeyToSave {
            state: SlotState::Erased,
            ..
        }
    ));
    assert!(message.contains("is erased"), "{message}");
    assert!(message.contains("boot the virtual Duo in"), "{message}");
    assert_eq!(err.code(), ErrorCode::SlotEmpty);
    assert!(matches!(
        err.remedy(),
        Some(Remedy::BootThenSaveKey {
            virtual_device: Some(_)
        })
    ));
    assert!(!base.with_extension("der").exists());

    let mut sim = b.sim();
    assert!(sim.boot().unwrap().generated_key);
    sim.enter_dfu().unwrap();
    drop(sim);
    let report = b.open().save_key(&base, false).unwrap();
    assert_eq!(report.bits, 1024);
    let saved = keys::load_private_key_file(&report.files.der).unwrap();
    let app = b.sim().app_dct_bytes();
    let stored = keys::parse_public_key(&app[1250..1250 + 384]).unwrap();
    assert_eq!(stored, saved.to_public_key());
    // Never overwritten without force.
    let err = b.open().save_key(&base, false).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    b.open().save_key(&base, true).unwrap();
}

#[test]
fn save_refuses_a_corrupt_slot_pointing_to_reset_or_a_backup() {
    let b = bench(Some(&[0x30, 0x00, 0xDE, 0xAD]));
    let err = b
        .open()
        .save_key(&b.tmp.path().join("x"), false)
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("does not hold a valid key"), "{message}");
    assert_eq!(err.code(), ErrorCode::SlotCorrupt);
    assert_eq!(err.remedy(), Some(Remedy::ResetOrRestoreKey));
}

#[test]
fn reset_writes_the_request_and_leaving_makes_the_firmware_generate_a_key() {
    let (old, _) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let name = b.tmp.path().join("before-reset");
    let report = b.open().reset_key(false, &name).unwrap();
    assert!(report.verified && !report.left_dfu);
    assert_eq!(b.slot(), keys::RESET_REQUEST);
    assert_eq!(b.sim().mode(), Mode::Dfu);
    // The key it destroyed is kept, verified, as particle-cli names backups.
    let backup = report
        .backup
        .expect("a valid key is backed up before a reset");
    assert_eq!(backup, b.tmp.path().join("backup_rsa_before-reset.der"));
    assert_eq!(report.backup_kind, Some(BackupKind::Key));
    let kept = keys::load_private_key_file(&backup).unwrap();
    assert!(keys::keys_match(&kept, &old.to_public_key()));

    // Resetting a slot that already holds the reset request has no key to keep.
    let report = b.open().reset_key(true, &name).unwrap();
    assert_eq!(report.backup, None);
    assert!(report.left_dfu);
    let sim = b.sim();
    assert_eq!(sim.mode(), Mode::Firmware);
    let (boot, error) = sim.last_boot();
    assert_eq!((boot.unwrap().generated_key, error), (true, None));
    let slot = sim.app_dct_bytes()[SLOT].to_vec();
    let fresh = keys::parse_private_key(&slot).unwrap();
    assert!(!keys::keys_match(&fresh, &old.to_public_key()));
}

#[test]
fn one_mib_of_internal_flash_round_trips_and_the_bootloader_sector_is_the_devices_to_refuse() {
    let b = bench(None);
    let raw = b.tmp.path().join("raw");
    let mut dev = b.open();
    // The first 16 KiB sector is the read-only bootloader: write after it.
    let data: Vec<u8> = (0..1024 * 1024 - 16 * 1024)
        .map(|i: usize| (i.wrapping_mul(7) ^ (i >> 11)) as u8)
        .collect();
    let report = dev
        .dfu_write(0, 0x0800_4000, &data, false, Some(&raw))
        .unwrap();
    assert_eq!(report.erased_sectors.len(), 11);
    // The write reaches the system parts: the whole DCT was dumped first
    // (issue 13 rule 3).
    let dump = report.dct_dump.expect("a DCT dump");
    assert_eq!(dump, b.tmp.path().join("backup_dct_raw.bin"));
    assert_eq!(std::fs::read(&dump).unwrap(), crate::FACTORY_DCT_IMAGE);
    let back = dev.dfu_read(0, 0x0800_0000, 1024 * 1024).unwrap();
    assert_eq!(&back[16 * 1024..], &data[..]);
    drop(dev);
    assert_eq!(
        back,
        b.sim().internal_flash(),
        "the whole MiB as the device holds it"
    );
    let mut dev = b.open();

    // Host checks on: refused before anything is sent.
    let err = dev
        .dfu_write(0, 0x0800_0000, &[0; 16], false, Some(&raw))
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(matches!(err, DeviceError::Dfu(ref e) if e.nothing_sent()));
    // Checks off: the device itself refuses with errWRITE.
    dev.set_layout_checks(false);
    let err = dev
        .dfu_write(0, 0x0800_0000, &[0; 16], false, Some(&raw))
        .unwrap_err();
    let DeviceError::Dfu(dfu) = &err else {
        panic!("{err:?}")
    };
    // REFERENCE §1: the bootloader stalls the GETSTATUS that ran the write.
    assert!(
        matches!(
            dfu,
            DfuError::OperationFailed {
                state: Some(DfuState::DfuDnloadIdle),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn dct_fields_and_the_server_key_are_written_in_place_and_verified() {
    let b = bench(None);
    let mut dev = b.open();
    let change = dev.set_dct_field("claim_code", "hello").unwrap();
    assert_eq!(
        (change.offset, change.size, change.verified),
        (1762, 63, true)
    );
    assert_eq!(
        dev.read_app_dct()
            .unwrap()
            .get("claim_code")
            .unwrap()
            .to_string(),
        "hello"
    );

    let before = dev.read_server_address().unwrap();
    assert_eq!(before.address.to_string(), "device.spark.io");
    let block = crate::server_key::format_server_key(
        &crate::server_key::default_server_key(),
        Some(&crate::server_key::parse_address("10.0.0.2").unwrap()),
        Some(5684),
    )
    .unwrap();
    dev.write_server_key(&block).unwrap();
    let after = dev.read_server_address().unwrap();
    assert_eq!(
        (after.address.to_string(), after.port),
        ("10.0.0.2".into(), 5684)
    );
    drop(dev);
    let app = b.sim().app_dct_bytes();
    assert!(app[2082 + block.len()..2850].iter().all(|&x| x == 0xFF));
}

#[test]
fn opening_a_directory_that_is_no_device_or_a_device_running_firmware_says_what_to_do() {
    let tmp = TempDir::new().unwrap();
    let sel = DeviceSelector::Sim(tmp.path().to_path_buf());
    let err = Device::open(Some(&sel), ManualClock::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("virtual-duo.json is missing"), "{err}");
    assert!(err.contains("Create a virtual Duo in"), "{err}");

    let b = bench(None);
    b.sim().boot().unwrap();
    let err = Device::open(Some(&b.selector()), b.clock.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not in DFU mode"), "{err}");
    assert!(err.contains("in DFU mode"), "{err}");
    let e = Device::open(Some(&b.selector()), b.clock.clone()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotInDfuMode);
    assert!(matches!(
        e.remedy(),
        Some(Remedy::EnterDfuMode {
            virtual_device: Some(_)
        })
    ));
    assert!(matches!(
        Device::open(Some(&b.selector()), b.clock.clone()),
        Err(DeviceError::Sim(_))
    ));
}

#[test]
fn a_raw_write_over_the_key_slot_keeps_the_key_first() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let name = b.tmp.path().join("raw");
    let mut dev = b.open();
    // The server key block at 2082 is not the key: no backup.
    let block = dev.read_dct(2082, 768).unwrap();
    let report = dev.dfu_write(1, 2082, &block, false, Some(&name)).unwrap();
    assert_eq!(report.key_backup, None);
    // Over offset 34 it is: the old key is kept, verified, then replaced.
    let report = dev
        .dfu_write(1, 34, &slot_of(new), false, Some(&name))
        .unwrap();
    let backup = report.key_backup.expect("the key is backed up");
    let kept = keys::load_private_key_file(&backup).unwrap();
    assert!(keys::keys_match(&kept, &old.to_public_key()));
    // Asked not to, it writes as dfu-util does: no backup.
    let report = dev.dfu_write(1, 34, &slot_of(new), false, None).unwrap();
    assert_eq!(report.key_backup, None);
    drop(dev);
    assert_eq!(b.slot(), slot_of(new));
    assert_eq!(
        backups(b.tmp.path()).len(),
        1,
        "only the first write kept one"
    );
    // So is a write of internal flash over the DCT region (alt 0).
    let mut dev = b.open();
    let region = dev.dfu_read(0, 0x0800_8000, 0x8000).unwrap();
    let report = dev
        .dfu_write(0, 0x0800_8000, &region, false, Some(&name))
        .unwrap();
    let backup = report.key_backup.expect("a DCT region write is backed up");
    assert!(keys::keys_match(
        &keys::load_private_key_file(&backup).unwrap(),
        &new.to_public_key()
    ));
}

#[test]
fn dct_set_refuses_the_device_key_slot_and_leaves_the_key_alone() {
    let (current, _) = test_keys();
    let b = bench(Some(&slot_of(current)));
    let mut dev = b.open();
    let err = dev
        .set_dct_field("device_private_key", "hex:ff")
        .unwrap_err();
    assert!(matches!(err, DeviceError::KeySlotField { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("load a key") && msg.contains("reset the key"),
        "{msg}"
    );
    assert_eq!(err.remedy(), Some(Remedy::UseKeyOperations));
    drop(dev);
    assert_eq!(b.slot(), slot_of(current), "the key must be untouched");
}

#[test]
fn a_raw_write_that_fails_over_the_key_names_the_backup() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    b.arm(Fault::WriteError { nth: 1 });
    let name = b.tmp.path().join("raw");
    let err = b
        .open()
        .dfu_write(1, 34, &slot_of(new), false, Some(&name))
        .unwrap_err();
    let backup = b.tmp.path().join("backup_rsa_raw.der");
    assert!(matches!(err, DeviceError::AfterKeyReplaced { .. }), "{err}");
    assert!(
        err.to_string().contains(&backup.display().to_string()),
        "{err}"
    );
    let kept = keys::load_private_key_file(&backup).unwrap();
    assert!(keys::keys_match(&kept, &old.to_public_key()));
}

#[test]
fn keys_read_and_load_in_memory_with_the_backup_in_the_given_directory() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    // Read: the key value, no file written anywhere.
    let held = b.open().read_key().unwrap();
    assert_eq!(&held, old);
    assert!(backups(b.tmp.path()).is_empty());

    // Load from bytes (PKCS#1 DER), the backup in a directory of our choice.
    let place = b.tmp.path().join("backups");
    std::fs::create_dir(&place).unwrap();
    let der = keys::private_key_to_der(new).unwrap();
    let key = KeyToLoad::from_bytes(&der, "fresh").unwrap();
    let report = b.open().load_key_into(&key, &place).unwrap();
    assert!(report.verified);
    assert_eq!(report.backup, place.join("backup_rsa_fresh.der"));
    assert_eq!(
        std::fs::read(&report.backup).unwrap(),
        keys::private_key_to_der(old).unwrap()
    );
    assert_eq!(&b.open().read_key().unwrap(), new);

    // Load a key value back; the second backup is numbered, never overwritten.
    let key = KeyToLoad::from_key(old.clone(), "fresh").unwrap();
    let report = b.open().load_key_into(&key, &place).unwrap();
    assert_eq!(report.backup, place.join("backup_rsa_fresh.1.der"));
    assert_eq!(&b.open().read_key().unwrap(), old);

    // Bytes that are no key are refused before the device is touched.
    let err = KeyToLoad::from_bytes(b"not a key", "junk").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidKey);
    assert!(err.to_string().contains("junk"), "{err}");
}

#[test]
fn reading_the_key_of_an_erased_slot_is_slot_empty() {
    let b = bench(None);
    let err = b.open().read_key().unwrap_err();
    assert_eq!(err.code(), ErrorCode::SlotEmpty);
}

#[path = "cancel_tests.rs"]
mod cancel;

#[test]
fn a_raw_write_of_no_bytes_is_refused_before_any_backup_or_transfer() {
    let (old, _) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let name = b.tmp.path().join("raw");
    let mut dev = b.open();
    dev.reset_stats();
    let e = dev.dfu_write(1, 34, &[], false, Some(&name)).unwrap_err();
    assert!(matches!(e, DeviceError::EmptyWrite), "{e}");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(dev.stats().control_transfers, 0);
    assert!(backups(b.tmp.path()).is_empty());
    drop(dev);
    assert_eq!(b.slot(), slot_of(old));
}
