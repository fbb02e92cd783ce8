//! DFU 1.1 / DfuSe transitions as ST's DFU class makes them.

use super::*;
use crate::sim::duo::Mode;

#[test]
fn a_fresh_device_is_idle_with_status_ok() {
    let mut b = bench(0.01);
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
    assert_eq!(b.state(), DfuState::DfuIdle);
    assert_eq!(b.t.device().dfu_state(), (DfuState::DfuIdle, DfuStatus::Ok));
}

#[test]
fn a_download_runs_on_getstatus_and_ends_in_dnload_idle() {
    let mut b = bench(0.01);
    b.dnload(0, &[0x21, 0x00, 0x00, 0x02, 0x08]).unwrap();
    assert_eq!(
        b.state(),
        DfuState::DfuDnloadSync,
        "dfuDNLOAD_SYNC until the host asks for status"
    );
    // Command blocks get the medium's programming time: 17 ms × 0.01 → 1 ms.
    assert_eq!(b.status(), reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy));
    assert_eq!(b.state(), DfuState::DfuDnBusy);
    b.clock.advance(Duration::from_millis(1));
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuDnloadIdle));
    // Next block from dfuDNLOAD_IDLE.
    assert_eq!(b.download(2, &[0x00; 16]).status, DfuStatus::Ok);
    assert_eq!(b.t.internal_flash()[0x20000..0x20010], [0u8; 16]);
}

#[test]
fn busy_until_is_honoured_by_the_devices_clock() {
    let mut b = bench(1.0);
    // Erasing a 128 KiB sector declares 1 s at time factor 1.0.
    b.dnload(0, &[0x41, 0x00, 0x00, 0x02, 0x08]).unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 1000, DfuState::DfuDnBusy));
    b.clock.advance(Duration::from_millis(400));
    assert_eq!(b.status(), reply(DfuStatus::Ok, 600, DfuState::DfuDnBusy));
    b.clock.advance(Duration::from_micros(599_500));
    assert_eq!(
        b.status().poll_timeout.as_millis(),
        1,
        "remaining time rounds up"
    );
    b.clock.advance(Duration::from_micros(500));
    assert_eq!(b.status().state, DfuState::DfuDnloadIdle);
    assert_eq!(
        b.t.stats().poll_timeout_ms_total,
        1000,
        "early polls add nothing"
    );
}

#[test]
fn time_factor_scales_every_declared_timeout() {
    for (factor, expected) in [(1.0, 250), (0.1, 25), (0.01, 3), (0.0, 0)] {
        let mut b = bench(factor);
        b.dnload(0, &[0x41, 0x00, 0x40, 0x00, 0x08]).unwrap();
        assert_eq!(
            b.status().poll_timeout.as_millis(),
            expected,
            "16 KiB erase at factor {factor}"
        );
    }
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

#[test]
fn upload_block_0_lists_the_dfuse_commands() {
    let mut b = bench(0.01);
    assert_eq!(b.upload(0, 16).unwrap(), [0x00, 0x21, 0x41, 0x92]);
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

#[test]
fn a_request_the_state_does_not_allow_stalls_into_dfu_error() {
    let mut b = bench(0.01);
    b.set_address(0x0802_0000);
    assert_eq!(
        b.upload(2, 8),
        Err(TransportError::Stall),
        "UPLOAD in dfuDNLOAD_IDLE"
    );
    assert_eq!(
        b.status(),
        reply(DfuStatus::ErrStalledPkt, 0, DfuState::DfuError)
    );
    // In dfuERROR everything but GETSTATUS / GETSTATE / CLRSTATUS stalls,
    // and the first status is kept.
    assert_eq!(b.dnload(2, &[0; 4]), Err(TransportError::Stall));
    assert_eq!(b.abort(), Err(TransportError::Stall));
    assert_eq!(b.state(), DfuState::DfuError);
    b.clrstatus();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
}

#[test]
fn download_while_busy_stalls() {
    let mut b = bench(1.0);
    b.dnload(0, &[0x41, 0x00, 0x00, 0x02, 0x08]).unwrap();
    assert_eq!(b.status().state, DfuState::DfuDnBusy);
    assert_eq!(b.dnload(2, &[0; 4]), Err(TransportError::Stall));
    assert_eq!(b.status().state, DfuState::DfuError);
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

#[test]
fn malformed_downloads_are_refused() {
    let mut b = bench(0.01);
    for (block, data) in [
        (0u16, vec![0x55]),       // unknown command
        (0, vec![0x21, 0, 0, 0]), // set address with 3 address bytes
        (1, vec![0u8; 4]),        // block 1 is reserved in DfuSe
        (2, vec![0u8; 4097]),     // longer than wTransferSize
    ] {
        assert_eq!(
            b.dnload(block, &data),
            Err(TransportError::Stall),
            "block {block} {data:02x?}"
        );
        assert_eq!(b.status().status, DfuStatus::ErrStalledPkt);
        b.recover();
    }
}

#[test]
fn addresses_outside_the_map_report_err_address() {
    let mut b = bench(0.01);
    assert_eq!(
        b.set_address(0x0810_0000),
        reply(DfuStatus::ErrAddress, 0, DfuState::DfuError)
    );
    b.recover();
    assert_eq!(b.set_address(0x07FF_FFFF).status, DfuStatus::ErrAddress);
    b.recover();
    // Upload past the end of internal flash: a short block, then errADDRESS.
    assert_eq!(b.set_address(0x080F_FF00).status, DfuStatus::Ok);
    b.abort().unwrap();
    assert_eq!(b.upload(2, 4096).unwrap().len(), 0x100);
    assert_eq!(b.upload(3, 4096), Err(TransportError::Stall));
    assert_eq!(
        b.status(),
        reply(DfuStatus::ErrAddress, 0, DfuState::DfuError)
    );
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
