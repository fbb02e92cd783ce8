//! Local cloud behaviour, over real loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::cloud::clock::RecordingClock;
use crate::cloud::AsyncClock;
use crate::keys::GENERIC_PUBLIC_KEY_PEM;

const TOKEN: &str = "local-test-token";
const SEEDED: &str = "2fff27fffc473530fff23637";
const UNSEEDED: &str = "0123456789abcdef01234567";

fn start_with(clock: Arc<dyn AsyncClock>, state_dir: Option<std::path::PathBuf>) -> RunningCloud {
    LocalCloud::start(LocalCloudOptions {
        tokens: vec![AccessToken::new(TOKEN).unwrap()],
        devices: vec![DeviceId::parse(SEEDED).unwrap()],
        state_dir,
        clock,
        ..LocalCloudOptions::default()
    })
    .unwrap()
}

fn start() -> RunningCloud {
    start_with(Arc::new(crate::cloud::TokioClock), None)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn provision_form(device_field: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("deviceID", device_field.to_string()),
        ("publicKey", key.to_string()),
        ("order", "test_1".into()),
        ("filename", "test".into()),
        ("product_id", "88".into()),
        ("algorithm", "rsa".into()),
    ]
}

async fn post_form(
    cloud: &RunningCloud,
    id: &str,
    token: Option<&str>,
    form: &[(&str, String)],
) -> (u16, Value) {
    let mut request = http()
        .post(format!("{}/v1/provisioning/{id}", cloud.base_url()))
        .form(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[test]
fn a_seeded_device_is_provisioned_with_a_form_body_and_bearer_token() {
    let cloud = start();
    let (status, body) = runtime().block_on(post_form(
        &cloud,
        SEEDED,
        Some(TOKEN),
        &provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM),
    ));
    assert_eq!(status, 200);
    assert_eq!(body, json!("Success!"));
    let id = DeviceId::parse(SEEDED).unwrap();
    let records = cloud.records_for(&id);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.product_id, Some(88));
    assert_eq!(r.order.as_deref(), Some("test_1"));
    assert_eq!(r.filename.as_deref(), Some("test"));
    assert_eq!(r.algorithm, "rsa");
    assert_eq!(
        crate::keys::parse_public_key(r.public_key.as_bytes()).unwrap(),
        crate::keys::parse_public_key(GENERIC_PUBLIC_KEY_PEM.as_bytes()).unwrap()
    );
    assert_eq!(cloud.public_key(&id), Some(r.public_key.clone()));
    assert_eq!(cloud.stats().accepted, 1);
}

#[test]
fn a_json_body_is_accepted_but_its_access_token_field_is_not_a_token() {
    let cloud = start();
    let rt = runtime();
    let send = |bearer: bool| {
        let mut request = http()
            .post(format!("{}/v1/provisioning/{SEEDED}", cloud.base_url()))
            .json(&json!({
                "deviceID": SEEDED.to_uppercase(),
                "publicKey": GENERIC_PUBLIC_KEY_PEM,
                "product_id": 88,
                "access_token": TOKEN,
            }));
        if bearer {
            request = request.bearer_auth(TOKEN);
        }
        rt.block_on(async { request.send().await.unwrap().status().as_u16() })
    };
    // §4: a body token only works in a form body.
    assert_eq!(send(false), 400);
    assert!(cloud.records().is_empty());
    assert_eq!(send(true), 200);
    assert_eq!(cloud.records().len(), 1);
    assert_eq!(cloud.records()[0].product_id, Some(88));
}

/// One raw reply: status, content type, Cache-Control, Pragma, body text.
type Raw = (u16, String, Option<String>, Option<String>, String);

async fn raw(request: reqwest::RequestBuilder) -> Raw {
    let r = request.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (ct, cache, pragma) = (
        header("content-type").unwrap_or_default(),
        header("cache-control"),
        header("pragma"),
    );
    (
        r.status().as_u16(),
        ct,
        cache,
        pragma,
        r.text().await.unwrap(),
    )
}

