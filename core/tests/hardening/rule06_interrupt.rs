//! Rule 6: Ctrl-C is never silent. SIGINT during `keys load` once the write
//! has started: the step finishes or is undone, the command says which key
//! the slot holds and names the backup, exits 130, and the slot holds one
//! whole key — the old or the new.

use std::path::Path;
use std::process::{Output, Stdio};

use duo_provisioning::keys::{self, RsaPrivateKey};

use crate::common::{assert_ok, duoprov, duoprov_cmd, on_sim, stderr};

/// A virtual Duo slow enough that its DCT write holds the bus for about a
/// second and a half (time factor 3), with a key made at its first boot.
fn slow_duo_with_a_key(dir: &Path) {
    let create = duoprov(dir, &["sim", "create", "vd", "--time-factor", "3"]);
    assert_ok(&create, "sim create");
    assert_ok(&duoprov(dir, &["sim", "boot", "vd"]), "sim boot");
    assert_ok(&duoprov(dir, &["sim", "dfu", "vd"]), "sim dfu");
}

/// Data blocks the virtual Duo has received, from its state file (written
/// atomically by the process that holds the device, readable meanwhile).
fn blocks_downloaded(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("vd/virtual-duo.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["stats"]["data_blocks_downloaded"].as_u64()
}

fn key(dir: &Path, name: &str) -> RsaPrivateKey {
    keys::load_private_key_file(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Start `keys load new.der`, wait until the device has received the new
/// key's block (the write has started), send SIGINT. `None` if the load
/// ended before the signal could be sent (nothing to judge then).
fn interrupt_a_load(dir: &Path, json: bool) -> Option<Output> {
    let before = blocks_downloaded(dir).expect("state file");
    let mut cmd = duoprov_cmd(dir);
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd
        .args(["--device", "sim:vd", "keys", "load", "new.der"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn duoprov");
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("output");
            assert_ok(&out, "keys load (not interrupted)");
            return None;
        }
        if blocks_downloaded(dir).is_some_and(|n| n > before) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill");
    Some(child.wait_with_output().expect("output"))
}

#[test]
fn rule6_sigint_during_keys_load_names_the_backup_exits_130_and_leaves_a_whole_key() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    slow_duo_with_a_key(dir);
    assert_ok(&on_sim(dir, &["keys", "save", "old"]), "keys save");
    assert_ok(&duoprov(dir, &["keys", "new", "new"]), "keys new");
    let (old, new) = (key(dir, "old.der"), key(dir, "new.der"));

    for json in [false, true] {
        // A load that finished before the signal proves nothing: put the
        // old key back and try again (the machine may be slow).
        let out = (0..3).find_map(|_| {
            let out = interrupt_a_load(dir, json);
            if out.is_none() {
                assert_ok(&on_sim(dir, &["keys", "load", "old.der"]), "restore");
            }
            out
        });
        let out = out.expect("the load was never still running when the write started");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(130), "json {json}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        let backup = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("backup_rsa_new"))
            .max_by_key(|n| n.len())
            .expect("a backup");
        assert!(err.contains(&backup), "names {backup}: {err}");
        assert_eq!(key(dir, &backup), old, "the backup is the old key");
        let slot_fact = if json {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["code"], "CANCELLED", "{v}");
            assert!(v["backup"].as_str().unwrap().ends_with(&backup), "{v}");
            Some(v["slot"].as_str().unwrap().to_string())
        } else {
            None
        };

        // The slot holds one whole key, the one the message says.
        let save = on_sim(dir, &["keys", "save", "after", "--force"]);
        assert_ok(&save, "keys save after the interrupt");
        let held = key(dir, "after.der");
        assert!(held == old || held == new, "the slot holds neither key");
        let said_new = err.contains("holds the new key");
        assert_eq!(held == new, said_new, "{err}");
        if let Some(slot) = slot_fact {
            assert_eq!(slot, if held == new { "new" } else { "old" });
        }
        // Back to the old key for the next round.
        if held == new {
            assert_ok(&on_sim(dir, &["keys", "load", "old.der"]), "restore");
        }
    }
}
