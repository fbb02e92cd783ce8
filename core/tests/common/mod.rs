//! Helpers shared by the CLI integration tests: run the real `duoprov`
//! binary, read its JSON, find the vendor fixtures.

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
