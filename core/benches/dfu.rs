//! `make bench`: the device key commands against a virtual Duo at real
//! device timing (time factor 1.0), through the device layer with the real
//! system clock. Prints figures only; nothing here asserts a time.
//!
//! The protocol's floor is what the device itself spends (REFERENCE §1):
//! each write runs inside the GETSTATUS that starts it, for the part's
//! datasheet time (a DCT write in place: the words programmed; a copy:
//! 16 KiB erase + 16 KiB programmed + the old partition erased), plus the
//! bwPollTimeouts it reports (1 ms per DCT block). A host that waits exactly
//! that long, and no longer, has a ratio of 1.0.

use std::path::Path;
use std::time::{Duration, Instant};

use duo_provisioning::device::{Device, KeyToLoad};
use duo_provisioning::dfu::DeviceSelector;
use duo_provisioning::keys;
use duo_provisioning::sim::duo::{CreateOptions, Stats, VirtualDuo};

/// A fresh virtual Duo that has booted once (so its slot holds a key) and
/// is back in DFU mode.
fn virtual_duo(dir: &Path) {
    let mut duo = VirtualDuo::create(
        dir,
        CreateOptions {
            time_factor: 1.0,
            ..CreateOptions::default()
        },
    )
    .expect("create the virtual Duo");
    duo.boot().expect("first boot generates a key");
    duo.enter_dfu().expect("back to DFU mode");
}

/// Zero the device's own counters (persisted in its state directory).
fn reset_device_stats(dir: &Path) {
    VirtualDuo::open(dir)
        .and_then(|mut d| d.reset_stats())
        .expect("zero the counters");
}

fn device_stats(dir: &Path) -> Stats {
    VirtualDuo::open(dir).expect("open the virtual Duo").stats()
}

fn report(what: &str, wall: Duration, device: &Stats) {
    let busy = Duration::from_micros(device.busy_us_total);
    let polls = Duration::from_millis(device.poll_timeout_ms_total);
    let floor = busy + polls;
    let ratio = wall.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
    println!("{what}");
    println!(
        "  wall time:                          {:>8.1} ms",
        wall.as_secs_f64() * 1e3
    );
    println!(
        "  device busy inside GETSTATUS:       {:>8.1} ms",
        busy.as_secs_f64() * 1e3
    );
    println!(
        "  poll timeouts the device reported:  {:>8.1} ms",
        polls.as_secs_f64() * 1e3
    );
    println!("  wall / device floor:                {ratio:>8.3}");
    println!(
        "  control transfers:                  {:>8}",
        device.control_transfers
    );
}

/// Open the board, run `op`, close it: the wall time and the device's counts.
fn phase(dir: &Path, op: impl FnOnce(&mut Device)) -> (Duration, Stats) {
    reset_device_stats(dir);
    let selector = DeviceSelector::Sim(dir.to_path_buf());
    let started = Instant::now();
    let mut dev =
        Device::open(Some(&selector), duo_provisioning::time::system()).expect("open sim:vd");
    op(&mut dev);
    drop(dev);
    (started.elapsed(), device_stats(dir))
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("vd");
    virtual_duo(&dir);
    let new_key = keys::generate().expect("a key to load");
    let key_file = keys::write_key_files(&tmp.path().join("new"), &new_key, false)
        .expect("write the key file")
        .der;
    let key = KeyToLoad::from_file(&key_file).expect("the key file is valid");

    println!("virtual Duo (r4 + 0.2.4) at time factor 1.0, real system clock");
    let (wall, stats) = phase(&dir, |dev| {
        dev.save_key(&tmp.path().join("saved"), false)
            .expect("keys save");
    });
    report("open + keys save (reads the 1216-byte slot)", wall, &stats);
    let (wall, stats) = phase(&dir, |dev| {
        let loaded = dev.load_key(&key).expect("keys load");
        assert!(loaded.verified);
    });
    report(
        "open + keys load (reads the slot for the backup, writes it, reads it back)",
        wall,
        &stats,
    );
}
