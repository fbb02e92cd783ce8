//! DFU 1.1 / DfuSe transitions, timing and failures as the Duo bootloaders
//! (ST's DFU class) make them (REFERENCE §1).

use super::*;
use crate::sim::duo::Mode;

#[test]
fn a_fresh_device_is_idle_with_status_ok() {
    let mut b = bench(0.01);
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
    assert_eq!(b.state(), DfuState::DfuIdle);
    assert_eq!(b.t.device().dfu_state(), (DfuState::DfuIdle, DfuStatus::Ok));
}

/// REFERENCE §1: the operation runs inside the GETSTATUS that starts it
/// (the transfer returns after the operation's time), which reports
/// dfuDNBUSY with the inverted bwPollTimeout; the next says dfuDNLOAD_IDLE.
#[test]
fn an_operation_runs_inside_the_getstatus_that_starts_it() {
    let mut b = bench(1.0);
    b.dnload(0, &[0x41, 0x00, 0x00, 0x02, 0x08]).unwrap();
    assert_eq!(
        b.state(),
        DfuState::DfuDnloadSync,
        "dfuDNLOAD_SYNC until the host asks for status"
    );
    // r4: flash declares 5 ms; a 128 KiB erase takes 1 s (STM32F205 typical).
    let (first, took) = b.timed_status();
    assert_eq!(first, Ok(reply(DfuStatus::Ok, 5, DfuState::DfuDnBusy)));
    assert_eq!(took, Duration::from_secs(1));
    assert_eq!(b.state(), DfuState::DfuDnloadSync, "the erase is done");
    // r3/r4 zero bwPollTimeout after each operation.
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
    assert!(b.t.internal_flash()[0x20000..0x40000]
        .iter()
        .all(|&x| x == 0xFF));
    assert_eq!(b.t.stats().busy_us_total, 1_000_000);
    // Next block from dfuDNLOAD_IDLE: 4 KiB programmed = 1024 words × 16 µs.
    b.dnload(2, &[0x00; 4096]).unwrap();
    let (_, took) = b.timed_status();
    assert_eq!(took, Duration::from_micros(16_384));
    assert_eq!(b.t.internal_flash()[0x20000..0x20010], [0u8; 16]);
}

/// REFERENCE §1: r5/r6 declare 0 ms for flash and never reset bwPollTimeout,
/// so replies after a DCT write keep carrying its 1 ms; r3/r4 zero it after
/// each operation, ABORT and CLRSTATUS.
#[test]
fn r6_keeps_a_stale_poll_timeout_where_r4_resets_it() {
    for (bl, fw, after) in [("r4", "0.2.4", 0), ("r6", "0.3.3", 1)] {
        let mut b = bench_board(bl, fw, 0.01);
        b.alt(1);
        b.set_address(34);
        b.dnload(2, &[0u8; 16]).unwrap();
        assert_eq!(
            b.status(),
            reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy),
            "{bl}: a DCT data block reports the DCT's erase time, 1 ms"
        );
        assert_eq!(b.status().poll_timeout.as_millis(), after, "{bl}");
        b.abort().unwrap();
        assert_eq!(
            b.status().poll_timeout.as_millis(),
            after,
            "{bl} after ABORT"
        );
        b.alt(0);
        assert_eq!(b.erase(0x0802_0000).poll_timeout.as_millis(), {
            if bl == "r4" {
                0
            } else {
                1
            }
        });
    }
}

/// REFERENCE §1: internal flash declares 5 ms on r3/r4 and 0 on r5/r6, the
/// same for erase and write.
#[test]
fn flash_declares_5_ms_on_r4_and_0_on_r6() {
    for (bl, fw, ms) in [
        ("r3", "0.2.4", 5),
        ("r4", "0.2.4", 5),
        ("r5", "0.3.1", 0),
        ("r6", "0.3.3", 0),
    ] {
        let mut b = bench_board(bl, fw, 1.0);
        b.dnload(0, &[0x41, 0x00, 0x00, 0x02, 0x08]).unwrap();
        assert_eq!(b.status().poll_timeout.as_millis(), ms, "{bl} erase");
        b.status();
        b.dnload(2, &[0u8; 16]).unwrap();
        assert_eq!(b.status().poll_timeout.as_millis(), ms, "{bl} write");
    }
}

#[test]
fn the_time_factor_scales_the_time_an_operation_holds_the_bus() {
    for (factor, expected_us) in [(1.0, 250_000), (0.1, 25_000), (0.01, 2_500), (0.0, 0)] {
        let mut b = bench(factor);
        b.dnload(0, &[0x41, 0x00, 0xC0, 0x00, 0x08]).unwrap();
        let (_, took) = b.timed_status();
        assert_eq!(
            took,
            Duration::from_micros(expected_us),
            "16 KiB erase at factor {factor}"
        );
    }
}

