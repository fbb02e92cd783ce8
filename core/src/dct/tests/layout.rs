//! Field offsets, the factory image, and telling file kinds apart.

use super::*;
use crate::dct::*;
use crate::platform::{APP_DCT_FIELDS, APP_DCT_SIZE, DUO};
use crate::FACTORY_DCT_IMAGE;

#[test]
fn every_field_lands_at_its_reference_offset_and_size() {
    assert_eq!(APP_DCT_FIELDS.len(), REFERENCE_TABLE.len());
    for &(name, offset, size) in REFERENCE_TABLE {
        let mut app = blank_app();
        app.set_field_bytes(name, &vec![0xA5; size]).unwrap();
        let raw = app.as_bytes();
        let marked: Vec<usize> = (0..raw.len()).filter(|&i| raw[i] == 0xA5).collect();
        assert_eq!(
            (marked.first().copied(), marked.len()),
            (Some(offset), size),
            "field {name} should be {size} bytes at offset {offset}"
        );
        assert_eq!(
            *marked.last().unwrap(),
            offset + size - 1,
            "field {name} is not contiguous"
        );
        assert_eq!(
            app.field_bytes(name).unwrap().len(),
            size,
            "field {name} size"
        );
    }
}

#[test]
fn named_accessors_read_the_reference_slots() {
    let mut app = blank_app();
    app.write_at(34, &[1]).unwrap();
    app.write_at(1250, &[2]).unwrap();
    app.write_at(2082, &[3]).unwrap();
    app.write_at(4, &[0x34, 0x12]).unwrap();
    app.write_at(3618, &[0xAB; 12]).unwrap();
    assert_eq!(
        (app.private_key_slot().len(), app.private_key_slot()[0]),
        (1216, 1)
    );
    assert_eq!(
        (app.public_key_slot().len(), app.public_key_slot()[0]),
        (384, 2)
    );
    assert_eq!(
        (app.server_key_block().len(), app.server_key_block()[0]),
        (768, 3)
    );
    assert_eq!(app.bootloader_version(), 0x1234);
    assert_eq!(app.device_id().as_deref(), Some("abababababababababababab"));
}

#[test]
fn factory_image_has_partition_0_current_and_partition_1_erased() {
    let image = factory_image();
    assert_eq!(image.current_partition().unwrap(), 0);
    let h0 = image.header(0).unwrap();
    assert_eq!(
        (h0.magic.as_str(), h0.is_current_dct, h0.write_incomplete),
        ("BRCM", 1, 0)
    );
    assert!(h0.usable);
    let h1 = image.header(1).unwrap();
    assert!(!h1.has_magic && !h1.usable);
    assert!(image.partition(1).unwrap().iter().all(|&b| b == 0xFF));
    assert!(matches!(
        image.header(2),
        Err(DctError::NoSuchPartition { index: 2 })
    ));
}

#[test]
fn factory_duo_has_erased_keys_bootloader_3_and_the_public_cloud_server_key() {
    let app = factory_image().app_dct().unwrap();
    assert_eq!(
        app.as_bytes(),
        factory_app_bytes(),
        "app DCT at 0x1D7C of partition 0"
    );
    assert_eq!(&app.as_bytes()[..4], &[0xc0, 0xac, 0xde, 0x1a]);
    assert!(app.looks_valid() && app.warnings().is_empty());
    assert_eq!(app.bootloader_version(), 3);
    assert!(app.private_key_slot().iter().all(|&b| b == 0xFF));
    assert!(app.public_key_slot().iter().all(|&b| b == 0xFF));
    assert_eq!(&app.server_key_block()[..4], &[0x30, 0x82, 0x01, 0x22]);
    assert_eq!(&app.server_key_block()[384..386], &[0x01, 0x0F]);
    assert_eq!(&app.server_key_block()[386..401], b"device.spark.io");
    assert_eq!(app.device_id(), None);
    match app.get("system_flags").unwrap() {
        FieldValue::SystemFlags(f) => {
            assert!(f.header_valid);
            assert_eq!(f.bootloader_version, 3);
            assert_eq!(
                f.rcc_csr, 0x0E00_0000,
                "reset cause saved by the bootloader"
            );
        }
        other => panic!("system_flags decoded as {other:?}"),
    }
    assert_eq!(app.get("claimed").unwrap(), FieldValue::Flag(false));
    assert_eq!(app.get("claim_code").unwrap(), FieldValue::Unset);
    assert_eq!(app.get("antenna_selection").unwrap(), FieldValue::Unset);
    // Bootloader 3 in its system flags: read in the 0.2.x layout, which has
    // no device id at 3618 (REFERENCE §2).
    assert_eq!(
        (app.layout(), app.layout_source()),
        (crate::platform::DctLayout::V0_2, LayoutSource::SystemFlags)
    );
    assert!(app.get("device_id").is_err());
    assert_eq!(
        app.fields().len(),
        crate::platform::DctLayout::V0_2.fields().len()
    );
    let as_031 = factory_image()
        .with_layout(Some(crate::platform::DctLayout::V0_3_0))
        .app_dct()
        .unwrap();
    assert_eq!(as_031.get("device_id").unwrap(), FieldValue::Unset);
    assert_eq!(as_031.fields().len(), APP_DCT_FIELDS.len());
}

