//! Rule 7: every numeric option and name is checked. Rule 13: misread
//! inputs are refused, not guessed; a key set appears whole or not at all;
//! no board is an empty list.

use crate::common::{duoprov, fixture, stderr, stdout};
use crate::recorded::{Canned, Recorded, SUCCESS};

#[test]
fn rule7_a_huge_time_factor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["1e308", "1001", "NaN", "inf"] {
        let out = duoprov(dir.path(), &["sim", "create", "vd", "--time-factor", f]);
        assert_eq!(out.status.code(), Some(1), "{f}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("from 0 to 1000"),
            "{f}: {}",
            stderr(&out)
        );
        assert!(!dir.path().join("vd").exists(), "{f}");
    }
    let out = duoprov(
        dir.path(),
        &["sim", "create", "vd", "--time-factor", "0.001"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rule7_key_names_that_name_a_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["/", ".", "..", "sub/", "sub/."] {
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        let out = duoprov(dir.path(), &["keys", "new", name]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("is not a key name"),
            "{name}: {}",
            stderr(&out)
        );
    }
    assert!(!dir.path().join("..der").exists());
    assert!(!dir.path().join("sub/.der").exists());
    assert!(!std::path::Path::new("/.der").exists());
}

#[test]
fn rule7_a_concurrency_the_open_file_limit_cannot_carry_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let ids: String = (0..200).map(|i| format!("{i:024x}\n")).collect();
    std::fs::write(dir.path().join("many.txt"), ids).unwrap();
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    let script = format!(
        "ulimit -n 64 && exec \"$0\" provision --batch many.txt --concurrency 1024 \
         --api-url {} --token tok",
        server.url
    );
    let out = std::process::Command::new("sh")
        .current_dir(dir.path())
        .env_remove("DUOPROV_DEVICE")
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .env_remove("PARTICLE_API_URL")
        .env("HOME", dir.path())
        .args(["-c", &script, env!("CARGO_BIN_EXE_duoprov")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("open-file limit is 64"), "{err}");
    assert!(server.received().is_empty(), "requests were sent");
}

#[test]
fn rule13_a_single_dct_partition_is_not_read_as_an_alt_1_dump() {
    let dir = tempfile::tempdir().unwrap();
    let image = std::fs::read(fixture("fac-dct-r1.bin")).unwrap();
    std::fs::write(dir.path().join("part.bin"), &image[..16384]).unwrap();
    let out = duoprov(dir.path(), &["dct", "show", "--file", "part.bin"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("one DCT partition"),
        "{}",
        stderr(&out)
    );
    // The whole region and the alt-1 view still read.
    std::fs::write(dir.path().join("region.bin"), &image).unwrap();
    let out = duoprov(dir.path(), &["dct", "show", "--file", "region.bin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(dir.path().join("app.bin"), &image[0x1D7C..0x1D7C + 4290]).unwrap();
    let out = duoprov(dir.path(), &["dct", "show", "--file", "app.bin"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rule13_keys_new_force_that_fails_leaves_the_old_set_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(dir.path(), &["keys", "new", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let der = std::fs::read(dir.path().join("k.der")).unwrap();
    let pem = std::fs::read(dir.path().join("k.pem")).unwrap();
    // The third file of the set cannot be written.
    std::fs::remove_file(dir.path().join("k.pub.pem")).unwrap();
    std::fs::create_dir(dir.path().join("k.pub.pem")).unwrap();
    let out = duoprov(dir.path(), &["keys", "new", "k", "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(std::fs::read(dir.path().join("k.der")).unwrap(), der);
    assert_eq!(std::fs::read(dir.path().join("k.pem")).unwrap(), pem);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn rule13_list_with_no_board_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(dir.path(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no device in DFU mode found"),
        "{}",
        stderr(&out)
    );
    let out = duoprov(dir.path(), &["--json", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

/// Every numeric option of every command refuses what it cannot mean, up
/// front, with exit 1 or 2 and a message naming the value (never a run
/// that waits for hours or a file that holds nothing).
#[test]
fn rule7_numeric_options_are_checked_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    crate::common::sim_create(p, &[]);
    std::fs::write(p.join("empty.bin"), b"").unwrap();
    let id = "2fff27fffc473530fff23637";
    let url = "http://127.0.0.1:9/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["demo", "--time-factor", "1e308"], "from 0 to 1000"),
        (vec!["demo", "--time-factor", "NaN"], "from 0 to 1000"),
        (vec!["sim", "boot", "vd", "--stay", "1e308"], "--stay"),
        (vec!["sim", "boot", "vd", "--stay", "NaN"], "--stay"),
        (
            vec![
                "provision",
                id,
                "--api-url",
                url,
                "--token",
                "tok",
                "--timeout",
                "0",
            ],
            "--timeout",
        ),
        (
            vec![
                "provision",
                id,
                "--api-url",
                url,
                "--token",
                "tok",
                "--timeout",
                "1e308",
            ],
            "--timeout",
        ),
        (
            vec![
                "provision",
                id,
                "--api-url",
                url,
                "--token",
                "tok",
                "--retries",
                "4000000000",
            ],
            "0..=20",
        ),
        (
            vec!["provision", "--batch", "x", "--concurrency", "0"],
            "1..=1024",
        ),
        (
            vec!["provision", "--batch", "x", "--concurrency", "1025"],
            "1..=1024",
        ),
        (vec!["mode", "dfu", "--timeout", "0"], "1..=600"),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "34", "--len", "0", "-o", "z",
            ],
            "the length is 0",
        ),
        (
            vec![
                "dfu",
                "read",
                "--alt",
                "1",
                "--addr",
                "0x100000000",
                "--len",
                "4",
                "-o",
                "z",
            ],
            "32-bit",
        ),
        (
            vec![
                "dfu", "read", "--alt", "1", "--addr", "16000", "--len", "4000", "-o", "z",
            ],
            "outside its memory map",
        ),
        (
            vec![
                "dfu",
                "read",
                "--alt",
                "0",
                "--addr",
                "0x08000000",
                "--len",
                "0xffffffff",
                "-o",
                "z",
            ],
            "outside its memory map",
        ),
        (
            vec![
                "dfu", "read", "--alt", "9", "--addr", "0", "--len", "4", "-o", "z",
            ],
            "does not exist",
        ),
        (
            vec!["dfu", "write", "--alt", "1", "--addr", "34", "empty.bin"],
            "nothing to write",
        ),
        (
            vec!["keys", "server", "--port", "0", "--output", "s"],
            "port 0",
        ),
        (
            vec!["keys", "server", "--port", "65535", "--output", "s"],
            "port 65535",
        ),
        (
            vec!["keys", "server", "--port", "65536", "--output", "s"],
            "65536",
        ),
        (
            vec![
                "cloud",
                "serve",
                "--token",
                "t",
                "--addr",
                "127.0.0.1:99999",
            ],
            "99999",
        ),
        (vec!["sim", "fault", "vd", "stall:0"], "1-based"),
        (
            vec!["sim", "create", "vd2", "--time-factor=-0.5"],
            "from 0 to 1000",
        ),
    ];
    for (args, says) in &cases {
        let out = crate::common::duoprov_cmd(p)
            .env("HOME", p)
            .args(["--device", "sim:vd"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(1) | Some(2)),
            "{args:?} was accepted: {}",
            stdout(&out)
        );
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    for f in ["z", "s", "vd2"] {
        assert!(!p.join(f).exists(), "{f} was written");
    }
}

#[test]
fn rule7_a_backup_name_that_names_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    crate::common::sim_create(p, &[]);
    let out = duoprov(p, &["keys", "new", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = crate::common::on_sim(p, &["keys", "load", "k.der"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slot = crate::common::on_sim(p, &["keys", "address"]);
    assert!(slot.status.success());
    for name in ["/", ".", "sub/"] {
        let out = crate::common::on_sim(p, &["keys", "reset", "--no-leave", "--backup", name]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("is not a key name"),
            "{name}: {}",
            stderr(&out)
        );
    }
    assert!(!p.join("backup_rsa_.der").exists());
    // The key is still in the slot: nothing was written.
    let out = crate::common::on_sim(p, &["keys", "save", "again"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(p.join("again.der")).unwrap(),
        std::fs::read(p.join("k.der")).unwrap()
    );
}

#[test]
fn rule13_demo_refuses_a_work_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("keep");
    std::fs::create_dir(&keep).unwrap();
    std::fs::write(keep.join("duo-key.der"), b"mine").unwrap();
    let out = duoprov(dir.path(), &["--json", "demo", "--keep", "keep"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false, "{doc}");
    let names: Vec<_> = std::fs::read_dir(&keep).unwrap().collect();
    assert_eq!(names.len(), 1, "the demo wrote into keep/");
    assert_eq!(std::fs::read(keep.join("duo-key.der")).unwrap(), b"mine");
}
