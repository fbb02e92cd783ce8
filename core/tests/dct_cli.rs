//! `duoprov dct …` on files, run as the real binary: issue 2's acceptance
//! lines about DCT files, and its bad-input lines.

#![cfg(feature = "cli")]

mod common;

use common::{assert_ok, duoprov, fixture, stderr, stdout_json};

const PARTITION: usize = 16 * 1024;
const APP_DCT: usize = 0x1D7C;

#[test]
fn factory_dct_shows_partition_0_current_default_server_and_erased_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("fac-dct-r1.bin");
    let out = duoprov(
        dir.path(),
        &["dct", "show", "--file", path.to_str().unwrap(), "--json"],
    );
    assert_ok(&out, "dct show");
    let r = stdout_json(&out);
    assert_eq!(r["kind"], "image");
    assert_eq!(r["current_partition"], 0);
    assert_eq!(r["server"]["state"], "valid");
    assert_eq!(r["server"]["host"], "device.spark.io");
    assert_eq!(r["server"]["port"], 5683);
    assert_eq!(r["server"]["key_bits"], 2048);
    assert_eq!(r["device_private_key"]["state"], "erased");
    assert_eq!(r["device_public_key"]["state"], "erased");
    assert_eq!(r["bootloader_version"], 3);
    let names: Vec<&str> = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // Bootloader 3 in the system flags: the 0.2.x layout (REFERENCE §2).
    assert_eq!(
        (r["layout"].as_str(), r["layout_source"].as_str()),
        (Some("0.2.x"), Some("system-flags"))
    );
    assert_eq!(names.len(), 25, "every field of the 0.2.x layout is shown");
    assert!(names.contains(&"claim_code") && names.contains(&"extra_system_flags"));
}

/// REFERENCE §2 "DCT layout per firmware": `--firmware VERSION` reads a
/// file in that firmware's layout; nothing in a 0.3.2+ file tells it.
#[test]
fn firmware_option_picks_the_layout_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("fac-dct-r1.bin");
    let path = path.to_str().unwrap();
    for (version, layout, count, flags_at) in [
        ("0.2.4", "0.2.x", 25, 4258),
        ("0.3.1", "0.3.0/0.3.1", 32, 4258),
        ("0.3.3", "0.3.2+", 33, 8391),
    ] {
        let out = duoprov(
            dir.path(),
            &[
                "dct",
                "show",
                "--file",
                path,
                "--firmware",
                version,
                "--json",
            ],
        );
        assert_ok(&out, "dct show --firmware");
        let r = stdout_json(&out);
        assert_eq!(r["layout"], layout);
        assert_eq!(r["layout_source"], "given");
        let fields = r["fields"].as_array().unwrap();
        assert_eq!(fields.len(), count, "{version}");
        let extra = fields
            .iter()
            .find(|f| f["name"] == "extra_system_flags")
            .unwrap();
        assert_eq!(extra["offset"], flags_at, "{version}");
    }
    let out = duoprov(
        dir.path(),
        &[
            "dct",
            "get",
            "device_id",
            "--file",
            path,
            "--firmware",
            "0.3.1",
        ],
    );
    assert_ok(&out, "dct get --firmware 0.3.1");
    let out = duoprov(
        dir.path(),
        &["dct", "show", "--file", path, "--firmware", "2.0"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("0.3.2+"), "{}", stderr(&out));
}

#[test]
fn factory_flag_shows_the_embedded_image_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture("fac-dct-r1.bin");
    let from_file = duoprov(
        dir.path(),
        &["dct", "show", "--json", "--file", path.to_str().unwrap()],
    );
    let embedded = duoprov(dir.path(), &["dct", "show", "--json", "--factory"]);
    assert_ok(&embedded, "dct show --factory");
    assert_eq!(stdout_json(&from_file), stdout_json(&embedded));
}

#[test]
fn set_on_an_image_writes_the_standby_partition_and_makes_it_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dct.bin");
    let original = std::fs::read(fixture("fac-dct-r1.bin")).unwrap();
    std::fs::write(&path, &original).unwrap();
    let p = path.to_str().unwrap();

    let out = duoprov(
        dir.path(),
        &["dct", "set", "claim_code", "hello-bench", "--file", p],
    );
    assert_ok(&out, "dct set");

    let written = std::fs::read(&path).unwrap();
    // Partition 1 is now current and holds the change…
    assert_eq!(written[PARTITION + 9], 1, "partition 1 is_current_dct");
    assert_eq!(&written[PARTITION + 12..PARTITION + 16], b"BRCM");
    let claim = PARTITION + APP_DCT + 1762;
    assert_eq!(&written[claim..claim + 11], b"hello-bench");
    // …and partition 0 still holds the old table, no longer current.
    assert_eq!(written[9], 0, "partition 0 no longer current");
    assert_eq!(&written[APP_DCT..PARTITION], &original[APP_DCT..PARTITION]);
    // The previous file is kept.
    assert_eq!(
        std::fs::read(dir.path().join("dct.bin.bak")).unwrap(),
        original
    );

    let out = duoprov(
        dir.path(),
        &["dct", "get", "claim_code", "--file", p, "--json"],
    );
    assert_ok(&out, "dct get");
    assert_eq!(stdout_json(&out)["value"]["value"], "hello-bench");
    let show = stdout_json(&duoprov(
        dir.path(),
        &["dct", "show", "--json", "--file", p],
    ));
    assert_eq!(show["current_partition"], 1);
}

