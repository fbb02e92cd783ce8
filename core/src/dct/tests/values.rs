//! Typed reads and writes of fields.

use super::*;
use crate::dct::*;
use crate::platform::{APP_DCT_SIZE, DUO};

#[test]
fn typed_fields_round_trip_through_their_text_form() {
    let mut app = AppDct::from_bytes(&DUO, factory_app_bytes()).unwrap();
    let cases: &[(&str, &str, FieldValue)] = &[
        ("version", "0x102", FieldValue::Number(258)),
        (
            "claim_code",
            "abc DEF 123",
            FieldValue::Text("abc DEF 123".into()),
        ),
        ("claimed", "yes", FieldValue::Flag(true)),
        ("claimed", "false", FieldValue::Flag(false)),
        ("ssid_prefix", "MyDuo", FieldValue::Text("MyDuo".into())),
        ("ssid_prefix", "", FieldValue::Unset),
        ("device_code", "AB12CD", FieldValue::Text("AB12CD".into())),
        (
            "version_string",
            "0.2.4-rb",
            FieldValue::Text("0.2.4-rb".into()),
        ),
        ("country_code", "jp2", FieldValue::Text("JP2".into())),
        ("country_code", "GB", FieldValue::Text("GB0".into())),
        (
            "product_store",
            "88, -, 3",
            FieldValue::Numbers({
                let mut v = vec![Some(88), None, Some(3)];
                v.resize(12, None);
                v
            }),
        ),
        (
            "antenna_selection",
            "external",
            FieldValue::Choice {
                code: 1,
                meaning: "external".into(),
            },
        ),
        (
            "antenna_selection",
            "7",
            FieldValue::Choice {
                code: 7,
                meaning: "unknown".into(),
            },
        ),
        ("cloud_transport", "0", FieldValue::Number(0)),
        (
            "device_id",
            "2FFF27FFFC473530FFF23637",
            FieldValue::Text("2fff27fffc473530fff23637".into()),
        ),
        ("feature_flags", "0102", FieldValue::Hex("0102ffff".into())),
        ("claim_code", "hex:", FieldValue::Unset),
    ];
    for (name, text, want) in cases {
        app.set(name, text)
            .unwrap_or_else(|e| panic!("set {name} {text:?}: {e}"));
        assert_eq!(&app.get(name).unwrap(), want, "{name} = {text:?}");
    }
}

#[test]
fn typed_writes_put_the_bytes_where_the_firmware_reads_them() {
    let mut app = blank_app();
    app.set("claimed", "true").unwrap();
    assert_eq!(
        app.as_bytes()[1825],
        b'1',
        "HAL_IsDeviceClaimed compares with '1'"
    );
    app.set("ssid_prefix", "Duo").unwrap();
    assert_eq!(&app.as_bytes()[1826..1831], &[3, b'D', b'u', b'o', 0xFF]);
    app.set(
        "ip_config",
        "static 192.168.1.2 255.255.255.0 192.168.1.1 8.8.8.8",
    )
    .unwrap();
    assert_eq!(&app.as_bytes()[1634..1642], &[1, 0, 0, 0, 2, 1, 168, 192]);
    match app.get("ip_config").unwrap() {
        FieldValue::IpConfig(ip) => {
            assert_eq!(ip.mode, "static");
            assert_eq!(ip.host, Some("192.168.1.2".parse().unwrap()));
            assert_eq!(ip.dns1, Some("8.8.8.8".parse().unwrap()));
            assert_eq!(ip.dns2, None);
        }
        other => panic!("{other:?}"),
    }
    app.set("ip_config", "dhcp").unwrap();
    assert_eq!(
        &app.as_bytes()[1634..1642],
        &[0, 0, 0, 0, 2, 1, 168, 192],
        "dhcp keeps the addresses"
    );
    app.set("system_flags", "hex:c0acde1a").unwrap();
    app.set("system_flags", "bootloader_version=7, startup_mode=0x5a")
        .unwrap();
    assert_eq!(app.bootloader_version(), 7);
    assert_eq!(app.as_bytes()[18], 0x5a);
    assert!(app.looks_valid(), "header kept");
    app.set("product_store", "88").unwrap();
    assert_eq!(&app.as_bytes()[2952..2956], &[88, 0, 0xFF, 0xFF]);
}

