//! Engine tests against the scripted target of `testkit`, named after what a
//! user of dfu-util would do to a Duo.

use std::time::Duration;

use super::protocol::{request, DfuState, DfuStatus, Step};
use super::testkit::{open, Req, Target};
use super::{DfuError, ErasePolicy, LeaveOutcome, TransportError};
use crate::platform::DUO;
use crate::progress::{CancelToken, Monitor, Phase, ProgressEvent};
use std::sync::{Arc, Mutex};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn probe_reads_what_dfu_util_lists_for_a_duo() {
    let (dfu, _) = open(Target::duo());
    let info = dfu.info();
    assert_eq!(
        (info.device.vendor_id, info.device.product_id),
        (0x2b04, 0xd058)
    );
    assert_eq!(info.device.device_version, 0x0200);
    assert_eq!(info.serial.as_deref(), Some("00000000010C"));
    let names: Vec<&str> = info
        .config
        .alt_settings
        .iter()
        .map(|a| a.name.as_deref().unwrap())
        .collect();
    let expected: Vec<&str> = DUO.factory_alt_settings().iter().map(|a| a.name).collect();
    assert_eq!(names, expected);
    assert_eq!(dfu.transfer_size(), 4096);
    assert!(info.functional.is_dfuse() && info.functional.will_detach());
    assert_eq!(dfu.platform().unwrap().name, "duo");
    assert_eq!(dfu.layout(0).unwrap().segments.len(), 5);
    // Probe: device, config header, config, lang, 3 alt names, serial.
    assert_eq!(dfu.stats().control_transfers, 8);
}

#[test]
fn a_dfu_1_0_functional_descriptor_is_accepted_but_not_addressable() {
    let mut t = Target::duo();
    t.functional_len = 7;
    let (dfu, _) = open(t);
    assert_eq!(dfu.info().functional.dfu_version, 0x0100);
    assert_eq!(dfu.transfer_size(), 4096);
    let err = dfu.layout(1).unwrap_err();
    assert!(
        matches!(err, DfuError::NotDfuse { version: 0x0100 }),
        "{err}"
    );
}

#[test]
fn writing_and_reading_the_key_slot_on_alt_1_round_trips() {
    let (mut dfu, _) = open(Target::duo());
    let key = pattern(1216, 7);
    let summary = dfu.write(1, 34, &key, ErasePolicy::TouchedSectors).unwrap();
    assert_eq!(summary.blocks, 1);
    assert_eq!(dfu.transport_mut().bytes(1, 34, 1216), &key[..]);
    let back = dfu.read(1, 34, 612).unwrap();
    assert_eq!(back, &key[..612]);
    let s = dfu.stats();
    assert_eq!((s.bytes_down, s.bytes_up), (1216, 612));
}

#[test]
fn transfers_over_4096_bytes_use_dfuse_block_numbers_from_2() {
    let (mut dfu, _) = open(Target::duo());
    let data = pattern(10_000, 3);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let monitor = Monitor::new().with_observer(Arc::new(move |e: &ProgressEvent| {
        sink.lock().unwrap().push(*e)
    }));
    dfu.write_with(0, 0x0802_0000, &data, ErasePolicy::TouchedSectors, &monitor)
        .unwrap();
    let seen: Vec<ProgressEvent> = seen.lock().unwrap().clone();
    let erase: Vec<u64> = seen
        .iter()
        .filter(|e| e.phase == Phase::Erase)
        .map(|e| e.done)
        .collect();
    assert_eq!(erase, vec![0, 128 * 1024], "one 128 KiB sector");
    let seen: Vec<ProgressEvent> = seen
        .into_iter()
        .filter(|e| e.phase == Phase::Write)
        .collect();
    let t = dfu.transport_mut();
    assert_eq!(t.data_block_numbers(request::DNLOAD), vec![2, 3, 4]);
    // One pointer for the whole contiguous run, after the one erase.
    assert_eq!(
        t.commands(),
        vec![(0x41, Some(0x0802_0000)), (0x21, Some(0x0802_0000))]
    );
    assert_eq!(t.bytes(0, 0x0802_0000, 10_000), &data[..]);
    let done: Vec<u64> = seen.iter().map(|p| p.done).collect();
    assert_eq!(done, vec![0, 4096, 8192, 10_000]);
    assert!(seen.iter().all(|p| p.total == 10_000));

    let back = dfu.read(0, 0x0802_0000, 10_000).unwrap();
    assert_eq!(back, data);
    let t = dfu.transport_mut();
    assert_eq!(t.data_block_numbers(request::UPLOAD), vec![2, 3, 4]);
    // The last upload asks for the short remainder only.
    let last = t.log.iter().rev().find_map(|r| match r {
        Req::In(s) if s.request == request::UPLOAD => Some(s.length),
        _ => None,
    });
    assert_eq!(last, Some(10_000 - 8192));
    // Upload ends with ABORT back to dfuIDLE.
    assert!(matches!(t.log.last(), Some(Req::Out(s, _)) if s.request == request::ABORT));
    assert_eq!(t.state, DfuState::DfuIdle);
}

