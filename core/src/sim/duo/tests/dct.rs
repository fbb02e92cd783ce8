//! Alt 1: the application DCT through the bootloader's DCT layer
//! (REFERENCE §1 "Alt 1", §2).

use super::*;
use crate::dct::DctImage;
use crate::platform::DUO;

const SERVER_KEY: &[u8] = include_bytes!("../../../../assets/server_public_key.der");

/// Offset in internal flash of the application DCT of `partition` on an
/// r6 board (32 KiB bootloader, DCT at 0x08008000).
fn app_dct_in_flash_r6(partition: usize) -> usize {
    (crate::platform::board::DUO_MAP_32K.dct_region_addr - 0x0800_0000) as usize
        + partition * DUO.dct_partition_size
        + DUO.app_dct_offset
}

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

/// REFERENCE §1 "Alt 1": only the block's start is checked, against
/// 0x0000..0x3FFF; a block at 0x4000 fails as any write does (a stall).
#[test]
fn alt_1_refuses_blocks_from_0x4000_with_a_stall() {
    let mut b = bench(0.01);
    b.alt(1);
    let before = b.t.device().dct_region().to_vec();
    // A data block whose address lands at 0x4000 (pointer 0, block 6).
    assert_eq!(b.set_address(0).status, DfuStatus::Ok);
    assert_eq!(b.try_download(6, &[0; 4]), Err(TransportError::Stall));
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
    assert_eq!(b.t.device().dct_region(), &before[..]);
}

/// REFERENCE §1: the DCT alt declares erase 1 ms / write 500 ms and ST's
/// inversion reports 500 ms after an erase (a no-op) and 1 ms after every
/// other block.
#[test]
fn alt_1_erase_is_a_no_op_reporting_500_ms_and_other_blocks_report_1_ms() {
    let mut b = bench(1.0);
    b.alt(1);
    // The pointer starts at 0x08020000, outside the DCT: no medium answers
    // the first set-address, and bwPollTimeout stays 0.
    b.dnload(0, &[0x21, 34, 0, 0, 0]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnBusy));
    b.wait();
    let before = b.t.device().dct_region().to_vec();
    b.dnload(0, &[0x41, 0, 0, 0, 0]).unwrap();
    let (first, took) = b.timed_status();
    assert_eq!(first, Ok(reply(DfuStatus::Ok, 500, DfuState::DfuDnBusy)));
    assert_eq!(took, Duration::ZERO, "the erase is a no-op");
    b.wait();
    assert_eq!(b.t.device().dct_region(), &before[..]);
    b.dnload(0, &[0x21, 34, 0, 0, 0]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy));
    b.wait();
    b.dnload(2, &[0x30; 8]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy));
    assert_eq!(b.wait().state, DfuState::DfuDnloadIdle);
}

/// Issue 14 acceptance: a key write on the DCT alt reports a 1 ms poll
/// timeout and the GETSTATUS call itself takes the write's scaled time —
/// here a copy to the other partition and an erase of the old one
/// (REFERENCE §2, firmware ≤ 0.3.1): 250 ms + 16 KiB × 16 µs/word + 250 ms.
#[test]
fn a_key_write_on_the_dct_alt_reports_1_ms_and_its_getstatus_takes_the_writes_time() {
    let mut b = bench(0.1);
    b.alt(1);
    assert_eq!(b.write(34, &[0x00; 16]).status, DfuStatus::Ok);
    b.set_address(34);
    // 0x30 over 0x00 sets bits: the partition must be copied.
    b.dnload(2, &[0x30; 612]).unwrap();
    let (first, took) = b.timed_status();
    assert_eq!(first, Ok(reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy)));
    assert_eq!(took, Duration::from_nanos(56_553_600), "565.536 ms × 0.1");
    assert_eq!(b.wait().state, DfuState::DfuDnloadIdle);
    assert_eq!(b.read(34, 612), [0x30; 612]);
}

