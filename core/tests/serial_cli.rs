//! Issue 12: the virtual Duo's serial port as `duoprov sim boot` publishes
//! it, opened by a host with the `serialport` crate.

#![cfg(feature = "cli")]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_ok, duoprov, sim_create, stdout, stdout_json};
use serialport::SerialPort as _;

const ID: &str = "2a0021000747343232363230";

/// The server named in `DIR/serial-owner` ("PID TOKEN").
fn server_pid(vd: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(vd.join("serial-owner")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn alive(pid: u32) -> bool {
    // A zombie is no longer running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

/// Poll `cond` for up to 10 s of wall time (a bound, not a measurement).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn booted(tmp: &Path) -> (PathBuf, PathBuf, u32) {
    sim_create(tmp, &["--device-id", ID]);
    let out = duoprov(tmp, &["--json", "sim", "boot", "vd"]);
    assert_ok(&out, "sim boot");
    let json = stdout_json(&out);
    let port = PathBuf::from(json["serial_port"].as_str().unwrap());
    let vd = tmp.join("vd");
    assert_eq!(std::fs::read_link(vd.join("tty")).unwrap(), port);
    let pid = server_pid(&vd).expect("a serial server");
    assert!(alive(pid));
    (vd, port, pid)
}

#[test]
fn sim_boot_publishes_a_serial_port_that_answers_i_at_28800() {
    let tmp = tempfile::tempdir().unwrap();
    let (vd, port_path, pid) = booted(tmp.path());
    let show = duoprov(tmp.path(), &["sim", "show", "vd"]);
    assert!(
        stdout(&show).contains(&format!("serial port:   {}", port_path.display())),
        "{}",
        stdout(&show)
    );
    let mut port = serialport::new(vd.join("tty").to_string_lossy(), 28800)
        .timeout(Duration::from_secs(5))
        .open_native()
        .unwrap();
    port.write_all(b"i").unwrap();
    let expected = format!("Your device id is {ID}\r\n");
    let mut got = vec![0u8; expected.len()];
    port.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    port.set_baud_rate(9600).unwrap();
    drop(port);
    // `sim dfu` ends the server, the link goes with it.
    assert_ok(&duoprov(tmp.path(), &["sim", "dfu", "vd"]), "sim dfu");
    eventually("the server exits after sim dfu", || !alive(pid));
    assert!(!vd.join("tty").exists());
}

#[test]
fn at_9600_the_booted_board_is_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let (vd, _, pid) = booted(tmp.path());
    let mut port = serialport::new(vd.join("tty").to_string_lossy(), 9600)
        .timeout(Duration::from_millis(400))
        .open_native()
        .unwrap();
    port.write_all(b"i").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(
        port.read(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::TimedOut
    );
    drop(port);
    drop(tmp);
    eventually("the server exits with its directory", || !alive(pid));
}

#[test]
fn a_new_boot_replaces_the_server_and_14400_ends_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (vd, _, first) = booted(tmp.path());
    assert_ok(&duoprov(tmp.path(), &["sim", "boot", "vd"]), "second boot");
    let second = server_pid(&vd).unwrap();
    assert_ne!(first, second);
    eventually("the first server exits", || !alive(first));
    let mut port = serialport::new(vd.join("tty").to_string_lossy(), 9600)
        .timeout(Duration::from_secs(5))
        .open_native()
        .unwrap();
    port.set_baud_rate(14400).unwrap();
    eventually("the second server exits", || !alive(second));
    let json = stdout_json(&duoprov(tmp.path(), &["--json", "sim", "show", "vd"]));
    assert_eq!(json["mode"], "dfu");
    assert_eq!(json["serial_port"], serde_json::Value::Null);
}
