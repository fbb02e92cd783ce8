//! Typed values of application-DCT fields (REFERENCE §2), decoded the way the
//! firmware reads them.
//!
//! Sources for the layouts inside fields, beyond REFERENCE §2: Particle's
//! `platform_system_flags.h`, `dct.h` (`static_ip_config_t`) and
//! `platform_flash_modules.h` as shipped in RedBear's Duo firmware, and the
//! Photon HAL's readers (`HAL_IsDeviceClaimed`, `fetch_country_code`,
//! `fetch_antenna_selection`). All multi-byte integers are little-endian
//! (STM32).

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::Field;

/// The value of one field, for `duoprov dct show/get`.
///
/// JSON form: `{"kind": "...", "value": ...}` (`value` absent for `unset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// Never written: erased (0xFF), or the field's own "empty" marker
    /// (a zero first byte for strings, length 0 for `ssid_prefix`). The
    /// firmware then uses its default.
    Unset,
    /// `version` (u16), `cloud_transport` (u8).
    Number(u32),
    /// `claimed`.
    Flag(bool),
    /// `claim_code`, `ssid_prefix`, `device_code`, `version_string`,
    /// `country_code`, and `device_id` (24 lower-case hex digits).
    Text(String),
    /// Raw bytes, lower-case hex: key slots, the server key block and every
    /// field without a typed form.
    Hex(String),
    /// `product_store`: 12 u16, `None` where 0xFFFF.
    Numbers(Vec<Option<u16>>),
    /// `antenna_selection`.
    Choice {
        code: u8,
        meaning: String,
    },
    SystemFlags(SystemFlags),
    IpConfig(IpConfig),
    /// `flash_modules`: 5 slots, `None` where the slot is erased.
    FlashModules(Vec<Option<FlashModule>>),
    /// Bytes a typed field cannot hold as the firmware reads it.
    Invalid {
        reason: String,
        hex: String,
    },
}

/// `platform_system_flags_t` (32 bytes at offset 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemFlags {
    /// The two u16 at 0 and 2; 0xACC0, 0x1ADE once written.
    pub header: [u16; 2],
    pub header_valid: bool,
    pub bootloader_version: u16,
    pub nvmem_spark_reset: u16,
    pub flash_ota_update: u16,
    pub ota_flashed_status: u16,
    pub factory_reset: u16,
    pub iwdg_enable: u16,
    pub dfu_on_no_firmware: u8,
    pub factory_reset_done: u8,
    pub startup_mode: u8,
    pub features_enabled: u8,
    /// The RCC->CSR reset-cause register saved by the bootloader.
    pub rcc_csr: u32,
}

/// Named sub-fields of `system_flags`: (name, byte offset, width in bytes).
/// `dct set system_flags name=value,…` edits these.
pub const SYSTEM_FLAG_FIELDS: &[(&str, usize, usize)] = &[
    ("bootloader_version", 4, 2),
    ("nvmem_spark_reset", 6, 2),
    ("flash_ota_update", 8, 2),
    ("ota_flashed_status", 10, 2),
    ("factory_reset", 12, 2),
    ("iwdg_enable", 14, 2),
    ("dfu_on_no_firmware", 16, 1),
    ("factory_reset_done", 17, 1),
    ("startup_mode", 18, 1),
    ("features_enabled", 19, 1),
    ("rcc_csr", 20, 4),
];

/// `static_ip_config_t` (24 bytes at 1634). The firmware brings Wi-Fi up
/// with a static address only when `mode_code` is 1 (`STATIC_IP`);
/// anything else means DHCP. Addresses are u32 LE with the first octet in
/// the most significant byte (the value WICED's `ip.v4` holds), so
/// 192.168.1.2 is stored `02 01 a8 c0`; 0 means "not set".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpConfig {
    /// `dhcp` or `static`.
    pub mode: &'static str,
    pub mode_code: u8,
    pub host: Option<Ipv4Addr>,
    pub netmask: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    pub dns1: Option<Ipv4Addr>,
    pub dns2: Option<Ipv4Addr>,
}

/// `platform_flash_modules_t` (20 bytes): a copy job the bootloader runs
/// (slot 0 is the factory-reset image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlashModule {
    pub magic: u16,
    /// Flash device ids (internal / serial flash).
    pub source_device: u8,
    pub destination_device: u8,
    pub source_address: u32,
    pub destination_address: u32,
    pub length: u32,
    pub flags: u8,
    pub module_function: u8,
}