/// REFERENCE §2: on firmware ≤ 0.3.1 a write that only clears bits is
/// programmed in place; the partition does not change and it takes only
/// the programming time.
#[test]
fn a_dct_write_that_only_clears_bits_is_programmed_in_place() {
    let mut b = bench(1.0);
    b.alt(1);
    let key: Vec<u8> = (0..612u32).map(|i| (i % 200) as u8 + 1).collect();
    b.set_address(34);
    b.dnload(2, &key).unwrap();
    let (_, took) = b.timed_status();
    assert_eq!(
        took,
        Duration::from_micros(153 * 16),
        "153 words programmed"
    );
    b.wait();
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 0, "still partition 0");
    let flash = b.t.internal_flash();
    let at = app_dct_in_flash(0) + 34;
    assert_eq!(flash[at..at + 612], key[..]);
    assert_eq!(b.read(34, 612), key);
    // Identical data is not written at all.
    b.abort().unwrap();
    b.set_address(34);
    b.dnload(2, &key).unwrap();
    assert_eq!(b.timed_status().1, Duration::ZERO);
}

/// REFERENCE §2: otherwise (≤ 0.3.1) the whole partition is copied with the
/// change into the other one, which becomes current, and the old partition
/// is erased completely.
#[test]
fn a_dct_write_that_sets_bits_copies_and_erases_the_old_partition() {
    let mut b = bench(0.01);
    b.alt(1);
    assert_eq!(b.write(34, &[0x00; 4]).status, DfuStatus::Ok);
    assert_eq!(b.write(34, &[0x42; 4]).status, DfuStatus::Ok);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
    let flash = b.t.internal_flash();
    let part0 = app_dct_in_flash(0) - DUO.app_dct_offset;
    assert!(
        flash[part0..part0 + DUO.dct_partition_size]
            .iter()
            .all(|&x| x == 0xFF),
        "the old partition is erased"
    );
    assert_eq!(flash[app_dct_in_flash(1) + 2082..][..402], SERVER_KEY[..]);
    assert_eq!(b.read(34, 4), [0x42; 4]);
}

/// REFERENCE §2: on 0.3.2+ every write copies to the other partition, even
/// one that only clears bits, and the old partition is left as it was.
#[test]
fn on_firmware_0_3_3_every_dct_write_copies() {
    let mut b = bench_board("r6", "0.3.3", 0.01);
    b.alt(1);
    assert_eq!(b.write(34, &[0x00; 4]).status, DfuStatus::Ok);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
    let flash = b.t.internal_flash();
    let old = app_dct_in_flash_r6(0) + 2082;
    assert_eq!(flash[old..old + 402], SERVER_KEY[..], "old partition kept");
}

/// REFERENCE §1: on r6 the DCT alt works only with system firmware 0.3.2+:
/// without it reads return zeros and writes stall.
#[test]
fn r6_without_system_firmware_reads_zeros_and_stalls_writes_on_the_dct_alt() {
    let mut b = bench_board("r6", "none", 0.01);
    b.alt(1);
    assert_eq!(b.read(2082, 16), [0u8; 16]);
    assert_eq!(b.try_write(34, &[0u8; 4]), Err(TransportError::Stall));
    let mut ok = bench_board("r6", "0.3.3", 0.01);
    ok.alt(1);
    assert_eq!(ok.read(2082, 402), SERVER_KEY);
}

#[test]
fn a_multi_block_write_is_one_dct_write_per_block() {
    let mut b = bench(0.01);
    b.alt(1);
    let data: Vec<u8> = (0..4290u32).map(|i| (i % 97) as u8).collect();
    // Two blocks (4096 + 194 bytes), each one DCT write: the first sets
    // bits and is copied to partition 1; the second lands on erased bytes
    // (only clears bits) and is programmed in place there.
    assert_eq!(b.write(0, &data).status, DfuStatus::Ok);
    assert_eq!(b.t.app_dct_bytes(), data);
    let image = DctImage::from_bytes(&DUO, b.t.device().dct_region()).unwrap();
    assert_eq!(image.current_partition().unwrap(), 1);
}

#[test]
fn alt_1_writes_must_end_within_the_partition_and_reads_stop_at_0x4000() {
    let mut b = bench(0.01);
    b.alt(1);
    let before = b.t.device().dct_region().to_vec();
    // 0x3000 passes the address check, but 0x3000 + 16 runs past the
    // 8836 bytes of partition left after the application DCT's start.
    assert_eq!(b.try_write(0x3000, &[0; 16]), Err(TransportError::Stall));
    assert_eq!(b.t.device().dct_region(), &before[..]);
    b.abort().unwrap();
    // Reads run on through flash with no length check.
    assert_eq!(b.read(0x3F00, 0x200).len(), 0x200);
}
