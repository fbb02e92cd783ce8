//! The offline `duoprov keys …` commands, run as the real binary in a temp
//! directory: issue 2's acceptance lines and bad-input lines about keys.
//! The OpenSSL cross-checks need `openssl` on PATH (CI installs it); they
//! fail, not skip, without it.

#![cfg(feature = "cli")]

mod common;

use common::{duoprov, fixture, openssl, stderr, stdout_json};
use duo_provisioning::server_key::{parse_server_key, ServerAddress, DEFAULT_SERVER_KEY_BLOCK};

#[test]
fn server_block_for_device_spark_io_is_byte_identical_to_redbears_file() {
    let dir = tempfile::tempdir().unwrap();
    let redbear = std::fs::read(fixture("server_public_key.der")).unwrap();
    assert_eq!(redbear, DEFAULT_SERVER_KEY_BLOCK);
    std::fs::write(dir.path().join("SERVER.der"), &redbear[..294]).unwrap();
    let out = duoprov(
        dir.path(),
        &[
            "keys",
            "server",
            "--output",
            "out.der",
            "--host",
            "device.spark.io",
            "SERVER.der",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("out.der")).unwrap(), redbear);

    // Without a key file or host: the public cloud's block, as RedBear ships it.
    let out = duoprov(dir.path(), &["keys", "server", "--output", "default.der"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("default.der")).unwrap(),
        redbear
    );
}

