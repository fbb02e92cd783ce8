//! One model of "which bootloader, which firmware" for both faces of a
//! board (REFERENCE §1–§3, §7): the bootloader revision decides what DFU
//! mode looks like (descriptors, serial, internal-flash map, poll timeouts,
//! failure shapes), the system firmware decides what the firmware does with
//! the DCT (layout, key rules) and what normal mode looks like (USB serial
//! string, product string, vendor requests).
//!
//! Everything is data: a [`Board`] is a platform plus one [`Bootloader`]
//! and at most one [`Firmware`] from that platform's tables, checked by
//! [`Board::new`]. The virtual Duo is built from a `Board`; the host finds
//! the [`FlashMap`] generation of a real board from its alt-0 string.

use std::fmt;

use super::{AltSetting, Platform};

/// One generation of a board's internal-flash map (REFERENCE §1, "Two
/// generations of the Duo's internal flash map"), told apart by the alt-0
/// memory-layout string the bootloader presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashMap {
    /// Short name: `16k-bootloader`, `32k-bootloader`.
    pub name: &'static str,
    /// Which firmware versions use it, for messages (`firmware ≤ 0.2.4`).
    pub firmware: &'static str,
    /// The alt-0 interface string, exactly.
    pub alt0: &'static str,
    /// One past the bootloader (never written through DFU).
    pub bootloader_end: u32,
    /// Internal-flash address of the DCT region (two 16 KiB partitions).
    pub dct_region_addr: u32,
}

/// System part 1 starts here on every generation (REFERENCE §1).
pub const SYSTEM_PART_START: u32 = 0x0802_0000;
/// The user application starts here: the system parts are below it.
pub const USER_APP_START: u32 = 0x080C_0000;

impl FlashMap {
    pub fn alt0_setting(&self) -> AltSetting {
        AltSetting {
            alt: 0,
            name: self.alt0,
        }
    }

    /// Whether `[addr, addr + len)` reaches into the bootloader.
    pub fn touches_bootloader(&self, addr: u32, len: u64) -> bool {
        u64::from(addr) < u64::from(self.bootloader_end) && len > 0
    }

    /// Whether `[addr, addr + len)` overlaps the DCT region of `partition_size`-byte partitions.
    pub fn touches_dct(&self, addr: u32, len: u64, partition_size: usize) -> bool {
        let (start, end) = (u64::from(addr), u64::from(addr) + len);
        let lo = u64::from(self.dct_region_addr);
        start < lo + 2 * partition_size as u64 && lo < end
    }

    /// Whether `[addr, addr + len)` overlaps the system parts (0x08020000 up
    /// to the user application), where an update can move the generation.
    pub fn touches_system_parts(&self, addr: u32, len: u64) -> bool {
        let (start, end) = (u64::from(addr), u64::from(addr) + len);
        start < u64::from(USER_APP_START) && u64::from(SYSTEM_PART_START) < end
    }
}

/// Duo with firmware ≤ 0.2.4 (bootloaders r3/r4): 16 KiB bootloader, DCT
/// at 0x08004000, EEPROM emulation at 0x0800C000 (REFERENCE §1 table).
pub const DUO_MAP_16K: FlashMap = FlashMap {
    name: "16k-bootloader",
    firmware: "firmware ≤ 0.2.4 (bootloader r3/r4)",
    alt0: "@Internal Flash   /0x08000000/01*016Ka,02*016Kg,01*016Kg,01*064Kg,07*128Kg",
    bootloader_end: 0x0800_4000,
    dct_region_addr: 0x0800_4000,
};

/// Duo with firmware ≥ 0.3.0 (bootloaders r5/r6): 32 KiB bootloader, DCT
/// at 0x08008000 (REFERENCE §1 table).
pub const DUO_MAP_32K: FlashMap = FlashMap {
    name: "32k-bootloader",
    firmware: "firmware ≥ 0.3.0 (bootloader r5/r6)",
    alt0: "@Internal Flash   /0x08000000/02*016Ka,02*016Kg,01*064Kg,07*128Kg",
    bootloader_end: 0x0800_8000,
    dct_region_addr: 0x0800_8000,
};

