//! One `Device` shared by two threads behind `Arc<Mutex<_>>`, as a binding
//! holds it (issue 8 item 6): each call takes the lock, so transfers never
//! interleave and both threads read the same slot.

use std::sync::{Arc, Mutex};

use super::Device;
use crate::dfu::DeviceSelector;
use crate::sim::duo::{CreateOptions, ManualClock, VirtualDuo};

#[test]
fn a_device_behind_a_mutex_serves_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vd");
    let clock = ManualClock::new();
    VirtualDuo::create_with_clock(&dir, CreateOptions::default(), clock.clone()).unwrap();
    let device = Device::open(Some(&DeviceSelector::Sim(dir)), clock).unwrap();
    let shared = Arc::new(Mutex::new(device));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut device = shared.lock().unwrap();
                let slot = device.read_key_slot().unwrap();
                let dct = device.read_app_dct().unwrap();
                let from_dct = dct.as_bytes()[34..34 + slot.len()].to_vec();
                (slot, from_dct)
            })
        })
        .collect();
    let reads: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (slot, from_dct) in &reads {
        // A factory board: the slot is erased, and the DCT agrees.
        assert!(slot.iter().all(|b| *b == 0xFF));
        assert_eq!(slot, from_dct);
    }
    assert_eq!(reads[0], reads[1]);
}
