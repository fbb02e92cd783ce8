//! The board model through the real binary: `sim create --bootloader
//! --firmware`, and issue 13 rule 3 — the bootloader is never written and
//! the DCT is found where the board's own flash-map generation keeps it
//! (REFERENCE §1, "Two generations of the Duo's internal flash map").

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{assert_ok, duoprov, fixture, on_sim, sim_create, stderr, stdout, stdout_json};
use serde_json::Value;

fn sim_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "sim"];
    all.extend_from_slice(args);
    let out = duoprov(dir, &all);
    assert_ok(&out, "sim");
    stdout_json(&out)
}

fn dfu_read(dir: &Path, alt: &str, addr: &str, len: &str) -> Vec<u8> {
    let out = on_sim(
        dir,
        &[
            "dfu", "read", "--alt", alt, "--addr", addr, "--len", len, "-o", "read.bin",
        ],
    );
    assert_ok(&out, "dfu read");
    let bytes = std::fs::read(dir.join("read.bin")).unwrap();
    std::fs::remove_file(dir.join("read.bin")).unwrap();
    bytes
}

/// A board from the factory DCT, booted once (it has a key), in DFU mode.
fn board_with_a_key(dir: &Path, extra: &[&str]) {
    let factory = fixture("fac-dct-r1.bin");
    let mut args = vec!["--from", factory.to_str().unwrap()];
    args.extend_from_slice(extra);
    sim_create(dir, &args);
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
}

#[test]
fn sim_create_defaults_to_a_factory_r4_board_with_firmware_0_2_4() {
    let tmp = tempfile::tempdir().unwrap();
    sim_create(tmp.path(), &[]);
    let view = sim_json(tmp.path(), &["show", "vd"]);
    assert_eq!(view["bootloader"], "r4");
    assert_eq!(view["firmware"], "0.2.4");
}

#[test]
fn sim_create_refuses_firmware_0_2_4_on_an_r5_or_r6_bootloader_and_unknown_names() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        ["--bootloader", "r6", "--firmware", "0.2.4"],
        ["--bootloader", "r5", "--firmware", "0.2.4"],
    ] {
        let mut all = vec!["sim", "create", "vd"];
        all.extend_from_slice(&args);
        let out = duoprov(tmp.path(), &all);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("destroys its bootloader"),
            "{}",
            stderr(&out)
        );
        assert!(!tmp.path().join("vd").exists(), "nothing was created");
    }
    let out = duoprov(tmp.path(), &["sim", "create", "vd", "--bootloader", "r9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("r3, r4, r5, r6"), "{}", stderr(&out));
    let out = duoprov(tmp.path(), &["sim", "create", "vd", "--firmware", "0.4.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("0.2.4, 0.3.1, 0.3.3, none"),
        "{}",
        stderr(&out)
    );
}

/// REFERENCE §1: firmware 0.3.x replaces an r3/r4 bootloader at boot; the
/// board then has the 32 KiB bootloader's map and reports bcdDevice 0x0250.
#[test]
fn firmware_0_3_3_on_an_r4_board_installs_bootloader_r6_at_its_first_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &["--bootloader", "r4", "--firmware", "0.3.3"]);
    assert_eq!(sim_json(dir, &["show", "vd"])["bootloader"], "r4");
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
    assert_eq!(sim_json(dir, &["show", "vd"])["bootloader"], "r6");
    let out = on_sim(dir, &["--json", "list"]);
    assert_ok(&out, "list");
    let text = stdout(&out);
    assert!(
        text.contains("@Internal Flash   /0x08000000/02*016Ka,02*016Kg,01*064Kg,07*128Kg"),
        "{text}"
    );
}

