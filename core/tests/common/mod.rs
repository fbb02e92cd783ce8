//! Helpers shared by the CLI integration tests: run the real `duoprov`
//! binary (also against a virtual Duo), read its JSON, find the vendor
//! fixtures, run `openssl`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Run `duoprov ARGS` in `dir`, with no device selector inherited.
pub fn duoprov(dir: &Path, args: &[&str]) -> Output {
    duoprov_cmd(dir).args(args).output().expect("run duoprov")
}

/// A `duoprov` command in `dir`, to add arguments and environment to.
pub fn duoprov_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_duoprov"));
    cmd.current_dir(dir).env_remove("DUOPROV_DEVICE");
    cmd
}

pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing both streams otherwise.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// A Duo vendor file from the shared fixtures (`../shared/fixtures/duo/`
/// beside the checkout), or its embedded copy in `core/assets`.
pub fn fixture(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../shared/fixtures/duo").join(name);
    if shared.exists() {
        shared
    } else {
        manifest.join("assets").join(name)
    }
}

/// Run `openssl ARGS` in `dir`; the cross-checks need it on PATH (CI
/// installs it), so a missing openssl fails the test rather than skipping.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "openssl is needed for this test but could not be run ({e}); install it (CI does)"
            )
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Time factor of the virtual Duos the CLI tests make: a 500 ms DCT write
/// declares 1 ms, so the tests wait almost nothing (and never judge time).
pub const SIM_TIME_FACTOR: &str = "0.001";

/// `duoprov sim create vd --time-factor 0.001 EXTRA…` in `dir`.
pub fn sim_create(dir: &Path, extra: &[&str]) {
    let mut args = vec!["sim", "create", "vd", "--time-factor", SIM_TIME_FACTOR];
    args.extend_from_slice(extra);
    assert_ok(&duoprov(dir, &args), "sim create");
}

/// `duoprov --device sim:vd ARGS` in `dir`.
pub fn on_sim(dir: &Path, args: &[&str]) -> Output {
    duoprov_cmd(dir)
        .args(["--device", "sim:vd"])
        .args(args)
        .output()
        .expect("run duoprov")
}