#[test]
fn ipv4_server_address_with_port_round_trips_through_dct_show() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(
        dir.path(),
        &[
            "keys",
            "server",
            "--output",
            "block.der",
            "--host",
            "192.168.7.9",
            "--port",
            "5684",
        ],
    );
    assert_ok(&out, "keys server");
    let block = std::fs::read(dir.path().join("block.der")).unwrap();
    let dct = dir.path().join("dct.bin");
    std::fs::copy(fixture("fac-dct-r1.bin"), &dct).unwrap();
    let value = format!("hex:{}", hex::encode(&block));
    let out = duoprov(
        dir.path(),
        &[
            "dct",
            "set",
            "server_public_key",
            &value,
            "--file",
            dct.to_str().unwrap(),
        ],
    );
    assert_ok(&out, "dct set server_public_key");
    let show = stdout_json(&duoprov(
        dir.path(),
        &["dct", "show", "--json", "--file", dct.to_str().unwrap()],
    ));
    assert_eq!(show["server"]["host"], "192.168.7.9");
    assert_eq!(show["server"]["port"], 5684);
    assert_eq!(show["server"]["address"]["type"], "ipv4");
}

#[test]
fn wrong_sizes_and_garbage_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("short.bin", vec![0u8; 100]),
        ("odd.bin", vec![0xFFu8; 20_000]),
        ("noheader.bin", vec![0x55u8; 32 * 1024]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let out = duoprov(dir.path(), &["dct", "show", "--file", p]);
        assert!(!out.status.success(), "{name} accepted");
        let err = stderr(&out);
        assert!(
            err.contains(&bytes.len().to_string()),
            "{name}: size not named: {err}"
        );
        let out = duoprov(dir.path(), &["dct", "set", "claimed", "true", "--file", p]);
        assert!(!out.status.success());
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
        assert!(!dir.path().join(format!("{name}.bak")).exists());
    }
}

#[test]
fn a_value_that_does_not_fit_is_refused_naming_field_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let dct = dir.path().join("dct.bin");
    std::fs::copy(fixture("fac-dct-r1.bin"), &dct).unwrap();
    let before = std::fs::read(&dct).unwrap();
    let long = "x".repeat(64);
    let out = duoprov(
        dir.path(),
        &[
            "dct",
            "set",
            "claim_code",
            &long,
            "--file",
            dct.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("claim_code") && err.contains("63"), "{err}");
    assert_eq!(std::fs::read(&dct).unwrap(), before);
    let out = duoprov(
        dir.path(),
        &[
            "dct",
            "get",
            "no_such_field",
            "--file",
            dct.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no_such_field"));
}

/// A DCT file holds the device private key (offset 34): editing it must not
/// widen its permissions, nor write through a stray `PATH.tmp` symlink.
#[cfg(unix)]
#[test]
fn set_keeps_a_private_dct_file_private_and_ignores_a_stray_tmp_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dct.bin");
    std::fs::write(&path, std::fs::read(fixture("fac-dct-r1.bin")).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"not a DCT").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("dct.bin.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("dct.bin.bak")).unwrap();

    let out = duoprov(
        dir.path(),
        &[
            "dct",
            "set",
            "claimed",
            "true",
            "--file",
            path.to_str().unwrap(),
        ],
    );
    assert_ok(&out, "dct set");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file(), "dct.bin is still a plain file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a DCT");
    // The stray link at dct.bin.bak is left alone: the backup takes the
    // next free name.
    let link = std::fs::symlink_metadata(dir.path().join("dct.bin.bak")).unwrap();
    assert!(link.file_type().is_symlink());
    let backup = dir.path().join("dct.bin.1.bak");
    let meta = std::fs::symlink_metadata(&backup).unwrap();
    assert!(meta.file_type().is_file(), "the backup is a plain file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        std::fs::read(fixture("fac-dct-r1.bin")).unwrap()
    );
}
