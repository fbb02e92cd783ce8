//! Rule 15: the local cloud answers like the real one, and the client
//! accepts what the real one says (REFERENCE §4). The client is run against
//! the recorded bytes themselves (a loopback server replaying them), and the
//! local cloud's replies are compared byte for byte with the same recordings.

use std::process::Output;

use crate::common::{stderr, stdout};
use crate::recorded::*;
use crate::serve::Served;

const TOKEN: &str = "5f3c9a1e7b2d4c6011223344556677889900aabb";
const DEVICE: &str = "2fff27fffc473530fff23637";
const OTHER: &str = "0123456789abcdef01234567";

/// `duoprov [--json] provision ID --api-url URL --token TOKEN --retries 2`.
fn provision(url: &str, id: &str, json: bool) -> Output {
    crate::serve::provision(url, id, TOKEN, json, &["--retries", "2"])
}

fn both(out: &Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

#[test]
fn rule15_the_recorded_success_reply_is_a_success_and_the_request_is_what_the_cloud_reads() {
    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    // An uppercase id on the command line: path and body both get lowercase.
    let out = provision(&server.url, &DEVICE.to_uppercase(), false);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("Success"), "{}", both(&out));
    assert!(!both(&out).contains(TOKEN));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, format!("/v1/provisioning/{DEVICE}"));
    assert_eq!(r.field("deviceID").as_deref(), Some(DEVICE));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // Never the token in two places (§4: 400 "Only one method…").
    assert!(r.field("access_token").is_none(), "{r:?}");
    assert!(!r.body.contains(TOKEN), "{r:?}");
    assert!(!r.target.contains("access_token"), "{r:?}");
    assert!(r
        .field("publicKey")
        .is_some_and(|k| k.starts_with("-----BEGIN PUBLIC KEY-----")));
    assert_eq!(r.field("product_id").as_deref(), Some("88"));

    let server = Recorded::start(vec![Canned::json("200 OK", SUCCESS)]);
    let out = provision(&server.url, DEVICE, true);
    assert!(out.status.success(), "{}", both(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["response"], "Success!");
}

#[test]
fn rule15_each_recorded_error_fails_with_its_own_message_and_exit_1() {
    let cases = [
        (
            Canned::json("403 Forbidden", PERMISSION_DENIED),
            "Permission Denied",
            "permission_denied",
        ),
        (
            Canned::oauth("401 Unauthorized", INVALID_TOKEN),
            "The access token provided is invalid.",
            "invalid_token",
        ),
        (
            Canned::oauth("401 Unauthorized", EXPIRED_TOKEN),
            "The access token provided has expired.",
            "invalid_token",
        ),
        (
            Canned::oauth("400 Bad Request", NO_TOKEN),
            "The access token was not found",
            "rejected",
        ),
        (
            Canned::json(
                "200 OK",
                r#"{"ok":false,"errors":["publicKey is invalid"]}"#,
            ),
            "publicKey is invalid",
            "rejected",
        ),
        (
            Canned::json("200 OK", r#""Failure""#),
            "unexpected reply",
            "bad_response",
        ),
    ];
    for (canned, says, kind) in cases {
        let server = Recorded::start(vec![canned.clone()]);
        let out = provision(&server.url, DEVICE, false);
        assert_eq!(out.status.code(), Some(1), "{canned:?}: {}", both(&out));
        assert!(stderr(&out).contains(says), "{canned:?}: {}", both(&out));
        assert!(!stdout(&out).contains("Success"), "{}", both(&out));
        let server = Recorded::start(vec![canned.clone()]);
        let out = provision(&server.url, DEVICE, true);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["ok"], false, "{canned:?}");
        assert_eq!(json["error_kind"], kind, "{canned:?}");
        // One attempt: none of these is retried.
        assert_eq!(server.received().len(), 1, "{canned:?}");
    }
}

#[test]
fn rule15_a_429_without_retry_after_is_backed_off_and_retried() {
    let server = Recorded::start(vec![
        Canned::json("429 Too Many Requests", "{}"),
        Canned::json("200 OK", SUCCESS),
    ]);
    let out = provision(&server.url, DEVICE, true);
    assert!(out.status.success(), "{}", both(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["attempts"], 2);
    assert_eq!(server.received().len(), 2);
}

#[test]
fn rule15_cloud_serve_answers_byte_for_byte_as_the_recordings() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(home.path(), &["--token", TOKEN, "--device", DEVICE]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let key = duo_provisioning::keys::GENERIC_PUBLIC_KEY_PEM;
    let post = |id: &str, token: Option<&str>| {
        let mut r = http
            .post(format!("{}/v1/provisioning/{id}", served.url))
            .form(&[("deviceID", id), ("publicKey", key), ("product_id", "88")]);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let cases = [
        (post(DEVICE, Some(TOKEN)), Canned::json("200 OK", SUCCESS)),
        (
            post(DEVICE, None),
            Canned::oauth("400 Bad Request", NO_TOKEN),
        ),
        (
            post(DEVICE, Some("0000000000000000000000000000000000000000")),
            Canned::oauth("401 Unauthorized", INVALID_TOKEN),
        ),
        (
            post(OTHER, Some(TOKEN)),
            Canned::json("403 Forbidden", PERMISSION_DENIED),
        ),
    ];
    for (request, expected) in cases {
        let (status, headers, body) = rt.block_on(async {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16().to_string();
            let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
            let headers = [
                header("content-type"),
                header("cache-control"),
                header("pragma"),
            ];
            (status, headers, r.text().await.unwrap())
        });
        let want = |n: &str| {
            expected
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(status, expected.status[..3], "{expected:?}");
        assert_eq!(body, expected.body, "{expected:?}");
        assert_eq!(
            headers,
            [want("content-type"), want("cache-control"), want("pragma")],
            "{expected:?}"
        );
    }
}

#[test]
fn rule15_provision_against_cloud_serve_succeeds_on_its_success_string() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(home.path(), &["--token", TOKEN, "--device", DEVICE]);
    let out = provision(&served.url, DEVICE, false);
    assert!(out.status.success(), "{}", both(&out));
    let out = provision(&served.url, OTHER, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Permission Denied"), "{}", both(&out));
}