#[test]
fn ipv4_server_with_port_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(
        dir.path(),
        &[
            "--json",
            "keys",
            "server",
            "--output",
            "local.der",
            "--host",
            "192.168.1.20",
            "--port",
            "5684",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout_json(&out);
    assert_eq!(json["bytes"], 452);
    assert_eq!(json["server_key"]["address"]["value"], "192.168.1.20");
    assert_eq!(json["server_key"]["port"], 5684);

    let block = std::fs::read(dir.path().join("local.der")).unwrap();
    let parsed = parse_server_key(&block).unwrap();
    assert_eq!(
        parsed.address,
        ServerAddress::Ipv4([192, 168, 1, 20].into())
    );
    assert_eq!((parsed.stored_port, parsed.port), (Some(5684), 5684));
    assert_eq!(parsed.key_der, &DEFAULT_SERVER_KEY_BLOCK[..294]);
}

#[test]
fn server_block_without_output_goes_to_the_device_and_fails_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(dir.path(), &["keys", "server", "--host", "example.com"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no device in DFU mode found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_server_hosts_and_ports_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let long_host = format!("{}.example", "a".repeat(70));
    for (args, expect) in [
        (vec!["--port", "0"], "port 0"),
        (vec!["--port", "65535"], "65535"),
        (vec!["--host", "dévice.example"], "not ASCII"),
        (vec!["--host", long_host.as_str()], "at most 64"),
        (vec!["--host", "host:5683"], "--port"),
        (vec!["--host", "300.1.2.3"], "IPv4"),
    ] {
        let mut full = vec!["keys", "server", "--output", "out.der"];
        full.extend(args.iter().copied());
        let out = duoprov(dir.path(), &full);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert!(
            !dir.path().join("out.der").exists(),
            "{args:?} wrote a file"
        );
    }
    // --json reports the failure on stdout too.
    let out = duoprov(
        dir.path(),
        &[
            "--json", "keys", "server", "--output", "out.der", "--port", "0",
        ],
    );
    assert!(!out.status.success());
    assert_eq!(stdout_json(&out)["ok"], false);
}

#[test]
fn reset_request_file_reports_reset_request_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let reset = fixture("reset_device_private_key.bin");
    let out = duoprov(
        dir.path(),
        &["--json", "keys", "inspect", reset.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(stdout_json(&out)["state"], "reset-request");
}

#[test]
fn random_bytes_and_truncated_der_report_corrupt_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Fixed "random" bytes (xorshift), so the test does not depend on luck.
    let mut x: u32 = 0x2545_F491;
    let random: Vec<u8> = (0..612)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(dir.path().join("random.bin"), &random).unwrap();

    let out = duoprov(dir.path(), &["keys", "new", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let der = std::fs::read(dir.path().join("k.der")).unwrap();
    std::fs::write(dir.path().join("truncated.der"), &der[..400]).unwrap();

    for (file, expect) in [("random.bin", "first byte"), ("truncated.der", "truncated")] {
        let out = duoprov(dir.path(), &["--json", "keys", "inspect", file]);
        assert!(!out.status.success(), "{file} should exit non-zero");
        let json = stdout_json(&out);
        assert_eq!(json["state"], "corrupt", "{file}");
        let reason = json["reason"].as_str().unwrap();
        assert!(reason.contains(expect), "{file}: {reason}");
    }
    // Human output names the state too.
    let out = duoprov(dir.path(), &["keys", "inspect", "truncated.der"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("corrupt: truncated DER"));
}

#[test]
fn new_key_files_pass_openssl_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = duoprov(dir.path(), &["--json", "keys", "new", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout_json(&out);
    assert_eq!(json["bits"], 1024);
    assert_eq!(json["fingerprint"].as_str().unwrap().len(), 64);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["k.der", "k.pem"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
    let check = openssl(
        dir.path(),
        &["rsa", "-inform", "DER", "-in", "k.der", "-check", "-noout"],
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("RSA key ok"));
    let text = openssl(
        dir.path(),
        &["rsa", "-inform", "DER", "-in", "k.der", "-text", "-noout"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Private-Key: (1024 bit"), "{text}");
    assert!(text.contains("publicExponent: 65537"), "{text}");

    let pubout = openssl(
        dir.path(),
        &["rsa", "-inform", "DER", "-in", "k.der", "-pubout"],
    );
    assert_eq!(
        pubout.stdout,
        std::fs::read(dir.path().join("k.pub.pem")).unwrap()
    );
    let traditional = openssl(
        dir.path(),
        &["rsa", "-inform", "DER", "-in", "k.der", "-traditional"],
    );
    assert_eq!(
        traditional.stdout,
        std::fs::read(dir.path().join("k.pem")).unwrap()
    );

    // The files describe themselves as a valid key pair.
    let out = duoprov(dir.path(), &["--json", "keys", "inspect", "k.pub.pem"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let public = stdout_json(&out);
    assert_eq!(public["kind"], "public");
    assert_eq!(public["fingerprint"], json["fingerprint"]);
}

#[test]
fn every_new_key_passes_openssl_rsa_check() {
    // The prime search is random: check a handful of keys, not one.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        let name = format!("k{i}");
        let out = duoprov(dir.path(), &["keys", "new", &name]);
        assert!(out.status.success(), "{}", stderr(&out));
        let der = format!("{name}.der");
        let check = openssl(
            dir.path(),
            &["rsa", "-inform", "DER", "-in", &der, "-check", "-noout"],
        );
        assert!(
            String::from_utf8_lossy(&check.stdout).contains("RSA key ok"),
            "{name}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let text = openssl(
            dir.path(),
            &["rsa", "-inform", "DER", "-in", &der, "-text", "-noout"],
        );
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Private-Key: (1024 bit, 2 primes)"), "{text}");
        assert!(text.contains("publicExponent: 65537"), "{text}");
    }
}

#[test]
fn new_key_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    assert!(duoprov(dir.path(), &["keys", "new"]).status.success());
    let before = std::fs::read(dir.path().join("device.der")).unwrap();
    let out = duoprov(dir.path(), &["keys", "new"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("device.der already exists; use --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dir.path().join("device.der")).unwrap(),
        before
    );
    assert!(duoprov(dir.path(), &["keys", "new", "--force"])
        .status
        .success());
    assert_ne!(
        std::fs::read(dir.path().join("device.der")).unwrap(),
        before
    );
}

#[test]
fn openssl_made_keys_are_accepted_as_1024_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p8 = openssl(dir.path(), &["genrsa", "1024"]);
    assert!(String::from_utf8_lossy(&p8.stdout).contains("BEGIN PRIVATE KEY"));
    std::fs::write(dir.path().join("pkcs8.pem"), &p8.stdout).unwrap();
    let p1 = openssl(dir.path(), &["genrsa", "-traditional", "1024"]);
    assert!(String::from_utf8_lossy(&p1.stdout).contains("BEGIN RSA PRIVATE KEY"));
    std::fs::write(dir.path().join("pkcs1.pem"), &p1.stdout).unwrap();
    openssl(
        dir.path(),
        &[
            "rsa",
            "-in",
            "pkcs8.pem",
            "-outform",
            "DER",
            "-out",
            "key.der",
        ],
    );

    for file in ["pkcs8.pem", "pkcs1.pem", "key.der"] {
        let out = duoprov(dir.path(), &["--json", "keys", "inspect", file]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let json = stdout_json(&out);
        assert_eq!(json["state"], "valid", "{file}");
        assert_eq!(json["kind"], "private", "{file}");
        assert_eq!(json["bits"], 1024, "{file}");
    }
}

#[test]
fn ec_keys_are_refused_with_rsa_required() {
    let dir = tempfile::tempdir().unwrap();
    let ec = openssl(dir.path(), &["ecparam", "-genkey", "-name", "prime256v1"]);
    std::fs::write(dir.path().join("ec.pem"), &ec.stdout).unwrap();
    let out = duoprov(dir.path(), &["--json", "keys", "inspect", "ec.pem"]);
    assert!(!out.status.success());
    let json = stdout_json(&out);
    assert_eq!(json["state"], "corrupt");
    assert_eq!(
        json["reason"],
        "EC key given; the device key must be RSA (1024-bit)"
    );

    let out = duoprov(
        dir.path(),
        &["keys", "server", "--output", "out.der", "ec.pem"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("must be RSA"), "{}", stderr(&out));
    assert!(!dir.path().join("out.der").exists());
}
