//! The virtual Duo's serial port, opened as a host would: with the
//! `serialport` crate and with the library's console over it.

use std::io::{Read, Write};

use serialport::SerialPort as _;
use std::time::Duration;

use super::*;
use crate::normal::console::{Console, BAUD_NEUTRAL};
use crate::normal::ports::PortLine;
use crate::normal::NormalError;
use crate::platform::board::{DUO_FW_0_2_4, DUO_FW_0_3_3};
use crate::platform::{Board, DUO};
use crate::sim::duo::CreateOptions;

const ID: [u8; 12] = [
    0x2a, 0, 0x21, 0, 0x07, 0x47, 0x34, 0x32, 0x32, 0x36, 0x32, 0x30,
];

/// A board running firmware `version`, its serial port served from a thread.
fn booted(version: &str) -> (tempfile::TempDir, SerialFace) {
    let firmware = DUO.firmware(version).unwrap();
    let bootloader = if version == "0.2.4" { "r4" } else { "r6" };
    let board = Board::new(&DUO, DUO.bootloader(bootloader).unwrap(), firmware).unwrap();
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
    (tmp, face)
}

fn dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("duo")
}

fn open(path: &Path, baud: u32) -> serialport::TTYPort {
    serialport::new(path.to_string_lossy(), baud)
        .timeout(Duration::from_secs(5))
        .open_native()
        .unwrap()
}

/// Read exactly `n` bytes (the port's timeout bounds each read).
fn read_n(port: &mut serialport::TTYPort, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    port.read_exact(&mut got).unwrap();
    got
}

#[test]
fn at_28800_the_console_tells_the_device_id() {
    let (tmp, face) = booted("0.3.3");
    assert_eq!(port_path(&dir(&tmp)).as_deref(), Some(face.path()));
    let mut port = open(face.path(), 28800);
    port.write_all(b"i").unwrap();
    let expected = format!("Your device id is {}\r\n", hex::encode(ID));
    assert_eq!(read_n(&mut port, expected.len()), expected.as_bytes());
    // And nothing more.
    port.set_timeout(Duration::from_millis(300)).unwrap();
    let mut more = [0u8; 16];
    assert!(port.read(&mut more).is_err(), "more bytes after the reply");
    port.set_baud_rate(BAUD_NEUTRAL).unwrap();
}

#[test]
fn at_9600_outside_listening_mode_nothing_answers() {
    let (_tmp, face) = booted("0.3.3");
    let mut port = open(face.path(), 9600);
    port.set_timeout(Duration::from_millis(400)).unwrap();
    port.write_all(b"iv").unwrap();
    let mut buf = [0u8; 64];
    let err = port.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    // The same port answers once the board is in listening mode.
    port.set_baud_rate(28800).unwrap();
    port.set_timeout(Duration::from_secs(5)).unwrap();
    port.write_all(b"v").unwrap();
    let expected = b"system firmware version: 0.3.3\n\r\n";
    assert_eq!(read_n(&mut port, expected.len()), expected);
}

#[test]
fn the_library_console_identifies_the_board() {
    let (_tmp, face) = booted("0.3.1");
    let mut line = PortLine::open(&face.path().to_string_lossy()).unwrap();
    let clock = crate::time::system();
    let mut console = Console::new(&mut line, clock.as_ref());
    console.enter_listening().unwrap();
    assert_eq!(console.device_id().unwrap(), hex::encode(ID));
    assert_eq!(console.firmware_version().unwrap(), "0.3.1");
    let modules = console.module_info().unwrap();
    assert_eq!(modules.platform_id, 88);
    assert_eq!(modules.modules.len(), 4);
    assert!(!console.claimed().unwrap());
    assert_eq!(console.mac_address().unwrap(), "94:a1:a2:36:32:30");
    console.leave_listening().unwrap();
    // Out of listening mode: silence.
    console.answer_timeout = Duration::from_millis(300);
    assert!(matches!(
        console.device_id(),
        Err(NormalError::ConsoleSilent { command: 'i', .. })
    ));
}

#[test]
fn firmware_0_2_4_has_no_claimed_key() {
    let (_tmp, face) = booted("0.2.4");
    let mut line = PortLine::open(&face.path().to_string_lossy()).unwrap();
    let clock = crate::time::system();
    let mut console = Console::new(&mut line, clock.as_ref());
    console.enter_listening().unwrap();
    assert_eq!(console.firmware_version().unwrap(), "0.2.4");
    console.answer_timeout = Duration::from_millis(300);
    assert!(matches!(
        console.claimed(),
        Err(NormalError::ConsoleSilent { command: 'c', .. })
    ));
    console.close().unwrap();
}

