//! Rule 4: no success for a key the device or the cloud cannot use. Device
//! keys are RSA-1024 with e = 65537 and server keys RSA-2048 public keys
//! (REFERENCE §2–§3, §5): the firmware parses them at fixed offsets and
//! misreads anything else, so everything else is refused.

use std::path::{Path, PathBuf};

use crate::common::{duoprov, on_sim, openssl, sim_create, stderr, stdout};
use crate::recorded::{Canned, Recorded, SUCCESS};

fn rsa4096() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/keys/testdata/rsa4096.pem")
}

/// `openssl genrsa` of `bits` as PKCS#1 DER in `dir`.
fn genrsa(dir: &Path, bits: u32, exponent3: bool) -> PathBuf {
    let pem = format!("k{bits}{}.pem", if exponent3 { "e3" } else { "" });
    let mut args = vec!["genrsa", "-traditional", "-out", &pem];
    if exponent3 {
        args.push("-3");
    }
    let bits_text = bits.to_string();
    args.push(&bits_text);
    openssl(dir, &args);
    let der = pem.replace(".pem", ".der");
    openssl(
        dir,
        &[
            "rsa",
            "-traditional",
            "-in",
            &pem,
            "-outform",
            "DER",
            "-out",
            &der,
        ],
    );
    dir.join(der)
}

#[test]
fn rule4_keys_load_refuses_an_rsa_2048_key_and_leaves_the_slot_alone() {
    let dir = tempfile::tempdir().unwrap();
    sim_create(dir.path(), &[]);
    assert!(on_sim(dir.path(), &["sim", "boot", "vd"]).status.success());
    assert!(on_sim(dir.path(), &["sim", "dfu", "vd"]).status.success());
    let before = on_sim(dir.path(), &["keys", "save", "before"]);
    assert!(before.status.success(), "{}", stderr(&before));
    let big = genrsa(dir.path(), 2048, false);
    let out = on_sim(dir.path(), &["keys", "load", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("must be RSA-1024"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("verified"), "{}", stdout(&out));
    let after = on_sim(dir.path(), &["keys", "save", "after"]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(
        std::fs::read(dir.path().join("before.der")).unwrap(),
        std::fs::read(dir.path().join("after.der")).unwrap()
    );
}

#[test]
fn rule4_keys_inspect_fails_on_keys_the_firmware_would_misread() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        genrsa(dir.path(), 2048, false),
        genrsa(dir.path(), 1024, true),
        rsa4096(),
    ] {
        let out = duoprov(dir.path(), &["keys", "inspect", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{file:?}: {}", stdout(&out));
    }
    let good = genrsa(dir.path(), 1024, false);
    let out = duoprov(dir.path(), &["keys", "inspect", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rule4_provision_refuses_512_2048_and_4096_bit_keys_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    for file in [
        genrsa(dir.path(), 512, false),
        genrsa(dir.path(), 2048, false),
        rsa4096(),
    ] {
        let out = crate::serve::provision(
            &server.url,
            "2fff27fffc473530fff23637",
            "tok",
            false,
            &[file.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{file:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("must be RSA-1024"),
            "{}",
            stderr(&out)
        );
        assert!(!stdout(&out).contains("Success"));
    }
    assert!(server.received().is_empty(), "a request was sent");
}

#[test]
fn rule4_keys_server_refuses_a_device_private_key_and_non_2048_keys() {
    let dir = tempfile::tempdir().unwrap();
    let device = genrsa(dir.path(), 1024, false);
    let out = duoprov(
        dir.path(),
        &[
            "keys",
            "server",
            "-o",
            "block.der",
            device.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
    assert!(!dir.path().join("block.der").exists());

    openssl(
        dir.path(),
        &[
            "rsa",
            "-in",
            "k1024.pem",
            "-pubout",
            "-out",
            "k1024.pub.pem",
        ],
    );
    let out = duoprov(
        dir.path(),
        &["keys", "server", "-o", "block.der", "k1024.pub.pem"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("RSA-2048"), "{}", stderr(&out));
    assert!(!dir.path().join("block.der").exists());

    genrsa(dir.path(), 2048, false);
    openssl(
        dir.path(),
        &[
            "rsa",
            "-in",
            "k2048.pem",
            "-pubout",
            "-out",
            "server.pub.pem",
        ],
    );
    let out = duoprov(
        dir.path(),
        &["keys", "server", "-o", "block.der", "server.pub.pem"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}
