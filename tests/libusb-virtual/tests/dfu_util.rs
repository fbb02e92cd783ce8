//! Debian's dfu-util 0.11, unchanged, against virtual Duos made through the
//! library API, with the stand-in preloaded in place of libusb-1.0.
//! Needs `dfu-util` on PATH (`make deps` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use duo_provisioning::platform::{self, Board, DUO};
use duo_provisioning::sim::duo::{CreateOptions, Mode, VirtualDuo};

/// target/debug/liblibusb_virtual.so, next to the deps/ dir of this test.
fn stand_in() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("liblibusb_virtual.so");
    assert!(
        so.exists(),
        "{} is missing: build with `cargo build -p libusb-virtual`",
        so.display()
    );
    so
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../core/assets")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run dfu-util with the stand-in serving `dirs`.
fn dfu_util(dirs: &[&Path], cwd: &Path, args: &[&str]) -> Output {
    let dirs = std::env::join_paths(dirs).unwrap();
    let out = Command::new("dfu-util")
        .args(args)
        .current_dir(cwd)
        .env("LD_PRELOAD", stand_in())
        .env("DUO_VIRTUAL_DIRS", dirs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dfu-util ({e}); install it with `make deps`"));
    eprintln!(
        "dfu-util {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new factory Duo (r4 + 0.2.4) at time factor 0.01, closed (so
/// dfu-util can take it).
fn new_duo(dir: &Path) {
    new_board(dir, "r4", "0.2.4");
}

const DEVICE_ID: [u8; 12] = *b"\x2f\xff\x27\xff\xfc\x47\x35\x30\xff\xf2\x36\x37";

fn new_board(dir: &Path, bootloader: &str, firmware: &str) {
    let options = CreateOptions {
        time_factor: 0.01,
        board: Some(Board::by_names(&DUO, bootloader, firmware).unwrap()),
        device_id: Some(DEVICE_ID),
        ..CreateOptions::default()
    };
    drop(VirtualDuo::create(dir, options).unwrap());
}

/// Boot the firmware (it generates a key on a factory DCT), then back to DFU.
fn boot_and_enter_dfu(dir: &Path) -> Vec<u8> {
    let mut duo = VirtualDuo::open(dir).unwrap();
    duo.boot().unwrap();
    duo.enter_dfu().unwrap();
    key_slot(&duo)
}

fn key_slot(duo: &VirtualDuo) -> Vec<u8> {
    let slot = platform::field("device_private_key").unwrap();
    duo.app_dct_bytes()[slot.offset..slot.offset + platform::PRIVATE_KEY_READ_LEN].to_vec()
}

/// `dfu-util -l` lines of a board (dfu-util lists the last alt first).
fn listed(bootloader: &str, firmware: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_board(&dir, bootloader, firmware);
    let out = dfu_util(&[&dir], tmp.path(), &["-l"]);
    assert!(out.status.success());
    assert!(!stdout(&out).contains("Deducing device DFU version"));
    stdout(&out)
        .lines()
        .filter(|l| l.starts_with("Found DFU"))
        .map(str::to_string)
        .collect()
}

fn expected_listing(ver: &str, alt0: &str, serial: &str) -> Vec<String> {
    let names = [
        alt0,
        "@DCT Flash   /0x00000000/01*016Kg",
        "@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg",
    ];
    (0..3)
        .rev()
        .map(|alt| {
            format!(
                "Found DFU: [2b04:d058] ver={ver}, devnum=2, cfg=1, intf=0, path=\"1-1\", alt={alt}, name=\"{}\", serial=\"{serial}\"",
                names[alt]
            )
        })
        .collect()
}

/// REFERENCE §1: the r4 bootloader (factory boards) is `ver=0200`, the
/// 16 KiB bootloader's alt-0 map and the constant serial `00000000010C`.
#[test]
fn dfu_util_lists_an_r4_duo_as_ver_0200_with_the_old_map_and_serial_00000000010c() {
    assert_eq!(
        listed("r4", "0.2.4"),
        expected_listing(
            "0200",
            "@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg",
            "00000000010C"
        )
    );
}

/// REFERENCE §1: r6 is `ver=0250`, the 32 KiB bootloader's alt-0 map and
/// the device id (lower case) as serial.
#[test]
fn dfu_util_lists_an_r6_duo_as_ver_0250_with_the_new_map_and_its_device_id() {
    assert_eq!(
        listed("r6", "0.3.3"),
        expected_listing(
            "0250",
            "@Internal Flash   /0x08000000/02*016Ka,02*016Kg,01*064Kg,07*128Kg",
            "2fff27fffc473530fff23637"
        )
    );
}

#[test]
fn dfu_util_backs_up_the_key_slot_the_simulator_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
    let key = boot_and_enter_dfu(&dir);
    assert_eq!(&key[..2], &[0x30, 0x82], "a DER key after first boot");
    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words("-d 2b04:d058 -a 1 -s 34:612 -U out.der"),
    );
    assert!(out.status.success());
    assert_eq!(std::fs::read(tmp.path().join("out.der")).unwrap(), key);
}

#[test]
fn seed_guide_reset_command_makes_the_duo_leave_dfu_and_generate_a_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
    let old_key = boot_and_enter_dfu(&dir);
    std::fs::write(
        tmp.path().join("reset_device_private_key.bin"),
        fixture("reset_device_private_key.bin"),
    )
    .unwrap();
    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words("-d 2b04:d058 -a 1 -s 34:leave -D reset_device_private_key.bin"),
    );
    assert!(out.status.success());
    let mut duo = VirtualDuo::open(&dir).unwrap();
    assert_eq!(duo.mode(), Mode::Firmware, "the board left DFU and booted");
    let (report, error) = duo.last_boot();
    assert_eq!(error, None);
    assert!(report.unwrap().generated_key, "boot generated a key");
    duo.enter_dfu().unwrap();
    let new_key = key_slot(&duo);
    assert_eq!(&new_key[..2], &[0x30, 0x82]);
    assert_ne!(new_key, old_key);
}

