//! The listening-mode serial console and the magic baud rates (REFERENCE §7).
//!
//! A board in normal mode acts on the line coding the host sets: 14400 baud
//! resets it into DFU mode, 28800 puts it in listening mode (LED blinking
//! blue). 1200 triggers an Arduino-upload reset on a Duo and is refused here.
//! Linux's cdc-acm only sends a line coding that changes, so every opening
//! ends by setting 9600 again.
//!
//! In listening mode the console answers single keys; a reply is every byte
//! until a 250 ms gap, as particle-cli reads it, parsed with particle-cli's
//! patterns. All waiting goes through the injected [`Clock`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Clock;

use super::identity::is_device_id;
use super::vendor::is_version;
use super::NormalError;

/// The neutral rate every opening ends with.
pub const BAUD_NEUTRAL: u32 = 9600;
/// Setting this rate resets a board in normal mode into DFU mode.
pub const BAUD_ENTER_DFU: u32 = 14400;
/// Setting this rate puts a board in normal mode into listening mode.
pub const BAUD_LISTEN: u32 = 28800;
/// An Arduino-upload reset on a Duo: never set.
pub const BAUD_FORBIDDEN: u32 = 1200;

/// particle-cli's end-of-reply gap.
pub const REPLY_GAP: Duration = Duration::from_millis(250);
/// How long a key's first reply byte is waited for by default.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest reply read (the `s` JSON of a Duo is under 1 KiB).
pub const MAX_REPLY: usize = 16 * 1024;
/// How long one read waits before the gap and deadline are checked again.
const READ_SLICE: Duration = Duration::from_millis(50);

/// What a serial line can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The port went away (hang-up, unplug, the board reset).
    Vanished(String),
    /// Any other failure, in the OS's words.
    Other(String),
}

/// The seam between the console protocol and a serial port: a real port
/// (`normal::ports`), a virtual Duo's pseudo-terminal, or a test double.
pub trait SerialLine {
    /// The port's name, for messages (`/dev/ttyACM0`).
    fn name(&self) -> &str;
    /// Set the line coding's baud rate.
    fn set_baud_rate(&mut self, baud: u32) -> Result<(), LineError>;
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LineError>;
    /// Read what has arrived, waiting at most `wait` for the first byte;
    /// `Ok(0)` when nothing came in that time.
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, LineError>;
}

/// Set `baud` on `line`, refusing the Duo's 1200.
pub fn set_baud<L: SerialLine + ?Sized>(line: &mut L, baud: u32) -> Result<(), NormalError> {
    if baud == BAUD_FORBIDDEN {
        return Err(NormalError::ForbiddenBaud {
            port: line.name().to_string(),
            baud,
        });
    }
    line.set_baud_rate(baud)
        .map_err(|e| line_error(line.name(), e))
}

pub(crate) fn line_error(port: &str, e: LineError) -> NormalError {
    match e {
        LineError::Vanished(detail) => NormalError::PortVanished {
            port: port.to_string(),
            detail,
        },
        LineError::Other(detail) => NormalError::Port {
            port: port.to_string(),
            detail,
        },
    }
}

/// How the 14400-baud trigger ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEnding {
    /// The port hung up: the board reset.
    PortClosed,
    /// The port stayed within `wait`; it was set back to 9600.
    PortStayed,
}

/// Set 14400 baud and wait up to `wait` for the port to hang up (the board
/// resets into DFU mode). If it stays, 9600 is set again before returning.
pub fn trigger_dfu<L: SerialLine + ?Sized>(
    line: &mut L,
    clock: &dyn Clock,
    wait: Duration,
) -> Result<TriggerEnding, NormalError> {
    match set_baud(line, BAUD_ENTER_DFU) {
        Ok(()) => {}
        Err(NormalError::PortVanished { .. }) => return Ok(TriggerEnding::PortClosed),
        Err(e) => return Err(e),
    }
    let start = clock.now();
    let mut buf = [0u8; 256];
    while clock.now().saturating_duration_since(start) < wait {
        match line.read(&mut buf, READ_SLICE) {
            Ok(_) => {}
            Err(LineError::Vanished(_)) => return Ok(TriggerEnding::PortClosed),
            Err(e) => return Err(line_error(line.name(), e)),
        }
    }
    match set_baud(line, BAUD_NEUTRAL) {
        Ok(()) => Ok(TriggerEnding::PortStayed),
        Err(NormalError::PortVanished { .. }) => Ok(TriggerEnding::PortClosed),
        Err(e) => Err(e),
    }
}

