//! Issue 3's acceptance and bad-input lines, run as the real `duoprov`
//! binary against a virtual Duo (`--device sim:vd`, time factor 0.001) in a
//! temporary directory, as the seed guide's dfu-util steps would be run
//! against a board.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{
    assert_ok, duoprov, fixture, on_sim, openssl, sim_create, stderr, stdout, stdout_json,
};
use duo_provisioning::keys;
use duo_provisioning::platform::DUO;
use serde_json::Value;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `dfu read --alt A --addr X --len N -o FILE`, returning the bytes.
fn dfu_read(dir: &Path, alt: &str, addr: &str, len: &str) -> Vec<u8> {
    let out = on_sim(
        dir,
        &[
            "dfu", "read", "--alt", alt, "--addr", addr, "--len", len, "-o", "read.bin",
        ],
    );
    assert_ok(&out, "dfu read");
    read(dir, "read.bin")
}

fn sim_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "sim"];
    all.extend_from_slice(args);
    let out = duoprov(dir, &all);
    assert_ok(&out, "sim");
    stdout_json(&out)
}

/// A virtual Duo from RedBear's factory DCT, booted once so that it has a
/// key, back in DFU mode.
fn duo_with_a_key(dir: &Path) {
    let factory = fixture("fac-dct-r1.bin");
    sim_create(dir, &["--from", factory.to_str().unwrap()]);
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
}

fn assert_fails_with(out: &std::process::Output, expect: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        stdout(out)
    );
    assert_eq!(out.status.code(), Some(1), "a clean failure, not a crash");
    assert!(
        stderr(out).contains(expect),
        "{expect:?} not in: {}",
        stderr(out)
    );
}

#[test]
fn a_factory_duo_lists_serves_its_server_key_and_makes_its_key_at_first_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let factory = fixture("fac-dct-r1.bin");
    sim_create(dir, &["--from", factory.to_str().unwrap()]);

    // `dfu-util -l`: 2b04:d058 and the three alt names exactly.
    let out = on_sim(dir, &["--json", "list"]);
    assert_ok(&out, "list");
    let list = stdout_json(&out);
    let devices = list.as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["usb_id"], "2b04:d058");
    assert_eq!(devices[0]["serial"], "00000000010C");
    let names: Vec<&str> = devices[0]["alt_settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg",
            "@DCT Flash   /0x00000000/01*016Kg",
            "@Serial Flash   /0x00000000/192*004Kg,128*004Kg,64*004Kg,128*004Kg",
        ]
    );
    let human = stdout(&on_sim(dir, &["list"]));
    assert!(human.contains("[2b04:d058]"), "{human}");
    for alt in DUO.factory_alt_settings() {
        assert!(human.contains(alt.name), "{human}");
    }

    // `dfu-util -a 1 -s 2082:402 -U`: RedBear's server key file.
    assert_eq!(
        dfu_read(dir, "1", "2082", "402"),
        std::fs::read(fixture("server_public_key.der")).unwrap()
    );

    // The factory slot is erased: nothing to save yet.
    assert_fails_with(&on_sim(dir, &["keys", "save"]), "erased");
    assert!(!dir.join("device.der").exists());

    // Running firmware, it does not answer DFU.
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    let out = on_sim(
        dir,
        &[
            "dfu", "read", "--alt", "1", "--addr", "34", "--len", "612", "-o", "x",
        ],
    );
    assert_fails_with(&out, "not in DFU mode");
    assert!(
        stderr(&out).contains("duoprov sim dfu vd"),
        "{}",
        stderr(&out)
    );

    // Back in DFU mode, the key the firmware made is saved.
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
    assert_ok(&on_sim(dir, &["keys", "save", "b"]), "keys save b");
    let key = keys::load_private_key_file(&dir.join("b.der")).unwrap();
    assert_eq!(keys::key_bits(&key), 1024);
    assert_eq!(
        keys::classify_slot(&read(dir, "b.der")),
        keys::SlotState::Valid { bits: 1024 }
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("b.der"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored = keys::parse_public_key(&dfu_read(dir, "1", "1250", "384")).unwrap();
    assert_eq!(
        stored,
        key.to_public_key(),
        "the public half the device stored at 1250"
    );
    assert_eq!(
        keys::load_public_key_file(&dir.join("b.pub.pem")).unwrap(),
        stored
    );
    // Never overwritten without --force.
    assert_fails_with(&on_sim(dir, &["keys", "save", "b"]), "already exists");
    assert_ok(
        &on_sim(dir, &["keys", "save", "b", "--force"]),
        "save --force",
    );
}

#[test]
fn loading_an_openssl_key_is_verified_and_the_previous_key_is_backed_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "orig"]), "keys save orig");
    // OpenSSL 3 writes PKCS#8 PEM; the device stores PKCS#1 DER.
    openssl(dir, &["genrsa", "-out", "ossl.pem", "1024"]);
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "ossl.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "ossl.pkcs1.der",
        ],
    );

    let out = on_sim(dir, &["--json", "keys", "load", "ossl.pem"]);
    assert_ok(&out, "keys load");
    let report = stdout_json(&out);
    assert_eq!(report["verified"], true);
    assert_eq!(report["bytes_written"], 1216);
    assert_eq!(report["backup"], "backup_rsa_ossl.der");
    assert_eq!(report["backup_kind"], "key");
    assert_eq!(read(dir, "backup_rsa_ossl.der"), read(dir, "orig.der"));

    // The slot is exactly the key's PKCS#1 DER, then 0xFF to the end of
    // the 1216-byte slot (the whole slot is written, so nothing of the
    // previous key survives).
    let der = read(dir, "ossl.pkcs1.der");
    let slot = dfu_read(dir, "1", "34", "1216");
    assert_eq!(&slot[..der.len()], &der[..]);
    assert!(slot[der.len()..].iter().all(|&b| b == 0xFF));

    // A second load keeps the first backup and numbers the next one.
    assert_ok(
        &on_sim(dir, &["keys", "load", "ossl.pem"]),
        "keys load again",
    );
    assert_eq!(read(dir, "backup_rsa_ossl.der"), read(dir, "orig.der"));
    assert_eq!(
        keys::parse_private_key(&read(dir, "backup_rsa_ossl.1.der")).unwrap(),
        keys::parse_private_key(&der).unwrap()
    );
}

