//! `duoprov provision` and `duoprov cloud serve`, run as the real binary
//! against a local cloud on loopback: issue 4's acceptance lines. Every run
//! gets an empty temporary HOME and no PARTICLE_* variables, so nothing here
//! reads the developer's particle-cli login or reaches past 127.0.0.1.

#![cfg(feature = "cli")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use common::{assert_ok, duoprov_cmd, stderr, stdout};
use duo_provisioning::cloud::{AccessToken, DeviceId};
use duo_provisioning::keys::{self, GENERIC_PUBLIC_KEY_PEM};
use duo_provisioning::sim::cloud::{Fault, LocalCloud, LocalCloudOptions, RunningCloud};
use serde_json::Value;

const TOKEN: &str = "tok-5f3c9a1e7b2d4c60";
const SEEDED: &str = "2fff27fffc473530fff23637";
const UNSEEDED: &str = "0123456789abcdef01234567";

/// A `duoprov` command with a clean environment: HOME is `home`, no
/// PARTICLE_* variables.
fn cmd(home: &Path) -> Command {
    let mut c = duoprov_cmd(home);
    c.env("HOME", home)
        .env_remove("PARTICLE_ACCESS_TOKEN")
        .env_remove("PARTICLE_API_URL")
        .stdin(Stdio::null());
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    cmd(home).args(args).output().expect("run duoprov")
}