#[test]
fn every_recorded_reply_is_answered_byte_for_byte() {
    use super::replies::*;
    let cloud = start();
    let rt = runtime();
    let url = format!("{}/v1/provisioning/{SEEDED}", cloud.base_url());
    let form = provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM);
    let json_ct = "application/json; charset=utf-8".to_string();
    let oauth = |status: u16, body: &str| -> Raw {
        (
            status,
            json_ct.clone(),
            Some("no-store".into()),
            Some("no-cache".into()),
            body.into(),
        )
    };
    let plain =
        |status: u16, body: &str| -> Raw { (status, json_ct.clone(), None, None, body.into()) };
    let cases: Vec<(&str, reqwest::RequestBuilder, Raw)> = vec![
        (
            "accepted",
            http().post(&url).bearer_auth(TOKEN).form(&form),
            plain(200, "\"Success!\""),
        ),
        (
            "no token",
            http().post(&url).form(&form),
            oauth(
                400,
                r#"{"error":"invalid_request","error_description":"The access token was not found"}"#,
            ),
        ),
        (
            "unknown token",
            http().post(&url).bearer_auth("wrong").form(&form),
            oauth(
                401,
                r#"{"error":"invalid_token","error_description":"The access token provided is invalid."}"#,
            ),
        ),
        (
            "header and body token",
            http().post(&url).bearer_auth(TOKEN).form(&[
                ("deviceID", SEEDED),
                ("publicKey", GENERIC_PUBLIC_KEY_PEM),
                ("access_token", TOKEN),
            ]),
            oauth(400, TWO_TOKENS_BODY),
        ),
        (
            "unseeded device",
            http()
                .post(format!("{}/v1/provisioning/{UNSEEDED}", cloud.base_url()))
                .bearer_auth(TOKEN)
                .form(&provision_form(UNSEEDED, GENERIC_PUBLIC_KEY_PEM)),
            plain(
                403,
                r#"{"error":"Permission Denied","info":"I didn't recognize that device name or ID, try opening https://api.particle.io/v1/devices?access_token=undefined"}"#,
            ),
        ),
        (
            "unknown device on the devices API",
            http()
                .get(format!("{}/v1/devices/{UNSEEDED}", cloud.base_url()))
                .bearer_auth(TOKEN),
            plain(403, PERMISSION_DENIED_BODY),
        ),
    ];
    for (what, request, expected) in cases {
        assert_eq!(rt.block_on(raw(request)), expected, "{what}");
    }
    assert_eq!(SUCCESS_BODY, "\"Success!\"");
    assert_eq!(cloud.records().len(), 1);
}

#[test]
fn the_device_comes_from_the_body_as_on_the_real_cloud() {
    let cloud = start();
    let rt = runtime();
    // §4: a recorded post to /v1/provisioning/x succeeded.
    let (status, _) = rt.block_on(post_form(
        &cloud,
        "x",
        Some(TOKEN),
        &provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM),
    ));
    assert_eq!(status, 200);
    assert_eq!(
        cloud.records_for(&DeviceId::parse(SEEDED).unwrap()).len(),
        1
    );
    // Without a body id, the path's is used.
    let (status, _) = rt.block_on(post_form(
        &cloud,
        SEEDED,
        Some(TOKEN),
        &[("publicKey", GENERIC_PUBLIC_KEY_PEM.to_string())],
    ));
    assert_eq!(status, 200);
    assert_eq!(cloud.records().len(), 2);
}

#[test]
fn an_unknown_token_gets_401_invalid_token() {
    let cloud = start();
    let form = provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM);
    let rt = runtime();
    let (status, body) = rt.block_on(post_form(&cloud, SEEDED, Some("wrong"), &form));
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "The access token provided is invalid."})
    );
    let (status, body) = rt.block_on(post_form(&cloud, SEEDED, None, &form));
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(cloud.records().is_empty());
}

