//! Rule 8: no token reaches any output, in any form (a token in the API
//! URL's path included). Rule 12: errors say what actually happened.

use std::io::Write;
use std::net::TcpListener;

use crate::common::{duoprov, stderr, stdout};
use crate::recorded::{Canned, Recorded, PERMISSION_DENIED, SUCCESS};
use crate::serve::{provision, Served};

const TOKEN: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const DEVICE: &str = "2fff27fffc473530fff23637";

fn all(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

#[test]
fn rule8_a_token_in_the_api_url_path_is_shown_nowhere() {
    for canned in [
        Canned::json("200 OK", SUCCESS),
        Canned::json("403 Forbidden", PERMISSION_DENIED),
        Canned::json("503 Service Unavailable", "{}"),
    ] {
        let server = Recorded::start(vec![canned.clone()]);
        let url = format!("{}/{TOKEN}/", server.url);
        for json in [false, true] {
            let out = provision(&url, DEVICE, TOKEN, json, &["--retries", "1"]);
            assert!(!all(&out).contains(TOKEN), "{canned:?}: {}", all(&out));
        }
        // The URL was used as given (the token really was in the path).
        assert!(server.received()[0]
            .target
            .starts_with(&format!("/{TOKEN}/v1/")));
    }
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    let out = provision(
        &format!("{}/{TOKEN}/", server.url),
        DEVICE,
        TOKEN,
        false,
        &[],
    );
    assert!(stderr(&out).contains("[redacted]"), "{}", stderr(&out));
}

#[test]
fn rule12_a_wrong_base_url_is_not_called_an_unknown_device() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(home.path(), &["--token", TOKEN, "--device", DEVICE]);
    let out = provision(&format!("{}/v1", served.url), DEVICE, TOKEN, false, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("404") && err.contains("API URL is wrong"),
        "{err}"
    );
    assert!(!err.contains("does not know device"), "{err}");
    let out = provision(&format!("{}/v1", served.url), DEVICE, TOKEN, true, &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error_kind"], "endpoint_not_found");
}

#[test]
fn rule12_https_to_a_plain_http_server_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let out = provision(
        &format!("https://127.0.0.1:{port}"),
        DEVICE,
        TOKEN,
        false,
        &["--retries", "0"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("did not answer TLS"), "{err}");
    assert!(!err.contains("InvalidContentType"), "{err}");
}

#[test]
fn rule12_every_retry_and_its_wait_is_said_on_stderr() {
    let server = Recorded::start(vec![
        Canned::json("503 Service Unavailable", "{}"),
        Canned::json("429 Too Many Requests", "{}"),
        Canned::json("200 OK", SUCCESS),
    ]);
    let out = provision(&server.url, DEVICE, TOKEN, false, &["--retries", "3"]);
    assert!(out.status.success(), "{}", all(&out));
    let err = stderr(&out);
    let retries: Vec<_> = err.lines().filter(|l| l.starts_with("retrying")).collect();
    assert_eq!(retries.len(), 2, "{err}");
    assert!(
        retries[0].contains("attempt 1 of 4") && retries[0].contains("HTTP 503"),
        "{err}"
    );
    assert!(
        retries[1].contains("attempt 2 of 4") && retries[1].contains("429"),
        "{err}"
    );
    assert!(retries.iter().all(|l| l.contains(" s (")), "{err}");
}

#[test]
fn rule12_causes_are_not_repeated_and_counts_are_singular() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"").unwrap();
    let out = duoprov(dir.path(), &["keys", "new", "f/x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");

    // An empty key file has no first byte to speak of.
    std::fs::write(dir.path().join("empty.der"), b"").unwrap();
    let out = duoprov(dir.path(), &["keys", "inspect", "empty.der"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!all(&out).contains("first byte"), "{}", all(&out));

    // One device is "1 device".
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    std::fs::write(dir.path().join("one.txt"), format!("{DEVICE}\n")).unwrap();
    let batch = dir.path().join("one.txt");
    let out = crate::serve::cmd(dir.path())
        .args(["provision", "--batch"])
        .arg(&batch)
        .args(["--api-url", &server.url, "--token", TOKEN])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all(&out));
    assert!(all(&out).contains("1 device:"), "{}", all(&out));
    assert!(
        all(&out).contains("provisioning 1 device,"),
        "{}",
        all(&out)
    );
    // A rate such as "895.1 devices/s" is not a count.
    let counts = all(&out).replace(" devices/s", "");
    assert!(!counts.contains("1 devices"), "{}", all(&out));
}
