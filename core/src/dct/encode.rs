//! Text → field bytes for [`super::AppDct::set`]. The inverse of
//! [`super::value`]: what is written here decodes back to the same value.

use std::net::Ipv4Addr;

use super::value::{ANTENNAS, CLAIMED, SYSTEM_FLAG_FIELDS};
use super::{shown, DctError, Field};

/// Longest SSID prefix (`ssid_prefix` is a length byte plus 25 characters).
pub(super) const SSID_PREFIX_MAX: usize = 25;
const DEVICE_CODE_LEN: usize = 6;
const DEVICE_ID_LEN: usize = 12;

/// Bytes for `field` from `text`. `current` is the field's present content
/// (for edits of part of a field). The result may be shorter than the field;
/// the caller pads it with 0xFF, and rejects anything longer.
pub(super) fn encode(
    field: &'static Field,
    current: &[u8],
    text: &str,
) -> Result<Vec<u8>, DctError> {
    let bad = |reason: String| DctError::InvalidValue {
        field: field.name,
        value: shown(text),
        reason,
    };
    if let Some(hex) = strip_hex_prefix(text) {
        return parse_hex(hex).map_err(bad);
    }
    match field.name {
        "system_flags" => system_flags(current, text).map_err(bad),
        "version" => number(text, u16::MAX.into())
            .map(|v| (v as u16).to_le_bytes().to_vec())
            .map_err(bad),
        "claim_code" | "version_string" => c_string(text, field.size).map_err(bad),
        "claimed" => claimed(text).map(|b| vec![b]).map_err(bad),
        "ssid_prefix" => ssid_prefix(text).map_err(bad),
        "device_code" => device_code(text).map_err(bad),
        "country_code" => country_code(text).map_err(bad),
        "ip_config" => ip_config(current, text).map_err(bad),
        "product_store" => product_store(text, field.size / 2).map_err(bad),
        "antenna_selection" => antenna(text).map(|b| vec![b]).map_err(bad),
        "cloud_transport" => number(text, u8::MAX.into())
            .map(|v| vec![v as u8])
            .map_err(bad),
        "device_id" => device_id(text).map_err(bad),
        "flash_modules" => parse_hex(text).map_err(|e| {
            bad(format!(
                "{e}; flash_modules takes raw bytes only (hex:…, 5 slots of 20 bytes)"
            ))
        }),
        _ => parse_hex(text).map_err(|e| bad(format!("{e}; this field takes raw bytes (hex:…)"))),
    }
}

fn strip_hex_prefix(text: &str) -> Option<&str> {
    let t = text.trim_start();
    t.get(..4)
        .filter(|p| p.eq_ignore_ascii_case("hex:"))
        .map(|_| &t[4..])
}

/// Hex digits, ASCII whitespace ignored.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit"));
    }
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    hex::decode(&digits).map_err(|e| e.to_string())
}

/// Decimal or `0x` hex, at most `max`.
fn number(text: &str, max: u64) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    match parsed {
        Ok(v) if v <= max => Ok(v),
        Ok(v) => Err(format!("{v} is larger than {max}")),
        Err(_) => Err(format!(
            "expected a number from 0 to {max} (decimal or 0x hex)"
        )),
    }
}

fn check_printable(text: &str, max: usize) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!("{c:?} is not printable ASCII"));
    }
    if text.len() > max {
        return Err(format!("{} characters, at most {max} fit", text.len()));
    }
    Ok(())
}

/// A C string: the text, then NUL padding (the firmware copies the whole
/// field and stops at the NUL). Empty text erases the field.
fn c_string(text: &str, size: usize) -> Result<Vec<u8>, String> {
    check_printable(text, size)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = text.as_bytes().to_vec();
    out.resize(size, 0);
    Ok(out)
}

fn claimed(text: &str) -> Result<u8, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "claimed" => Ok(CLAIMED),
        "false" | "no" | "0" | "unclaimed" => Ok(0),
        _ => Err("expected true or false".to_string()),
    }
}

/// Length byte then the characters; empty text erases (platform default).
fn ssid_prefix(text: &str) -> Result<Vec<u8>, String> {
    check_printable(text, SSID_PREFIX_MAX)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    Ok(out)
}