pub(super) const FLASH_MODULE_SIZE: usize = 20;
pub(super) const CLAIMED: u8 = b'1';

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn erased(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

fn invalid(reason: impl Into<String>, bytes: &[u8]) -> FieldValue {
    FieldValue::Invalid {
        reason: reason.into(),
        hex: hex::encode(bytes),
    }
}

/// Decode a field's bytes (exactly `field.size` of them).
pub(super) fn decode(field: &Field, b: &[u8]) -> FieldValue {
    match field.name {
        "system_flags" => FieldValue::SystemFlags(system_flags(b)),
        "version" => match u16_at(b, 0) {
            0xFFFF => FieldValue::Unset,
            v => FieldValue::Number(v.into()),
        },
        "claim_code" | "version_string" | "country_code" => c_string(b),
        "claimed" => claimed(b[0]),
        "ssid_prefix" => ssid_prefix(b),
        "device_code" => device_code(b),
        "ip_config" => ip_config(b),
        "flash_modules" => flash_modules(b),
        "product_store" => product_store(b),
        "antenna_selection" => antenna(b[0]),
        "cloud_transport" => match b[0] {
            0xFF => FieldValue::Unset,
            v => FieldValue::Number(v.into()),
        },
        "device_id" => {
            if erased(b) || b.iter().all(|&x| x == 0) {
                FieldValue::Unset
            } else {
                FieldValue::Text(hex::encode(b))
            }
        }
        _ => FieldValue::Hex(hex::encode(b)),
    }
}

pub(super) fn system_flags(b: &[u8]) -> SystemFlags {
    let header = [u16_at(b, 0), u16_at(b, 2)];
    SystemFlags {
        header,
        header_valid: header == super::SYSTEM_FLAGS_HEADER,
        bootloader_version: u16_at(b, 4),
        nvmem_spark_reset: u16_at(b, 6),
        flash_ota_update: u16_at(b, 8),
        ota_flashed_status: u16_at(b, 10),
        factory_reset: u16_at(b, 12),
        iwdg_enable: u16_at(b, 14),
        dfu_on_no_firmware: b[16],
        factory_reset_done: b[17],
        startup_mode: b[18],
        features_enabled: b[19],
        rcc_csr: u32_at(b, 20),
    }
}

fn printable(b: &[u8]) -> bool {
    b.iter().all(|&c| (0x20..=0x7E).contains(&c))
}

/// A string that ends at the first 0x00 or 0xFF (or the field's end); a
/// leading 0x00/0xFF means unset (the firmware's "clear" writes one NUL).
fn c_string(b: &[u8]) -> FieldValue {
    let end = b
        .iter()
        .position(|&c| c == 0 || c == 0xFF)
        .unwrap_or(b.len());
    if end == 0 {
        return FieldValue::Unset;
    }
    if !printable(&b[..end]) {
        return invalid("not printable ASCII", b);
    }
    FieldValue::Text(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// The firmware counts a device as claimed only when this byte is ASCII
/// `'1'` (0x31): `HAL_Set_Claim_Code(NULL)` writes `'1'` and
/// `HAL_IsDeviceClaimed` compares with `'1'`.
fn claimed(v: u8) -> FieldValue {
    match v {
        CLAIMED => FieldValue::Flag(true),
        0x00 | 0xFF => FieldValue::Flag(false),
        other => invalid(
            format!(
                "byte {other:#04x}: firmware counts only '1' (0x31) as claimed, 0x00/0xFF as not"
            ),
            &[other],
        ),
    }
}

/// First byte is the length (at most 25); 0 or 0xFF means the platform's
/// default prefix.
fn ssid_prefix(b: &[u8]) -> FieldValue {
    let len = b[0] as usize;
    if len == 0 || len == 0xFF {
        return FieldValue::Unset;
    }
    if len > super::encode::SSID_PREFIX_MAX {
        return invalid(
            format!(
                "length byte {len} exceeds {}",
                super::encode::SSID_PREFIX_MAX
            ),
            b,
        );
    }
    let text = &b[1..=len];
    if !printable(text) {
        return invalid("not printable ASCII", b);
    }
    FieldValue::Text(String::from_utf8_lossy(text).into_owned())
}

/// Six characters, not NUL-terminated; a first byte of 0xFF means the
/// firmware has not generated one yet.
fn device_code(b: &[u8]) -> FieldValue {
    if b[0] == 0xFF || b[0] == 0 {
        return FieldValue::Unset;
    }
    if !printable(b) {
        return invalid("not 6 printable ASCII characters", b);
    }
    FieldValue::Text(String::from_utf8_lossy(b).into_owned())
}

fn ip_config(b: &[u8]) -> FieldValue {
    if erased(b) {
        return FieldValue::Unset;
    }
    let addr = |at: usize| match u32_at(b, at) {
        0 | 0xFFFF_FFFF => None,
        v => Some(Ipv4Addr::from(v)),
    };
    FieldValue::IpConfig(IpConfig {
        mode: if b[0] == 1 { "static" } else { "dhcp" },
        mode_code: b[0],
        host: addr(4),
        netmask: addr(8),
        gateway: addr(12),
        dns1: addr(16),
        dns2: addr(20),
    })
}

fn flash_modules(b: &[u8]) -> FieldValue {
    FieldValue::FlashModules(
        b.chunks_exact(FLASH_MODULE_SIZE)
            .map(|s| {
                (!erased(s)).then(|| FlashModule {
                    magic: u16_at(s, 0),
                    source_device: s[2],
                    destination_device: s[3],
                    source_address: u32_at(s, 4),
                    destination_address: u32_at(s, 8),
                    length: u32_at(s, 12),
                    flags: s[16],
                    module_function: s[17],
                })
            })
            .collect(),
    )
}

fn product_store(b: &[u8]) -> FieldValue {
    if erased(b) {
        return FieldValue::Unset;
    }
    FieldValue::Numbers(
        b.chunks_exact(2)
            .map(|c| match u16::from_le_bytes([c[0], c[1]]) {
                0xFFFF => None,
                v => Some(v),
            })
            .collect(),
    )
}

/// `WLanSelectAntenna_TypeDef`; 0xFF (unset) makes the firmware use the
/// internal antenna.
pub(super) const ANTENNAS: &[(u8, &str)] = &[(0, "internal"), (1, "external"), (3, "auto")];

fn antenna(v: u8) -> FieldValue {
    if v == 0xFF {
        return FieldValue::Unset;
    }
    let meaning = ANTENNAS
        .iter()
        .find(|(code, _)| *code == v)
        .map_or("unknown", |(_, name)| name);
    FieldValue::Choice {
        code: v,
        meaning: meaning.to_string(),
    }
}

/// Hex for humans: erased runs are summarised, not printed.
fn hex_summary(hex: &str) -> String {
    let bytes = hex.len() / 2;
    let trailing_ff = hex
        .as_bytes()
        .rchunks(2)
        .take_while(|pair| pair.eq_ignore_ascii_case(b"ff"))
        .count();
    if bytes == 0 {
        "(empty)".to_string()
    } else if trailing_ff == bytes {
        format!("erased ({bytes} bytes of 0xff)")
    } else if hex.bytes().all(|c| c == b'0') {
        format!("all zero ({bytes} bytes)")
    } else if trailing_ff > 0 {
        format!(
            "{} + {trailing_ff} bytes of 0xff",
            &hex[..hex.len() - 2 * trailing_ff]
        )
    } else {
        hex.to_string()
    }
}

fn opt_ip(a: &Option<Ipv4Addr>) -> String {
    a.map_or_else(|| "-".to_string(), |a| a.to_string())
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Unset => f.write_str("(unset)"),
            FieldValue::Number(n) => write!(f, "{n}"),
            FieldValue::Flag(b) => write!(f, "{}", if *b { "yes" } else { "no" }),
            FieldValue::Text(t) => f.write_str(t),
            FieldValue::Hex(h) => f.write_str(&hex_summary(h)),
            FieldValue::Numbers(ns) => {
                let parts: Vec<String> = ns
                    .iter()
                    .map(|n| n.map_or_else(|| "-".to_string(), |n| n.to_string()))
                    .collect();
                f.write_str(&parts.join(", "))
            }
            FieldValue::Choice { code, meaning } => write!(f, "{meaning} ({code})"),
            FieldValue::SystemFlags(s) => write!(f, "{s}"),
            FieldValue::IpConfig(ip) => write!(f, "{ip}"),
            FieldValue::FlashModules(slots) => {
                let parts: Vec<String> = slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| match s {
                        None => format!("slot {i}: empty"),
                        Some(m) => format!("slot {i}: {m}"),
                    })
                    .collect();
                f.write_str(&parts.join("; "))
            }
            FieldValue::Invalid { reason, hex } => {
                write!(f, "invalid: {reason} (bytes {})", hex_summary(hex))
            }
        }
    }
}

