//! The fault matrix's cancellation column (issue 8 item 5, issue 13 rule
//! 6): a key load and a key reset cancelled at every request position end
//! with the old or the new content whole in the slot, the backup byte-equal
//! to the original, and a `CANCELLED` error saying which and where.

use std::sync::Arc;

use super::*;
use crate::dfu::{ControlTransport, Setup, TransportError};
use crate::progress::{CancelToken, Monitor, Phase, ProgressEvent};
use crate::sim::duo::SimTransport;

/// The virtual Duo's transport, cancelling `token` right after request
/// number `at` (counted as the engine counts them) went out.
struct CancelAt {
    inner: SimTransport,
    sent: u64,
    at: u64,
    token: CancelToken,
}

impl CancelAt {
    fn count(&mut self) {
        self.sent += 1;
        if self.sent == self.at {
            self.token.cancel();
        }
    }
}

impl ControlTransport for CancelAt {
    fn control_in(&mut self, setup: Setup, buf: &mut [u8]) -> Result<usize, TransportError> {
        let r = self.inner.control_in(setup, buf);
        self.count();
        r
    }
    fn control_out(&mut self, setup: Setup, data: &[u8]) -> Result<usize, TransportError> {
        let r = self.inner.control_out(setup, data);
        self.count();
        r
    }
    fn set_alt_setting(&mut self, interface: u8, alt: u8) -> Result<(), TransportError> {
        let r = self.inner.set_alt_setting(interface, alt);
        self.count();
        r
    }
    fn reset(&mut self) -> Result<(), TransportError> {
        self.inner.reset()
    }
}

/// A device on `b` whose monitor is cancelled after request `at`.
fn cancelling_device(b: &Bench, at: u64) -> (Device, Monitor) {
    let token = CancelToken::new();
    let transport = CancelAt {
        inner: SimTransport::open_with_clock(&b.dir, b.clock.clone()).unwrap(),
        sent: 0,
        at,
        token: token.clone(),
    };
    let dev = Device::from_transport(Box::new(transport), b.clock.clone(), "test Duo").unwrap();
    (dev, Monitor::new().with_cancel(token))
}

/// Requests that opening the device takes, and requests `op` takes after.
fn request_counts(b: &Bench, op: impl FnOnce(&mut Device)) -> (u64, u64) {
    let (mut dev, _) = cancelling_device(b, 0);
    let open = dev.stats().control_transfers;
    op(&mut dev);
    (open, dev.stats().control_transfers - open)
}

/// The slot is whole and as the error says; the backup, if any, is the
/// original key.
fn check_settled(
    b: &Bench,
    what: &str,
    err: &DeviceError,
    old_slot: &[u8],
    new_slot: &[u8],
    old_der: &[u8],
) -> SlotHolds {
    assert_eq!(err.code(), ErrorCode::Cancelled, "{what}: {err}");
    let DeviceError::Cancelled { slot, backup, .. } = err else {
        panic!("{what}: not a settled cancellation: {err}");
    };
    let held = b.slot();
    match slot {
        SlotHolds::Old => assert_eq!(held, old_slot, "{what}: {err}"),
        SlotHolds::New => assert_eq!(held, new_slot, "{what}: {err}"),
    }
    assert_eq!(err.facts().slot, Some(slot.as_str()));
    let found = backups(b.tmp.path());
    assert!(found.len() <= 1, "{what}: {found:?}");
    for path in &found {
        assert_eq!(&std::fs::read(path).unwrap(), old_der, "{what}: backup");
    }
    match backup {
        Some(path) => {
            assert_eq!(found, vec![path.clone()], "{what}");
            assert!(err.to_string().contains(&path.display().to_string()));
            assert_eq!(err.facts().backup.as_ref(), Some(path));
        }
        // No backup only when nothing was written yet.
        None => assert_eq!(*slot, SlotHolds::Old, "{what}: {err}"),
    }
    *slot
}

