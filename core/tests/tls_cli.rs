//! HTTPS for the local cloud: `provision` over TLS with the cloud's CA
//! (`--ca-cert` or `DUOPROV_CA_CERT`) succeeds; without it, or with another
//! CA, it fails with the `tls` error kind and says the certificate was not
//! trusted — and nothing reaches the cloud, over HTTPS or plain HTTP.

#![cfg(feature = "cli")]

mod common;

use std::path::Path;

use common::{assert_ok, duoprov_cmd, stderr, stdout_json};
use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::sim::cloud::{LocalCloud, LocalCloudOptions, RunningCloud, CA_CERT_FILE};

const ID: &str = "2fff27fffc473530fff23637";
const TOKEN: &str = "tls-test-token-77aa";

fn tls_cloud(state: &Path) -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: vec![DeviceId::parse(ID).unwrap()],
        state_dir: Some(state.to_path_buf()),
        tls: true,
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn provision(dir: &Path, cloud: &RunningCloud, extra: &[&str]) -> std::process::Output {
    duoprov_cmd(dir)
        .env("HOME", dir)
        .env_remove("DUOPROV_CA_CERT")
        .args([
            "provision",
            ID,
            "--json",
            "--token",
            TOKEN,
            "--api-url",
            cloud.base_url(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn provision_over_https_needs_the_clouds_ca_and_never_falls_back_to_http() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cloud = tls_cloud(&d.join("state"));
    assert!(
        cloud.base_url().starts_with("https://127.0.0.1:"),
        "{}",
        cloud.base_url()
    );
    let ca = cloud.ca_cert_path().unwrap().to_path_buf();
    assert_eq!(ca, d.join("state").join(CA_CERT_FILE));

    // Without the CA: a TLS error, not trusted, nothing sent.
    let out = provision(d, &cloud, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json = stdout_json(&out);
    assert_eq!(json["error_kind"], "tls", "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("was not trusted"),
        "{json}"
    );
    assert!(stderr(&out).contains("was not trusted"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(TOKEN));

    // Another cloud's CA does not vouch for this one.
    let other = tls_cloud(&d.join("other"));
    let other_ca = other.ca_cert_path().unwrap().to_path_buf();
    let out = provision(d, &cloud, &["--ca-cert", other_ca.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["error_kind"], "tls");
    assert_eq!(cloud.stats().requests, 0, "nothing reached the cloud");
    assert!(cloud.records().is_empty());

    // With its CA (flag, then environment): provisioned.
    let out = provision(d, &cloud, &["--ca-cert", ca.to_str().unwrap()]);
    assert_ok(&out, "provision with --ca-cert");
    assert_eq!(stdout_json(&out)["ok"], true);
    let out = duoprov_cmd(d)
        .env("HOME", d)
        .env("DUOPROV_CA_CERT", &ca)
        .args([
            "provision",
            ID,
            "--token",
            TOKEN,
            "--api-url",
            cloud.base_url(),
        ])
        .output()
        .unwrap();
    assert_ok(&out, "provision with DUOPROV_CA_CERT");
    assert_eq!(cloud.records().len(), 2);

    // The same server does not answer plain HTTP.
    let plain = cloud.base_url().replacen("https://", "http://", 1);
    let out = duoprov_cmd(d)
        .env("HOME", d)
        .args([
            "provision",
            ID,
            "--json",
            "--retries",
            "0",
            "--token",
            TOKEN,
        ])
        .args(["--api-url", &plain])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(cloud.records().len(), 2);
}

#[test]
fn cloud_serve_tls_names_its_ca_certificate_on_stdout() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = duoprov_cmd(dir.path())
        .args(["cloud", "serve", "--tls", "--state", "st", "--token", TOKEN])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let device = lines.next().unwrap().unwrap();
    let ca = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(device.starts_with("127.0.0.1:"), "{device}");
    assert!(ca.ends_with("st/ca.pem"), "{ca}");
    let pem = std::fs::read_to_string(dir.path().join("st/ca.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
}
