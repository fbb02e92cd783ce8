//! Device-style copy-on-write writes to the 32 KiB region.

use super::*;
use crate::dct::*;
use crate::platform::{APP_DCT_SIZE, DUO};
use crate::FACTORY_DCT_IMAGE;

#[test]
fn dct_set_on_an_image_writes_the_standby_partition_and_makes_it_current() {
    let mut image = factory_image();
    image.set("claim_code", "ABCDEF").unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
    let h1 = image.header(1).unwrap();
    assert!(h1.usable && h1.app_valid == 1);
    assert_eq!(
        image.app_dct().unwrap().get("claim_code").unwrap(),
        FieldValue::Text("ABCDEF".into())
    );
    // The old partition keeps the old data; only its is_current flag changed.
    let old = image.partition(0).unwrap();
    let original = &FACTORY_DCT_IMAGE[..16384];
    let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i] != original[i]).collect();
    assert_eq!(changed, vec![9]);
    assert_eq!(old[9], 0);
    assert_eq!(image.app_dct_of(0).unwrap().as_bytes(), factory_app_bytes());
    // The new partition is the old one with just the field changed.
    let new = image.app_dct_of(1).unwrap();
    let diff: Vec<usize> = (0..APP_DCT_SIZE)
        .filter(|&i| new.as_bytes()[i] != factory_app_bytes()[i])
        .collect();
    assert!(diff.iter().all(|&i| (1762..1825).contains(&i)), "{diff:?}");
    assert_eq!(
        &image.partition(1).unwrap()[16..],
        &{
            let mut p = original[16..].to_vec();
            p[APP_AT - 16 + 1762..APP_AT - 16 + 1825]
                .copy_from_slice(new.field_bytes("claim_code").unwrap());
            p
        }[..]
    );
}

#[test]
fn two_writes_in_a_row_flip_back_to_partition_0() {
    // `device_id` (3618) exists from firmware 0.3.0 on.
    let mut image = factory_image().with_layout(Some(crate::platform::DctLayout::V0_3_0));
    image.set("claimed", "true").unwrap();
    let after_first = image.partition(1).unwrap().to_vec();
    image.set("device_id", "2fff27fffc473530fff23637").unwrap();
    assert_eq!(image.current_partition().unwrap(), 0);
    let app = image.app_dct().unwrap();
    assert_eq!(
        app.get("claimed").unwrap(),
        FieldValue::Flag(true),
        "first change carried over"
    );
    assert_eq!(app.device_id().as_deref(), Some("2fff27fffc473530fff23637"));
    let p1 = image.partition(1).unwrap();
    assert_eq!(&p1[..9], &after_first[..9]);
    assert_eq!(p1[9], 0, "partition 1 retired");
    assert_eq!(&p1[10..], &after_first[10..]);
    assert_eq!(image.app_dct_of(1).unwrap().device_id(), None);
}

#[test]
fn power_loss_at_any_step_leaves_the_old_or_the_new_table() {
    for start in [factory_image(), {
        let mut i = factory_image();
        i.set("version", "1").unwrap();
        i
    }] {
        let old_app = start.app_dct().unwrap();
        let mut done = start.clone();
        done.write_app(1762, b"XYZ").unwrap();
        let new_app = done.app_dct().unwrap();
        for step in WriteStep::ALL {
            let mut image = start.clone();
            image.write_app_interrupted(1762, b"XYZ", step).unwrap();
            let app = image.app_dct().unwrap();
            assert!(
                app == old_app || app == new_app,
                "mixed table after {step:?}"
            );
            if step < WriteStep::MarkComplete {
                assert_eq!(app, old_app, "new table visible too early after {step:?}");
            }
        }
        assert_eq!(
            new_app.get("claim_code").unwrap(),
            FieldValue::Text("XYZ".into())
        );
    }
}

#[test]
fn current_partition_rules_match_wiced() {
    let mut both = factory_image().into_bytes();
    both.copy_within(..16384, 16384);
    let image = DctImage::from_bytes(&DUO, &both).unwrap();
    assert_eq!(
        image.current_partition().unwrap(),
        0,
        "both claim: partition 0 wins"
    );

    let mut second = both.clone();
    second[9] = 0;
    assert_eq!(
        DctImage::from_bytes(&DUO, &second)
            .unwrap()
            .current_partition()
            .unwrap(),
        1
    );

    let mut incomplete = second.clone();
    incomplete[16384 + 8] = 1;
    let err = DctImage::from_bytes(&DUO, &incomplete)
        .unwrap()
        .current_partition()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("partition 0: is_current_dct=0") && msg.contains("write_incomplete=1"),
        "{msg}"
    );

    let mut none = factory_image().into_bytes();
    none[9] = 0;
    let mut image = DctImage::from_bytes(&DUO, &none).unwrap();
    assert!(matches!(
        image.app_dct(),
        Err(DctError::NoCurrentPartition { .. })
    ));
    assert!(image.write_app(0, &[0]).is_err());
    assert!(
        image.app_dct_of(0).is_ok(),
        "a non-current table can still be read"
    );
}