#[test]
fn block_numbers_restart_with_a_new_pointer_before_they_would_wrap() {
    let (mut dfu, _) = open(Target::duo());
    dfu.max_blocks_per_run = 2;
    let data = pattern(5 * 4096, 9);
    dfu.write(0, 0x0802_0000, &data, ErasePolicy::Never)
        .unwrap();
    let t = dfu.transport_mut();
    assert_eq!(t.data_block_numbers(request::DNLOAD), vec![2, 3, 2, 3, 2]);
    let pointers: Vec<u32> = t.commands().iter().filter_map(|c| c.1).collect();
    assert_eq!(pointers, vec![0x0802_0000, 0x0802_2000, 0x0802_4000]);
    assert_eq!(t.bytes(0, 0x0802_0000, data.len()), &data[..]);
    let back = dfu.read(0, 0x0802_0000, data.len()).unwrap();
    assert_eq!(back, data);
}

#[test]
fn a_write_erases_only_the_sectors_it_touches() {
    let mut t = Target::duo();
    t.mem[0].data.fill(0x00); // programmed everywhere
    let (mut dfu, _) = open(t);
    // 0x0800BFF0..0x0800C0F0 straddles the 16K sectors at 0x08008000 and 0x0800C000.
    let data = vec![0x5A; 0x100];
    let s = dfu
        .write(0, 0x0800_BFF0, &data, ErasePolicy::TouchedSectors)
        .unwrap();
    assert_eq!(s.erased, vec![0x0800_8000, 0x0800_C000]);
    let t = dfu.transport_mut();
    let erases: Vec<_> = t.commands().into_iter().filter(|c| c.0 == 0x41).collect();
    assert_eq!(
        erases,
        vec![(0x41, Some(0x0800_8000)), (0x41, Some(0x0800_C000))]
    );
    assert_eq!(t.bytes(0, 0x0800_BFF0, 0x100), &data[..]);
    assert_eq!(t.bytes(0, 0x0800_8000, 1), &[0xFF]); // erased, unwritten
    assert_eq!(t.bytes(0, 0x0800_4000, 1), &[0x00]); // untouched sector kept
    assert_eq!(t.bytes(0, 0x0801_0000, 1), &[0x00]);
}

#[test]
fn the_dct_alt_is_never_erased() {
    let (mut dfu, _) = open(Target::duo());
    let s = dfu
        .write(1, 2082, &pattern(402, 1), ErasePolicy::TouchedSectors)
        .unwrap();
    assert!(s.erased.is_empty());
    assert!(dfu.transport_mut().commands().iter().all(|c| c.0 != 0x41));
}

#[test]
fn poll_timeouts_are_slept_through_the_clock_exactly_as_declared() {
    let (mut dfu, clock) = open(Target::duo());
    dfu.write(1, 34, &pattern(1216, 2), ErasePolicy::TouchedSectors)
        .unwrap();
    dfu.write(
        0,
        0x0802_0000,
        &pattern(9000, 2),
        ErasePolicy::TouchedSectors,
    )
    .unwrap();
    let declared = dfu.transport_mut().declared;
    // DCT: pointer 2 ms + one block 500 ms; flash: erase 30 + pointer 2 + 3 × 5.
    assert_eq!(declared, Duration::from_millis(502 + 30 + 2 + 15));
    assert_eq!(clock.total(), declared);
    assert_eq!(dfu.stats().poll_timeout_total, declared);
    assert_eq!(dfu.stats().busy_polls, 7);
}

#[test]
fn err_write_becomes_an_error_naming_the_block_and_dct_offset() {
    let mut t = Target::duo();
    t.fail_write_block = Some(2);
    let (mut dfu, _) = open(t);
    let err = dfu
        .write(1, 0, &pattern(3 * 4096, 4), ErasePolicy::TouchedSectors)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "writing block 2 of 3 at DCT offset 0x1000 (alt 1): device reported errWRITE \
         (device is unable to write memory)"
    );
    assert_eq!(err.status(), Some(DfuStatus::ErrWrite));
    assert!(matches!(err.step(), Some(Step::Download { block: 2, .. })));
}