#[test]
fn bad_values_are_refused_naming_field_value_and_limit() {
    let mut app = blank_app();
    let cases: &[(&str, String, &str)] = &[
        ("claim_code", "x".repeat(64), "at most 63"),
        ("claim_code", "é".to_string(), "not printable ASCII"),
        ("ssid_prefix", "y".repeat(26), "at most 25"),
        ("device_code", "abc".to_string(), "exactly 6"),
        ("version", "65536".to_string(), "larger than 65535"),
        ("cloud_transport", "-1".to_string(), "0 to 255"),
        ("device_id", "12".to_string(), "24 hex digits"),
        ("country_code", "G".to_string(), "two letters"),
        (
            "ip_config",
            "static 1.2.3.4".to_string(),
            "static IP NETMASK",
        ),
        (
            "ip_config",
            "static 1.2.3.400 1.1.1.1 1.1.1.1".to_string(),
            "not an IPv4 address",
        ),
        (
            "system_flags",
            "bootloader_version=70000".to_string(),
            "larger than 65535",
        ),
        ("system_flags", "nope=1".to_string(), "unknown system flag"),
        ("flash_modules", "slot".to_string(), "raw bytes only"),
        (
            "device_private_key",
            "hex:abc".to_string(),
            "odd number of hex digits",
        ),
        ("claimed", "maybe".to_string(), "true or false"),
    ];
    for (name, value, reason) in cases {
        let msg = app.set(name, value).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("`{name}`")) && msg.contains(reason),
            "{name}: {msg}"
        );
        assert!(
            msg.contains(&shown(value)),
            "{name}: value missing from {msg}"
        );
    }
    let msg = app.set("claimed", "hex:0102").unwrap_err().to_string();
    assert!(
        msg.contains("2 bytes do not fit DCT field `claimed`, which is 1 bytes"),
        "{msg}"
    );
    let msg = app.get("nope").unwrap_err().to_string();
    assert!(
        msg.contains("`nope`") && msg.contains("device_private_key"),
        "{msg}"
    );
    assert_eq!(app.as_bytes(), &[0u8; APP_DCT_SIZE][..], "nothing written");
}

#[test]
fn long_secret_values_are_shortened_in_errors() {
    let secret = format!("hex:{}", "ab".repeat(1300));
    let msg = blank_app()
        .set("device_private_key", &secret)
        .unwrap_err()
        .to_string();
    assert!(msg.len() < 200, "{msg}");
}

#[test]
fn field_names_are_forgiving() {
    assert_eq!(lookup("Device-Private-Key").unwrap().offset, 34);
    assert_eq!(lookup(" claim code ").unwrap().offset, 1762);
}

#[test]
fn undecodable_typed_fields_are_reported_not_fatal() {
    let mut app = blank_app();
    app.write_at(1825, &[1]).unwrap();
    assert!(matches!(
        app.get("claimed").unwrap(),
        FieldValue::Invalid { .. }
    ));
    app.write_at(1826, &[30]).unwrap();
    let v = app.get("ssid_prefix").unwrap();
    assert!(v.to_string().contains("length byte 30 exceeds 25"), "{v}");
    app.write_at(1762, &[0x80]).unwrap();
    assert!(matches!(
        app.get("claim_code").unwrap(),
        FieldValue::Invalid { .. }
    ));
}

#[test]
fn values_serialise_with_a_kind_tag_and_print_for_humans() {
    let app = factory_image().app_dct().unwrap();
    let flags = serde_json::to_value(app.get("system_flags").unwrap()).unwrap();
    assert_eq!(flags["kind"], "system_flags");
    assert_eq!(flags["value"]["bootloader_version"], 3);
    assert_eq!(
        serde_json::to_value(FieldValue::Unset).unwrap(),
        serde_json::json!({"kind": "unset"})
    );
    let key = app.get("device_private_key").unwrap();
    assert_eq!(key.to_string(), "erased (1216 bytes of 0xff)");
    let FieldValue::Hex(h) = &key else {
        panic!("{key:?}")
    };
    assert_eq!(h.len(), 2 * 1216);
    let server = app.get("server_public_key").unwrap().to_string();
    assert!(
        server.starts_with("30820122") && server.ends_with("bytes of 0xff"),
        "{server}"
    );
    let header = serde_json::to_value(factory_image().header(0).unwrap()).unwrap();
    assert_eq!(header["magic"], "BRCM");
}