/// Photon and P1 (REFERENCE §1, "Photon and P1"): the bootloader and both
/// DCT partitions (0x08000000–0x0800BFFF) are read-only through alt 0.
pub const PARTICLE_MAP: FlashMap = FlashMap {
    name: "particle",
    firmware: "Particle Device OS",
    alt0: "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg",
    bootloader_end: 0x0800_4000,
    dct_region_addr: 0x0800_4000,
};

/// How a bootloader fills the USB serial-number string in DFU mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialStyle {
    /// The same string on every board (Duo r3/r4: `00000000010C`).
    Constant(&'static str),
    /// The 24-hex device id, upper case (Duo r5; firmware 0.3.0/0.3.1).
    DeviceIdUpper,
    /// The 24-hex device id, lower case (Duo r6; firmware 0.3.2+).
    DeviceIdLower,
}

impl SerialStyle {
    pub fn render(&self, device_id: &[u8; 12]) -> String {
        match self {
            SerialStyle::Constant(s) => (*s).to_string(),
            SerialStyle::DeviceIdUpper => hex::encode_upper(device_id),
            SerialStyle::DeviceIdLower => hex::encode(device_id),
        }
    }

    /// Whether the serial tells the device id.
    pub fn carries_device_id(&self) -> bool {
        !matches!(self, SerialStyle::Constant(_))
    }
}

/// What an UPLOAD from an address the medium refuses returns (REFERENCE §1:
/// the bootloader never stalls it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadUpload {
    /// Whatever the transfer buffer held last (r3–r5).
    StaleBuffer,
    /// Zeros (r6).
    Zeros,
}

/// The Duo bootloader's `wiced_application` trigger (REFERENCE §1): after
/// the host reads the configuration descriptor, the first data block
/// written (any alt; every data block clears the trigger) at one of
/// `addresses` whose first word looks like an initial stack pointer
/// (0x20000000 < w ≤ 0x20020000) sets the u16 extra system flag
/// `wiced_application` at application-DCT `flag_offset`: 0x5AA5 at
/// [`WICED_APP_ADDRESS`] (a WICED application, which the bootloader then
/// boots), 0x1234 elsewhere (Particle system firmware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WicedTrigger {
    pub addresses: &'static [u32],
    /// The start of the extra system flags: 4258 in the ≤ 0.3.1 layout,
    /// 8391 in the 0.3.2+ one.
    pub flag_offset: usize,
}

/// Where a WICED application starts (REFERENCE §1).
pub const WICED_APP_ADDRESS: u32 = 0x0801_0000;
/// `wiced_application` for a WICED application: the bootloader boots it.
pub const WICED_APP_FLAG: u16 = 0x5AA5;
/// `wiced_application` for Particle system firmware.
pub const SYSTEM_FIRMWARE_FLAG: u16 = 0x1234;

impl WicedTrigger {
    /// The flag value a data block at `addr` starting with `first_word`
    /// sets, if it trips the trigger.
    pub fn flag_for(&self, addr: u32, first_word: u32) -> Option<u16> {
        let stack_pointer = first_word > 0x2000_0000 && first_word <= 0x2002_0000;
        if !stack_pointer || !self.addresses.contains(&addr) {
            return None;
        }
        Some(if addr == WICED_APP_ADDRESS {
            WICED_APP_FLAG
        } else {
            SYSTEM_FIRMWARE_FLAG
        })
    }
}

const DUO_TRIGGER_16K: WicedTrigger = WicedTrigger {
    addresses: &[0x0800_C000],
    flag_offset: 4258,
};

const DUO_TRIGGER_32K: WicedTrigger = WicedTrigger {
    addresses: &[WICED_APP_ADDRESS, 0x0802_0000, 0x0804_0000],
    flag_offset: 4258,
};

const DUO_TRIGGER_R6: WicedTrigger = WicedTrigger {
    flag_offset: 8391,
    ..DUO_TRIGGER_32K
};

