//! The session's address pointer (REFERENCE §1: one pointer per DFU session,
//! moved only by set-address and erase): the engine reuses the pointer it set
//! itself, and sets it again whenever anything since can have moved it.

use std::time::Duration;

use super::protocol::request;
use super::testkit::{open, Req, Target};
use super::ErasePolicy;

fn set_addresses(t: &Target) -> Vec<u32> {
    t.commands()
        .into_iter()
        .filter(|c| c.0 == 0x21)
        .filter_map(|c| c.1)
        .collect()
}

fn key(seed: u8) -> Vec<u8> {
    (0..1216u32).map(|i| (i as u8).wrapping_mul(seed)).collect()
}

#[test]
fn backup_write_and_verify_of_the_key_slot_set_the_pointer_once() {
    let (mut dfu, _) = open(Target::duo());
    dfu.reset_stats();
    let before = dfu.read(1, 34, 1216).unwrap();
    assert_eq!(before, vec![0xFF; 1216]);
    let new = key(7);
    dfu.write(1, 34, &new, ErasePolicy::Never).unwrap();
    // The verify read still reads the device, not a cache.
    let back = dfu.read(1, 34, 1216).unwrap();
    assert_eq!(back, new);
    assert_eq!(dfu.transport_mut().bytes(1, 34, 1216), &new[..]);
    assert_eq!(set_addresses(dfu.transport_mut()), vec![34]);
    assert_eq!(dfu.pointer(), Some(34));
    // Read: SET_INTERFACE, GETSTATUS, pointer (DNLOAD + 2 GETSTATUS),
    // ABORT, UPLOAD, ABORT. Write: DNLOAD + 2 GETSTATUS. Verify: ABORT,
    // UPLOAD, ABORT.
    assert_eq!(dfu.stats().control_transfers, 8 + 3 + 3);
    let uploads = dfu.transport_mut().data_block_numbers(request::UPLOAD);
    assert_eq!(uploads, vec![2, 2]);
}

#[test]
fn a_range_elsewhere_sets_the_pointer_there() {
    let (mut dfu, _) = open(Target::duo());
    dfu.read(1, 34, 612).unwrap();
    dfu.read(1, 1250, 384).unwrap();
    dfu.read(1, 1250, 384).unwrap();
    assert_eq!(set_addresses(dfu.transport_mut()), vec![34, 1250]);
}

#[test]
fn an_erase_moves_the_pointer_so_it_is_set_again() {
    let (mut dfu, _) = open(Target::duo());
    let addr = 0x0802_0000;
    dfu.read(0, addr, 16).unwrap();
    assert_eq!(dfu.pointer(), Some(addr));
    dfu.write(0, addr, &[0x5A; 16], ErasePolicy::TouchedSectors)
        .unwrap();
    assert_eq!(
        dfu.transport_mut().commands(),
        vec![(0x21, Some(addr)), (0x41, Some(addr)), (0x21, Some(addr))]
    );
    assert_eq!(dfu.transport_mut().bytes(0, addr, 16), &[0x5A; 16]);
}

#[test]
fn an_alt_change_sets_the_pointer_again() {
    let (mut dfu, _) = open(Target::duo());
    dfu.read(1, 34, 612).unwrap();
    dfu.read(2, 34, 612).unwrap();
    assert_eq!(dfu.pointer(), Some(34));
    dfu.read(1, 34, 612).unwrap();
    assert_eq!(set_addresses(dfu.transport_mut()), vec![34, 34, 34]);
    let alts: Vec<u8> = dfu
        .transport_mut()
        .log
        .iter()
        .filter_map(|r| match r {
            Req::SetAlt(a) => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(alts, vec![1, 2, 1]);
}

#[test]
fn a_failed_write_forgets_the_pointer() {
    let mut t = Target::duo();
    t.fail_write_block = Some(1);
    let (mut dfu, _) = open(t);
    dfu.read(1, 34, 612).unwrap();
    dfu.write(1, 34, &key(3), ErasePolicy::Never).unwrap_err();
    assert_eq!(dfu.pointer(), None);
    // After a failure the device state is asked again (GETSTATUS, CLRSTATUS)
    // and the pointer set again before the read.
    let back = dfu.read(1, 34, 612).unwrap();
    assert_eq!(back, vec![0xFF; 612]);
    assert_eq!(set_addresses(dfu.transport_mut()), vec![34, 34]);
    let clears = dfu
        .transport_mut()
        .log
        .iter()
        .filter(|r| matches!(r, Req::Out(s, _) if s.request == request::CLRSTATUS))
        .count();
    assert_eq!(clears, 1);
}

#[test]
fn a_usb_reset_or_leaving_forgets_the_pointer() {
    let (mut dfu, _) = open(Target::duo());
    dfu.read(1, 34, 612).unwrap();
    dfu.usb_reset().unwrap();
    assert_eq!(dfu.pointer(), None);
    dfu.read(1, 34, 612).unwrap();
    assert_eq!(set_addresses(dfu.transport_mut()), vec![34, 34]);
    dfu.leave(None).unwrap();
    assert_eq!(dfu.pointer(), None);
}

#[test]
fn stale_poll_timeouts_in_idle_replies_are_not_waited_for() {
    // Bootloaders r5/r6 never reset bwPollTimeout: a reply in dfuIDLE or
    // dfuDNLOAD_IDLE can carry the last operation's value (REFERENCE §1).
    let mut t = Target::duo();
    t.stale_poll_ms = 500;
    let (mut dfu, clock) = open(t);
    dfu.read(1, 34, 612).unwrap();
    dfu.write(1, 34, &key(5), ErasePolicy::Never).unwrap();
    // Only the dfuDNBUSY replies are waited for: set-address 2 ms, the
    // DCT block 500 ms.
    assert_eq!(clock.total(), Duration::from_millis(2 + 500));
}
