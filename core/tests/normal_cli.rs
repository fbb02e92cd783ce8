//! Issue 12's acceptance lines through the real `duoprov` binary on a
//! virtual Duo in normal mode (`sim boot`), for each firmware profile.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{assert_ok, duoprov, stderr, stdout, stdout_json};
use serde_json::Value;

const ID: &str = "2a0021000747343232363230";

fn booted(tmp: &Path, bootloader: &str, firmware: &str) {
    let out = duoprov(
        tmp,
        &[
            "sim",
            "create",
            "vd",
            "--device-id",
            ID,
            "--time-factor",
            "0.001",
            "--bootloader",
            bootloader,
            "--firmware",
            firmware,
        ],
    );
    assert_ok(&out, "sim create");
    assert_ok(&duoprov(tmp, &["sim", "boot", "vd"]), "sim boot");
}

fn json(tmp: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--device", "sim:vd"];
    all.extend_from_slice(args);
    let out = duoprov(tmp, &all);
    assert_ok(&out, args[0]);
    stdout_json(&out)
}

#[test]
fn list_shows_each_firmware_in_normal_mode_with_its_device_id() {
    for (firmware, expect_id) in [("0.3.3", Some(ID)), ("0.3.1", Some(ID)), ("0.2.4", None)] {
        let tmp = tempfile::tempdir().unwrap();
        booted(tmp.path(), "r4", firmware);
        let list = json(tmp.path(), &["list"]);
        let board = &list[0];
        assert_eq!(board["mode"], "normal", "{firmware}: {board}");
        assert_eq!(board["usb_id"], "2b04:c058", "{firmware}");
        assert_eq!(board["device_id"].as_str(), expect_id, "{firmware}");
        assert!(board["serial_port"]
            .as_str()
            .unwrap()
            .starts_with("/dev/pts/"));
        let text = stdout(&duoprov(tmp.path(), &["--device", "sim:vd", "list"]));
        assert!(text.contains("normal mode"), "{text}");
        if expect_id.is_none() {
            assert!(text.contains("device id unknown"), "{text}");
        }
    }
}

#[test]
fn identify_reports_id_version_and_modules_for_each_firmware() {
    for (firmware, id_from) in [
        ("0.3.3", "usb_serial"),
        ("0.3.1", "usb_serial"),
        ("0.2.4", "console"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        booted(tmp.path(), "r4", firmware);
        let report = json(tmp.path(), &["identify"]);
        assert_eq!(report["device_id"], ID, "{firmware}: {report}");
        assert_eq!(report["device_id_from"], id_from, "{firmware}");
        assert_eq!(report["firmware_version"], firmware, "{firmware}");
        let modules = report["modules"]["modules"].as_array().unwrap();
        assert_eq!(modules.len(), 4, "{firmware}");
        assert_eq!(modules[0]["function"], "b");
    }
}

#[test]
fn mode_dfu_takes_the_service_legacy_and_baud_routes() {
    for (firmware, extra, route, matched) in [
        ("0.3.3", &[][..], "service_request", "device_id"),
        ("0.3.1", &[][..], "legacy_request", "device_id"),
        ("0.2.4", &[][..], "baud_rate", "port"),
        (
            "0.3.3",
            &["--no-service-request", "--no-legacy-request"][..],
            "baud_rate",
            "device_id",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        booted(tmp.path(), "r4", firmware);
        let mut args = vec!["mode", "dfu"];
        args.extend_from_slice(extra);
        let report = json(tmp.path(), &args);
        assert_eq!(report["route"], route, "{firmware} {extra:?}: {report}");
        assert_eq!(report["matched_by"], matched, "{firmware}");
        let show = json(tmp.path(), &["sim", "show", "vd"]);
        assert_eq!(show["mode"], "dfu");
        // And the board now does DFU work: the key it generated at boot.
        let out = duoprov(tmp.path(), &["--device", "sim:vd", "keys", "save", "k"]);
        assert_ok(&out, "keys save after mode dfu");
    }
}

#[test]
fn mode_dfu_with_every_route_refused_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    booted(tmp.path(), "r4", "0.2.4");
    let out = duoprov(
        tmp.path(),
        &["--device", "sim:vd", "mode", "dfu", "--no-baud-trigger"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Hold SETUP"), "{}", stderr(&out));
}

#[test]
fn keys_save_enter_dfu_works_on_a_board_in_normal_mode() {
    for firmware in ["0.3.3", "0.2.4"] {
        let tmp = tempfile::tempdir().unwrap();
        booted(tmp.path(), "r4", firmware);
        // Without the flag: the usual DFU-mode error.
        let out = duoprov(tmp.path(), &["--device", "sim:vd", "keys", "save", "k"]);
        assert!(!out.status.success());
        let out = duoprov(
            tmp.path(),
            &["--device", "sim:vd", "--enter-dfu", "keys", "save", "k"],
        );
        assert_ok(&out, "keys save --enter-dfu");
        assert!(
            tmp.path().join("k.der").exists(),
            "{firmware}: {}",
            stderr(&out)
        );
        let show = json(tmp.path(), &["sim", "show", "vd"]);
        assert_eq!(show["mode"], "dfu");
    }
}

/// Issue 12 item 4: `provision` without a device id takes it from the board
/// (normal mode: identify), and says clearly when an r4 bootloader in DFU
/// mode cannot tell it.
#[test]
fn provision_without_an_id_takes_it_from_the_board() {
    let tmp = tempfile::tempdir().unwrap();
    booted(tmp.path(), "r4", "0.2.4");
    // Port 9 on loopback refuses: the run stops at the request, after the id.
    let args = [
        "--device",
        "sim:vd",
        "provision",
        "--api-url",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--retries",
        "0",
    ];
    let out = duoprov(tmp.path(), &args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("device id {ID} (told by the board: Console)")),
        "{err}"
    );
    // Back in DFU mode on r4: the id cannot be read; nothing is sent.
    assert_ok(&duoprov(tmp.path(), &["sim", "dfu", "vd"]), "sim dfu");
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let out = duoprov(tmp.path(), &json_args);
    assert!(!out.status.success());
    let doc = stdout_json(&out);
    assert_eq!(doc["code"], "UNSUPPORTED", "{doc}");
    assert!(doc["error"]
        .as_str()
        .unwrap()
        .contains("does not report the device id"));
    assert!(!stderr(&out).contains("using the access token"));
}