/// One bootloader revision and everything DFU mode shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootloader {
    /// `r3` … `r6` on a Duo, `particle` on a Photon / P1.
    pub name: &'static str,
    /// The firmware versions it shipped with, for help texts.
    pub shipped_with: &'static str,
    /// bcdDevice (dfu-util's `ver=`).
    pub bcd_device: u16,
    pub serial: SerialStyle,
    /// Microsoft OS descriptors (string 0xEE `MSFT100`, WinUSB compatible id).
    pub ms_os_descriptors: bool,
    pub flash_map: &'static FlashMap,
    /// Declared erase / write time of internal and serial flash, ms (5 on
    /// r3/r4, 0 on r5/r6); what GETSTATUS reports, inverted (REFERENCE §1).
    pub flash_poll_ms: u32,
    /// r3/r4 zero bwPollTimeout after each operation, ABORT and CLRSTATUS;
    /// r5/r6 keep the last value, so a later reply may carry a stale one.
    pub resets_poll_timeout: bool,
    pub bad_upload: BadUpload,
    /// On r6 the DCT alt reaches the DCT through system part 2: it works
    /// only with system firmware at least this version installed.
    pub dct_alt_needs_firmware: Option<(u8, u8, u8)>,
    /// Leaving DFU saves the system flags (a DCT write) on r3–r5.
    pub saves_system_flags_on_leave: bool,
    /// The `wiced_application` trigger (Duo bootloaders only).
    pub wiced_trigger: Option<WicedTrigger>,
    /// Order among the platform's bootloaders (newer is higher).
    pub generation: u8,
}

const DUO_CONSTANT_SERIAL: &str = "00000000010C";

pub const DUO_R3: Bootloader = Bootloader {
    name: "r3",
    shipped_with: "firmware 0.2.0–0.2.3",
    bcd_device: 0x0200,
    serial: SerialStyle::Constant(DUO_CONSTANT_SERIAL),
    ms_os_descriptors: false,
    flash_map: &DUO_MAP_16K,
    flash_poll_ms: 5,
    resets_poll_timeout: true,
    bad_upload: BadUpload::StaleBuffer,
    dct_alt_needs_firmware: None,
    saves_system_flags_on_leave: true,
    wiced_trigger: Some(DUO_TRIGGER_16K),
    generation: 3,
};

pub const DUO_R4: Bootloader = Bootloader {
    name: "r4",
    shipped_with: "firmware 0.2.4 (factory boards)",
    generation: 4,
    ..DUO_R3
};

pub const DUO_R5: Bootloader = Bootloader {
    name: "r5",
    shipped_with: "firmware 0.3.0/0.3.1",
    bcd_device: 0x0250,
    serial: SerialStyle::DeviceIdUpper,
    ms_os_descriptors: true,
    flash_map: &DUO_MAP_32K,
    flash_poll_ms: 0,
    resets_poll_timeout: false,
    bad_upload: BadUpload::StaleBuffer,
    dct_alt_needs_firmware: None,
    saves_system_flags_on_leave: true,
    wiced_trigger: Some(DUO_TRIGGER_32K),
    generation: 5,
};

pub const DUO_R6: Bootloader = Bootloader {
    name: "r6",
    shipped_with: "firmware 0.3.2+",
    serial: SerialStyle::DeviceIdLower,
    bad_upload: BadUpload::Zeros,
    dct_alt_needs_firmware: Some((0, 3, 2)),
    saves_system_flags_on_leave: false,
    wiced_trigger: Some(DUO_TRIGGER_R6),
    generation: 6,
    ..DUO_R5
};

/// Particle's Gen 2 bootloader on a Photon / P1. Its descriptors are not
/// given by REFERENCE beyond the alt settings; bcdDevice, serial and
/// timings are taken to be the Duo r4's (same ST DFU class).
pub const PARTICLE_BOOTLOADER: Bootloader = Bootloader {
    name: "particle",
    shipped_with: "Particle Device OS",
    flash_map: &PARTICLE_MAP,
    saves_system_flags_on_leave: false,
    wiced_trigger: None,
    generation: 0,
    ..DUO_R4
};

/// Which application-DCT layout a firmware uses (REFERENCE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DctLayout {
    /// Duo 0.2.x: `unused[100]` at 1658, reserved2 3618–4257, extra system flags 4258.
    V0_2,
    /// Duo 0.3.0/0.3.1 (and Photon / P1): the full table, extra system flags 4258.
    V0_3_0,
    /// Duo 0.3.2+: `eap_config` at 3823, extra system flags 8391, end 8423.
    V0_3_2,
}

/// How normal mode answers USB vendor requests (REFERENCE §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorRequests {
    /// Firmware 0.2.x: none.
    None,
    /// 0.3.0/0.3.1: bRequest 0x50 with wIndex = type.
    Legacy,
    /// 0.3.2+: the 0x50 reads plus Particle's service requests (INIT …).
    Service,
}