fn device_code(text: &str) -> Result<Vec<u8>, String> {
    if text.len() != DEVICE_CODE_LEN || !text.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "expected exactly {DEVICE_CODE_LEN} ASCII letters or digits (the SoftAP name suffix)"
        ));
    }
    Ok(text.as_bytes().to_vec())
}

/// Two letters and a revision digit, as `fetch_country_code` reads them
/// (`MK_CNTRY(code[0], code[1], hex_nibble(code[2]))`); revision defaults to 0.
fn country_code(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim().as_bytes();
    let ok = (2..=3).contains(&t.len())
        && t[..2].iter().all(u8::is_ascii_alphabetic)
        && t.get(2).map_or(true, u8::is_ascii_hexdigit);
    if !ok {
        return Err(
            "expected two letters and an optional revision hex digit, e.g. GB or JP2".to_string(),
        );
    }
    Ok(vec![
        t[0].to_ascii_uppercase(),
        t[1].to_ascii_uppercase(),
        t.get(2).copied().unwrap_or(b'0'),
        0,
    ])
}

fn ipv4_bytes(text: &str) -> Result<[u8; 4], String> {
    let addr: Ipv4Addr = text
        .parse()
        .map_err(|_| format!("{:?} is not an IPv4 address", shown(text)))?;
    Ok(u32::from(addr).to_le_bytes())
}

/// `dhcp` changes only the mode byte (as `wlan_set_ipaddress_source` does);
/// `static IP MASK GATEWAY [DNS1 [DNS2]]` writes the whole structure.
fn ip_config(current: &[u8], text: &str) -> Result<Vec<u8>, String> {
    let words: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [mode] if mode.eq_ignore_ascii_case("dhcp") => {
            let mut out = current.to_vec();
            out[0] = 0;
            Ok(out)
        }
        [mode, addrs @ ..]
            if mode.eq_ignore_ascii_case("static") && (3..=5).contains(&addrs.len()) =>
        {
            let mut out = vec![1, 0, 0, 0];
            for a in addrs {
                out.extend_from_slice(&ipv4_bytes(a)?);
            }
            out.resize(current.len(), 0);
            Ok(out)
        }
        _ => Err("expected `dhcp` or `static IP NETMASK GATEWAY [DNS1 [DNS2]]`".to_string()),
    }
}

fn product_store(text: &str, count: usize) -> Result<Vec<u8>, String> {
    let words: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() > count {
        return Err(format!("{} numbers, at most {count} fit", words.len()));
    }
    let mut out = Vec::with_capacity(2 * count);
    for w in words {
        let v = if w == "-" {
            0xFFFF
        } else {
            number(w, u16::MAX.into())? as u16
        };
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

fn antenna(text: &str) -> Result<u8, String> {
    let t = text.trim().to_ascii_lowercase();
    if let Some((code, _)) = ANTENNAS.iter().find(|(_, name)| *name == t) {
        return Ok(*code);
    }
    number(&t, u8::MAX.into())
        .map(|v| v as u8)
        .map_err(|_| "expected internal, external, auto or a number from 0 to 255".to_string())
}

fn device_id(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    if t.len() != 2 * DEVICE_ID_LEN || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("expected {} hex digits", 2 * DEVICE_ID_LEN));
    }
    hex::decode(t).map_err(|e| e.to_string())
}

/// `name=value[,name=value…]` over [`SYSTEM_FLAG_FIELDS`]; other bytes kept.
fn system_flags(current: &[u8], text: &str) -> Result<Vec<u8>, String> {
    let mut out = current.to_vec();
    let mut any = false;
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("{:?} is not name=value", shown(item)))?;
        let name = name.trim().to_ascii_lowercase();
        let &(_, at, width) = SYSTEM_FLAG_FIELDS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| {
                let known: Vec<&str> = SYSTEM_FLAG_FIELDS.iter().map(|f| f.0).collect();
                format!(
                    "unknown system flag {:?}; known: {}",
                    shown(&name),
                    known.join(", ")
                )
            })?;
        let max = (1u64 << (8 * width)) - 1;
        let v = number(value, max).map_err(|e| format!("{name}: {e}"))?;
        out[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
        any = true;
    }
    if !any {
        return Err("expected name=value[,name=value…], e.g. bootloader_version=3".to_string());
    }
    Ok(out)
}