#[test]
fn every_cancellation_during_a_key_load_leaves_the_old_or_the_new_key_never_a_mix() {
    let (old, new) = test_keys();
    let (old_slot, new_slot) = (slot_of(old), slot_of(new));
    let old_der = keys::private_key_to_der(old).unwrap();
    let (open, load) = {
        let b = bench(Some(&old_slot));
        let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
        request_counts(&b, |dev| {
            dev.load_key(&key).unwrap();
        })
    };
    assert!(load > 10, "{load}");
    let mut outcomes = Vec::new();
    for k in 1..=load {
        let b = bench(Some(&old_slot));
        let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
        let (mut dev, monitor) = cancelling_device(&b, open + k);
        let result = dev.load_key_with(&key, &monitor);
        drop(dev);
        let what = format!("cancelled after request {k} of {load}");
        match result {
            // Cancelled after the last request that could notice it.
            Ok(report) => {
                assert!(report.verified, "{what}");
                assert_eq!(b.slot(), new_slot, "{what}");
                outcomes.push(None);
            }
            Err(err) => outcomes.push(Some(check_settled(
                &b, &what, &err, &old_slot, &new_slot, &old_der,
            ))),
        }
    }
    // Every column is reached: stopped before the write, kept the new key.
    assert!(outcomes.contains(&Some(SlotHolds::Old)), "{outcomes:?}");
    assert!(outcomes.contains(&Some(SlotHolds::New)), "{outcomes:?}");
    assert!(
        outcomes.iter().filter(|o| o.is_some()).count() as u64 >= load - 2,
        "{outcomes:?}"
    );
}

#[test]
fn every_cancellation_during_a_key_reset_leaves_the_old_key_or_the_reset_request() {
    let (old, _) = test_keys();
    let old_slot = slot_of(old);
    let old_der = keys::private_key_to_der(old).unwrap();
    let (open, reset) = {
        let b = bench(Some(&old_slot));
        let name = b.tmp.path().join("r");
        request_counts(&b, |dev| {
            dev.reset_key(false, &name).unwrap();
        })
    };
    let mut outcomes = Vec::new();
    for k in 1..=reset {
        let b = bench(Some(&old_slot));
        let name = b.tmp.path().join("r");
        let (mut dev, monitor) = cancelling_device(&b, open + k);
        let result = dev.reset_key_with(false, &name, &monitor);
        drop(dev);
        let what = format!("cancelled after request {k} of {reset}");
        match result {
            Ok(_) => assert_eq!(b.slot(), keys::RESET_REQUEST, "{what}"),
            Err(err) => outcomes.push(check_settled(
                &b,
                &what,
                &err,
                &old_slot,
                keys::RESET_REQUEST,
                &old_der,
            )),
        }
    }
    assert!(outcomes.contains(&SlotHolds::Old), "{outcomes:?}");
    assert!(outcomes.contains(&SlotHolds::New), "{outcomes:?}");
}

/// The phases of a load, in order, each from 0 to its total.
#[test]
fn a_load_reports_backup_write_and_verify_in_bytes() {
    let (old, new) = test_keys();
    let b = bench(Some(&slot_of(old)));
    let key = KeyToLoad::from_file(&b.key_file("new", new)).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<ProgressEvent>::new()));
    let sink = seen.clone();
    let monitor = Monitor::new().with_observer(Arc::new(move |e: &ProgressEvent| {
        sink.lock().unwrap().push(*e)
    }));
    b.open().load_key_with(&key, &monitor).unwrap();
    let seen = seen.lock().unwrap().clone();
    let mut phases: Vec<Phase> = seen.iter().map(|e| e.phase).collect();
    phases.dedup();
    assert_eq!(phases, vec![Phase::Backup, Phase::Write, Phase::Verify]);
    for phase in phases {
        let events: Vec<_> = seen.iter().filter(|e| e.phase == phase).collect();
        assert_eq!(events.first().unwrap().done, 0, "{phase}");
        let last = events.last().unwrap();
        assert_eq!((last.done, last.total), (1216, 1216), "{phase}");
    }
}