/// RedBear's factory-DCT command per generation (REFERENCE §1): `-s
/// 0x8004000` for firmware ≤ 0.2.4, `-s 0x8008000` since 0.3.0.
#[test]
fn seed_guide_server_key_and_factory_dct_downloads_land_where_the_device_reads_them() {
    factory_dct_lands("r4", "0.2.4", "0x08004000");
    factory_dct_lands("r6", "0.3.3", "0x08008000");
}

fn factory_dct_lands(bootloader: &str, firmware: &str, dct_addr: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_board(&dir, bootloader, firmware);
    boot_and_enter_dfu(&dir);
    let server_key = fixture("server_public_key.der");
    let dct = fixture("fac-dct-r1.bin");
    std::fs::write(tmp.path().join("server_public_key.der"), &server_key).unwrap();
    std::fs::write(tmp.path().join("fac-dct-r1.bin"), &dct).unwrap();

    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words("-d 2b04:d058 -a 1 -s 2082 -D server_public_key.der"),
    );
    assert!(out.status.success());
    let app = VirtualDuo::open(&dir).unwrap().app_dct_bytes();
    assert_eq!(&app[2082..2082 + server_key.len()], &server_key[..]);

    assert_ne!(VirtualDuo::open(&dir).unwrap().dct_region(), &dct[..]);
    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words(&format!(
            "-d 2b04:d058 -a 0 -s {dct_addr} -D fac-dct-r1.bin"
        )),
    );
    assert!(out.status.success());
    assert_eq!(VirtualDuo::open(&dir).unwrap().dct_region(), &dct[..]);
}

#[test]
fn dfu_util_sees_only_boards_in_dfu_mode_and_each_on_its_own_port() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    for d in [&a, &b, &c] {
        new_duo(d);
    }
    VirtualDuo::open(&b).unwrap().boot().unwrap();
    let out = dfu_util(&[&a, &b, &c], tmp.path(), &["-l"]);
    let listed = stdout(&out);
    assert!(listed.contains("devnum=2, cfg=1, intf=0, path=\"1-1\", alt=0"));
    assert!(!listed.contains("path=\"1-2\""), "b runs firmware");
    assert!(listed.contains("devnum=4, cfg=1, intf=0, path=\"1-3\", alt=0"));

    // Two boards match 2b04:d058: dfu-util wants a path.
    let out = dfu_util(
        &[&a, &c],
        tmp.path(),
        &words("-d 2b04:d058 -p 1-2 -a 1 -s 34:612 -U c.der"),
    );
    assert!(out.status.success());
    let expected = key_slot(&VirtualDuo::open(&c).unwrap());
    assert_eq!(std::fs::read(tmp.path().join("c.der")).unwrap(), expected);
}

#[test]
fn a_board_another_program_holds_still_lists_but_cannot_be_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
    let held = VirtualDuo::open(&dir).unwrap();
    let out = dfu_util(&[&dir], tmp.path(), &["-l"]);
    assert_eq!(stdout(&out).matches("Found DFU").count(), 3);
    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words("-d 2b04:d058 -a 1 -s 34:612 -U out.der"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Cannot claim interface"));
    // Once the holder lets go, the next program gets the board.
    drop(held);
    let out = dfu_util(
        &[&dir],
        tmp.path(),
        &words("-d 2b04:d058 -a 1 -s 34:612 -U out.der"),
    );
    assert!(out.status.success());
}

/// The rusb path duoprov takes (core `dfu::usb`), through the
/// `rusb_key_slot` example that `cargo test` builds.
#[test]
fn rusb_and_the_core_usb_transport_read_and_write_the_key_slot_through_the_stand_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
    let key = boot_and_enter_dfu(&dir);
    let example = stand_in().parent().unwrap().join("examples/rusb_key_slot");
    let run = |op: &str, file: &str| {
        let out = Command::new(&example)
            .args([op, file])
            .current_dir(tmp.path())
            .env("LD_PRELOAD", stand_in())
            .env("DUO_VIRTUAL_DIRS", &dir)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
        eprintln!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success());
        stdout(&out)
    };
    let listed = run("read", "backup.der");
    assert!(listed.contains("found usb:1-1  [2b04:d058] RedBear Duo  serial 00000000010C"));
    assert_eq!(std::fs::read(tmp.path().join("backup.der")).unwrap(), key);

    // Restore a different key; the simulator sees it in the slot.
    let mut other = key.clone();
    other[100] ^= 0xFF;
    std::fs::write(tmp.path().join("other.der"), &other).unwrap();
    run("write", "other.der");
    assert_eq!(key_slot(&VirtualDuo::open(&dir).unwrap()), other);
}

/// A dfu-util command line as the guide writes it, split into arguments.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}