/// Issue 8 item 9: the transfer that runs an operation honours the
/// caller's timeout; the device carries on and later requests wait for it.
#[test]
fn a_transfer_held_longer_than_the_callers_timeout_times_out_and_the_device_carries_on() {
    let mut b = bench(1.0);
    b.t.device_mut()
        .set_transfer_timeout(Some(Duration::from_millis(300)));
    b.dnload(0, &[0x41, 0x00, 0x00, 0x02, 0x08]).unwrap();
    let (result, took) = b.timed_status();
    assert_eq!(result, Err(TransportError::Timeout));
    assert_eq!(took, Duration::from_millis(300), "the caller's timeout");
    // Still erasing: the next request waits too, and times out again.
    let before = b.clock.elapsed();
    assert_eq!(b.class_in(GETSTATE, 0, 1), Err(TransportError::Timeout));
    assert_eq!(b.clock.elapsed() - before, Duration::from_millis(300));
    // Without a limit it waits out the remaining 400 ms.
    b.t.device_mut().set_transfer_timeout(None);
    let before = b.clock.elapsed();
    assert_eq!(b.state(), DfuState::DfuDnloadSync);
    assert_eq!(b.clock.elapsed() - before, Duration::from_millis(400));
    assert_eq!(b.status().state, DfuState::DfuDnloadIdle);
}

#[test]
fn upload_walks_blocks_from_the_address_pointer() {
    let mut b = bench(0.01);
    let data: Vec<u8> = (0..3 * 4096).map(|i| (i % 251) as u8).collect();
    assert_eq!(b.erase(0x0802_0000).status, DfuStatus::Ok);
    assert_eq!(b.write(0x0802_0000, &data).status, DfuStatus::Ok);
    b.abort().unwrap();
    assert_eq!(b.set_address(0x0802_1000).status, DfuStatus::Ok);
    b.abort().unwrap();
    assert_eq!(
        b.upload(3, 16).unwrap(),
        data[8192..8208],
        "block 3 = pointer + 4096"
    );
    assert_eq!(b.state(), DfuState::DfuUploadIdle);
    assert_eq!(b.upload(2, 4).unwrap(), data[4096..4100]);
    b.abort().unwrap();
    assert_eq!(b.state(), DfuState::DfuIdle);
}

/// REFERENCE §1: the Duo bootloader supports get-commands, set address
/// pointer and erase only.
#[test]
fn upload_block_0_lists_the_three_supported_commands() {
    let mut b = bench(0.01);
    assert_eq!(b.upload(0, 16).unwrap(), [0x00, 0x21, 0x41]);
}

#[test]
fn abort_returns_to_idle_from_download_and_upload() {
    let mut b = bench(0.01);
    b.set_address(0x0802_0000);
    assert_eq!(b.state(), DfuState::DfuDnloadIdle);
    b.abort().unwrap();
    assert_eq!(b.state(), DfuState::DfuIdle);
    b.upload(2, 8).unwrap();
    assert_eq!(b.state(), DfuState::DfuUploadIdle);
    b.abort().unwrap();
    assert_eq!(b.state(), DfuState::DfuIdle);
    // A block received but not yet executed is dropped by ABORT.
    b.dnload(2, &[0u8; 4]).unwrap();
    b.abort().unwrap();
    assert_eq!(b.status().state, DfuState::DfuIdle);
    assert_eq!(b.t.internal_flash()[0x20000..0x20004], [0xFF; 4]);
}

/// REFERENCE §1: UPLOAD from dfuDNLOAD_IDLE and DNLOAD from dfuUPLOAD_IDLE
/// stall; a stall changes nothing (no dfuERROR).
#[test]
fn a_request_the_state_does_not_allow_stalls_and_changes_nothing() {
    let mut b = bench(0.01);
    b.set_address(0x0802_0000);
    assert_eq!(
        b.upload(2, 8),
        Err(TransportError::Stall),
        "UPLOAD in dfuDNLOAD_IDLE"
    );
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
    b.abort().unwrap();
    b.upload(2, 8).unwrap();
    assert_eq!(b.dnload(2, &[0; 4]), Err(TransportError::Stall));
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuUploadIdle));
    b.abort().unwrap();
    assert_eq!(b.state(), DfuState::DfuIdle);
}

#[test]
fn clrstatus_outside_dfu_error_is_an_error_itself() {
    let mut b = bench(0.01);
    b.clrstatus();
    assert_eq!(
        b.status(),
        reply(DfuStatus::ErrUnknown, 0, DfuState::DfuError)
    );
    b.recover();
}

