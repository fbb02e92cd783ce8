//! Issue 12 on a virtual Duo with each firmware: identify and mode dfu by
//! the route each firmware has.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::platform::{Board, DUO};
use crate::sim::duo::serial::SerialFace;
use crate::sim::duo::{CreateOptions, ManualClock};

const ID: [u8; 12] = [
    0x2a, 0, 0x21, 0, 0x07, 0x47, 0x34, 0x32, 0x32, 0x36, 0x32, 0x30,
];
const ID_HEX: &str = "2a0021000747343232363230";

/// A board (bootloader, firmware) booted, its serial port served.
fn booted(bootloader: &str, firmware: &str) -> (tempfile::TempDir, PathBuf, SerialFace) {
    let board = Board::new(
        &DUO,
        DUO.bootloader(bootloader).unwrap(),
        DUO.firmware(firmware).unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duo");
    let mut duo = VirtualDuo::create(
        &dir,
        CreateOptions {
            board: Some(board),
            device_id: Some(ID),
            time_factor: 0.001,
            ..CreateOptions::default()
        },
    )
    .unwrap();
    duo.boot().unwrap();
    drop(duo);
    let face = SerialFace::start(&dir, crate::time::system()).unwrap();
    (tmp, dir, face)
}

#[test]
fn firmware_0_3_3_is_identified_over_usb_alone() {
    let (_tmp, dir, _face) = booted("r4", "0.3.3");
    let report = identify(&dir, crate::time::system().as_ref()).unwrap();
    assert_eq!(report.usb_serial.as_deref(), Some(ID_HEX));
    let id = &report.identity;
    assert_eq!(
        (id.device_id.as_str(), id.device_id_from),
        (ID_HEX, Route::UsbSerial)
    );
    assert_eq!(id.firmware_version.as_deref(), Some("0.3.3"));
    assert_eq!(id.firmware_version_from, Some(Route::LegacyRequest));
    assert_eq!(id.modules_from, Some(Route::ServiceRequest));
    assert_eq!(id.modules.as_ref().unwrap().modules.len(), 4);
    // Nothing needed the console: the board is not in listening mode.
    assert!(!VirtualDuo::probe(&dir).unwrap().listening);
}

#[test]
fn firmware_0_3_1_reports_its_uppercase_serial_and_modules_by_console() {
    let (_tmp, dir, _face) = booted("r4", "0.3.1");
    let report = identify(&dir, crate::time::system().as_ref()).unwrap();
    assert_eq!(
        report.usb_serial.as_deref(),
        Some(ID_HEX.to_uppercase().as_str())
    );
    let id = &report.identity;
    assert_eq!(
        (id.device_id.as_str(), id.device_id_from),
        (ID_HEX, Route::UsbSerial)
    );
    assert_eq!(id.firmware_version_from, Some(Route::LegacyRequest));
    assert_eq!(id.modules_from, Some(Route::Console));
    assert_eq!(id.modules.as_ref().unwrap().platform_id, 88);
}

#[test]
fn firmware_0_2_4_is_identified_over_the_console() {
    let (_tmp, dir, _face) = booted("r4", "0.2.4");
    let report = identify(&dir, crate::time::system().as_ref()).unwrap();
    assert_eq!(report.usb_serial.as_deref(), Some("00000000050C"));
    let id = &report.identity;
    assert_eq!(
        (id.device_id.as_str(), id.device_id_from),
        (ID_HEX, Route::Console)
    );
    assert_eq!(id.firmware_version.as_deref(), Some("0.2.4"));
    assert_eq!(id.firmware_version_from, Some(Route::Console));
    assert_eq!(id.modules_from, Some(Route::Console));
}

fn dfu_by(bootloader: &str, firmware: &str, routes: Routes) -> (DfuReport, PathBuf) {
    let (tmp, dir, _face) = booted(bootloader, firmware);
    let report = enter_dfu(
        &dir,
        crate::time::system().as_ref(),
        routes,
        Duration::from_secs(10),
    )
    .unwrap();
    let info = VirtualDuo::probe(&dir).unwrap();
    assert_eq!((info.mode, info.connected), (Mode::Dfu, true));
    std::mem::forget(tmp);
    (report, dir)
}

#[test]
fn mode_dfu_takes_the_route_each_firmware_has() {
    let (r, dir) = dfu_by("r4", "0.3.3", Routes::default());
    assert_eq!(r.route, Route::ServiceRequest);
    // 0.3.3 installed r6, which reports the device id in DFU mode.
    assert_eq!(r.matched_by, "device_id");
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();

    let (r, dir) = dfu_by("r4", "0.3.1", Routes::default());
    assert_eq!(r.route, Route::LegacyRequest);
    assert_eq!(r.attempts[0].route, Route::ServiceRequest);
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();

    let (r, dir) = dfu_by("r4", "0.2.4", Routes::default());
    assert_eq!(r.route, Route::BaudRate);
    assert_eq!(r.matched_by, "port");
    let tried: Vec<Route> = r.attempts.iter().map(|a| a.route).collect();
    assert_eq!(
        tried,
        [Route::ServiceRequest, Route::LegacyRequest, Route::BaudRate]
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();

    let usb_off = Routes {
        service: false,
        legacy: false,
        baud: true,
    };
    let (r, dir) = dfu_by("r4", "0.3.3", usb_off);
    assert_eq!(r.route, Route::BaudRate);
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn no_route_on_0_2_4_without_the_baud_trigger_is_a_clear_error() {
    let (_tmp, dir, _face) = booted("r4", "0.2.4");
    let routes = Routes {
        baud: false,
        ..Routes::default()
    };
    let err = enter_dfu(
        &dir,
        crate::time::system().as_ref(),
        routes,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(err, NormalError::NoRouteToDfu { .. }), "{err:?}");
    assert!(err.to_string().contains("Hold SETUP"), "{err}");
}

#[test]
fn a_board_that_does_not_come_back_times_out() {
    let clock = ManualClock::new();
    let err = workflow::wait_for_dfu(clock.as_ref(), Duration::from_secs(5), || Ok(None::<()>))
        .unwrap_err();
    assert_eq!(err, NormalError::NotBackInDfu { waited_ms: 5000 });
    assert!(err.to_string().contains("5000 ms"), "{err}");
}

#[test]
fn the_board_is_off_the_bus_while_it_re_enumerates() {
    let (_tmp, dir, _face) = booted("r4", "0.3.3");
    let mut duo = VirtualDuo::open(&dir).unwrap();
    duo.set_time_factor(1000.0).unwrap();
    duo.reset_into_dfu().unwrap();
    drop(duo);
    let info = VirtualDuo::probe(&dir).unwrap();
    assert_eq!((info.mode, info.connected), (Mode::Dfu, false));
    assert!(SimTransport::open(&dir)
        .ok()
        .and_then(|mut t| read_usb_serial(&mut t))
        .is_none());
}

#[test]
fn listening_mode_by_service_requests_on_0_3_3_and_by_the_console_on_0_2_4() {
    for (firmware, route) in [("0.3.3", Route::ServiceRequest), ("0.2.4", Route::Console)] {
        let (_tmp, dir, _face) = booted("r4", firmware);
        let clock = crate::time::system();
        let on = set_listening(&dir, clock.as_ref(), true).unwrap();
        assert_eq!((on.route, on.listening), (route, true), "{firmware}");
        assert!(VirtualDuo::probe(&dir).unwrap().listening, "{firmware}");
        let off = set_listening(&dir, clock.as_ref(), false).unwrap();
        assert_eq!((off.route, off.listening), (route, false), "{firmware}");
        // The console's `x` reaches the state once the server has read it.
        let start = std::time::Instant::now();
        while VirtualDuo::probe(&dir).unwrap().listening {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{firmware}: still listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(VirtualDuo::probe(&dir).unwrap().mode, Mode::Firmware);
    }
}

#[test]
fn the_attached_board_tells_its_id_except_an_r4_bootloader_in_dfu_mode() {
    let clock = crate::time::system();
    // Normal mode, firmware 0.2.4: the console tells it.
    let (_tmp, dir, face) = booted("r4", "0.2.4");
    assert_eq!(
        attached_device_id(&dir, clock.as_ref()).unwrap(),
        (ID_HEX.to_string(), Route::Console)
    );
    // DFU mode on r4: a constant serial; a clear error.
    VirtualDuo::open(&dir).unwrap().enter_dfu().unwrap();
    drop(face);
    let err = attached_device_id(&dir, clock.as_ref()).unwrap_err();
    assert!(matches!(err, NormalError::IdUnknownInDfu { .. }), "{err:?}");
    assert!(
        err.to_string().contains("does not report the device id"),
        "{err}"
    );
    // DFU mode on r6: its serial is the id.
    let (_tmp6, dir6, face6) = booted("r6", "0.3.3");
    VirtualDuo::open(&dir6).unwrap().enter_dfu().unwrap();
    drop(face6);
    assert_eq!(
        attached_device_id(&dir6, clock.as_ref()).unwrap(),
        (ID_HEX.to_string(), Route::DfuSerial)
    );
}