impl fmt::Display for SystemFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bootloader version {}, header {:#06x},{:#06x} ({}), nvmem_spark_reset {:#06x}, \
             flash_ota_update {:#06x}, ota_flashed_status {:#06x}, factory_reset {:#06x}, \
             iwdg_enable {:#06x}, dfu_on_no_firmware {:#04x}, factory_reset_done {:#04x}, \
             startup_mode {:#04x}, features_enabled {:#04x}, rcc_csr {:#010x}",
            self.bootloader_version,
            self.header[0],
            self.header[1],
            if self.header_valid {
                "valid"
            } else {
                "NOT valid"
            },
            self.nvmem_spark_reset,
            self.flash_ota_update,
            self.ota_flashed_status,
            self.factory_reset,
            self.iwdg_enable,
            self.dfu_on_no_firmware,
            self.factory_reset_done,
            self.startup_mode,
            self.features_enabled,
            self.rcc_csr,
        )
    }
}

impl fmt::Display for IpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (mode {}), host {}, netmask {}, gateway {}, dns {} {}",
            self.mode,
            self.mode_code,
            opt_ip(&self.host),
            opt_ip(&self.netmask),
            opt_ip(&self.gateway),
            opt_ip(&self.dns1),
            opt_ip(&self.dns2),
        )
    }
}

impl fmt::Display for FlashModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "magic {:#06x}, device {} {:#010x} -> device {} {:#010x}, {} bytes, flags {:#04x}, function {}",
            self.magic,
            self.source_device,
            self.source_address,
            self.destination_device,
            self.destination_address,
            self.length,
            self.flags,
            self.module_function,
        )
    }
}
