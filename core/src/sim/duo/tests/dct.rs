//! Alt 1: the application DCT through the bootloader's DCT layer
//! (REFERENCE §1 "Alt 1", §2).

use super::*;
use crate::dct::DctImage;
use crate::platform::DUO;

const SERVER_KEY: &[u8] = include_bytes!("../../../../assets/server_public_key.der");

/// Offset in internal flash of the application DCT of `partition`.
fn app_dct_in_flash(partition: usize) -> usize {
    (crate::platform::board::DUO_MAP_16K.dct_region_addr - 0x0800_0000) as usize
        + partition * DUO.dct_partition_size
        + DUO.app_dct_offset
}

#[test]
fn alt_1_reads_the_application_dct_of_the_factory_image() {
    let mut b = bench(0.01);
    b.alt(1);
    assert_eq!(b.read(2082, 402), SERVER_KEY);
    let slot = b.read(34, 612);
    assert_eq!(slot, vec![0xFF; 612], "factory key slot is erased");
    assert_eq!(b.t.app_dct_bytes()[2082..2082 + 402], SERVER_KEY[..]);
    assert_eq!(b.t.app_dct_bytes().len(), crate::platform::APP_DCT_SIZE);
}

#[test]
fn alt_1_refuses_addresses_from_0x4000() {
    let mut b = bench(0.01);
    b.alt(1);
    assert_eq!(b.set_address(0x3FFF).status, DfuStatus::Ok);
    b.abort().unwrap();
    assert_eq!(
        b.set_address(0x4000),
        reply(DfuStatus::ErrAddress, 0, DfuState::DfuError)
    );
    b.recover();
    // A data block whose address lands at 0x4000 (pointer 0, block 6).
    assert_eq!(b.set_address(0).status, DfuStatus::Ok);
    assert_eq!(
        b.download(6, &[0; 4]),
        reply(DfuStatus::ErrAddress, 0, DfuState::DfuError)
    );
}

#[test]
fn alt_1_erase_is_a_no_op_declaring_1_ms_and_writes_declare_500_ms() {
    let mut b = bench(1.0);
    b.alt(1);
    let before = b.t.device().dct_region().to_vec();
    b.dnload(0, &[0x41, 0, 0, 0, 0]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy));
    assert_eq!(b.wait().state, DfuState::DfuDnloadIdle);
    assert_eq!(b.t.device().dct_region(), &before[..]);
    // Set address is a command that is not an erase: programming time.
    b.dnload(0, &[0x21, 34, 0, 0, 0]).unwrap();
    assert_eq!(b.status().poll_timeout.as_millis(), 500);
    b.wait();
    b.dnload(2, &[0x30; 8]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 500, DfuState::DfuDnBusy));
    assert_eq!(b.wait().state, DfuState::DfuDnloadIdle);
}

#[test]
fn a_write_at_34_lands_in_the_standby_partition_which_becomes_current() {
    let mut b = bench(0.01);
    b.alt(1);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 0);
    let key: Vec<u8> = (0..612u32).map(|i| (i % 200) as u8 + 1).collect();
    assert_eq!(b.write(34, &key).status, DfuStatus::Ok);

    let flash = b.t.internal_flash();
    let new = app_dct_in_flash(1) + 34;
    let old = app_dct_in_flash(0) + 34;
    assert_eq!(flash[new..new + 612], key[..]);
    assert_eq!(
        flash[old..old + 612],
        [0xFF; 612],
        "old partition keeps old data"
    );
    // The rest of the application DCT was copied across.
    assert_eq!(flash[app_dct_in_flash(1) + 2082..][..402], SERVER_KEY[..]);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
    assert_eq!(b.read(34, 612), key);
    assert_eq!(b.t.app_dct_bytes()[34..646], key[..]);

    // The next write swaps back.
    assert_eq!(b.write(34, &[0x42]).status, DfuStatus::Ok);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 0);
    assert_eq!(b.read(34, 2), [0x42, key[1]]);
}

#[test]
fn a_multi_block_write_swaps_once_per_block() {
    let mut b = bench(0.01);
    b.alt(1);
    let data: Vec<u8> = (0..4290u32).map(|i| (i % 97) as u8).collect();
    // Two blocks (4096 + 194 bytes): two copy-on-write swaps, 0 → 1 → 0.
    assert_eq!(b.write(0, &data).status, DfuStatus::Ok);
    assert_eq!(b.t.app_dct_bytes(), data);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 0);
}

#[test]
fn alt_1_writes_must_end_within_the_partition_and_reads_stop_at_0x4000() {
    let mut b = bench(0.01);
    b.alt(1);
    let before = b.t.device().dct_region().to_vec();
    // 0x3000 passes the address check, but 0x3000 + 16 runs past the
    // 8836 bytes of partition left after the application DCT's start.
    assert_eq!(
        b.write(0x3000, &[0; 16]),
        reply(DfuStatus::ErrWrite, 0, DfuState::DfuError)
    );
    assert_eq!(b.t.device().dct_region(), &before[..]);
    b.recover();
    // Reads run on through flash, and end (short) at the top of the map.
    assert_eq!(b.read(0x3F00, 0x200).len(), 0x100);
}