/// One system firmware version and what it does (REFERENCE §2, §3, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firmware {
    /// `0.2.4`, `0.3.1`, `0.3.3`.
    pub version: &'static str,
    pub version_tuple: (u8, u8, u8),
    pub dct_layout: DctLayout,
    /// ≤ 0.3.1 programs a DCT write in place when only 1→0 bits change;
    /// 0.3.2+ always copies to the other partition (WICED 3.7 trailer).
    pub dct_always_copies: bool,
    /// System flags are kept at DCT 0..31 (≤ 0.3.1); 0.3.2+ keeps them in
    /// the RTC backup registers.
    pub system_flags_in_dct: bool,
    /// 0.3.x replaces a blank (all 0xFF) server key by a built-in one in RAM.
    pub builtin_server_key: bool,
    /// The bootloader this firmware installs at boot over an older one
    /// (0.3.x replaces r3/r4, REFERENCE §1 and §7).
    pub installs_bootloader: Option<&'static Bootloader>,
    /// Normal-mode USB serial-number string (REFERENCE §7).
    pub normal_serial: SerialStyle,
    /// Normal-mode manufacturer and product strings (REFERENCE §7).
    pub normal_manufacturer: &'static str,
    pub normal_product: &'static str,
    pub vendor_requests: VendorRequests,
    /// Listening-mode console keys it answers (REFERENCE §7).
    pub console_keys: &'static str,
}

pub const DUO_FW_0_2_4: Firmware = Firmware {
    version: "0.2.4",
    version_tuple: (0, 2, 4),
    dct_layout: DctLayout::V0_2,
    dct_always_copies: false,
    system_flags_in_dct: true,
    builtin_server_key: false,
    installs_bootloader: None,
    normal_serial: SerialStyle::Constant("00000000050C"),
    // REFERENCE §7 gives only the product for 0.2.x; the manufacturer is
    // taken to be RedBear's, as on 0.3.x.
    normal_manufacturer: "RedBear",
    normal_product: "Duo with WiFi and BLE",
    vendor_requests: VendorRequests::None,
    console_keys: "imfxsvLw",
};

pub const DUO_FW_0_3_1: Firmware = Firmware {
    version: "0.3.1",
    version_tuple: (0, 3, 1),
    dct_layout: DctLayout::V0_3_0,
    dct_always_copies: false,
    system_flags_in_dct: true,
    builtin_server_key: true,
    installs_bootloader: Some(&DUO_R5),
    normal_serial: SerialStyle::DeviceIdUpper,
    normal_manufacturer: "RedBear",
    normal_product: "Duo",
    vendor_requests: VendorRequests::Legacy,
    console_keys: "imcfxsvLw",
};

pub const DUO_FW_0_3_3: Firmware = Firmware {
    version: "0.3.3",
    version_tuple: (0, 3, 3),
    dct_layout: DctLayout::V0_3_2,
    dct_always_copies: true,
    system_flags_in_dct: false,
    installs_bootloader: Some(&DUO_R6),
    normal_serial: SerialStyle::DeviceIdLower,
    vendor_requests: VendorRequests::Service,
    ..DUO_FW_0_3_1
};

pub const DUO_BOOTLOADERS: &[&Bootloader] = &[&DUO_R3, &DUO_R4, &DUO_R5, &DUO_R6];
pub const DUO_FIRMWARES: &[&Firmware] = &[&DUO_FW_0_2_4, &DUO_FW_0_3_1, &DUO_FW_0_3_3];
pub const DUO_FLASH_MAPS: &[&FlashMap] = &[&DUO_MAP_16K, &DUO_MAP_32K];
pub const PARTICLE_BOOTLOADERS: &[&Bootloader] = &[&PARTICLE_BOOTLOADER];
pub const PARTICLE_FLASH_MAPS: &[&FlashMap] = &[&PARTICLE_MAP];