/// REFERENCE §1: mass erase (0x41 alone), read unprotect (0x92) and any
/// other command stall, as do malformed blocks; the state stays.
#[test]
fn unsupported_commands_and_malformed_downloads_stall_and_change_nothing() {
    let mut b = bench(0.01);
    let before = b.t.internal_flash().to_vec();
    for (block, data) in [
        (0u16, vec![0x41]),       // mass erase
        (0, vec![0x92]),          // read unprotect
        (0, vec![0x55]),          // unknown command
        (0, vec![0x21, 0, 0, 0]), // set address with 3 address bytes
        (2, vec![0u8; 4097]),     // longer than wTransferSize
    ] {
        assert_eq!(
            b.dnload(block, &data),
            Err(TransportError::Stall),
            "block {block} {data:02x?}"
        );
        assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
    }
    assert_eq!(b.t.internal_flash(), &before[..], "nothing was erased");
}

/// REFERENCE §1: DNLOAD with wBlockNum 1 is a silent no-op; UPLOAD with
/// wBlockNum 1 stalls.
#[test]
fn dnload_block_1_is_a_no_op_and_upload_block_1_stalls() {
    let mut b = bench(0.01);
    let before = b.t.internal_flash().to_vec();
    assert_eq!(b.download(1, &[0u8; 64]).state, DfuState::DfuDnloadIdle);
    assert_eq!(b.t.internal_flash(), &before[..]);
    b.abort().unwrap();
    assert_eq!(b.upload(1, 16), Err(TransportError::Stall));
    assert_eq!(b.state(), DfuState::DfuIdle);
}

/// REFERENCE §1: a failed write or erase stalls the GETSTATUS that runs it,
/// bStatus stays OK and the next GETSTATUS says dfuDNLOAD_IDLE; there is no
/// errADDRESS/errWRITE and dfuERROR is never entered.
#[test]
fn a_failed_write_or_erase_stalls_its_getstatus_and_never_enters_dfu_error() {
    let mut b = bench(0.01);
    for addr in [0x0810_0000u32, 0x07FF_F000, 0x0800_0000] {
        // Setting the pointer is never refused.
        assert_eq!(b.set_address(addr).status, DfuStatus::Ok);
        b.dnload(2, &[0u8; 16]).unwrap();
        assert_eq!(
            b.try_status(),
            Err(TransportError::Stall),
            "write at {addr:#x}"
        );
        assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
        b.abort().unwrap();
    }
    assert_eq!(
        b.try_erase(0x0800_1000),
        Err(TransportError::Stall),
        "bootloader"
    );
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
    assert_eq!(b.t.stats().stalls, 4);
}

/// REFERENCE §1: an UPLOAD from a bad address returns data anyway: the
/// stale transfer buffer on r3–r5, zeros on r6. Raw uploads stop short at
/// the end of the map.
#[test]
fn an_upload_from_a_bad_address_returns_the_stale_buffer_on_r4_and_zeros_on_r6() {
    for (bl, fw) in [("r4", "0.2.4"), ("r6", "0.3.3")] {
        let mut b = bench_board(bl, fw, 0.01);
        assert_eq!(b.write(0x080C_0000, &[0xA5; 64]).status, DfuStatus::Ok);
        b.abort().unwrap();
        assert_eq!(b.set_address(0x0810_0000).status, DfuStatus::Ok);
        b.abort().unwrap();
        let past = b.upload(2, 16).unwrap();
        let expected = if bl == "r6" { [0u8; 16] } else { [0xA5; 16] };
        assert_eq!(past, expected, "{bl}");
        assert_eq!(b.state(), DfuState::DfuUploadIdle);
        b.abort().unwrap();
        assert_eq!(b.set_address(0x080F_FF00).status, DfuStatus::Ok);
        b.abort().unwrap();
        assert_eq!(
            b.upload(2, 4096).unwrap().len(),
            0x100,
            "{bl}: cut at the end"
        );
    }
}

#[test]
fn unknown_alt_and_interface_requests_stall() {
    let mut b = bench(0.01);
    let to_interface_1 = Setup {
        request_type: IN,
        request: GETSTATUS,
        value: 0,
        index: 1,
        length: 6,
    };
    let mut buf = [0u8; 6];
    assert_eq!(
        b.t.control_in(to_interface_1, &mut buf),
        Err(TransportError::Stall)
    );
    assert_eq!(
        b.class_in(9, 0, 1),
        Err(TransportError::Stall),
        "no DFU request 9"
    );
    b.recover();
    assert_eq!(b.t.mode(), Mode::Dfu);
}
