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

/// Every output path the user names: an existing file is refused unless
/// --force, a symbolic link always (its target untouched), and nothing is
/// left under a temporary name.
#[test]
fn rule1_every_output_path_refuses_existing_files_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("precious"), b"precious").unwrap();
    let ids = "2fff27fffc473530fff23637\n";
    std::fs::write(p.join("ids.txt"), ids).unwrap();
    let server = crate::recorded::Recorded::start(vec![
        crate::recorded::Canned::json(
            "200 OK",
            crate::recorded::SUCCESS
        );
        4
    ]);
    let batch = |out: &str, extra: &[&str]| {
        let mut args = vec!["provision", "--batch", "ids.txt", "--api-url", &server.url];
        args.extend_from_slice(&["--token", "tok", "--report", out]);
        args.extend_from_slice(extra);
        crate::serve::cmd(p).args(&args).output().unwrap()
    };
    let server_key = |out: &str, extra: &[&str]| {
        let mut args = vec!["keys", "server", "--output", out];
        args.extend_from_slice(extra);
        crate::common::duoprov(p, &args)
    };
    type Writer<'a> = Box<dyn Fn(&str, &[&str]) -> std::process::Output + 'a>;
    let writers: Vec<(&str, Writer)> = vec![
        ("provision --report", Box::new(batch)),
        ("keys server --output", Box::new(server_key)),
    ];
    for (what, write) in &writers {
        let _ = std::fs::remove_file(p.join("out"));
        let out = write("out", &[]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        let first = std::fs::read(p.join("out")).unwrap();
        assert!(!first.is_empty(), "{what}");
        // Existing: refused, untouched.
        std::fs::write(p.join("out"), b"mine").unwrap();
        let out = write("out", &[]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("already exists"),
            "{what}: {}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(p.join("out")).unwrap(), b"mine", "{what}");
        // A link: refused with or without --force, its target untouched.
        let _ = std::fs::remove_file(p.join("link"));
        std::os::unix::fs::symlink(p.join("precious"), p.join("link")).unwrap();
        for extra in [&[][..], &["--force"][..]] {
            let out = write("link", extra);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what} {extra:?}: {}",
                stdout(&out)
            );
            assert!(
                stderr(&out).contains("symbolic link"),
                "{what}: {}",
                stderr(&out)
            );
        }
        assert_eq!(std::fs::read(p.join("precious")).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(p.join("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        // --force replaces a regular file.
        let out = write("out", &["--force"]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert_ne!(std::fs::read(p.join("out")).unwrap(), b"mine", "{what}");
        let temps: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(temps.is_empty(), "{what}: {temps:?}");
    }
}

#[test]
fn rule1_cloud_serve_never_replaces_a_server_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("block.der"), b"mine").unwrap();
    let out = crate::serve::cmd(p)
        .args([
            "cloud",
            "serve",
            "--token",
            "t",
            "--server-key-out",
            "block.der",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(p.join("block.der")).unwrap(), b"mine");
    let served = crate::serve::Served::start(
        p,
        &["--token", "t", "--server-key-out", "block.der", "--force"],
    );
    drop(served);
    let block = std::fs::read(p.join("block.der")).unwrap();
    assert!(
        block.len() > 400 && block != b"mine",
        "{} bytes",
        block.len()
    );
}

#[test]
fn rule1_rule2_dct_set_keeps_every_backup_0600() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let image = std::fs::read(crate::common::fixture("fac-dct-r1.bin")).unwrap();
    std::fs::write(p.join("dct.bin"), &image).unwrap();
    for value in ["1", "0"] {
        let out = crate::common::duoprov(p, &["dct", "set", "claimed", value, "--file", "dct.bin"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // The first backup is the original, the second the first edit.
    assert_eq!(std::fs::read(p.join("dct.bin.bak")).unwrap(), image);
    assert_ne!(std::fs::read(p.join("dct.bin.1.bak")).unwrap(), image);
    for f in ["dct.bin", "dct.bin.bak", "dct.bin.1.bak"] {
        assert_eq!(mode(&p.join(f)), 0o600, "{f}");
    }
}

#[test]
fn rule2_dumps_of_alt_0_and_the_whole_dct_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    for (alt, addr, len) in [("0", "0x08000000", "65536"), ("1", "0", "16384")] {
        let out = on_sim(
            dir.path(),
            &[
                "dfu", "read", "--alt", alt, "--addr", addr, "--len", len, "-o", alt,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(mode(&dir.path().join(alt)), 0o600, "alt {alt}");
    }
}

/// The virtual Duo's and the local cloud's own state files are replaced
/// through fresh temporary names: a link planted at the old fixed
/// temporary name (`virtual-duo.json.tmp`) is never written through.
#[test]
fn rule1_state_files_never_write_through_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sim_create(p, &[]);
    std::fs::write(p.join("victim"), b"victim").unwrap();
    std::os::unix::fs::symlink(p.join("victim"), p.join("vd/virtual-duo.json.tmp")).unwrap();
    let out = on_sim(p, &["sim", "boot", "vd"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(p.join("victim")).unwrap(), b"victim");
    let state = std::fs::read_to_string(p.join("vd/virtual-duo.json")).unwrap();
    assert!(state.contains("firmware"), "{state}");

    let state_dir = p.join("state");
    std::fs::create_dir(&state_dir).unwrap();
    std::os::unix::fs::symlink(p.join("victim"), state_dir.join("devices.json.tmp")).unwrap();
    let served = crate::serve::Served::start(
        p,
        &[
            "--token",
            "t",
            "--seed",
            "2fff27fffc473530fff23637",
            "--state",
            "state",
        ],
    );
    drop(served);
    assert_eq!(std::fs::read(p.join("victim")).unwrap(), b"victim");
    assert!(std::fs::read_to_string(state_dir.join("devices.json"))
        .unwrap()
        .contains("2fff27fffc473530fff23637"));
}