#[test]
fn a_short_getstatus_reply_is_an_error_not_a_panic() {
    let (mut dfu, _) = open(Target::duo());
    dfu.transport_mut().short_status = Some(3);
    let err = dfu.read(1, 34, 612).unwrap_err();
    assert!(
        matches!(
            err,
            DfuError::MalformedStatus {
                step: Step::GetToIdle,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 bytes"), "{err}");
}

#[test]
fn a_device_left_in_dfu_error_is_cleared_before_the_next_operation() {
    let mut t = Target::duo();
    t.state = DfuState::DfuError;
    t.status = DfuStatus::ErrAddress;
    t.mem[1].data[34] = 0x30;
    let (mut dfu, _) = open(t);
    let back = dfu.read(1, 34, 1).unwrap();
    assert_eq!(back, vec![0x30]);
    let clears = dfu
        .transport_mut()
        .log
        .iter()
        .filter(|r| matches!(r, Req::Out(s, _) if s.request == request::CLRSTATUS))
        .count();
    assert_eq!(clears, 1);
}

#[test]
fn a_device_stuck_busy_fails_after_the_bound_in_declared_poll_time() {
    let mut t = Target::duo();
    t.stuck_busy = true;
    let (mut dfu, clock) = open(t);
    dfu.set_busy_limit(10);
    let err = dfu
        .write(1, 34, &[0x30], ErasePolicy::TouchedSectors)
        .unwrap_err();
    // The pointer command is the first to go busy (2 ms declared per poll).
    let DfuError::StayedBusy { polls, waited, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*polls, *waited), (10, Duration::from_millis(20)));
    assert!(err.to_string().contains("device stayed busy"), "{err}");
    assert_eq!(clock.total(), Duration::from_millis(20));
}

#[test]
fn leave_accepts_particles_dnload_idle_and_a_vanishing_device() {
    let mut t = Target::duo();
    t.leave_state = DfuState::DfuDnloadIdle;
    let (mut dfu, _) = open(t);
    assert_eq!(
        dfu.leave(None).unwrap(),
        LeaveOutcome::Manifesting(DfuState::DfuDnloadIdle)
    );
    let zero_len = dfu.transport_mut().log.iter().any(|r| {
        matches!(r, Req::Out(s, d) if s.request == request::DNLOAD && d.is_empty() && s.length == 0)
    });
    assert!(zero_len);

    let mut t = Target::duo();
    t.vanish_on_leave = true;
    let (mut dfu, _) = open(t);
    assert_eq!(
        dfu.leave(None).unwrap(),
        LeaveOutcome::Vanished(TransportError::NoDevice)
    );

    let (mut dfu, _) = open(Target::duo());
    assert_eq!(
        dfu.leave(Some(0x0802_0000)).unwrap(),
        LeaveOutcome::Manifesting(DfuState::DfuManifest)
    );
    assert_eq!(
        dfu.transport_mut().commands(),
        vec![(0x21, Some(0x0802_0000))]
    );
}

#[test]
fn writing_the_bootloader_sector_is_refused_before_any_transfer() {
    let (mut dfu, _) = open(Target::duo());
    let before = dfu.transport_mut().log.len();
    let err = dfu
        .write(0, 0x0800_3FF0, &[0u8; 0x20], ErasePolicy::TouchedSectors)
        .unwrap_err();
    assert_eq!(dfu.transport_mut().log.len(), before);
    assert!(err.nothing_sent());
    let msg = err.to_string();
    for part in [
        "0x08003ff0",
        "0x08000000..0x08004000",
        "read-only",
        "'a'",
        "bootloader",
    ] {
        assert!(msg.contains(part), "{part} missing from {msg}");
    }
}

#[test]
fn with_host_checks_off_the_device_itself_refuses_the_bootloader_sector() {
    let (mut dfu, _) = open(Target::duo());
    dfu.set_layout_checks(false);
    let err = dfu
        .write(0, 0x0800_0000, &[0u8; 16], ErasePolicy::TouchedSectors)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "writing block 1 of 1 at address 0x08000000 (alt 0): device reported errWRITE \
         (device is unable to write memory)"
    );
    // The read-only sector is not erasable, so no erase was attempted.
    assert!(dfu.transport_mut().commands().iter().all(|c| c.0 != 0x41));
    let e = dfu.read(0, 0xFFFF_FFF0, 0x20).unwrap_err();
    assert!(matches!(e, DfuError::OutOfRange { .. }), "{e:?}");
}

#[test]
fn ranges_outside_the_memory_map_are_refused_before_any_transfer() {
    let (mut dfu, _) = open(Target::duo());
    let before = dfu.transport_mut().log.len();
    let e = dfu.read(1, 0x3FF0, 0x20).unwrap_err();
    assert!(
        matches!(
            e,
            DfuError::OutOfRange {
                first_bad: 0x4000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("0x00000000..0x00004000"), "{e}");
    let e = dfu
        .write(0, 0x0810_0000, &[1], ErasePolicy::TouchedSectors)
        .unwrap_err();
    assert!(matches!(e, DfuError::OutOfRange { .. }), "{e:?}");
    let e = dfu.read(2, 0x0020_0000, 0).unwrap_err();
    assert!(matches!(e, DfuError::OutOfRange { .. }), "{e:?}");
    let e = dfu.read(3, 0, 1).unwrap_err();
    assert!(
        e.to_string().contains("alt setting 3 does not exist"),
        "{e}"
    );
    assert!(e.to_string().contains("Internal Flash"), "{e}");
    assert_eq!(dfu.transport_mut().log.len(), before);
}

#[test]
fn a_stalled_request_is_reported_with_the_devices_status() {
    let (mut dfu, _) = open(Target::duo());
    let next = dfu.transport_mut().log.len();
    // SetAlt, GETSTATUS, DNLOAD(pointer), 2 × GETSTATUS, then the data block.
    dfu.transport_mut().stall_at = Some(next + 5);
    let err = dfu
        .write(1, 34, &[0x30; 8], ErasePolicy::TouchedSectors)
        .unwrap_err();
    assert_eq!(err.status(), Some(DfuStatus::ErrStalledPkt));
    assert!(
        matches!(err.step(), Some(Step::Download { block: 1, .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("stalled the request"), "{err}");
    // The next operation recovers through CLRSTATUS.
    dfu.write(1, 34, &[0x30; 8], ErasePolicy::TouchedSectors)
        .unwrap();
    assert_eq!(dfu.transport_mut().bytes(1, 34, 8), &[0x30; 8]);
}

#[test]
fn every_control_transfer_is_counted() {
    let (mut dfu, _) = open(Target::duo());
    dfu.reset_stats();
    dfu.read(1, 34, 612).unwrap();
    // SetAlt, GETSTATUS, pointer DNLOAD + 2 GETSTATUS, ABORT, UPLOAD, ABORT.
    assert_eq!(dfu.stats().control_transfers, 8);
    assert_eq!(dfu.stats().bytes_up, 612);
}

#[test]
fn a_read_longer_than_memory_itself_is_refused_not_a_panic() {
    let (mut dfu, _) = open(Target::duo());
    let err = dfu.read(1, 0x10, usize::MAX).unwrap_err();
    assert!(
        matches!(err, DfuError::OutOfRange { first_bad, .. } if first_bad == 1 << 32),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x00000000..0x00004000"), "{err}");
}

/// Issue 8 item 5: a cancellation is noticed between blocks; the block
/// under way is sent whole and nothing after it.
#[test]
fn a_cancelled_write_stops_after_the_block_under_way() {
    let (mut dfu, _) = open(Target::duo());
    let data = pattern(10_000, 5);
    let token = CancelToken::new();
    let trigger = token.clone();
    let monitor =
        Monitor::new()
            .with_cancel(token)
            .with_observer(Arc::new(move |e: &ProgressEvent| {
                if e.phase == Phase::Write && e.done >= 4096 {
                    trigger.cancel();
                }
            }));
    let err = dfu
        .write_with(0, 0x0802_0000, &data, ErasePolicy::TouchedSectors, &monitor)
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(crate::error::ErrorInfo::code(&err).as_str(), "CANCELLED");
    let t = dfu.transport_mut();
    assert_eq!(t.data_block_numbers(request::DNLOAD), vec![2]);
    assert_eq!(t.bytes(0, 0x0802_0000, 4096), &data[..4096]);
    // The engine still works afterwards, with a fresh monitor.
    let back = dfu.read(0, 0x0802_0000, 4096).unwrap();
    assert_eq!(back, &data[..4096]);
}

#[test]
fn a_cancelled_read_stops_between_blocks() {
    let (mut dfu, _) = open(Target::duo());
    let token = CancelToken::new();
    let trigger = token.clone();
    let monitor =
        Monitor::new()
            .with_cancel(token)
            .with_observer(Arc::new(move |e: &ProgressEvent| {
                if e.done > 0 {
                    trigger.cancel();
                }
            }));
    let err = dfu.read_with(0, 0x0802_0000, 10_000, &monitor).unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(
        dfu.transport_mut().data_block_numbers(request::UPLOAD),
        vec![2]
    );
}
