//! Each injected fault, seen from the host.

use super::*;
use crate::sim::duo::{Fault, SimError};

fn arm(b: &mut Bench, fault: Fault) {
    b.t.device_mut().arm_fault(fault).unwrap();
}

#[test]
fn the_nth_request_is_stalled_and_only_that_one() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::Stall { nth: 2 });
    assert_eq!(b.status().state, DfuState::DfuIdle);
    assert_eq!(b.class_in(GETSTATUS, 0, 6), Err(TransportError::Stall));
    // A stalled DFU request leaves the device in dfuERROR, as any refusal.
    assert_eq!(
        b.status(),
        reply(DfuStatus::ErrStalledPkt, 0, DfuState::DfuError)
    );
    b.recover();
    assert_eq!(b.t.device().fired_faults(), [Fault::Stall { nth: 2 }]);
    assert!(b.t.device().armed_faults().is_empty());
    assert_eq!(b.t.stats().stalls, 1);

    // A stalled standard request does not touch the DFU state.
    arm(&mut b, Fault::Stall { nth: 1 });
    assert_eq!(b.t.set_alt_setting(0, 1), Err(TransportError::Stall));
    assert_eq!(b.status().state, DfuState::DfuIdle);
}

#[test]
fn a_write_error_on_the_nth_block_is_reported_and_not_applied() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::WriteError { nth: 2 });
    let s = b.write(0x0802_0000, &[0u8; 8192]);
    assert_eq!(s, reply(DfuStatus::ErrWrite, 0, DfuState::DfuError));
    let flash = b.t.internal_flash();
    assert_eq!(flash[0x20000..0x21000], [0u8; 4096], "block 1 written");
    assert_eq!(
        flash[0x21000..0x22000],
        [0xFFu8; 4096],
        "block 2 not applied"
    );
    b.recover();
    assert_eq!(
        b.write(0x0802_1000, &[0u8; 4]).status,
        DfuStatus::Ok,
        "one-shot"
    );
}

#[test]
fn an_address_error_on_the_nth_block_is_reported_and_not_applied() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::AddressError { nth: 1 });
    assert_eq!(
        b.write(0x0802_0000, &[0u8; 16]).status,
        DfuStatus::ErrAddress
    );
    assert_eq!(b.t.internal_flash()[0x20000..0x20010], [0xFF; 16]);
}

#[test]
fn a_device_that_vanishes_mid_block_applies_nothing_and_stays_gone() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::Vanish { after_bytes: 100 });
    assert_eq!(
        b.set_address(0x0802_0000).status,
        DfuStatus::Ok,
        "commands are not data"
    );
    assert_eq!(b.dnload(2, &[0u8; 4096]), Err(TransportError::NoDevice));
    assert_eq!(b.class_in(GETSTATUS, 0, 6), Err(TransportError::NoDevice));
    assert_eq!(b.t.internal_flash()[0x20000..0x21000], [0xFF; 4096]);
    let path = b.path();
    assert!(!VirtualDuo::probe(&path).unwrap().connected);
    let mut duo = b.t.into_device();
    drop(duo);
    let err = SimTransport::open(&path).unwrap_err();
    assert!(matches!(err, SimError::Disconnected { .. }));
    assert!(
        err.to_string().contains("Reconnect it in DFU mode"),
        "{err}"
    );
    assert!(matches!(
        crate::error::ErrorInfo::remedy(&err),
        Some(crate::error::Remedy::EnterDfuMode {
            virtual_device: Some(_)
        })
    ));
    // The buttons bring it back, in dfuIDLE.
    duo = VirtualDuo::open(&path).unwrap();
    duo.enter_dfu().unwrap();
    let mut b = Bench {
        dir: b.dir,
        t: SimTransport::new(duo).unwrap(),
        clock: b.clock,
    };
    assert_eq!(b.status().state, DfuState::DfuIdle);
}