/// `duoprov provision ARGS --api-url URL` plus the token unless given.
fn provision(home: &Path, cloud: &str, args: &[&str]) -> Output {
    let mut all = vec!["provision"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--api-url", cloud]);
    if !args.contains(&"--token") {
        all.extend_from_slice(&["--token", TOKEN]);
    }
    run(home, &all)
}

fn both(out: &Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

fn in_process_cloud(devices: &[&str]) -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: devices
            .iter()
            .map(|d| DeviceId::parse(d).unwrap())
            .collect(),
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn id(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

fn same_key(a: &str, b: &str) -> bool {
    keys::parse_public_key(a.as_bytes()).unwrap() == keys::parse_public_key(b.as_bytes()).unwrap()
}

/// `duoprov cloud serve` as a child process; killed if a test fails.
struct Served {
    child: Option<Child>,
    url: String,
}

impl Served {
    fn start(home: &Path, args: &[&str]) -> Served {
        let mut child = cmd(home)
            .args(["cloud", "serve"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duoprov cloud serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "first line: {first:?}"
        );
        Served {
            child: Some(child),
            url,
        }
    }

    /// Admin `GET path` on the served cloud.
    fn admin_get(&self, path: &str) -> (u16, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// SIGTERM, then the exit status and what it printed on stderr.
    fn terminate(mut self) -> (bool, String) {
        let child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn against_cloud_serve_a_seeded_device_provisions_and_the_cloud_holds_the_key() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (with_der, with_pub) = ("aaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbb");
    let served = Served::start(
        h,
        &[
            "--token", TOKEN, "--seed", SEEDED, "--seed", with_der, "--seed", with_pub,
        ],
    );

    // The generic key by default.
    let out = provision(h, &served.url, &[SEEDED]);
    assert_ok(&out, "provision with the generic key");
    assert!(
        stdout(&out).starts_with(&format!(
            "Success - device {SEEDED} provisioned (1 attempt, key "
        )),
        "{}",
        both(&out)
    );
    let (status, held) = served.admin_get(&format!("/admin/devices/{SEEDED}/key"));
    assert_eq!(status, 200);
    assert!(same_key(&held, GENERIC_PUBLIC_KEY_PEM), "{held}");

    // A private key file: the cloud gets its public half.
    let private = keys::generate().unwrap();
    let files = keys::write_key_files(&h.join("k"), &private, false).unwrap();
    let der = files.der.to_str().unwrap();
    assert_ok(
        &provision(h, &served.url, &[with_der, der]),
        "provision with k.der",
    );
    let (_, held) = served.admin_get(&format!("/admin/devices/{with_der}/key"));
    assert_eq!(
        keys::parse_public_key(held.as_bytes()).unwrap(),
        private.to_public_key()
    );

    // A public key file.
    let public = files.public_pem.to_str().unwrap();
    assert_ok(
        &provision(h, &served.url, &[with_pub, public]),
        "provision with k.pub.pem",
    );
    let (_, held) = served.admin_get(&format!("/admin/devices/{with_pub}/key"));
    assert_eq!(
        keys::parse_public_key(held.as_bytes()).unwrap(),
        private.to_public_key()
    );

    let (_, records) = served.admin_get("/admin/records");
    let records: Value = serde_json::from_str(&records).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 3);
    assert_eq!(records[0]["product_id"], 88);

    let (clean_exit, err) = served.terminate();
    assert!(clean_exit, "cloud serve exits 0 on SIGTERM: {err}");
    assert!(!err.contains(TOKEN), "{err}");
}

#[test]
fn an_unseeded_device_fails_and_the_message_explains_initial_provisioning() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    let out = provision(home.path(), cloud.base_url(), &[UNSEEDED]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("initial provisioning"),
        "{}",
        both(&out)
    );
    assert!(!both(&out).contains("Success"), "{}", both(&out));
    assert!(cloud.records().is_empty());
}

#[test]
fn a_wrong_token_fails_naming_the_access_token_and_never_printing_it() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = in_process_cloud(&[SEEDED]);
    let wrong = "wrong-7d41e09bc2a8f365";

    let mut outputs = vec![
        provision(h, cloud.base_url(), &[SEEDED, "--token", wrong]),
        provision(h, cloud.base_url(), &[SEEDED, "--token", wrong, "--json"]),
        cmd(h)
            .args(["provision", SEEDED, "--api-url", cloud.base_url()])
            .env("PARTICLE_ACCESS_TOKEN", wrong)
            .output()
            .unwrap(),
    ];
    for out in &outputs {
        assert!(!out.status.success(), "{}", both(out));
        assert!(both(out).contains("access token"), "{}", both(out));
    }
    let json: Value = serde_json::from_slice(&outputs[1].stdout).unwrap();
    assert_eq!(json["error_kind"], "invalid_token");

    // A successful run does not print the (right) token either.
    outputs.push(provision(h, cloud.base_url(), &[SEEDED, "--json"]));
    assert_ok(outputs.last().unwrap(), "provision with the right token");
    for out in &outputs {
        let text = both(out);
        assert!(!text.contains(wrong), "wrong token printed: {text}");
        assert!(!text.contains(TOKEN), "token printed: {text}");
    }
}

#[test]
fn a_malformed_device_id_is_refused_before_any_request() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    for bad in [
        "2fff27fffc473530fff2363",
        "2fff27fffc473530fff2363z",
        "not-an-id",
    ] {
        let out = provision(home.path(), cloud.base_url(), &[bad]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("24 hexadecimal digits"),
            "{}",
            both(&out)
        );
    }
    assert_eq!(cloud.stats().requests, 0);
}

#[test]
fn a_500_with_an_html_body_fails_without_any_success_text() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    cloud.set_fault(Fault::html_status(500));
    let out = provision(home.path(), cloud.base_url(), &[SEEDED]);
    assert!(!out.status.success());
    let text = both(&out);
    assert!(!text.to_lowercase().contains("success"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(cloud.records().is_empty());
}

/// End to end with real waiting: two `Retry-After: 1` replies cost ~2 s.
#[test]
fn rate_limited_twice_with_retry_after_then_accepted_reports_three_attempts() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    cloud.set_fault(Fault::Sequence {
        steps: vec![Fault::too_many_requests(1), Fault::too_many_requests(1)],
    });
    let out = provision(home.path(), cloud.base_url(), &[SEEDED]);
    assert_ok(&out, "provision through two 429s");
    assert!(
        stdout(&out).contains(&format!("device {SEEDED} provisioned (3 attempts, key ")),
        "{}",
        both(&out)
    );
    assert_eq!(cloud.stats().requests, 3);
    assert_eq!(cloud.records_for(&id(SEEDED)).len(), 1);
}

/// About a timeout, so real time: `--timeout 1` against a 3 s delay. The
/// assertion is on the error's kind; the elapsed time is printed.
#[test]
fn a_reply_slower_than_the_timeout_fails_as_a_timeout() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    cloud.set_fault(Fault::Delay { ms: 3_000 });
    let started = Instant::now();
    let out = provision(
        home.path(),
        cloud.base_url(),
        &[SEEDED, "--timeout", "1", "--json"],
    );
    let elapsed = started.elapsed();
    println!("provision with --timeout 1 against a 3 s delay exited after {elapsed:?}");
    assert!(!out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error_kind"], "timeout", "{}", both(&out));
    assert_eq!(json["attempts"], 1);
    assert!(stderr(&out).contains("timed out"), "{}", both(&out));
}

#[test]
fn an_out_of_range_timeout_is_refused_cleanly_before_any_request() {
    let home = tempfile::tempdir().unwrap();
    let cloud = in_process_cloud(&[SEEDED]);
    for timeout in ["1e300", "1e-12", "NaN", "0"] {
        let out = provision(
            home.path(),
            cloud.base_url(),
            &[SEEDED, "--timeout", timeout, "--json"],
        );
        assert_eq!(out.status.code(), Some(1), "{timeout}: {}", both(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", both(&out));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["ok"], false);
        assert!(
            json["error"].as_str().unwrap().contains("--timeout"),
            "{json}"
        );
    }
    assert_eq!(cloud.stats().requests, 0);
}

#[test]
fn cloud_serve_with_json_announces_its_url_as_json() {
    let home = tempfile::tempdir().unwrap();
    let mut child = cmd(home.path())
        .args(["cloud", "serve", "--json", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn duoprov cloud serve --json");
    let mut first = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    let json: Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("first line is not JSON ({e}): {first:?}"));
    assert_eq!(json["ok"], true);
    assert!(
        json["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{json}"
    );
}

#[test]
fn token_and_url_come_from_a_particle_cli_config_in_home() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = in_process_cloud(&[SEEDED]);
    let dir = h.join(".particle");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("profile.json"), r#"{"name":"factory"}"#).unwrap();
    std::fs::write(
        dir.join("factory.config.json"),
        serde_json::json!({"access_token": TOKEN, "username": "line3@example.com", "apiUrl": cloud.base_url()})
            .to_string(),
    )
    .unwrap();
    let out = run(h, &["provision", SEEDED]);
    assert_ok(&out, "provision from particle-cli config");
    let err = stderr(&out);
    assert!(err.contains("particle-cli config"), "{err}");
    assert!(err.contains("factory.config.json"), "{err}");
    assert!(!both(&out).contains(TOKEN));
    assert_eq!(cloud.records_for(&id(SEEDED)).len(), 1);
}

#[test]
fn a_batch_of_1000_at_concurrency_32_records_each_device_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ids: Vec<String> = (0..1000u32)
        .map(|i| format!("{:024x}", 0xd0_0000 + i))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cloud = in_process_cloud(&refs);
    let mut list = String::from("# line 7 factory batch\n\n");
    for i in &ids {
        list.push_str(i);
        list.push('\n');
    }
    std::fs::write(h.join("ids.txt"), list).unwrap();
    let out = provision(
        h,
        cloud.base_url(),
        &[
            "--batch",
            "ids.txt",
            "--concurrency",
            "32",
            "--report",
            "out.jsonl",
        ],
    );
    assert_ok(&out, "batch of 1000");
    for i in &ids {
        assert_eq!(cloud.records_for(&id(i)).len(), 1, "{i}");
    }
    assert_eq!(cloud.records().len(), 1000);
    let text = stdout(&out);
    let summary = text.lines().last().unwrap();
    assert!(
        summary.starts_with("summary: 1000 devices: 1000 ok, 0 failed"),
        "{summary}"
    );
    assert!(summary.contains("devices/s"), "{summary}");
    println!("{summary}");
    let report = std::fs::read_to_string(h.join("out.jsonl")).unwrap();
    let lines: Vec<Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1001);
    assert!(lines[..1000]
        .iter()
        .all(|l| l["type"] == "device" && l["ok"] == true));
    assert_eq!(lines[1000]["type"], "summary");
    assert_eq!(lines[1000]["ok"], true);
    assert_eq!(lines[1000]["succeeded"], 1000);
    assert!(lines[1000]["rate_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_batch_with_one_failure_exits_non_zero_with_a_json_line_per_device() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = in_process_cloud(&[SEEDED]);
    let private = keys::generate().unwrap();
    keys::write_key_files(&h.join("k"), &private, false).unwrap();
    std::fs::write(
        h.join("batch.csv"),
        format!("device_id,keyfile\n{SEEDED},k.pub.pem\n{UNSEEDED},\n"),
    )
    .unwrap();
    let out = provision(h, cloud.base_url(), &["--batch", "batch.csv", "--json"]);
    assert!(!out.status.success());
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let failed = lines.iter().find(|l| l["device_id"] == UNSEEDED).unwrap();
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["line"], 3);
    assert_eq!(failed["error_kind"], "permission_denied");
    assert_eq!(lines[2]["type"], "summary");
    assert_eq!(
        (
            lines[2]["ok"].clone(),
            lines[2]["succeeded"].clone(),
            lines[2]["failed"].clone()
        ),
        (false.into(), 1.into(), 1.into())
    );
    let held = cloud.public_key(&id(SEEDED)).unwrap();
    assert_eq!(
        keys::parse_public_key(held.as_bytes()).unwrap(),
        private.to_public_key()
    );
}

#[test]
fn a_bad_batch_file_names_the_line_and_sends_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = in_process_cloud(&[SEEDED]);
    std::fs::write(
        h.join("ids.txt"),
        format!("{SEEDED}\n\n# ok so far\n12345\n"),
    )
    .unwrap();
    let out = provision(h, cloud.base_url(), &["--batch", "ids.txt"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ids.txt, line 4"), "{}", both(&out));
    assert_eq!(cloud.stats().requests, 0);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_without_a_request() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "provision",
            SEEDED,
            "--token",
            TOKEN,
            "--api-url",
            "http://api.particle.io",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--insecure-http"), "{}", both(&out));
}