#[test]
fn a_failed_load_says_which_dfu_step_failed_and_that_the_old_key_is_still_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "orig"]), "keys save orig");
    let before = dfu_read(dir, "1", "34", "1216");
    openssl(dir, &["genrsa", "-out", "new.pem", "1024"]);
    let armed = sim_json(dir, &["fault", "vd", "write-error:1"]);
    assert_eq!(armed["armed"][0], "write-error:1");

    let out = on_sim(dir, &["keys", "load", "new.pem"]);
    assert_fails_with(&out, "writing block 1 of 1 at DCT offset 0x22 (alt 1)");
    assert!(stderr(&out).contains("errWRITE"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("still holds its previous key"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stdout(&out).contains("verified"),
        "no success line after a failure"
    );
    assert_eq!(dfu_read(dir, "1", "34", "1216"), before);
    assert_eq!(read(dir, "backup_rsa_new.der"), read(dir, "orig.der"));
    let shown = sim_json(dir, &["show", "vd"]);
    assert_eq!(shown["fired_faults"][0], "write-error:1");
}

#[test]
fn reset_without_leaving_writes_the_request_and_leaving_makes_a_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "first"]), "keys save first");

    assert_ok(
        &on_sim(dir, &["keys", "reset", "--no-leave"]),
        "keys reset --no-leave",
    );
    assert_eq!(
        dfu_read(dir, "1", "34", "1216"),
        std::fs::read(fixture("reset_device_private_key.bin")).unwrap()
    );
    // The key the reset replaced is kept, verified.
    assert_eq!(read(dir, "backup_rsa_reset.der"), read(dir, "first.der"));
    assert_eq!(sim_json(dir, &["show", "vd"])["mode"], "dfu");

    let out = on_sim(dir, &["--json", "keys", "reset"]);
    assert_ok(&out, "keys reset");
    assert_eq!(stdout_json(&out)["left_dfu"], true);
    let shown = sim_json(dir, &["show", "vd"]);
    assert_eq!(shown["mode"], "firmware");
    assert_eq!(shown["last_boot"]["generated_key"], true);

    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
    assert_ok(
        &on_sim(dir, &["keys", "save", "second"]),
        "keys save second",
    );
    let first = keys::load_private_key_file(&dir.join("first.der")).unwrap();
    let second = keys::load_private_key_file(&dir.join("second.der")).unwrap();
    assert_eq!(keys::key_bits(&second), 1024);
    assert_ne!(first, second, "a new, different key");
    assert_eq!(
        shown["last_boot"]["fingerprint"],
        keys::fingerprint(&second.to_public_key())
    );
}