#[test]
fn detect_tells_a_region_image_from_an_alt1_dump() {
    assert!(matches!(
        DctFile::detect(&DUO, FACTORY_DCT_IMAGE),
        Ok(DctFile::Image(_))
    ));
    for len in [APP_DCT_SIZE, 8000, ALT1_DUMP_MAX] {
        let mut dump = factory_app_bytes().to_vec();
        dump.resize(len, 0xFF);
        let file = DctFile::detect(&DUO, &dump).unwrap();
        assert!(matches!(file, DctFile::App(_)), "{len} bytes");
        assert_eq!(
            file.get("system_flags").unwrap(),
            factory_image()
                .app_dct()
                .unwrap()
                .get("system_flags")
                .unwrap()
        );
    }
}

#[test]
fn detect_rejects_32k_without_wiced_header() {
    let err = DctFile::detect(&DUO, &[0xFF; 32768]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("32 KiB") && msg.contains("no WICED header"),
        "{msg}"
    );
}

#[test]
fn detect_names_the_size_and_both_accepted_forms() {
    for len in [0, 100, APP_DCT_SIZE - 1, ALT1_DUMP_MAX + 1, 32767, 32769] {
        let msg = DctFile::detect(&DUO, &vec![0; len])
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with(&format!("{len} bytes")), "{msg}");
        assert!(
            msg.contains("4290..=16384") && msg.contains("32768"),
            "{msg}"
        );
    }
}

#[test]
fn app_without_system_flags_header_is_accepted_with_a_warning() {
    let file = DctFile::detect(&DUO, &[0u8; APP_DCT_SIZE]).unwrap();
    let warnings = file.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("0xacc0"), "{}", warnings[0]);
}

#[test]
fn app_dct_size_limits_name_the_size_and_range() {
    assert!(AppDct::from_bytes(&DUO, &[0; APP_DCT_SIZE]).is_ok());
    assert!(AppDct::from_bytes(&DUO, &[0; ALT1_DUMP_MAX]).is_ok());
    for len in [APP_DCT_SIZE - 1, ALT1_DUMP_MAX + 1] {
        let msg = AppDct::from_bytes(&DUO, &vec![0; len])
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("this one is {len} bytes")), "{msg}");
        assert!(msg.contains("4290") && msg.contains("16384"), "{msg}");
    }
    let msg = DctImage::from_bytes(&DUO, &[0; 100])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("exactly 32768") && msg.contains("100 bytes"),
        "{msg}"
    );
}

#[test]
fn write_at_is_bounded_by_the_bytes_held() {
    let mut app = blank_app();
    app.write_at(APP_DCT_SIZE - 2, &[1, 2]).unwrap();
    assert_eq!(&app.as_bytes()[APP_DCT_SIZE - 2..], &[1, 2]);
    let err = app.write_at(APP_DCT_SIZE - 1, &[1, 2]).unwrap_err();
    assert!(matches!(
        err,
        DctError::OutOfBounds {
            limit: APP_DCT_SIZE,
            ..
        }
    ));
    assert!(app.write_at(usize::MAX, &[1]).is_err());
    let mut dump = AppDct::from_bytes(&DUO, &[0; ALT1_DUMP_MAX]).unwrap();
    dump.write_at(ALT1_DUMP_MAX - 1, &[7]).unwrap();
}

/// REFERENCE §2 "DCT layout per firmware": a file tells its layout only by
/// the bootloader version r3–r5 write into its system flags (3/4: 0.2.x,
/// 5: 0.3.0/0.3.1); 0.3.2+ stops updating them, so it cannot be told and
/// must be named; what the caller names always wins.
#[test]
fn the_layout_of_a_file_comes_from_the_caller_else_its_system_flags_else_the_default() {
    use crate::platform::DctLayout::{V0_2, V0_3_0, V0_3_2};
    let mut bytes = vec![0xFFu8; 8423];
    let cases = [
        (Some(3u16), None, V0_2, LayoutSource::SystemFlags),
        (Some(4), None, V0_2, LayoutSource::SystemFlags),
        (Some(5), None, V0_3_0, LayoutSource::SystemFlags),
        (Some(4), Some(V0_3_2), V0_3_2, LayoutSource::Given),
        (None, None, V0_3_0, LayoutSource::Default),
        (None, Some(V0_2), V0_2, LayoutSource::Given),
    ];
    for (version, given, layout, source) in cases {
        bytes[..32].fill(0xFF);
        if let Some(v) = version {
            bytes[..4].copy_from_slice(&[0xc0, 0xac, 0xde, 0x1a]);
            bytes[4..6].copy_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            choose_layout(&bytes, given),
            (layout, source),
            "{version:?} {given:?}"
        );
        let DctFile::App(app) = DctFile::detect_as(&DUO, &bytes, given).unwrap() else {
            panic!("an alt-1 dump");
        };
        assert_eq!((app.layout(), app.layout_source()), (layout, source));
        // The extra system flags sit where that firmware keeps them.
        let flags = app.layout().field("extra_system_flags").unwrap();
        assert_eq!(flags.offset, if layout == V0_3_2 { 8391 } else { 4258 });
    }
    assert_eq!(layout_for_firmware("0.3.3").unwrap(), V0_3_2);
    assert_eq!(layout_for_firmware("0.2").unwrap(), V0_2);
    assert!(matches!(
        layout_for_firmware("1.4.0"),
        Err(DctError::UnknownFirmware { .. })
    ));
}
