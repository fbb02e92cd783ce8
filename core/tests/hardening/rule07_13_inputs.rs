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