#[test]
fn image_writes_past_the_app_dct_or_partition_are_refused_and_change_nothing() {
    let mut image = factory_image();
    let err = image.write_app(APP_DCT_SIZE - 1, &[0, 0]).unwrap_err();
    assert!(
        err.to_string().contains("application DCT (4290 bytes)"),
        "{err}"
    );
    assert!(image.write_app(usize::MAX, &[0]).is_err());
    let limit = 16384 - APP_AT;
    let err = image.write_app_data(limit, &[0]).unwrap_err();
    assert!(
        err.to_string().contains(&format!("({limit} bytes)")),
        "{err}"
    );
    assert_eq!(image.as_bytes(), FACTORY_DCT_IMAGE);
    image.write_app_data(limit - 1, &[0x42]).unwrap();
    assert_eq!(image.partition(1).unwrap()[16383], 0x42);
}

#[test]
fn alt1_reads_of_an_image_follow_flash() {
    let image = factory_image();
    assert_eq!(
        image.read_app(0, APP_DCT_SIZE).unwrap(),
        factory_app_bytes()
    );
    let full = image.read_app(0, ALT1_DUMP_MAX).unwrap();
    assert_eq!(
        &full[..],
        &FACTORY_DCT_IMAGE[APP_AT..APP_AT + ALT1_DUMP_MAX]
    );
    assert!(image.read_app(ALT1_DUMP_MAX, 1).is_err());
    let mut flipped = image.clone();
    flipped.write_app(0, &[0xc0]).unwrap();
    let tail = flipped.read_app(ALT1_DUMP_MAX - 100, 100).unwrap();
    assert!(
        tail.iter().all(|&b| b == 0xFF),
        "past the region reads erased"
    );
}

/// REFERENCE §2: on 0.3.2+ every write copies and ends the new partition
/// with the WICED 3.7 trailer (sequence and CRC); the trailer decides
/// between two usable partitions, and a CRC that fails makes a partition
/// unusable.
#[test]
fn sequenced_writes_carry_a_trailer_whose_sequence_and_crc_pick_the_current_partition() {
    let mut image = factory_image();
    assert_eq!(
        image.header(0).unwrap().trailer,
        None,
        "the factory image has none"
    );
    image.write_app_data_sequenced(1762, b"first").unwrap();
    let h1 = image.header(1).unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
    let t1 = h1.trailer.expect("trailer written");
    assert_eq!((t1.sequence, t1.crc_ok), (1, true));
    image.write_app_data_sequenced(1762, b"second").unwrap();
    assert_eq!(image.current_partition().unwrap(), 0);
    let t0 = image.header(0).unwrap().trailer.unwrap();
    assert_eq!((t0.sequence, t0.crc_ok), (2, true));
    // The trailer is not part of the body copied: only its own partition's.
    let part = DUO.dct_partition_size;
    let bytes = image.as_bytes().to_vec();
    assert_eq!(
        &bytes[part - DCT_TRAILER_LEN..part][..4],
        &2u32.to_le_bytes()
    );

    // Both partitions usable (a write cut short before the old one was
    // retired): the higher sequence wins, whichever partition holds it.
    let mut both = bytes.clone();
    both[part + 9] = 1;
    let image = DctImage::from_bytes(&DUO, &both).unwrap();
    assert_eq!(image.current_partition().unwrap(), 0, "sequence 2 beats 1");
    // A flipped bit in partition 0's body fails its CRC: partition 1 it is.
    let mut bad = both.clone();
    bad[APP_AT + 1762] ^= 0x01;
    let image = DctImage::from_bytes(&DUO, &bad).unwrap();
    assert!(!image.header(0).unwrap().usable);
    assert_eq!(image.current_partition().unwrap(), 1);
    // Writes stop before the trailer.
    let mut image = factory_image();
    let room = part - DCT_TRAILER_LEN - APP_AT;
    assert!(image.write_app_data_sequenced(room - 1, &[0]).is_ok());
    assert!(matches!(
        image.write_app_data_sequenced(room, &[0]),
        Err(DctError::OutOfBounds { .. })
    ));
}