#[test]
fn a_mebibyte_of_internal_flash_round_trips_and_the_bootloader_sector_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &[]);
    // Everything after the read-only 16 KiB bootloader sector: 1 MiB − 16 KiB.
    let data: Vec<u8> = (0..1024 * 1024 - 16 * 1024)
        .map(|i: usize| (i.wrapping_mul(131) ^ (i >> 9)) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &data).unwrap();
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
            "big.bin",
        ],
    );
    assert_ok(&out, "dfu write");
    assert_eq!(
        stdout_json(&out)["erased_sectors"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    // The whole MiB back, bootloader included.
    let back = dfu_read(dir, "0", "0x08000000", "1048576");
    assert_eq!(back.len(), 1024 * 1024);
    assert_eq!(&back[16 * 1024..], &data[..]);

    // The bootloader sector: refused, naming the read-only segment, nothing sent.
    std::fs::write(dir.join("small.bin"), [0u8; 16]).unwrap();
    sim_json(dir, &["stats", "vd", "--reset"]);
    let out = on_sim(
        dir,
        &[
            "dfu",
            "write",
            "--alt",
            "0",
            "--addr",
            "0x08000000",
            "small.bin",
        ],
    );
    assert_fails_with(&out, "segment 0x08000000..0x08004000 is read-only");
    assert!(stderr(&out).contains("bootloader"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was sent"),
        "{}",
        stderr(&out)
    );
    let stats = sim_json(dir, &["stats", "vd"]);
    assert_eq!(stats["stats"]["data_blocks_downloaded"], 0);
}

#[test]
fn list_without_a_sim_selector_goes_through_usb_and_finds_no_board_here() {
    let tmp = tempfile::tempdir().unwrap();
    let out = duoprov(tmp.path(), &["list"]);
    assert_fails_with(&out, "no device in DFU mode found");
    assert!(
        stderr(&out).contains("hold SETUP, tap RESET"),
        "{}",
        stderr(&out)
    );
    let out = duoprov(tmp.path(), &["--json", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["ok"], false);
}

#[test]
fn the_dct_of_the_device_is_shown_and_edited_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    let out = on_sim(dir, &["--json", "dct", "show"]);
    assert_ok(&out, "dct show");
    let report = stdout_json(&out);
    assert_eq!(report["kind"], "app");
    assert_eq!(report["device_private_key"]["state"], "valid");
    assert_eq!(report["server"]["host"], "device.spark.io");

    let out = on_sim(dir, &["--json", "dct", "set", "claim_code", "abc123"]);
    assert_ok(&out, "dct set");
    assert_eq!(stdout_json(&out)["verified"], true);
    let out = on_sim(dir, &["dct", "get", "claim_code"]);
    assert_ok(&out, "dct get");
    assert_eq!(stdout(&out).trim(), "abc123");
    assert_eq!(&dfu_read(dir, "1", "1762", "6"), b"abc123");
}

#[test]
fn the_server_key_block_is_written_to_the_device_and_read_back_as_an_address() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &[]);
    let out = on_sim(dir, &["--json", "keys", "address"]);
    assert_ok(&out, "keys address");
    assert_eq!(stdout_json(&out)["address"]["value"], "device.spark.io");

    let out = on_sim(
        dir,
        &["keys", "server", "--host", "10.0.0.7", "--port", "5684"],
    );
    assert_ok(&out, "keys server");
    assert!(stdout(&out).contains("verified"), "{}", stdout(&out));
    let out = on_sim(dir, &["--json", "keys", "address"]);
    let summary = stdout_json(&out);
    assert_eq!(summary["address"]["value"], "10.0.0.7");
    assert_eq!(summary["port"], 5684);
    // The whole 768-byte field was written: nothing of the old block remains.
    let field = dfu_read(dir, "1", "2082", "768");
    assert_eq!(&field[450..452], &5684u16.to_be_bytes());
    assert!(field[452..].iter().all(|&b| b == 0xFF));
}