/// Why a board cannot be put together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    #[error("{platform} has no bootloader {name:?}; choose one of {choices}")]
    UnknownBootloader {
        platform: &'static str,
        name: String,
        choices: String,
    },
    #[error("{platform} has no system firmware {name:?}; choose one of {choices}")]
    UnknownFirmware {
        platform: &'static str,
        name: String,
        choices: String,
    },
    #[error(
        "bootloader {bootloader} with system firmware {firmware} is not a board that can exist: \
         a board on firmware ≥ 0.3.0 (bootloader r5/r6) must never be given firmware ≤ 0.2.4, \
         that destroys its bootloader (REFERENCE §1); choose firmware 0.3.1 or 0.3.3, or \
         bootloader r3/r4"
    )]
    Incompatible {
        bootloader: &'static str,
        firmware: &'static str,
    },
}

/// A board: platform, bootloader revision, system firmware (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    pub platform: &'static Platform,
    pub bootloader: &'static Bootloader,
    pub firmware: Option<&'static Firmware>,
}

impl Board {
    /// Check the combination. Firmware 0.3.x on an r3/r4 bootloader is
    /// valid: it replaces the bootloader at the next boot ([`Board::after_boot`]).
    pub fn new(
        platform: &'static Platform,
        bootloader: &'static Bootloader,
        firmware: Option<&'static Firmware>,
    ) -> Result<Board, BoardError> {
        if let Some(fw) = firmware {
            if fw.version_tuple < (0, 3, 0) && bootloader.flash_map == &DUO_MAP_32K {
                return Err(BoardError::Incompatible {
                    bootloader: bootloader.name,
                    firmware: fw.version,
                });
            }
        }
        Ok(Board {
            platform,
            bootloader,
            firmware,
        })
    }

    /// Look up both by name (`r4`, `0.2.4` / `none`) in the platform's tables.
    pub fn by_names(
        platform: &'static Platform,
        bootloader: &str,
        firmware: &str,
    ) -> Result<Board, BoardError> {
        let bl = platform.bootloader(bootloader)?;
        let fw = platform.firmware(firmware)?;
        Board::new(platform, bl, fw)
    }

    /// The factory board of the platform (Duo: r4 + 0.2.4).
    pub fn factory(platform: &'static Platform) -> Board {
        Board {
            platform,
            bootloader: platform.bootloaders[platform.factory_bootloader],
            firmware: platform.factory_firmware.map(|i| platform.firmwares[i]),
        }
    }

    pub fn flash_map(&self) -> &'static FlashMap {
        self.bootloader.flash_map
    }

    /// The alt settings the bootloader presents, in interface order.
    pub fn alt_settings(&self) -> Vec<AltSetting> {
        std::iter::once(self.flash_map().alt0_setting())
            .chain(self.platform.other_alts.iter().copied())
            .collect()
    }

    pub fn alt_name(&self, alt: u8) -> Option<&'static str> {
        self.alt_settings()
            .into_iter()
            .find(|a| a.alt == alt)
            .map(|a| a.name)
    }

    /// The DCT layout in use: the firmware's, else the one that matches the
    /// bootloader's generation (the table of REFERENCE §2 on a Photon / P1).
    pub fn dct_layout(&self) -> DctLayout {
        match self.firmware {
            Some(fw) => fw.dct_layout,
            None if self.flash_map() == &DUO_MAP_16K => DctLayout::V0_2,
            None if self.bootloader.generation >= 6 => DctLayout::V0_3_2,
            None => DctLayout::V0_3_0,
        }
    }

    /// Whether the DCT alt works (r6 needs system firmware 0.3.2+).
    pub fn dct_alt_works(&self) -> bool {
        match self.bootloader.dct_alt_needs_firmware {
            None => true,
            Some(min) => self.firmware.is_some_and(|fw| fw.version_tuple >= min),
        }
    }

    /// The board after its firmware ran once: 0.3.x replaces an older
    /// bootloader with its own (REFERENCE §1, §7).
    pub fn after_boot(&self) -> Board {
        match self.firmware.and_then(|fw| fw.installs_bootloader) {
            Some(bl) if bl.generation > self.bootloader.generation => Board {
                bootloader: bl,
                ..*self
            },
            _ => *self,
        }
    }

    /// `r4 + 0.2.4`, `r6 + no firmware`.
    pub fn describe(&self) -> String {
        match self.firmware {
            Some(fw) => format!(
                "bootloader {} + firmware {}",
                self.bootloader.name, fw.version
            ),
            None => format!("bootloader {} + no system firmware", self.bootloader.name),
        }
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.platform.display_name, self.describe())
    }
}

impl crate::error::ErrorInfo for BoardError {
    fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InvalidArgument
    }
}