/// A session with the listening-mode console on one line.
pub struct Console<'a, L: SerialLine + ?Sized> {
    line: &'a mut L,
    clock: &'a dyn Clock,
    /// How long the first byte of a reply is waited for.
    pub answer_timeout: Duration,
}

impl<'a, L: SerialLine + ?Sized> Console<'a, L> {
    pub fn new(line: &'a mut L, clock: &'a dyn Clock) -> Self {
        Console {
            line,
            clock,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
        }
    }

    pub fn line(&mut self) -> &mut L {
        self.line
    }

    /// Put the board in listening mode: set 28800 baud and keep it while
    /// talking (the console answers at any rate); [`Console::close`] sets
    /// 9600 again.
    pub fn enter_listening(&mut self) -> Result<(), NormalError> {
        set_baud(self.line, BAUD_LISTEN)
    }

    /// Leave listening mode (`x`, no reply) and set 9600 again.
    pub fn leave_listening(&mut self) -> Result<(), NormalError> {
        let name = self.line.name().to_string();
        self.line
            .write_all(b"x")
            .map_err(|e| line_error(&name, e))?;
        self.close()
    }

    /// Set the neutral 9600 baud, as every opening must end.
    pub fn close(&mut self) -> Result<(), NormalError> {
        set_baud(self.line, BAUD_NEUTRAL)
    }

    /// Send `key` and read the reply: every byte until a 250 ms gap. Nothing
    /// within the answer timeout is [`NormalError::ConsoleSilent`].
    pub fn ask(&mut self, key: char) -> Result<Vec<u8>, NormalError> {
        let name = self.line.name().to_string();
        let mut utf8 = [0u8; 4];
        self.line
            .write_all(key.encode_utf8(&mut utf8).as_bytes())
            .map_err(|e| line_error(&name, e))?;
        let start = self.clock.now();
        let mut reply = Vec::new();
        let mut last_byte = None;
        let mut buf = [0u8; 512];
        loop {
            let now = self.clock.now();
            match last_byte {
                None if now.saturating_duration_since(start) >= self.answer_timeout => {
                    return Err(NormalError::ConsoleSilent {
                        port: name,
                        command: key,
                        waited_ms: self.answer_timeout.as_millis() as u64,
                    })
                }
                Some(t) if now.saturating_duration_since(t) >= REPLY_GAP => return Ok(reply),
                _ => {}
            }
            let n = self
                .line
                .read(&mut buf, READ_SLICE)
                .map_err(|e| line_error(&name, e))?;
            if n > 0 {
                reply.extend_from_slice(&buf[..n]);
                last_byte = Some(self.clock.now());
                if reply.len() > MAX_REPLY {
                    return Err(NormalError::ConsoleGarbage {
                        port: name,
                        command: key,
                        reply: format!("more than {MAX_REPLY} bytes without a pause"),
                    });
                }
            }
        }
    }

    fn garbage(&self, key: char, reply: &[u8]) -> NormalError {
        NormalError::ConsoleGarbage {
            port: self.line.name().to_string(),
            command: key,
            reply: escape(reply),
        }
    }

    /// `i`: the device id (24 lower-case hex digits).
    pub fn device_id(&mut self) -> Result<String, NormalError> {
        let reply = self.ask('i')?;
        parse_device_id(&String::from_utf8_lossy(&reply)).ok_or_else(|| self.garbage('i', &reply))
    }

    /// `v`: the system firmware version.
    pub fn firmware_version(&mut self) -> Result<String, NormalError> {
        let reply = self.ask('v')?;
        parse_firmware_version(&String::from_utf8_lossy(&reply))
            .ok_or_else(|| self.garbage('v', &reply))
    }

    /// `s`: the platform id and the module list.
    pub fn module_info(&mut self) -> Result<ModuleInfo, NormalError> {
        let reply = self.ask('s')?;
        parse_module_info(&String::from_utf8_lossy(&reply)).ok_or_else(|| self.garbage('s', &reply))
    }

    /// `m`: the Wi-Fi MAC address, lower case.
    pub fn mac_address(&mut self) -> Result<String, NormalError> {
        let reply = self.ask('m')?;
        parse_mac_address(&String::from_utf8_lossy(&reply)).ok_or_else(|| self.garbage('m', &reply))
    }

