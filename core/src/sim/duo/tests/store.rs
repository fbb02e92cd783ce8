//! The state directory: one device seen by every process that opens it.

use super::*;
use crate::sim::duo::{DeviceInfo, Mode, SimError, STATE_FILE};

#[test]
fn a_directory_that_is_not_a_virtual_device_is_named_with_the_fix() {
    let dir = TempDir::new().unwrap();
    let err = VirtualDuo::open(dir.path()).unwrap_err();
    assert!(matches!(err, SimError::NotAVirtualDevice { .. }));
    let message = err.to_string();
    assert!(message.contains(STATE_FILE), "{message}");
    assert!(
        message.contains(&format!("Create a virtual Duo in {}", dir.path().display())),
        "{message}"
    );
    assert!(matches!(
        SimTransport::open(dir.path()),
        Err(SimError::NotAVirtualDevice { .. })
    ));
    assert!(matches!(
        VirtualDuo::probe(dir.path()),
        Err(SimError::NotAVirtualDevice { .. })
    ));
}

#[test]
fn create_refuses_a_non_empty_directory_and_an_existing_device() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = VirtualDuo::create(dir.path(), CreateOptions::default()).unwrap_err();
    assert!(matches!(err, SimError::DirNotEmpty { .. }), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );

    let b = bench(0.01);
    let path = b.path();
    drop(b.t);
    let err = VirtualDuo::create(&path, CreateOptions::default()).unwrap_err();
    assert!(matches!(err, SimError::AlreadyExists { .. }), "{err}");
}

#[test]
fn create_checks_its_options() {
    let dir = TempDir::new().unwrap();
    let bad_image = CreateOptions {
        dct_image: Some(vec![0xFF; 1000]),
        ..CreateOptions::default()
    };
    assert!(matches!(
        VirtualDuo::create(&dir.path().join("a"), bad_image),
        Err(SimError::DctImageSize {
            expected: 32768,
            got: 1000
        })
    ));
    let bad_factor = CreateOptions {
        time_factor: -1.0,
        ..CreateOptions::default()
    };
    assert!(matches!(
        VirtualDuo::create(&dir.path().join("b"), bad_factor),
        Err(SimError::TimeFactor(_))
    ));
    assert!(!dir.path().join("a").exists() && !dir.path().join("b").exists());
}

#[test]
fn a_new_device_is_in_dfu_mode_with_its_device_id() {
    let b = bench(0.01);
    assert_eq!(b.t.mode(), Mode::Dfu);
    assert_eq!(b.t.device().device_id_hex(), "2fff27fffc473530fff23637");
    let other = bench_with(CreateOptions::default());
    assert_ne!(
        other.t.device_id(),
        b.t.device_id(),
        "default ids are random"
    );
    let region = (crate::platform::board::DUO_MAP_16K.dct_region_addr - 0x0800_0000) as usize;
    assert_eq!(
        b.t.internal_flash()[region..region + 0x8000],
        crate::FACTORY_DCT_IMAGE[..]
    );
}

