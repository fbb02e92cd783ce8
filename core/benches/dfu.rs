//! `make bench`: the device key commands against a virtual Duo at real
//! device timing (time factor 1.0), through the device layer with the real
//! system clock. Prints figures only; nothing here asserts a time.
//!
//! The protocol's floor is the sum of the bwPollTimeouts the device asks
//! for: 500 ms per DCT command or data block (REFERENCE §1 "Alt 1"). A host
//! that waits exactly that long, and no longer, has a ratio of 1.0.

use std::path::Path;
use std::time::{Duration, Instant};

use duo_provisioning::device::{Device, KeyToLoad};
use duo_provisioning::dfu::{DeviceSelector, DfuStats};
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
    duo.reset_stats().expect("zero the counters");
}

/// The device's own counters (persisted in its state directory).
fn device_stats(dir: &Path) -> Stats {
    VirtualDuo::open(dir).expect("open the virtual Duo").stats()
}

fn report(what: &str, wall: Duration, stats: DfuStats) {
    let floor = stats.poll_timeout_total;
    let ratio = wall.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
    println!("{what}");
    println!(
        "  wall time:                       {:>8.1} ms",
        wall.as_secs_f64() * 1e3
    );
    println!(
        "  poll timeouts the device asked:  {:>8.1} ms",
        floor.as_secs_f64() * 1e3
    );
    println!("  wall / poll-timeout floor:       {ratio:>8.3} (goal <= 1.05)");
    println!(
        "  control transfers:               {:>8}",
        stats.control_transfers
    );
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
    let selector = DeviceSelector::Sim(dir.clone());
    let clock = duo_provisioning::time::system();

    let started = Instant::now();
    let mut dev = Device::open(Some(&selector), clock).expect("open sim:vd");
    let opened = started.elapsed();
    dev.reset_stats();

    let t = Instant::now();
    dev.save_key(&tmp.path().join("saved"), false)
        .expect("keys save");
    let save_wall = t.elapsed();
    let save_host = dev.stats();

    let t = Instant::now();
    let loaded = dev.load_key(&key).expect("keys load");
    let load_wall = t.elapsed();
    let total_host = dev.stats();
    drop(dev);
    let device = device_stats(&dir);
    assert!(loaded.verified);

    println!("virtual Duo at time factor 1.0, real system clock");
    let load_host = DfuStats {
        control_transfers: total_host.control_transfers - save_host.control_transfers,
        poll_timeout_total: total_host.poll_timeout_total - save_host.poll_timeout_total,
        ..total_host
    };
    report("keys save (reads the 1216-byte slot)", save_wall, save_host);
    report(
        "keys load (reads the slot for the backup, writes it, reads it back)",
        load_wall,
        load_host,
    );
    let total_wall = opened + save_wall + load_wall;
    report(
        "open + keys save + keys load, as the device counted them",
        total_wall,
        DfuStats {
            control_transfers: device.control_transfers,
            poll_timeout_total: Duration::from_millis(device.poll_timeout_ms_total),
            ..total_host
        },
    );
}
