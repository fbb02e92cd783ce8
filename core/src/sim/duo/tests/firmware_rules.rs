//! The firmware's and the bootloader's rules that the REFERENCE rewrite
//! added (issue 14): the built-in server key (§2), the `wiced_application`
//! trigger (§1), the leave sequence (§1) and the WICED 3.7 trailer (§2).

use super::*;
use crate::sim::duo::{ServerKeySource, VirtualDuo};

const SERVER_KEY: (usize, usize) = (2082, 768);

/// A board of `bootloader` + `firmware`, opened as a device (time factor 0).
fn device(bootloader: &str, firmware: &str) -> (TempDir, VirtualDuo) {
    let Bench { dir, t, .. } = bench_board(bootloader, firmware, 0.0);
    (dir, t.into_device())
}

/// REFERENCE §2 "Server public key block": on 0.3.x a blank server key
/// (all 0xFF) is replaced in RAM by the built-in one, so the device heads
/// for the public cloud and the DCT stays blank; 0.2.4 has no built-in key.
#[test]
fn a_blank_server_key_is_replaced_in_ram_by_the_builtin_one_on_0_3_x_only() {
    for (bootloader, firmware, want) in [
        ("r4", "0.2.4", ServerKeySource::Missing),
        ("r5", "0.3.1", ServerKeySource::BuiltIn),
        ("r6", "0.3.3", ServerKeySource::BuiltIn),
    ] {
        let (_dir, mut duo) = device(bootloader, firmware);
        let (at, len) = SERVER_KEY;
        duo.mem.app_dct_write(at, &vec![0xFF; len]).unwrap();
        let report = duo.boot().unwrap();
        assert_eq!(report.server_key, Some(want), "{firmware}");
        match report.connection {
            Some(crate::protocol::connect::ConnectOutcome::NotTried { host, port, .. }) => {
                assert_eq!(
                    (host.as_str(), port),
                    ("device.spark.io", 5683),
                    "{firmware}"
                );
            }
            other => panic!("{firmware}: {other:?}"),
        }
        let stored = duo.app_dct_bytes()[at..at + len].to_vec();
        assert!(
            stored.iter().all(|&b| b == 0xFF),
            "{firmware}: DCT kept blank"
        );
    }
    // A block that is there is used as stored, on every version.
    let (_dir, mut duo) = device("r4", "0.2.4");
    assert_eq!(duo.boot().unwrap().server_key, Some(ServerKeySource::Dct));
}

/// A 4 KiB block opening with `first_word` (an image's vector table).
fn image_block(first_word: u32) -> Vec<u8> {
    let mut block = vec![0x5Au8; 4096];
    block[..4].copy_from_slice(&first_word.to_le_bytes());
    block
}

fn wiced_flag(b: &Bench, at: usize) -> u16 {
    let app = b.t.app_dct_bytes();
    u16::from_le_bytes([app[at], app[at + 1]])
}

/// Read the configuration descriptor, as a host does at enumeration.
fn read_config_descriptor(b: &mut Bench) {
    let mut buf = [0u8; 9];
    b.t.control_in(setup(0x80, 6, 0x0200, 9), &mut buf).unwrap();
}

/// REFERENCE §1 (Duo only): after the configuration descriptor is read, the
/// first data block written at a trigger address whose first word looks
/// like an initial stack pointer sets `wiced_application` — 0x1234 for
/// system firmware, 0x5AA5 at 0x08010000 — and every data block clears the
/// trigger; the bootloader then boots a WICED application, not the system
/// firmware (no key rule, no cloud).
#[test]
fn the_first_image_block_after_enumeration_sets_wiced_application_and_0x5aa5_boots_wiced() {
    let mut b = bench_board("r6", "0.3.3", 0.0);
    b.alt(0);
    assert_eq!(wiced_flag(&b, 8391), 0xFFFF);
    b.write(0x0802_0000, &image_block(0x2002_0000));
    assert_eq!(
        wiced_flag(&b, 8391),
        0x1234,
        "system firmware at 0x08020000"
    );
    // Cleared by that block: a second image does not trip it.
    b.write(0x0801_0000, &image_block(0x2001_0000));
    assert_eq!(wiced_flag(&b, 8391), 0x1234);
    // The next enumeration arms it again.
    b.erase(0x0801_0000);
    read_config_descriptor(&mut b);
    b.write(0x0801_0000, &image_block(0x2001_0000));
    assert_eq!(
        wiced_flag(&b, 8391),
        0x5AA5,
        "a WICED application at 0x08010000"
    );
    let mut duo = b.t.into_device();
    let report = duo.boot().unwrap();
    assert!(report.wiced_application);
    assert!(!report.generated_key && report.connection.is_none());
    assert_eq!(
        duo.app_dct_bytes()[34],
        0xFF,
        "the firmware's key rule did not run"
    );
    let mut buf = [0u8; 18];
    assert_eq!(
        duo.control_in(setup(0x80, 6, 0x0100, 18), &mut buf),
        Err(TransportError::NoDevice),
        "no Particle USB face"
    );
}

