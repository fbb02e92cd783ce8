//! Rule 1: no existing file is overwritten, and no symlink followed, by a
//! write the user did not force. Rule 2: anything that can hold key
//! material is written 0600.

use std::os::unix::fs::PermissionsExt;

use crate::common::{on_sim, sim_create, stderr, stdout};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn rule1_rule2_dfu_read_refuses_existing_files_and_links_and_writes_0600() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    let p = dir.path();
    for f in ["internal_flash.bin", "serial_flash.bin"] {
        if p.join("vd").join(f).exists() {
            assert_eq!(mode(&p.join("vd").join(f)), 0o600, "{f}");
        }
    }
    let read = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "dfu", "read", "--alt", "1", "--addr", "34", "--len", "612", "-o", out,
        ];
        args.extend_from_slice(extra);
        on_sim(p, &args)
    };
    let out = read("slot.bin", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&p.join("slot.bin")), 0o600);

    std::fs::write(p.join("mybackup.der"), b"precious").unwrap();
    let out = read("mybackup.der", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(p.join("mybackup.der")).unwrap(), b"precious");

    std::os::unix::fs::symlink(p.join("mybackup.der"), p.join("link.der")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let out = read("link.der", extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stdout(&out));
        assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(p.join("mybackup.der")).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(p.join("link.der"))
        .unwrap()
        .file_type()
        .is_symlink());

    let out = read("mybackup.der", &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(p.join("mybackup.der")).unwrap().len(), 612);
    assert_eq!(mode(&p.join("mybackup.der")), 0o600);
}

#[test]
fn rule1_dct_set_never_replaces_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let image = std::fs::read(crate::common::fixture("fac-dct-r1.bin")).unwrap();
    std::fs::write(p.join("real.bin"), &image).unwrap();
    std::os::unix::fs::symlink(p.join("real.bin"), p.join("link.bin")).unwrap();
    let out = crate::common::duoprov(p, &["dct", "set", "claimed", "1", "--file", "link.bin"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(p.join("link.bin"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(p.join("real.bin")).unwrap(), image);
}
