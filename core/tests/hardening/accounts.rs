//! Issue 8 item 9: the local cloud has accounts. A token of another account
//! gets 403 "Permission Denied" for a seeded device, exactly as the real
//! cloud answers an account without rights to it; product_id is checked;
//! the admin surface shows the owner.

use crate::common::{stderr, stdout};
use crate::recorded::PERMISSION_DENIED;
use crate::serve::{provision, Served};

const MINE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const THEIRS: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const DEVICE: &str = "2fff27fffc473530fff23637";
const THEIR_DEVICE: &str = "0123456789abcdef01234567";

#[test]
fn accounts_a_token_of_another_account_gets_403_and_the_owner_is_shown() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(
        home.path(),
        &[
            "--token",
            MINE,
            "--account",
            &format!("rival={THEIRS}"),
            "--device",
            DEVICE,
            "--device",
            &format!("{THEIR_DEVICE}:rival:6"),
        ],
    );
    let url = served.url.clone();

    // The other account's token, on my device: 403, exit 1, no success.
    let out = provision(&url, DEVICE, THEIRS, true, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error_kind"], "permission_denied");
    let out = provision(&url, DEVICE, THEIRS, false, &[]);
    assert!(
        stderr(&out).contains("Permission Denied"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("Success"));

    // The owner's token works.
    let out = provision(&url, DEVICE, MINE, false, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // product_id is checked: the rival's device is in product 6, not 88.
    let out = provision(&url, THEIR_DEVICE, THEIRS, false, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Permission Denied"),
        "{}",
        stderr(&out)
    );
    let out = provision(&url, THEIR_DEVICE, THEIRS, false, &["--product-id", "6"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The admin surface shows each device's owner and product.
    let mine = served.admin(&format!("/admin/devices/{DEVICE}"));
    assert_eq!(mine["account"], "default");
    assert_eq!(mine["product_id"], 88);
    assert_eq!(mine["provisioned"], 1);
    let theirs = served.admin(&format!("/admin/devices/{THEIR_DEVICE}"));
    assert_eq!(theirs["account"], "rival");
    assert_eq!(theirs["product_id"], 6);
    let accounts = served.admin("/admin/accounts");
    assert_eq!(accounts[1]["name"], "rival");
    assert_eq!(accounts[1]["devices"][0], THEIR_DEVICE);
    assert!(!accounts.to_string().contains(THEIRS));
    let records = served.admin("/admin/records");
    assert_eq!(records[0]["account"], "default");
    assert_eq!(records[1]["account"], "rival");
    served.stop();
}

#[test]
fn accounts_the_403_bytes_for_another_account_are_the_recorded_ones() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(
        home.path(),
        &[
            "--account",
            &format!("a={MINE}"),
            "--account",
            &format!("b={THEIRS}"),
            "--device",
            &format!("{DEVICE}:a"),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/v1/provisioning/{DEVICE}", served.url))
            .bearer_auth(THEIRS)
            .form(&[
                ("deviceID", DEVICE),
                ("publicKey", duo_provisioning::keys::GENERIC_PUBLIC_KEY_PEM),
            ])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!((status, body.as_str()), (403, PERMISSION_DENIED));
}

#[test]
fn accounts_a_bad_devices_file_line_is_named_as_a_devices_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("devices.csv");
    std::fs::write(&file, format!("{DEVICE},factory,88\nnot-an-id\n")).unwrap();
    let out = crate::serve::cmd(home.path())
        .args(["cloud", "serve", "--devices-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("devices file") && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("batch"), "{err}");
}