#[test]
fn at_14400_the_board_resets_into_dfu_and_the_port_hangs_up() {
    let (tmp, mut face) = booted("0.3.3");
    let mut port = open(face.path(), 9600);
    port.set_baud_rate(14400).unwrap();
    assert_eq!(face.join().unwrap(), ServeEnd::EnteredDfu);
    let mut buf = [0u8; 8];
    assert!(port.read(&mut buf).is_err(), "the port is still there");
    assert_eq!(VirtualDuo::probe(&dir(&tmp)).unwrap().mode, Mode::Dfu);
    assert_eq!(port_path(&dir(&tmp)), None);
    assert!(!dir(&tmp).join(PORT_LINK).exists());
}

#[test]
fn the_library_trigger_sees_the_hang_up() {
    let (tmp, face) = booted("0.2.4");
    let mut line = PortLine::open(&face.path().to_string_lossy()).unwrap();
    let clock = crate::time::system();
    let ending =
        crate::normal::console::trigger_dfu(&mut line, clock.as_ref(), Duration::from_secs(5))
            .unwrap();
    assert_eq!(ending, crate::normal::console::TriggerEnding::PortClosed);
    assert_eq!(VirtualDuo::probe(&dir(&tmp)).unwrap().mode, Mode::Dfu);
}

#[test]
fn the_server_ends_with_its_board() {
    // The buttons: DFU mode.
    let (tmp, mut face) = booted("0.3.3");
    VirtualDuo::open(&dir(&tmp)).unwrap().enter_dfu().unwrap();
    assert_eq!(face.join().unwrap(), ServeEnd::BoardLeft);
    // The directory removed.
    let (tmp, mut face) = booted("0.3.3");
    std::fs::remove_dir_all(dir(&tmp)).unwrap();
    assert_eq!(face.join().unwrap(), ServeEnd::BoardGone);
}

#[test]
fn a_new_server_replaces_the_old_one() {
    let (tmp, mut old) = booted("0.3.3");
    let new = SerialFace::start(&dir(&tmp), crate::time::system()).unwrap();
    assert_eq!(old.join().unwrap(), ServeEnd::Replaced);
    assert_eq!(port_path(&dir(&tmp)).as_deref(), Some(new.path()));
    assert_eq!(new.stop().unwrap(), ServeEnd::Stopped);
    assert_eq!(port_path(&dir(&tmp)), None);
}

#[test]
fn console_replies_follow_reference_7() {
    let face = ConsoleFace::of(&DUO_FW_0_3_3);
    assert_eq!(
        face.reply(b'c', &ID).unwrap(),
        b"Device claimed: no\r\n".to_vec()
    );
    assert_eq!(face.reply(b'x', &ID), None);
    assert_eq!(face.reply(b'q', &ID), None);
    let s = String::from_utf8(face.reply(b's', &ID).unwrap()).unwrap();
    assert!(
        s.starts_with(r#"{"p":88,"m":[{"s":16384,"l":"m","vc":30,"vv":30,"f":"b""#),
        "{s}"
    );
    assert!(s.ends_with("]}\r\n"), "{s}");
    assert_eq!(ConsoleFace::of(&DUO_FW_0_2_4).reply(b'c', &ID), None);
}

/// REFERENCE §7: a host never sets 1200 on a Duo's port and leaves it at
/// 9600 when it closes — checked on a bare pseudo-terminal, whose master
/// sees the line coding the host set (TCGETS2).
#[test]
fn the_host_line_opens_at_9600_refuses_1200_and_closes_at_9600() {
    let pty = Pty::open().unwrap();
    let path = pty.path().to_string_lossy().to_string();
    let mut line = PortLine::open(&path).unwrap();
    assert_eq!(pty.speed().unwrap(), BAUD_NEUTRAL, "opened at 9600");
    use crate::normal::console::SerialLine as _;
    assert!(line.set_baud_rate(1200).is_err());
    assert_eq!(
        pty.speed().unwrap(),
        BAUD_NEUTRAL,
        "1200 never reached the port"
    );
    let clock = crate::time::system();
    let mut console = Console::new(&mut line, clock.as_ref());
    console.enter_listening().unwrap();
    assert_eq!(pty.speed().unwrap(), 28800);
    // Dropped with 28800 set (an error path): 9600 again before it closes.
    drop(line);
    assert_eq!(pty.speed().unwrap(), BAUD_NEUTRAL, "closed at 9600");
    let mut line = PortLine::open(&path).unwrap();
    crate::normal::console::trigger_dfu(&mut line, clock.as_ref(), Duration::from_millis(100))
        .unwrap();
    assert_eq!(
        pty.speed().unwrap(),
        BAUD_NEUTRAL,
        "an ignored trigger ends at 9600"
    );
}