/// Issue 13 rule 3: on an r6 board 0x08004000 is inside the 32 KiB
/// bootloader. Before the board model the virtual Duo presented the old map
/// and this write erased what the map calls the bootloader.
#[test]
fn rule3_an_r6_board_refuses_an_alt0_write_at_0x08004000_as_its_bootloader() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &["--bootloader", "r6", "--firmware", "0.3.3"]);
    std::fs::write(dir.join("small.bin"), [0u8; 16]).unwrap();
    let before = sim_json(dir, &["stats", "vd"])["stats"]["control_transfers"].clone();
    let out = on_sim(
        dir,
        &[
            "dfu",
            "write",
            "--alt",
            "0",
            "--addr",
            "0x08004000",
            "small.bin",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("0x08000000..0x08008000 is read-only"), "{err}");
    assert!(err.contains("bootloader"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    // Only the descriptor probe reached the device: no DNLOAD.
    let after = sim_json(dir, &["stats", "vd"])["stats"].clone();
    assert_eq!(
        after["data_blocks_downloaded"], 0,
        "{after} (before {before})"
    );
}

/// Issue 13 rule 3: the DCT region is read over alt 0 at the address of the
/// board's generation — 0x08004000 on r4, 0x08008000 on r6 — and both hold
/// the factory image the board was made from.
#[test]
fn rule3_the_dct_region_is_at_0x08004000_on_r4_and_at_0x08008000_on_r6() {
    let factory = std::fs::read(fixture("fac-dct-r1.bin")).unwrap();
    for (bootloader, firmware, addr) in
        [("r4", "0.2.4", "0x08004000"), ("r6", "0.3.3", "0x08008000")]
    {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        sim_create(dir, &["--bootloader", bootloader, "--firmware", firmware]);
        assert_eq!(
            dfu_read(dir, "0", addr, "32768"),
            factory,
            "{bootloader} at {addr}"
        );
    }
}

/// Issue 13 rule 3: on r4 a raw alt-0 write at 0x08004000 covers the DCT,
/// so the key is backed up first; before the fix the tool took the DCT to
/// be at 0x08008000 and kept no backup for a write here.
#[test]
fn rule3_on_r4_an_alt0_write_at_0x08004000_is_a_dct_write_and_backs_up_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    board_with_a_key(dir, &[]);
    let region = dfu_read(dir, "0", "0x08004000", "32768");
    std::fs::write(dir.join("region.bin"), &region).unwrap();
    let out = on_sim(
        dir,
        &[
            "--json",
            "dfu",
            "write",
            "--alt",
            "0",
            "--addr",
            "0x08004000",
            "region.bin",
        ],
    );
    assert_ok(&out, "dfu write");
    let report = stdout_json(&out);
    let backup = report["key_backup"].as_str().expect("a key backup");
    assert!(dir.join(backup).exists(), "{report}");
    assert_eq!(report["dct_dump"], Value::Null, "not a system-part write");
}

/// Issue 13 rule 3, the REFERENCE §1 hazards: a raw write into the system
/// parts keeps a verified key backup and a dump of the whole DCT first, and
/// says which hazard applies to this board's generation.
#[test]
fn rule3_a_system_part_write_keeps_the_key_and_a_dct_dump_and_names_the_hazard() {
    for (bootloader, firmware, addr, hazard) in [
        ("r4", "0.2.4", "0x08004000", "erases DCT1"),
        ("r6", "0.3.3", "0x08008000", "destroys its bootloader"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        board_with_a_key(dir, &["--bootloader", bootloader, "--firmware", firmware]);
        let region = dfu_read(dir, "0", addr, "32768");
        std::fs::write(dir.join("part1.bin"), [0x5Au8; 64]).unwrap();
        let out = on_sim(
            dir,
            &[
                "--json",
                "dfu",
                "write",
                "--alt",
                "0",
                "--addr",
                "0x08020000",
                "part1.bin",
            ],
        );
        assert_ok(&out, "dfu write");
        let report = stdout_json(&out);
        assert!(
            report["hazard"].as_str().unwrap().contains(hazard),
            "{report}"
        );
        let dump = report["dct_dump"].as_str().expect("a DCT dump");
        assert_eq!(
            std::fs::read(dir.join(dump)).unwrap(),
            region,
            "{bootloader}"
        );
        let backup = report["key_backup"].as_str().expect("a key backup");
        assert!(dir.join(backup).exists());
        // The text form says the same.
        std::fs::write(dir.join("part1b.bin"), [0x5Au8; 64]).unwrap();
        let out = on_sim(
            dir,
            &[
                "dfu",
                "write",
                "--alt",
                "0",
                "--addr",
                "0x08021000",
                "part1b.bin",
            ],
        );
        assert_ok(&out, "dfu write (text)");
        assert!(
            stdout(&out).contains("warning: this board has the"),
            "{}",
            stdout(&out)
        );
    }
}