#[test]
fn a_device_never_initially_provisioned_gets_403_permission_denied() {
    let cloud = start();
    let (status, body) = runtime().block_on(post_form(
        &cloud,
        UNSEEDED,
        Some(TOKEN),
        &provision_form(UNSEEDED, GENERIC_PUBLIC_KEY_PEM),
    ));
    assert_eq!(status, 403);
    assert_eq!(body["error"], "Permission Denied");
    assert!(cloud.records().is_empty());
    assert_eq!(cloud.stats().rejected, 1);
}

#[test]
fn malformed_ids_and_keys_get_400() {
    let cloud = start();
    let rt = runtime();
    let cases = [
        ("2fff27", provision_form("2fff27", GENERIC_PUBLIC_KEY_PEM)),
        (SEEDED, provision_form("zz", GENERIC_PUBLIC_KEY_PEM)),
        (SEEDED, provision_form(SEEDED, "not a key")),
        (
            SEEDED,
            provision_form(
                SEEDED,
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            ),
        ),
        (
            SEEDED,
            provision_form(
                SEEDED,
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
        ),
    ];
    for (id, form) in cases {
        let (status, body) = rt.block_on(post_form(&cloud, id, Some(TOKEN), &form));
        assert_eq!(status, 400, "{id} {form:?}: {body}");
        assert_eq!(body["ok"], false);
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    assert!(cloud.records().is_empty());
}

#[test]
fn get_device_answers_for_seeded_devices_only() {
    let cloud = start();
    let rt = runtime();
    let get = |id: &str, token: Option<&str>| {
        let mut request = http().get(format!("{}/v1/devices/{id}", cloud.base_url()));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        rt.block_on(async { request.send().await.unwrap().status().as_u16() })
    };
    assert_eq!(get(SEEDED, Some(TOKEN)), 200);
    assert_eq!(get(UNSEEDED, Some(TOKEN)), 403);
    assert_eq!(get(SEEDED, None), 400);
    assert_eq!(get("xyz", Some(TOKEN)), 400);
}

#[test]
fn the_admin_surface_adds_tokens_and_devices_and_reads_back_keys() {
    let cloud = LocalCloud::start(LocalCloudOptions::default()).unwrap();
    let rt = runtime();
    let base = cloud.base_url().to_string();
    rt.block_on(async {
        let c = http();
        let r = c
            .post(format!("{base}/admin/tokens"))
            .json(&json!({"token": "t2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .post(format!("{base}/admin/devices"))
            .json(&json!({"device_ids": [SEEDED, UNSEEDED]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["added"], 2);
        let r = c
            .post(format!("{base}/v1/provisioning/{UNSEEDED}"))
            .bearer_auth("t2")
            .form(&[("publicKey", GENERIC_PUBLIC_KEY_PEM)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let key = c
            .get(format!("{base}/admin/devices/{UNSEEDED}/key"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(key.starts_with("-----BEGIN PUBLIC KEY-----"), "{key}");
        let r = c
            .get(format!("{base}/admin/devices/{SEEDED}/key"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let records: Value = c
            .get(format!("{base}/admin/devices/{UNSEEDED}/records"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(records.as_array().unwrap().len(), 1);
        let stats: Value = c
            .get(format!("{base}/admin/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["requests"], 1);
        assert_eq!(stats["accepted"], 1);
        c.post(format!("{base}/admin/reset-counters"))
            .send()
            .await
            .unwrap();
        let r = c
            .put(format!("{base}/admin/fault"))
            .json(&json!({"kind": "status", "status": 503}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    assert_eq!(cloud.fault(), Fault::json_status(503));
    assert_eq!(cloud.stats().requests, 0);
    assert_eq!(cloud.devices().len(), 2);
}

#[test]
fn an_html_500_fault_answers_with_a_page() {
    let cloud = start();
    cloud.set_fault(Fault::html_status(500));
    let rt = runtime();
    let (status, ct, body) = rt.block_on(async {
        let r = http()
            .post(format!("{}/v1/provisioning/{SEEDED}", cloud.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (r.status().as_u16(), ct, r.text().await.unwrap())
    });
    assert_eq!(status, 500);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(
        body.contains("<h1>500 Internal Server Error</h1>"),
        "{body}"
    );
    assert_eq!(cloud.stats().faulted, 1);
    assert!(cloud.records().is_empty());
}

#[test]
fn a_dropped_connection_gets_no_reply_at_all() {
    let cloud = start();
    cloud.set_fault(Fault::Drop);
    let rt = runtime();
    let result = rt.block_on(
        http()
            .post(format!("{}/v1/provisioning/{SEEDED}", cloud.base_url()))
            .bearer_auth(TOKEN)
            .form(&provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM))
            .send(),
    );
    let err = result.expect_err("no reply expected");
    assert!(!err.is_timeout(), "{err}");
    assert!(cloud.records().is_empty());
    cloud.clear_fault();
    let (status, _) = rt.block_on(post_form(
        &cloud,
        SEEDED,
        Some(TOKEN),
        &provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM),
    ));
    assert_eq!(status, 200);
}

#[test]
fn a_delay_fault_waits_through_the_cloud_clock() {
    let clock = Arc::new(RecordingClock::default());
    let cloud = start_with(clock.clone(), None);
    cloud.set_fault(Fault::Delay { ms: 60_000 });
    let (status, _) = runtime().block_on(post_form(
        &cloud,
        SEEDED,
        Some(TOKEN),
        &provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM),
    ));
    assert_eq!(status, 200);
    assert_eq!(
        clock.0.lock().unwrap().as_slice(),
        &[Duration::from_secs(60)]
    );
    assert_eq!(cloud.records()[0].time, 1_700_000_000_000);
}

#[test]
fn state_survives_a_restart_and_is_locked_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let id = DeviceId::parse(SEEDED).unwrap();
    {
        let cloud = start_with(Arc::new(crate::cloud::TokioClock), Some(dir.path().into()));
        let second = LocalCloud::start(LocalCloudOptions {
            state_dir: Some(dir.path().into()),
            ..LocalCloudOptions::default()
        });
        let err = second.expect_err("state dir is locked");
        assert!(err.to_string().contains("another local cloud"), "{err}");
        cloud
            .add_devices([DeviceId::parse(UNSEEDED).unwrap()])
            .unwrap();
        let (status, _) = runtime().block_on(post_form(
            &cloud,
            SEEDED,
            Some(TOKEN),
            &provision_form(SEEDED, GENERIC_PUBLIC_KEY_PEM),
        ));
        assert_eq!(status, 200);
        cloud.shutdown();
    }
    let cloud = LocalCloud::start(LocalCloudOptions {
        state_dir: Some(dir.path().into()),
        ..LocalCloudOptions::default()
    })
    .unwrap();
    assert_eq!(cloud.devices().len(), 2);
    assert_eq!(cloud.records_for(&id).len(), 1);
    assert!(cloud.public_key(&id).is_some());
}

#[test]
fn the_base_url_is_loopback_http() {
    let cloud = start();
    assert!(
        cloud.base_url().starts_with("http://127.0.0.1:"),
        "{}",
        cloud.base_url()
    );
    assert_ne!(cloud.addr().port(), 0);
    assert_eq!(
        base_url("0.0.0.0:80".parse().unwrap(), false),
        "http://127.0.0.1:80"
    );
    assert_eq!(
        base_url("[::]:80".parse().unwrap(), false),
        "http://[::1]:80"
    );
}

#[test]
fn the_running_cloud_debug_output_never_shows_its_tokens() {
    let cloud = start();
    cloud.add_token(&crate::cloud::AccessToken::new("added-later-tok").unwrap());
    let shown = format!("{cloud:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("added-later-tok"), "{shown}");
}

#[test]
fn a_token_of_another_account_gets_the_same_403_as_an_unknown_device() {
    let other = DeviceId::parse(UNSEEDED).unwrap();
    let cloud = LocalCloud::start(
        LocalCloudOptions::default()
            .token(AccessToken::new(TOKEN).unwrap())
            .account(
                Account::new("rival")
                    .token(AccessToken::new("rival-token").unwrap())
                    .expired_token(AccessToken::new("old-rival-token").unwrap()),
            )
            .device(SeededDevice::new(DeviceId::parse(SEEDED).unwrap()))
            .device(SeededDevice::new(other.clone()).account("rival").product(6)),
    )
    .unwrap();
    let rt = runtime();
    let form = |id: &str, product: &str| {
        vec![
            ("deviceID", id.to_string()),
            ("publicKey", GENERIC_PUBLIC_KEY_PEM.to_string()),
            ("product_id", product.to_string()),
        ]
    };
    let url = |id: &str| format!("{}/v1/provisioning/{id}", cloud.base_url());
    let send = |id: &str, token: &str, product: &str| {
        rt.block_on(raw(http()
            .post(url(id))
            .bearer_auth(token)
            .form(&form(id, product))))
    };
    let denied = send(SEEDED, "rival-token", "88");
    assert_eq!(denied.0, 403);
    assert_eq!(denied.4, super::replies::PERMISSION_DENIED_BODY);
    assert_eq!(send(UNSEEDED, TOKEN, "6").4, denied.4);
    // The owner, but the wrong product: refused the same way.
    assert_eq!(send(UNSEEDED, "rival-token", "88").0, 403);
    assert_eq!(send(UNSEEDED, "rival-token", "6").0, 200);
    assert_eq!(send(SEEDED, TOKEN, "88").0, 200);
    let expired = send(UNSEEDED, "old-rival-token", "6");
    assert_eq!(
        (expired.0, expired.4.as_str()),
        (401, super::replies::EXPIRED_TOKEN_BODY)
    );
    // The devices API agrees.
    let get = |id: &str, token: &str| {
        rt.block_on(raw(http()
            .get(format!("{}/v1/devices/{id}", cloud.base_url()))
            .bearer_auth(token)))
            .0
    };
    assert_eq!(get(SEEDED, "rival-token"), 403);
    assert_eq!(get(UNSEEDED, "rival-token"), 200);

    let records = cloud.records_for(&other);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].account, "rival");
    let info = cloud.device(&other).unwrap();
    assert_eq!((info.account.as_str(), info.product_id), ("rival", 6));
    let accounts = cloud.accounts();
    let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["default", "rival"]);
    assert_eq!(accounts[1].tokens, 1);
    assert_eq!(accounts[1].expired_tokens, 1);
    assert_eq!(accounts[1].devices, [other]);
    assert!(!format!("{accounts:?}").contains("rival-token"));
}

#[test]
fn owners_and_products_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = DeviceId::parse(SEEDED).unwrap();
    LocalCloud::start(
        LocalCloudOptions::default()
            .state_dir(dir.path())
            .device(SeededDevice::new(id.clone()).account("factory").product(6)),
    )
    .unwrap()
    .shutdown();
    let cloud = LocalCloud::start(LocalCloudOptions::default().state_dir(dir.path())).unwrap();
    let info = cloud.device(&id).unwrap();
    assert_eq!((info.account.as_str(), info.product_id), ("factory", 6));
    cloud.shutdown();
    // Older state files list bare ids: they read as the default account.
    std::fs::write(
        dir.path().join("devices.json"),
        format!(r#"{{"devices":["{UNSEEDED}"]}}"#),
    )
    .unwrap();
    let cloud = LocalCloud::start(LocalCloudOptions::default().state_dir(dir.path())).unwrap();
    let info = cloud.device(&DeviceId::parse(UNSEEDED).unwrap()).unwrap();
    assert_eq!((info.account.as_str(), info.product_id), ("default", 88));
}

#[test]
fn a_non_loopback_address_needs_an_explicit_allowance() {
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = LocalCloud::start(LocalCloudOptions::default().addr(any)).unwrap_err();
    assert!(matches!(err, LocalCloudError::NotLoopback { .. }), "{err}");
    let cloud = LocalCloud::start(LocalCloudOptions {
        beyond_loopback: true,
        ..LocalCloudOptions::default().addr(any)
    })
    .unwrap();
    assert!(cloud.addr().ip().is_unspecified());
}