#[test]
fn a_second_open_while_held_is_busy() {
    let b = bench(0.01);
    let err = VirtualDuo::open(&b.path()).unwrap_err();
    assert!(matches!(err, SimError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("another program has it open"));
    // Probing does not need the device.
    let info = VirtualDuo::probe(&b.path()).unwrap();
    assert_eq!(
        info,
        DeviceInfo {
            platform: &crate::platform::DUO,
            board: crate::platform::Board::factory(&crate::platform::DUO),
            mode: Mode::Dfu,
            connected: true,
            device_id: b.t.device_id(),
            time_factor: 0.01,
            listening: false,
        }
    );
}

#[test]
fn reopening_sees_the_same_device_mid_download() {
    let mut b = bench(0.01);
    assert_eq!(b.write(0x0802_0000, &[0x12, 0x34]).status, DfuStatus::Ok);
    let stats = b.t.stats();
    let path = b.path();
    drop(b.t);

    let clock = ManualClock::new();
    let t = SimTransport::open_with_clock(&path, clock.clone()).unwrap();
    assert_eq!(t.stats(), stats);
    assert_eq!(t.internal_flash()[0x20000..0x20002], [0x12, 0x34]);
    let mut b = Bench {
        dir: b.dir,
        t,
        clock,
    };
    // Still in dfuDNLOAD_IDLE with the pointer where the last process left it.
    assert_eq!(b.state(), DfuState::DfuDnloadIdle);
    assert_eq!(b.download(2, &[0x00]).status, DfuStatus::Ok);
    assert_eq!(
        b.t.internal_flash()[0x20000],
        0x00,
        "block 2 = the old pointer"
    );
    drop(b.t);
    assert_eq!(
        VirtualDuo::open(&path).unwrap().internal_flash()[0x20000],
        0x00
    );
}

#[test]
fn a_busy_period_outlives_the_process_that_started_it() {
    // Mass erase declares 8.3 s; × 10 = 83 s of busy, far beyond any test run.
    let mut b = bench(10.0);
    b.dnload(0, &[0x41]).unwrap();
    assert_eq!(b.status().poll_timeout.as_millis(), 83_000);
    let mut b = b.reopen();
    let s = b.status();
    assert_eq!(s.state, DfuState::DfuDnBusy);
    assert!(
        s.poll_timeout.as_millis() > 0 && s.poll_timeout.as_millis() <= 83_000,
        "{s:?}"
    );
    b.clock.advance(Duration::from_secs(84));
    assert_eq!(b.status().state, DfuState::DfuDnloadIdle);
}

#[test]
fn mode_changes_are_seen_by_the_next_process() {
    let b = bench(0.01);
    let path = b.path();
    let mut duo = b.t.into_device();
    duo.boot().unwrap();
    drop(duo);
    assert_eq!(VirtualDuo::probe(&path).unwrap().mode, Mode::Firmware);
    let mut duo = VirtualDuo::open(&path).unwrap();
    assert_eq!(duo.mode(), Mode::Firmware);
    duo.enter_dfu().unwrap();
    drop(duo);
    assert_eq!(SimTransport::open(&path).unwrap().mode(), Mode::Dfu);
}

#[test]
fn create_refuses_a_dct_image_without_a_current_partition() {
    let dir = TempDir::new().unwrap();
    let erased = CreateOptions {
        dct_image: Some(vec![0xFF; 32768]),
        ..CreateOptions::default()
    };
    let err = VirtualDuo::create(&dir.path().join("vd"), erased).unwrap_err();
    assert!(matches!(err, SimError::Dct(_)), "{err}");
    assert!(!dir.path().join("vd").exists());
}

/// Run this test's own binary as a second process, in `role`.
fn child(role: &str, dir: &std::path::Path) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sim::duo::tests::store::another_process_sees_the_same_device",
            "--quiet",
        ])
        .env("VIRTUAL_DUO_CHILD", role)
        .env("VIRTUAL_DUO_DIR", dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn another_process_sees_the_same_device() {
    if let (Ok(role), Ok(dir)) = (
        std::env::var("VIRTUAL_DUO_CHILD"),
        std::env::var("VIRTUAL_DUO_DIR"),
    ) {
        let dir = std::path::Path::new(&dir);
        match role.as_str() {
            "busy" => assert!(matches!(VirtualDuo::open(dir), Err(SimError::Busy { .. }))),
            _ => {
                let clock = ManualClock::new();
                let t = SimTransport::open_with_clock(dir, clock.clone()).unwrap();
                let mut b = Bench {
                    dir: TempDir::new().unwrap(),
                    t,
                    clock,
                };
                // The parent left the device in dfuDNLOAD_IDLE at 0x08020000.
                assert_eq!(b.state(), DfuState::DfuDnloadIdle);
                assert_eq!(b.download(3, &[0x5A; 4]).status, DfuStatus::Ok);
            }
        }
        return;
    }
    let mut b = bench(0.01);
    assert_eq!(b.write(0x0802_0000, &[0xA5; 4]).status, DfuStatus::Ok);
    let path = b.path();
    assert!(
        child("busy", &path).success(),
        "a second process finds the device claimed"
    );
    drop(b.t);
    assert!(
        child("write", &path).success(),
        "a second process continues the download"
    );
    let duo = VirtualDuo::open(&path).unwrap();
    assert_eq!(duo.internal_flash()[0x20000..0x20004], [0xA5; 4]);
    assert_eq!(
        duo.internal_flash()[0x21000..0x21004],
        [0x5A; 4],
        "block 3 = pointer + 4096"
    );
}
