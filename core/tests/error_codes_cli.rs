//! Issue 8 items 1, 2 and 8, through the real binary: `--json` errors carry
//! the library's stable `code` and facts, the CLI words the library's
//! neutral remedies as its commands, and a failure after a key backup names
//! the backup.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_ok, duoprov, fixture, on_sim, sim_create, stderr, stdout_json};
use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::sim::cloud::{Account, LocalCloud, LocalCloudOptions, SeededDevice};
use serde_json::Value;

const TOKEN: &str = "tok-0c1d2e3f40516273";
const SEEDED: &str = "2fff27fffc473530fff23637";

/// A virtual Duo with a key, in DFU mode.
fn duo_with_a_key(dir: &Path) {
    let factory = fixture("fac-dct-r1.bin");
    sim_create(dir, &["--from", factory.to_str().unwrap()]);
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
}

fn json_error(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let v = stdout_json(out);
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].is_string(), "{v}");
    v
}

#[test]
fn a_bad_key_file_on_a_board_is_invalid_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    std::fs::write(dir.join("BAD.der"), b"\x30\x03not a key").unwrap();
    let v = json_error(&on_sim(dir, &["--json", "keys", "load", "BAD.der"]));
    assert_eq!(v["code"], "INVALID_KEY", "{v}");
    assert!(v["path"].as_str().unwrap().ends_with("BAD.der"), "{v}");
}

#[test]
fn a_board_running_firmware_is_not_in_dfu_mode_and_the_cli_names_its_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    let out = on_sim(dir, &["--json", "keys", "save", "k"]);
    let v = json_error(&out);
    assert_eq!(v["code"], "NOT_IN_DFU_MODE", "{v}");
    assert_eq!(v["remedy"]["kind"], "enter_dfu_mode", "{v}");
    // The library says it neutrally; the CLI says it as its own command.
    assert!(
        stderr(&out).contains("`duoprov sim dfu vd`"),
        "{}",
        stderr(&out)
    );
    assert!(
        v["error"].as_str().unwrap().contains("duoprov sim dfu vd"),
        "{v}"
    );
}

#[test]
fn a_wrong_token_is_invalid_token_with_the_http_status() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: vec![DeviceId::parse(SEEDED).unwrap()],
        ..LocalCloudOptions::default()
    })
    .unwrap();
    let out = common::duoprov_cmd(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .env_remove("PARTICLE_API_URL")
        .args(["--json", "provision", SEEDED, "--api-url", cloud.base_url()])
        .args(["--token", "wrong-0000000000000000"])
        .output()
        .unwrap();
    let v = json_error(&out);
    assert_eq!(v["code"], "INVALID_TOKEN", "{v}");
    assert_eq!(v["http_status"], 401, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--token"), "{v}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("wrong-0000"));

    // No token at all: NO_TOKEN, worded with the CLI's flag.
    let out = common::duoprov_cmd(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .args(["--json", "provision", SEEDED, "--api-url", cloud.base_url()])
        .output()
        .unwrap();
    let v = json_error(&out);
    assert_eq!(v["code"], "NO_TOKEN", "{v}");
    assert!(v["error"].as_str().unwrap().contains("pass --token"), "{v}");
}

#[test]
fn a_reset_whose_write_fails_names_the_backup_of_the_key_it_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "orig"]), "keys save");
    assert_ok(
        &duoprov(dir, &["sim", "fault", "vd", "write-error:1"]),
        "fault",
    );
    let out = on_sim(dir, &["--json", "keys", "reset", "--backup", "old"]);
    let v = json_error(&out);
    assert_eq!(v["code"], "DFU_STATUS", "{v}");
    assert_eq!(v["status"], "errWRITE", "{v}");
    let backup = v["backup"].as_str().unwrap();
    assert!(backup.ends_with("backup_rsa_old.der"), "{v}");
    assert!(
        stderr(&out).contains("backup_rsa_old.der"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dir.join("backup_rsa_old.der")).unwrap(),
        std::fs::read(dir.join("orig.der")).unwrap()
    );
}

#[test]
fn a_failed_load_reports_its_step_status_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "orig"]), "keys save");
    assert_ok(&on_sim(dir, &["keys", "save", "copy"]), "keys save");
    assert_ok(
        &duoprov(dir, &["sim", "fault", "vd", "write-error:1"]),
        "fault",
    );
    let v = json_error(&on_sim(dir, &["--json", "keys", "load", "copy.der"]));
    assert_eq!(v["code"], "DFU_STATUS", "{v}");
    assert_eq!(v["restore"], "unchanged", "{v}");
    assert!(v["step"].as_str().unwrap().contains("writing block"), "{v}");
    assert!(
        v["backup"]
            .as_str()
            .unwrap()
            .ends_with("backup_rsa_copy.der"),
        "{v}"
    );
}

#[test]
fn a_device_of_another_account_is_permission_denied_with_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let other = "tok-other-account-123456";
    let cloud = LocalCloud::start(
        LocalCloudOptions::default()
            .account(Account::new("factory").token(AccessToken::new(TOKEN).unwrap()))
            .account(Account::new("someone-else").token(AccessToken::new(other).unwrap()))
            .device(SeededDevice::new(DeviceId::parse(SEEDED).unwrap()).account("factory")),
    )
    .unwrap();
    let out = common::duoprov_cmd(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .env_remove("PARTICLE_API_URL")
        .args(["--json", "provision", SEEDED, "--api-url", cloud.base_url()])
        .args(["--token", other])
        .output()
        .unwrap();
    let v = json_error(&out);
    assert_eq!(v["code"], "PERMISSION_DENIED", "{v}");
    assert_eq!(v["device_id"], SEEDED, "{v}");
    assert_eq!(v["http_status"], 403, "{v}");
}
