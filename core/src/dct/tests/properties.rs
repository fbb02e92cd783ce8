//! Property tests: no input panics, writes round-trip.

use super::*;
use crate::dct::*;
use crate::platform::{APP_DCT_FIELDS, APP_DCT_SIZE, DUO};
use proptest::collection::vec;
use proptest::prelude::*;

/// Random bytes of the interesting lengths, sometimes with WICED headers.
fn dct_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..5000),
        vec(any::<u8>(), APP_DCT_SIZE..=APP_DCT_SIZE + 64),
        vec(any::<u8>(), ALT1_DUMP_MAX - 1..=ALT1_DUMP_MAX + 1),
        (vec(any::<u8>(), 32768), any::<[u8; 4]>()).prop_map(|(mut b, flags)| {
            for (p, &f) in [0usize, 16384].iter().zip(&flags[..2]) {
                if f & 1 == 1 {
                    b[p + 12..p + 16].copy_from_slice(b"BRCM");
                    b[p + 8] = flags[2] & 1;
                    b[p + 9] = flags[3] & 1;
                }
            }
            b
        }),
    ]
}

fn exercise(app: &AppDct) {
    for (field, value) in app.fields() {
        let _ = (value.to_string(), serde_json::to_string(&value).unwrap());
        assert_eq!(app.get(field.name).unwrap(), value);
    }
    let _ = (app.bootloader_version(), app.device_id(), app.warnings());
}

proptest! {
    #[test]
    fn no_input_bytes_make_the_parsers_panic(bytes in dct_like_bytes()) {
        let _ = AppDct::from_bytes(&DUO, &bytes);
        if let Ok(image) = DctImage::from_bytes(&DUO, &bytes) {
            for i in 0..2 {
                exercise(&image.app_dct_of(i).unwrap());
            }
            if let Ok(app) = image.app_dct() {
                exercise(&app);
            }
        }
        if let Ok(file) = DctFile::detect(&DUO, &bytes) {
            let _ = file.warnings();
            if let Ok(app) = file.app_dct() {
                exercise(&app);
            }
        }
    }

    #[test]
    fn set_with_any_text_never_panics(
        field in 0..APP_DCT_FIELDS.len(),
        text in prop_oneof![any::<String>(), "hex:[0-9a-f ]{0,80}", "[a-z_]{1,20}=[0-9x]{1,8}", "static( [0-9.]{1,15}){0,6}"],
        seed in vec(any::<u8>(), APP_DCT_SIZE),
    ) {
        let name = APP_DCT_FIELDS[field].name;
        let mut app = AppDct::from_bytes(&DUO, &seed).unwrap();
        let before = app.clone();
        match app.set(name, &text) {
            Ok(()) => {
                let f = APP_DCT_FIELDS[field];
                prop_assert_eq!(&app.as_bytes()[..f.offset], &before.as_bytes()[..f.offset]);
                prop_assert_eq!(&app.as_bytes()[f.end()..], &before.as_bytes()[f.end()..]);
                let _ = app.get(name).unwrap().to_string();
            }
            Err(_) => prop_assert_eq!(&app, &before),
        }
        let mut image = factory_image();
        let _ = image.set(name, &text);
    }

    #[test]
    fn hex_set_round_trips_through_field_bytes(
        field in 0..APP_DCT_FIELDS.len(),
        data in vec(any::<u8>(), 0..1216),
    ) {
        let f = APP_DCT_FIELDS[field];
        let data = &data[..data.len().min(f.size)];
        let mut app = blank_app();
        app.set(f.name, &format!("hex:{}", hex::encode_upper(data))).unwrap();
        let mut want = data.to_vec();
        want.resize(f.size, 0xFF);
        prop_assert_eq!(app.field_bytes(f.name).unwrap(), &want[..]);
    }

    #[test]
    fn claim_codes_round_trip(code in "[!-~]{1,63}") {
        prop_assume!(!code.to_ascii_lowercase().starts_with("hex:"));
        let mut app = blank_app();
        app.set("claim_code", &code).unwrap();
        prop_assert_eq!(app.get("claim_code").unwrap(), FieldValue::Text(code));
    }

    #[test]
    fn image_writes_flip_partitions_or_change_nothing(
        offset in 0usize..4400,
        data in vec(any::<u8>(), 0..300),
        writes in 1usize..4,
    ) {
        let mut image = factory_image();
        let mut expected = factory_app_bytes().to_vec();
        for n in 0..writes {
            let before = image.clone();
            match image.write_app(offset, &data) {
                Ok(()) => {
                    expected[offset..offset + data.len()].copy_from_slice(&data);
                    prop_assert_eq!(image.current_partition().unwrap(), (n + 1) % 2);
                    let now = image.app_dct().unwrap();
                    prop_assert_eq!(now.as_bytes(), &expected[..]);
                    prop_assert_eq!(
                        image.app_dct_of(n % 2).unwrap(),
                        before.app_dct().unwrap(),
                        "old partition keeps the old table"
                    );
                }
                Err(_) => {
                    prop_assert!(offset + data.len() > APP_DCT_SIZE);
                    prop_assert_eq!(&image, &before);
                }
            }
        }
    }
}
