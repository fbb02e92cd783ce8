//! Debian's dfu-util 0.11, unchanged, against virtual Duos made through the
//! library API, with the stand-in preloaded in place of libusb-1.0.
//! Needs `dfu-util` on PATH (`make deps` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use duo_provisioning::platform::{self, DUO};
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

/// A new Duo at time factor 0.01, closed (so dfu-util can take it).
fn new_duo(dir: &Path) {
    let options = CreateOptions {
        time_factor: 0.01,
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

#[test]
fn dfu_util_lists_the_duo_with_its_three_alt_settings_and_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
    let out = dfu_util(&[&dir], tmp.path(), &["-l"]);
    assert!(out.status.success());
    let found: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("Found DFU"))
        .map(str::to_string)
        .collect();
    // dfu-util lists the last alt setting first.
    let expected: Vec<String> = platform::DUO_ALT_SETTINGS
        .iter()
        .rev()
        .map(|a| {
            format!(
                "Found DFU: [2b04:d058] ver=0200, devnum=2, cfg=1, intf=0, path=\"1-1\", alt={}, name=\"{}\", serial=\"{}\"",
                a.alt, a.name, DUO.dfu_serial
            )
        })
        .collect();
    assert_eq!(found, expected);
    assert!(!stdout(&out).contains("Deducing device DFU version"));
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

#[test]
fn seed_guide_server_key_and_factory_dct_downloads_land_where_the_device_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    new_duo(&dir);
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
        &words("-d 2b04:d058 -a 0 -s 0x08008000 -D fac-dct-r1.bin"),
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