/// REFERENCE §1: r3/r4 watch 0x0800C000 and keep the flag at 4258; a first
/// word that is no stack pointer sets nothing but still clears the trigger.
#[test]
fn r4_watches_0x0800c000_and_a_block_that_is_no_image_clears_the_trigger() {
    let mut b = bench_board("r4", "0.2.4", 0.0);
    b.alt(0);
    b.write(0x0800_C000, &image_block(0x0800_0000));
    assert_eq!(wiced_flag(&b, 4258), 0xFFFF);
    b.erase(0x0800_C000);
    b.write(0x0800_C000, &image_block(0x2000_8000));
    assert_eq!(wiced_flag(&b, 4258), 0xFFFF, "the trigger was cleared");
    read_config_descriptor(&mut b);
    b.erase(0x0800_C000);
    b.write(0x0800_C000, &image_block(0x2000_8000));
    assert_eq!(wiced_flag(&b, 4258), 0x1234);
    let mut duo = b.t.into_device();
    assert!(!duo.boot().unwrap().wiced_application);
}

/// REFERENCE §2: a key write on a 0.3.3 board copies to the other partition
/// and ends it with the WICED 3.7 trailer, its sequence one past the last;
/// the old partition is left (not erased) and retired.
#[test]
fn a_dct_write_on_0_3_3_ends_the_new_partition_with_the_next_sequence_and_its_crc() {
    let mut b = bench_board("r6", "0.3.3", 0.0);
    b.alt(1);
    let image = |b: &Bench| {
        crate::dct::DctImage::from_bytes(&crate::platform::DUO, b.t.device().dct_region()).unwrap()
    };
    for (n, byte) in [(1u32, 0x30u8), (2, 0x31), (3, 0x32)] {
        assert_eq!(b.write(34, &[byte; 612]).status, DfuStatus::Ok);
        let image = image(&b);
        let current = image.current_partition().unwrap();
        let trailer = image.header(current).unwrap().trailer.expect("a trailer");
        assert_eq!((trailer.sequence, trailer.crc_ok), (n, true), "write {n}");
        let old = image.header(1 - current).unwrap();
        assert!(
            old.has_magic && old.is_current_dct == 0,
            "the old one is kept, retired"
        );
        assert_eq!(b.read(34, 612), vec![byte; 612]);
    }
}

/// REFERENCE §2 "Server public key block" (firmware `parse_server_address`):
/// a type-1 address of length 0 is an empty host name, not the default —
/// the board does not head for `device.spark.io`.
#[test]
fn a_domain_of_length_0_sends_the_board_to_an_empty_host_not_the_default() {
    let (_dir, mut duo) = device("r4", "0.2.4");
    let (at, _) = SERVER_KEY;
    // The factory block's `01 0F device.spark.io` becomes `01 00`.
    assert_eq!(&duo.app_dct_bytes()[at + 384..at + 386], &[0x01, 0x0F]);
    duo.mem.app_dct_write(at + 384, &[0x01, 0x00]).unwrap();
    let report = duo.boot().unwrap();
    assert_eq!(report.server_key, Some(ServerKeySource::Dct));
    match report.connection {
        Some(crate::protocol::connect::ConnectOutcome::NotTried { host, port, .. }) => {
            assert_eq!((host.as_str(), port), ("", 5683));
        }
        other => panic!("{other:?}"),
    }
}

/// REFERENCE §1 leave sequence and §2 "System flags": r3–r5 save their
/// system flags into the DCT as they reset (their version at DCT 4: r4
/// turns the factory image's 3 into 4, a copy that moves the partition);
/// from 0.3.2 (r6) the flags live in the RTC backup registers and DCT
/// bytes 0..31 stay as they were.
#[test]
fn leaving_dfu_saves_the_system_flags_into_the_dct_on_r4_but_not_on_r6() {
    for (bootloader, firmware, version) in [("r4", "0.2.4", 4u8), ("r6", "0.3.3", 3)] {
        let mut b = bench_board(bootloader, firmware, 0.0);
        b.alt(1);
        assert_eq!(b.read(0, 6), [0xc0, 0xac, 0xde, 0x1a, 3, 0], "{bootloader}");
        // A key, so that the boot after the reset does not generate one.
        let key = crate::keys::private_key_to_der(&crate::keys::generate().unwrap()).unwrap();
        let mut slot = key.clone();
        slot.resize(1216, 0xFF);
        b.write(34, &slot);
        let before = b.t.app_dct_bytes()[..32].to_vec();
        b.leave();
        let after = b.t.app_dct_bytes()[..32].to_vec();
        assert_eq!(after[4..6], [version, 0], "{bootloader}");
        if bootloader == "r6" {
            assert!(after == before, "r6 leaves DCT 0..31 as it was");
        }
    }
}