#[test]
fn bad_alts_addresses_lengths_keys_and_selectors_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &[]);
    std::fs::write(dir.join("four.bin"), [0u8; 4]).unwrap();
    std::fs::write(dir.join("junk.der"), b"-----BEGIN NOTHING-----\n").unwrap();
    let ec = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/keys/testdata/ec_prime256v1.pem");
    let ec = ec.to_str().unwrap();
    let big = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/keys/testdata/rsa4096.pem");
    let big = big.to_str().unwrap();
    sim_json(dir, &["stats", "vd", "--reset"]);
    let region_before = read(&dir.join("vd"), "internal_flash.bin");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "dfu", "read", "--alt", "3", "--addr", "0", "--len", "4", "-o", "x",
            ],
            "alt setting 3 does not exist",
        ),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "0x4000", "--len", "1", "-o", "x",
            ],
            "outside its memory map",
        ),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "0x3F00", "--len", "0x200", "-o", "x",
            ],
            "address 0x00004000 is outside its memory map",
        ),
        (
            vec![
                "dfu",
                "read",
                "--alt",
                "0",
                "--addr",
                "0x07FFFFFF",
                "--len",
                "2",
                "-o",
                "x",
            ],
            "outside its memory map",
        ),
        (
            vec![
                "dfu",
                "write",
                "--alt",
                "0",
                "--addr",
                "0x080FFFFE",
                "four.bin",
            ],
            "outside its memory map",
        ),
        (
            vec![
                "dfu", "write", "--alt", "2", "--addr", "0x200000", "four.bin",
            ],
            "outside its memory map",
        ),
        (vec!["keys", "load", "junk.der"], "junk.der"),
        (vec!["keys", "load", ec], "RSA"),
        (vec!["keys", "load", big], "must be RSA-1024"),
        (vec!["keys", "load", "missing"], "missing.der"),
    ];
    for (args, expect) in cases {
        let out = on_sim(dir, &args);
        assert_fails_with(&out, expect);
        assert!(!dir.join("x").exists(), "{args:?} wrote an output file");
    }
    let stats = sim_json(dir, &["stats", "vd"]);
    assert_eq!(
        stats["stats"]["data_blocks_downloaded"], 0,
        "nothing written"
    );
    assert_eq!(read(&dir.join("vd"), "internal_flash.bin"), region_before);
    assert!(
        !std::fs::read_dir(dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("backup_rsa_")),
        "no backup made for a refused key"
    );

    // Selectors: unknown kinds, and directories that are no virtual device.
    let out = duoprov(dir, &["--device", "tcp:1.2.3.4", "list"]);
    assert_fails_with(&out, "invalid device selector \"tcp:1.2.3.4\"");
    assert!(stderr(&out).contains("sim:DIR"), "{}", stderr(&out));
    std::fs::create_dir(dir.join("empty")).unwrap();
    for args in [
        vec!["--device", "sim:empty", "list"],
        vec!["--device", "sim:empty", "keys", "save"],
        vec![
            "--device",
            "sim:nowhere",
            "dfu",
            "write",
            "--alt",
            "1",
            "--addr",
            "34",
            "four.bin",
        ],
    ] {
        let out = duoprov(dir, &args);
        assert_fails_with(&out, "virtual-duo.json is missing");
        assert!(
            stderr(&out).contains("duoprov sim create"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read_dir(dir.join("empty")).unwrap().count(), 0);
    assert!(!dir.join("nowhere").exists());
}

#[test]
fn sim_commands_show_faults_and_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sim_create(dir, &["--device-id", "2fff27fffc473530fff23637"]);
    let shown = sim_json(dir, &["show", "vd"]);
    assert_eq!(shown["device_id"], "2fff27fffc473530fff23637");
    assert_eq!(shown["mode"], "dfu");
    assert_eq!(shown["time_factor"], 0.001);

    let armed = sim_json(dir, &["fault", "vd", "stall:3", "short-status:2:4"]);
    assert_eq!(
        armed["armed"],
        serde_json::json!(["stall:3", "short-status:2:4"])
    );
    let listed = sim_json(dir, &["fault", "vd", "--list"]);
    assert_eq!(listed["armed"], armed["armed"]);
    let cleared = sim_json(dir, &["fault", "vd", "--clear"]);
    assert_eq!(cleared["armed"], serde_json::json!([]));
    let out = duoprov(dir, &["sim", "fault", "vd", "melt:1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown fault"), "{}", stderr(&out));

    assert_ok(&on_sim(dir, &["list"]), "list");
    let stats = sim_json(dir, &["stats", "vd", "--reset"]);
    assert!(stats["stats"]["control_transfers"].as_u64().unwrap() > 0);
    let stats = sim_json(dir, &["stats", "vd"]);
    assert_eq!(stats["stats"]["control_transfers"], 0);

    let booted = sim_json(dir, &["boot", "vd"]);
    assert_eq!(
        (booted["mode"].as_str(), booted["generated_key"].as_bool()),
        (Some("firmware"), Some(true))
    );
    assert_eq!(booted["fingerprint"].as_str().unwrap().len(), 64);
}

#[test]
fn udev_prints_the_rule_for_every_board_and_where_it_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = duoprov(tmp.path(), &["udev"]);
    assert_ok(&out, "udev");
    let text = stdout(&out);
    for pid in ["d058", "d006", "d008"] {
        assert!(
            text.contains(&format!("ATTRS{{idProduct}}==\"{pid}\"")),
            "{text}"
        );
    }
    assert!(
        text.contains("/etc/udev/rules.d/50-duoprov.rules"),
        "{text}"
    );
}