#[test]
fn a_stuck_device_stays_busy_until_a_usb_reset() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::StuckBusy { nth: 1 });
    assert_eq!(b.set_address(0x0802_0000).status, DfuStatus::Ok);
    b.dnload(2, &[0u8; 4]).unwrap();
    for _ in 0..3 {
        assert_eq!(b.status(), reply(DfuStatus::Ok, 1, DfuState::DfuDnBusy));
        b.clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(b.abort(), Err(TransportError::Stall));
    assert_eq!(b.state(), DfuState::DfuDnBusy);
    b.t.reset().unwrap();
    assert_eq!(b.status(), reply(DfuStatus::Ok, 0, DfuState::DfuIdle));
    assert_eq!(
        b.t.internal_flash()[0x20000..0x20004],
        [0xFF; 4],
        "not applied"
    );
}

#[test]
fn the_nth_getstatus_reply_is_short() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::ShortStatus { nth: 2, len: 3 });
    assert_eq!(b.status().state, DfuState::DfuIdle);
    assert_eq!(
        b.class_in(GETSTATUS, 0, 6).unwrap(),
        [DfuStatus::Ok.code(), 0, 0]
    );
    assert_eq!(b.status().state, DfuState::DfuIdle);
}

#[test]
fn a_fault_armed_by_one_process_fires_in_the_next() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::WriteError { nth: 1 });
    let mut b = b.reopen();
    assert_eq!(b.write(0x0802_0000, &[0; 4]).status, DfuStatus::ErrWrite);
    let path = b.path();
    drop(b.t);
    let duo = VirtualDuo::open(&path).unwrap();
    assert!(duo.armed_faults().is_empty());
    assert_eq!(duo.fired_faults(), [Fault::WriteError { nth: 1 }]);
}

#[test]
fn clear_disarms_every_fault_and_bad_faults_are_refused() {
    let mut b = bench(0.01);
    arm(&mut b, Fault::Stall { nth: 1 });
    arm(&mut b, Fault::Vanish { after_bytes: 0 });
    b.t.device_mut().clear_faults().unwrap();
    assert_eq!(b.write(0x0802_0000, &[0; 4]).status, DfuStatus::Ok);
    let err =
        b.t.device_mut()
            .arm_fault(Fault::ShortStatus { nth: 1, len: 6 })
            .unwrap_err();
    assert!(matches!(err, SimError::InvalidFault(_)), "{err}");
    assert!(b
        .t
        .device_mut()
        .arm_fault(Fault::StuckBusy { nth: 0 })
        .is_err());
}

#[test]
fn no_fault_leaves_the_dct_half_written() {
    let key: Vec<u8> = (0..612u32).map(|i| (i % 250) as u8 + 3).collect();
    for fault in [
        Fault::WriteError { nth: 1 },
        Fault::AddressError { nth: 1 },
        Fault::Vanish { after_bytes: 300 },
        Fault::StuckBusy { nth: 1 },
        Fault::Stall { nth: 5 }, // the GETSTATUS that would execute the block
    ] {
        let mut b = bench(0.01);
        b.alt(1);
        let before = b.t.device().dct_region().to_vec();
        arm(&mut b, fault.clone());
        assert_eq!(b.set_address(34).status, DfuStatus::Ok);
        let _ = b.dnload(2, &key);
        let _ = b.class_in(GETSTATUS, 0, 6);
        assert_eq!(b.t.device().dct_region(), &before[..], "{fault:?}");
        assert_eq!(b.t.device().fired_faults(), [fault]);
    }
    // A short reply to the executing GETSTATUS: the write happened, whole.
    let mut b = bench(0.01);
    b.alt(1);
    arm(&mut b, Fault::ShortStatus { nth: 3, len: 2 });
    assert_eq!(b.set_address(34).status, DfuStatus::Ok);
    b.dnload(2, &key).unwrap();
    assert_eq!(b.class_in(GETSTATUS, 0, 6).unwrap().len(), 2);
    assert_eq!(b.t.app_dct_bytes()[34..646], key[..]);
}
