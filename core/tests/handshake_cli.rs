//! The device handshake end to end through the real binary: `duoprov cloud
//! serve --server-key-out`, a fresh virtual Duo given that block at 2082,
//! `sim boot` rejected before provisioning and connected after it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use common::*;
use serde_json::Value;

const ID: &str = "2fff27fffc473530fff23637";
const TOKEN: &str = "handshake-test-token";

/// `cloud serve` as a child; its two announced lines.
struct Serve {
    child: Child,
    url: String,
    device_addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Serve {
    let mut child = duoprov_cmd(dir)
        .args(["cloud", "serve", "--token", TOKEN, "--device", ID])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn duoprov cloud serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let device_addr = lines.next().unwrap().unwrap();
    Serve {
        child,
        url,
        device_addr,
    }
}

fn sim(dir: &Path, args: &[&str]) -> std::process::Output {
    duoprov_cmd(dir)
        .env("DUOPROV_DEVICE", "sim:vd")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sim_boot_is_rejected_before_provisioning_and_connected_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cloud = serve(d, &["--server-key-out", "block.der", "--state", "state"]);
    assert!(cloud.url.starts_with("http://127.0.0.1:"), "{}", cloud.url);
    assert!(
        cloud.device_addr.starts_with("127.0.0.1:"),
        "{}",
        cloud.device_addr
    );
    let port = cloud.device_addr.rsplit(':').next().unwrap();

    assert_ok(
        &sim(
            d,
            &[
                "sim",
                "create",
                "vd",
                "--device-id",
                ID,
                "--time-factor",
                "0.01",
            ],
        ),
        "sim create",
    );
    // As the guide does it: `dfu-util -a 1 -s 2082 -D block.der`.
    assert_ok(
        &sim(
            d,
            &["dfu", "write", "--alt", "1", "--addr", "2082", "block.der"],
        ),
        "dfu write block.der at 2082",
    );
    let address = sim(d, &["keys", "address", "--json"]);
    assert_ok(&address, "keys address");
    let address = stdout_json(&address);
    assert_eq!(
        address["port"].as_u64().unwrap().to_string(),
        port,
        "{address}"
    );

    // First boot: a key is generated; the cloud has none for it.
    let boot = sim(d, &["sim", "boot", "vd"]);
    assert_eq!(
        boot.status.code(),
        Some(1),
        "{}{}",
        stdout(&boot),
        stderr(&boot)
    );
    assert!(
        stdout(&boot).contains("rejected at identity:"),
        "{}",
        stdout(&boot)
    );
    assert_ok(&sim(d, &["sim", "dfu", "vd"]), "sim dfu");

    // `duoprov provision ID`: the generic key; the next connection is accepted.
    let provision = duoprov_cmd(d)
        .args(["provision", ID, "--token", TOKEN, "--api-url", &cloud.url])
        .output()
        .unwrap();
    assert_ok(&provision, "provision");
    let boot = sim(d, &["sim", "boot", "vd", "--json"]);
    assert_ok(&boot, "sim boot after provisioning");
    let json = stdout_json(&boot);
    assert_eq!(json["connection"]["outcome"], "connected", "{json}");
    assert_eq!(
        json["connection"]["port"].as_u64().unwrap().to_string(),
        port
    );
    let human = sim(d, &["sim", "boot", "vd", "--stay", "30"]);
    assert_ok(&human, "sim boot --stay");
    assert!(
        stdout(&human).contains(&format!(
            "connected to 127.0.0.1:{port} (2 keep-alive ping(s) answered)"
        )),
        "{}",
        stdout(&human)
    );
    // The status keeps the outcome.
    let status = sim(d, &["sim", "show", "vd", "--json"]);
    let status: Value = stdout_json(&status);
    assert_eq!(
        status["last_boot"]["connection"]["outcome"], "connected",
        "{status}"
    );

    // The admin surface: the key the device sent is now the one held.
    let key = sim(d, &["sim", "dfu", "vd"]);
    assert_ok(&key, "sim dfu");
    assert_ok(&sim(d, &["keys", "save", "now"]), "keys save");
    let fp = stdout_json(&sim(d, &["keys", "inspect", "now.der", "--json"]));
    let conn = admin(&cloud.url, &format!("/admin/connections/{ID}"));
    assert_eq!(conn["key_source"], "first_connection", "{conn}");
    assert_eq!(conn["result"], "accepted", "{conn}");
    assert_eq!(conn["key_fingerprint"], fp["fingerprint"], "{conn} {fp}");

    // verify: the key matches the DCT's public key, the block names the
    // cloud, and the handshake from the host with the device's keys works.
    let verify = sim(d, &["verify", "--handshake", "--json"]);
    assert_ok(&verify, "verify --handshake");
    let v = stdout_json(&verify);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["key"]["matches_dct_public_key"], true, "{v}");
    assert_eq!(
        v["server"]["summary"]["port"].as_u64().unwrap().to_string(),
        port
    );
    assert_eq!(v["handshake"]["outcome"], "connected", "{v}");
    // With another key in the slot the handshake is rejected, exit 1.
    assert_ok(&sim(d, &["keys", "new", "other"]), "keys new");
    assert_ok(&sim(d, &["keys", "load", "other.der"]), "keys load");
    let verify = sim(d, &["verify", ID, "--handshake"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("handshake: rejected at session key"),
        "{}",
        stdout(&verify)
    );
}

/// GET an admin path with a bare HTTP/1.0 request (no client dependency).
fn admin(url: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}