    /// `c`: whether the device is claimed (firmware 0.3.0+).
    pub fn claimed(&mut self) -> Result<bool, NormalError> {
        let reply = self.ask('c')?;
        parse_claimed(&String::from_utf8_lossy(&reply)).ok_or_else(|| self.garbage('c', &reply))
    }
}

/// `Your (core|device) id is\s+(\w+)`, and the id must be 24 hex digits.
pub fn parse_device_id(reply: &str) -> Option<String> {
    let rest = ["Your device id is", "Your core id is"]
        .iter()
        .find_map(|p| reply.find(p).map(|i| &reply[i + p.len()..]))?;
    let word = after_whitespace(rest)?
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    is_device_id(word).then(|| word.to_ascii_lowercase())
}

/// `system firmware version:\s+([\w.-]+)`.
pub fn parse_firmware_version(reply: &str) -> Option<String> {
    let p = "system firmware version:";
    let rest = &reply[reply.find(p)? + p.len()..];
    let word = after_whitespace(rest)?
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
        .next()?;
    is_version(word).then(|| word.to_string())
}

/// `Device claimed: (\w+)` → yes / no.
pub fn parse_claimed(reply: &str) -> Option<bool> {
    let p = "Device claimed:";
    let rest = reply[reply.find(p)? + p.len()..].trim_start();
    let word = rest.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    match word {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The first `xx:xx:xx:xx:xx:xx` (particle-cli's `([0-9a-fA-F]{2}:){1,5}…`,
/// required complete), lower case.
pub fn parse_mac_address(reply: &str) -> Option<String> {
    let b = reply.as_bytes();
    (0..b.len().saturating_sub(16)).find_map(|i| {
        let cand = &b[i..i + 17];
        let ok = cand.iter().enumerate().all(|(j, c)| {
            if j % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_hexdigit()
            }
        });
        ok.then(|| String::from_utf8_lossy(cand).to_ascii_lowercase())
    })
}

/// The `s` reply: one line of JSON.
pub fn parse_module_info(reply: &str) -> Option<ModuleInfo> {
    let raw: RawModuleInfo = serde_json::from_str(reply.trim()).ok()?;
    Some(ModuleInfo {
        platform_id: raw.p,
        modules: raw
            .m
            .into_iter()
            .map(|m| Module {
                function: m.f,
                index: m.n,
                version: m.v,
                size: m.s,
                location: m.l,
                validity_checked: m.vc,
                validity_valid: m.vv,
                dependencies: m.d,
            })
            .collect(),
    })
}

fn after_whitespace(rest: &str) -> Option<&str> {
    let trimmed = rest.trim_start();
    // `\s+`: at least one whitespace character.
    (trimmed.len() < rest.len()).then_some(trimmed)
}

/// Bytes shown in a message: printable ASCII as is, the rest escaped, cut
/// at 120 characters.
pub fn escape(bytes: &[u8]) -> String {
    let mut out: String = bytes
        .iter()
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if out.len() > 120 {
        out.truncate(117);
        out.push_str("...");
    }
    out
}

/// What `s` reports: the platform and its firmware modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    pub platform_id: u16,
    pub modules: Vec<Module>,
}

/// One firmware module of the `s` JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    /// `f`: `b` bootloader, `s` system part, `u` user part, `r` radio stack, `c` monolithic.
    pub function: String,
    /// `n`: the module's index (`1`, `2` for system parts).
    pub index: String,
    /// `v`: module version (30 for 0.3.3 system parts… per Device OS).
    pub version: u32,
    /// `s`: size in bytes.
    pub size: u64,
    /// `l`: `m` main flash, `b` backup, `f` factory.
    pub location: String,
    /// `vc` / `vv`: validity checks made and passed (bit field).
    pub validity_checked: u32,
    pub validity_valid: u32,
    /// `d`: the dependencies, as the firmware gives them.
    pub dependencies: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawModuleInfo {
    p: u16,
    m: Vec<RawModule>,
}

#[derive(Deserialize)]
struct RawModule {
    s: u64,
    l: String,
    vc: u32,
    vv: u32,
    f: String,
    n: String,
    v: u32,
    #[serde(default)]
    d: Vec<serde_json::Value>,
}

#[cfg(all(test, feature = "sim"))]
mod tests;
